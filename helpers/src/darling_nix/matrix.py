"""`darling-nix matrix`: a tiered package-build matrix and its JSON report.

Tiers are data (data/matrix.yaml): must-pass, should-pass, stretch, aspirational. Each
entry is a flake reference ("nixpkgs#hello") or a mapping {name, expr} / {name, flake}.
Builds take the no-SSH path of `darling-nix build` (localbuild), so the matrix measures
the prefix itself, not the SSH transport, and needs no running sshd.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from . import localbuild
from .configtext import TextError, load_yaml
from .runner import Runner
from .triage import Triage, as_json

REPORT_FORMAT = "darling-nix-matrix-report"
REPORT_VERSION = 1
TIERS = {"must-pass": 1, "should-pass": 2, "stretch": 3, "aspirational": 4}
TIER_NAMES = {number: name for name, number in TIERS.items()}


class MatrixInputError(ValueError):
    """A malformed tier file or an unusable earlier report."""


@dataclass(frozen=True)
class Package:
    name: str
    tier: int
    flake: str = ""
    expr: str = ""

    @property
    def reference(self) -> str:
        return self.flake or "(expression)"


@dataclass
class PackageResult:
    name: str
    tier: int
    reference: str
    status: str  # pass | fail | timeout
    duration: float
    drv: str
    outputs: list[str]
    log_tail: list[str]
    findings: list[dict[str, Any]]


def default_tiers() -> str:
    return resources.files("darling_nix").joinpath("data/matrix.yaml").read_text()


def _entry(tier: str, index: int, item: Any) -> Package:
    where = f"{tier}[{index}]"
    if isinstance(item, str):
        if "#" not in item:
            raise MatrixInputError(f"{where}: expected a flake reference like "
                                   f"'nixpkgs#hello', got {item!r}")
        return Package(item.split("#", 1)[1] or item, TIERS[tier], flake=item)
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        raise MatrixInputError(f"{where}: expected a flake reference or a mapping with "
                               "'name' and one of 'expr', 'flake'")
    unknown = set(item) - {"name", "expr", "flake"}
    if unknown:
        raise MatrixInputError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    sources = [key for key in ("expr", "flake") if isinstance(item.get(key), str)]
    if len(sources) != 1 or len([k for k in ("expr", "flake") if k in item]) != 1:
        raise MatrixInputError(f"{where} ({item['name']}): give exactly one of 'expr' or "
                               "'flake', as a string")
    return Package(item["name"], TIERS[tier], **{sources[0]: item[sources[0]]})


def parse_tiers(text: str, source: str) -> list[Package]:
    """Packages in tier order; raises MatrixInputError naming SOURCE and the entry."""
    try:
        data = load_yaml(text)
    except TextError as error:
        raise MatrixInputError(f"{source}: {error}") from None
    if not isinstance(data, dict):
        raise MatrixInputError(f"{source}: expected a mapping of tiers ("
                               + ", ".join(TIERS) + ")")
    packages: list[Package] = []
    for tier, items in data.items():
        if tier not in TIERS:
            raise MatrixInputError(f"{source}: unknown tier {tier!r}; expected "
                                   + ", ".join(TIERS))
        if not isinstance(items, list | type(None)):
            raise MatrixInputError(f"{source}: {tier} must be a list")
        try:
            packages += [_entry(tier, i, item) for i, item in enumerate(items or [])]
        except MatrixInputError as error:
            raise MatrixInputError(f"{source}: {error}") from None
    names = [p.name for p in packages]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise MatrixInputError(f"{source}: package names must be unique: {', '.join(twice)}")
    return sorted(packages, key=lambda p: p.tier)


def select(packages: list[Package], max_tier: int | None, only: str | None) -> list[Package]:
    chosen = [p for p in packages if max_tier is None or p.tier <= max_tier]
    if only is not None:
        chosen = [p for p in chosen if p.name == only]
        if not chosen:
            raise MatrixInputError(f"no package named {only!r} in the selected tiers")
    return chosen


def build_one(runner: Runner, package: Package, system: str, timeout: float) -> PackageResult:
    triage = Triage()
    started = time.monotonic()
    drv = ""
    try:
        drv = (localbuild.instantiate_flake(package.flake, system) if package.flake
               else localbuild.instantiate(package.expr))
        result = localbuild.build(runner, drv, lambda line: triage.feed(line, package.name),
                                  timeout)
        status, outputs, tail = result.status, result.outputs, result.log_tail
    except (localbuild.BuildInputError, localbuild.BuildStepFailed) as error:
        status, outputs, tail = "fail", [], str(error).splitlines()[-30:]
    return PackageResult(package.name, package.tier, package.reference, status,
                         round(time.monotonic() - started, 2), drv, outputs, tail,
                         as_json(triage.findings()))


def run(runner: Runner, packages: list[Package], system: str, timeout: float,
        progress: Callable[[str], None]) -> list[PackageResult]:
    results = []
    for index, package in enumerate(packages, 1):
        label = f"[{index}/{len(packages)}] tier {package.tier} {package.name}"
        progress(f"{label}: building")
        result = build_one(runner, package, system, timeout)
        progress(f"{label}: {result.status} in {result.duration:.1f} s")
        results.append(result)
    return results


def report(results: list[PackageResult], system: str, tiers_source: str) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "system": system,
        "tiers": tiers_source,
        "summary": {status: sum(r.status == status for r in results)
                    for status in ("pass", "fail", "timeout")},
        "packages": [asdict(r) for r in results],
    }


def load_report(path: Path) -> dict[str, Any]:
    """An earlier report, refused unless it has this format and version."""
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise MatrixInputError(f"cannot read the report {path}: {error.strerror}") from None
    except ValueError as error:
        raise MatrixInputError(f"{path} is not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        raise MatrixInputError(f"{path} is not a darling-nix matrix report")
    if data.get("version") != REPORT_VERSION:
        raise MatrixInputError(f"{path} is a version {data.get('version')!r} report; this "
                               f"darling-nix reads version {REPORT_VERSION}")
    return data


@dataclass(frozen=True)
class Change:
    name: str
    tier: int
    before: str
    after: str


def compare(previous: dict[str, Any], current: dict[str, Any]) -> tuple[list[Change], list[Change]]:
    """(regressions, fixes): packages in both reports whose pass/not-pass status changed."""
    before = {p["name"]: p["status"] for p in previous.get("packages", [])}
    regressions: list[Change] = []
    fixes: list[Change] = []
    for package in current["packages"]:
        old = before.get(package["name"])
        if old is None or (old == "pass") == (package["status"] == "pass"):
            continue
        change = Change(package["name"], package["tier"], old, package["status"])
        (fixes if package["status"] == "pass" else regressions).append(change)
    return regressions, fixes


def summary_table(results: list[PackageResult]) -> str:
    rows = ["| tier | package | status | seconds |", "|---|---|---|---:|"]
    rows += [f"| {r.tier} {TIER_NAMES[r.tier]} | {r.name} | {r.status} | {r.duration:.1f} |"
             for r in results]
    return "\n".join(rows)
