"""matrix: tiers from YAML, builds that pass, fail and time out, report, comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from darling_nix import loopback, matrix

TIERS = """\
must-pass:
  - name: good
    expr: 'derivation { name = "m-good"; system = "x86_64-darwin"; builder = "/bin/sh";
            args = [ "-c" "echo good > $out" ]; }'
should-pass:
  - name: bad
    expr: 'derivation { name = "m-bad"; system = "x86_64-darwin"; builder = "/bin/sh";
            args = [ "-c" "echo Unimplemented syscall 488 in a test; exit 1" ]; }'
stretch:
  - name: slow
    expr: 'derivation { name = "m-slow"; system = "x86_64-darwin"; builder = "/bin/sh";
            args = [ "-c" "/bin/sleep 30; echo > $out" ]; }'
aspirational:
"""


def test_parse_tiers_entries() -> None:
    packages = matrix.parse_tiers(TIERS + "  - nixpkgs#hello\n  - {name: h2, flake: a#b}\n",
                                  "t.yaml")
    assert [(p.name, p.tier) for p in packages] == [("good", 1), ("bad", 2), ("slow", 3),
                                                     ("hello", 4), ("h2", 4)]
    assert packages[3].flake == "nixpkgs#hello" and packages[0].expr.startswith("derivation")


def test_default_tier_file_parses() -> None:
    packages = matrix.parse_tiers(matrix.default_tiers(), "data/matrix.yaml")
    assert {p.tier for p in packages} == {1, 2, 3, 4}


@pytest.mark.parametrize(("text", "message"), [
    ("must-pass: [\n", "not valid YAML"),
    ("- a\n", "expected a mapping of tiers"),
    ("tier-9: []\n", "unknown tier 'tier-9'"),
    ("must-pass: hello\n", "must-pass must be a list"),
    ("must-pass: [hello]\n", "must-pass[0]: expected a flake reference"),
    ("must-pass: [{name: a}]\n", "must-pass[0] (a): give exactly one of 'expr' or 'flake'"),
    ("must-pass: [{name: a, expr: x, flake: y}]\n", "exactly one"),
    ("must-pass: [{name: a, expr: x, extra: 1}]\n", "unknown keys extra"),
    ("must-pass: [a#x, b#x]\n", "must be unique: x"),
])
def test_malformed_tier_files(text: str, message: str) -> None:
    with pytest.raises(matrix.MatrixInputError, match="t.yaml: .*" if message else ""):
        matrix.parse_tiers(text, "t.yaml")
    with pytest.raises(matrix.MatrixInputError) as error:
        matrix.parse_tiers(text, "t.yaml")
    assert message in str(error.value)


def _report(*packages: tuple[str, int, str], version: int = 1) -> dict[str, Any]:
    return {"format": matrix.REPORT_FORMAT, "version": version,
            "packages": [{"name": n, "tier": t, "status": s} for n, t, s in packages]}


def test_compare_regressions_and_fixes() -> None:
    before = _report(("a", 1, "pass"), ("b", 2, "fail"), ("c", 3, "pass"), ("d", 4, "fail"))
    after = _report(("a", 1, "timeout"), ("b", 2, "pass"), ("c", 3, "pass"), ("e", 1, "fail"))
    regressions, fixes = matrix.compare(before, after)
    assert regressions == [matrix.Change("a", 1, "pass", "timeout")]
    assert fixes == [matrix.Change("b", 2, "fail", "pass")]


def test_load_report_refuses_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_report(version=7)))
    with pytest.raises(matrix.MatrixInputError, match="version 7 report"):
        matrix.load_report(path)
    path.write_text('{"format": "something else"}')
    with pytest.raises(matrix.MatrixInputError, match="not a darling-nix matrix report"):
        matrix.load_report(path)
    path.write_text("{")
    with pytest.raises(matrix.MatrixInputError, match="is not JSON"):
        matrix.load_report(path)


def _cli(cli: Any, config: Path, tmp_path: Path, *args: str) -> tuple[int, str, str, Path]:
    tiers = tmp_path / "tiers.yaml"
    if not tiers.exists():
        tiers.write_text(TIERS)
    report = tmp_path / "report.json"
    result = cli("matrix", "--config", str(config), "--tiers", str(tiers),
                     "--output", str(report), *args)
    return result.returncode, result.stdout, result.stderr, report


@pytest.mark.parametrize(("setup", "args", "message"), [
    ({"tiers.yaml": "must-pass: [{name: a}]\n"}, (), "give exactly one of"),
    ({"old.json": json.dumps(_report(version=99))}, ("--compare", "old.json"),
     "version 99 report"),
    ({}, ("--compare", "missing.json"), "cannot read the report"),
    ({}, ("--only", "nothing-like-this"), "no package named 'nothing-like-this'"),
    ({}, ("--only", "slow", "--tier", "2"), "no package named 'slow'"),
])
def test_bad_input_writes_no_report(cli: Any, tmp_path: Path, write_config: Any,
                                    setup: dict[str, str], args: tuple[str, ...],
                                    message: str) -> None:
    for name, text in setup.items():
        (tmp_path / name).write_text(text)
    config = write_config({"state_dir": str(tmp_path / "state")}, "config.json")
    args = tuple(str(tmp_path / a) if a.endswith(".json") else a for a in args)
    code, _, stderr, report = _cli(cli, config, tmp_path, *args)
    assert code == 2, stderr
    assert message in stderr
    assert not report.exists()
    assert not list(tmp_path.glob(".report.json.tmp*"))


def test_unreadable_tier_file(cli: Any, tmp_path: Path, write_config: Any) -> None:
    config = write_config({}, "config.json")
    result = cli("matrix", "--config", str(config), "--tiers", str(tmp_path / "no.yaml"))
    assert result.returncode == 2
    assert "cannot read the tier file" in result.stderr


@pytest.mark.integration
def test_matrix_pass_fail_timeout_and_compare(cli: Any, builder: loopback.LoopbackBuilder,
                                              tmp_path: Path) -> None:
    code, stdout, stderr, report = _cli(cli, builder.config_file, tmp_path, "--timeout", "2")
    assert code == 0, stderr  # the tier-1 package passed
    data = json.loads(report.read_text())
    assert (data["format"], data["version"]) == (matrix.REPORT_FORMAT, 1)
    status = {p["name"]: p["status"] for p in data["packages"]}
    assert status == {"good": "pass", "bad": "fail", "slow": "timeout"}
    assert data["summary"] == {"pass": 1, "fail": 1, "timeout": 1}
    bad = next(p for p in data["packages"] if p["name"] == "bad")
    assert any("failed with exit code 1" in line for line in bad["log_tail"])
    assert bad["findings"][0]["kind"] == "not implemented"
    assert "[1/3] tier 1 good: pass in" in stderr
    assert "[3/3] tier 3 slow: timeout in" in stderr
    assert "| 1 must-pass | good | pass |" in stdout

    # A tier-1 regression against an earlier report exits 2; the new report is still written.
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps(_report(("good", 1, "fail"), ("bad", 2, "pass"))))
    broken = tmp_path / "tiers.yaml"
    broken.write_text(TIERS.replace("echo good > $out", "exit 1"))
    code, stdout, stderr, report = _cli(cli, builder.config_file, tmp_path, "--tier", "2",
                                        "--compare", str(previous))
    assert code == 1, stdout + stderr  # good fails now, but it failed before as well
    assert "regressions (1):\n  tier 2 bad: pass -> fail" in stdout
    previous.write_text(json.dumps(_report(("good", 1, "pass"))))
    code, stdout, _, _ = _cli(cli, builder.config_file, tmp_path, "--only", "good",
                              "--compare", str(previous))
    assert code == 2
    assert "tier 1 good: pass -> fail" in stdout
    assert [p["name"] for p in json.loads(report.read_text())["packages"]] == ["good"]
