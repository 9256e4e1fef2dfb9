"""Upstream sources of the darwin dependencies, pinned by sha256 and cached.

Each source is a Debian source package's upstream tarball (the `.orig.tar.*` that
`apt-get source` fetches), named with its sha256 in data/darwin-deps.json. apt runs
with a private configuration under <cache>/sources/apt (its own deb-src list and
package lists), so the host's apt setup is neither needed nor touched. A tarball is
kept as <cache>/sources/FILE once its hash matches: a second build fetches nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .cache import Layout, locked, sha256_file

# The pins are bookworm's versions unless a recipe names another suite (its "suite": a
# package whose bookworm tarball the archive no longer serves); the mirror is the host's.
SUITE = "bookworm"
SUITES = ("bookworm", "trixie")
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


class SourceUnavailable(RuntimeError):
    """The pinned tarball cannot be had: apt failed, or what came has another hash."""


class SourceHashMismatch(SourceUnavailable):
    """What came has another hash than the pin: a wrong pin or a changed archive, not a
    machine without the archive (tests fail on it rather than skip)."""


@dataclass(frozen=True)
class Source:
    name: str  # the dependency's name in darwin-deps.json
    debian: str  # Debian source package
    file: str  # the upstream tarball as Debian names it
    sha256: str
    suite: str = SUITE


def darwin_deps() -> dict[str, object]:
    """data/darwin-deps.json, whole: its `deps` (see pinned) and its `nix` (darling/nix.py)."""
    text = resources.files("darling_nix").joinpath("data/darwin-deps.json").read_text()
    document: dict[str, object] = json.loads(text)
    return document


def pinned() -> dict[str, dict[str, object]]:
    """data/darwin-deps.json: dependency name -> its source and its build recipe."""
    deps = darwin_deps()["deps"]
    assert isinstance(deps, dict)
    return deps


def source_from(name: str, entry: dict[str, object]) -> Source:
    """The source that ENTRY, a recipe of data/darwin-deps.json (a dependency's or a Nix's),
    pins, called NAME."""
    return Source(name, str(entry["debian"]), str(entry["file"]), str(entry["sha256"]),
                  str(entry.get("suite", SUITE)))


def source_of(name: str) -> Source:
    """The source of the dependency NAME."""
    return source_from(name, pinned()[name])


def fetch(source: Source, cache: Path) -> Path:
    """The tarball of SOURCE in <cache>/sources, fetched with apt-get source if missing."""
    kept = Layout(cache).sources / source.file
    if kept.is_file() and sha256_file(kept) == source.sha256:
        return kept
    with locked(Layout(cache).steps_lock):  # apt's lists are the cache's, one writer at a time
        if kept.is_file() and sha256_file(kept) == source.sha256:
            return kept
        return _fetch(source, cache, kept)


def _fetch(source: Source, cache: Path, kept: Path) -> Path:
    """SOURCE fetched into KEPT, with the steps lock held."""
    apt = _apt_config(Layout(cache).sources / "apt")
    wanted = f"{source.debian}/{source.suite}"
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=kept.parent) as scratch:
        lists = Layout(cache).sources / "apt" / "lists"
        if not all(any(lists.glob(f"*_{suite}_*Sources*")) for suite in SUITES):
            _apt(["update"], apt, Path(scratch))
        try:
            _apt(["source", "--download-only", wanted], apt, Path(scratch))
        except SourceUnavailable:
            _apt(["update"], apt, Path(scratch))  # the lists may name a superseded version
            _apt(["source", "--download-only", wanted], apt, Path(scratch))
        fetched = Path(scratch) / source.file
        if not fetched.is_file():
            offered = sorted(p.name for p in Path(scratch).iterdir())
            raise SourceUnavailable(f"{source.name}: Debian's {source.debian} no longer has "
                                    f"{source.file} (it has {', '.join(offered)})")
        actual = sha256_file(fetched)
        if actual != source.sha256:
            raise SourceHashMismatch(f"{source.name}: {source.file} has sha256 {actual}, "
                                    f"pinned {source.sha256}")
        os.replace(fetched, kept)
    return kept


def _apt_config(root: Path) -> list[str]:
    for sub in ("lists/partial", "archives/partial", "etc"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    mirror = debian_mirror()
    (root / "etc" / "sources.list").write_text(
        "".join(f"deb-src {mirror} {suite} main\n" for suite in SUITES))
    return ["-o", f"Dir::Etc::SourceList={root / 'etc' / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/nonexistent", "-o", f"Dir::State::Lists={root / 'lists'}",
            "-o", f"Dir::Cache={root}", "-o", "Debug::NoLocking=1",
            "-o", "APT::Sandbox::User=root"]


def debian_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str:
    """The URI of the host's Debian archive (not -security, not another vendor's), from its
    one-line `deb URI SUITE ...` lists or deb822 `.sources` files. Whatever suite the host
    follows (Debian 12 or 13), the archive also carries bookworm, which the pins name."""
    files: list[Path] = []
    for path in sources:
        if path.is_dir():
            files += sorted(path.glob("*.list")) + sorted(path.glob("*.sources"))
        elif path.is_file():
            files.append(path)
    for file in files:
        for uri in _entries(file.read_text(errors="replace")):
            if uri.rstrip("/").endswith("/debian"):
                return uri
    raise SourceUnavailable("no Debian archive in the host's apt sources "
                            f"({', '.join(str(p) for p in sources)})")


def _entries(text: str) -> list[str]:
    """The URI of every `deb` entry, one-line or deb822 style."""
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        words = [w for w in words[1:] if not w.startswith("[")] if words[:1] == ["deb"] else []
        if len(words) >= 2:
            found.append(words[0])
    for stanza in text.split("\n\n"):
        fields = {k.strip().lower(): v.split() for k, _, v in
                  (line.partition(":") for line in stanza.splitlines()
                   if ":" in line and not line.lstrip().startswith("#"))}
        if "deb" in fields.get("types", []):
            found += fields.get("uris", [])
    return found


def _apt(args: list[str], config: list[str], cwd: Path) -> None:
    try:
        result = subprocess.run(["apt-get", "-q", *config, *args], cwd=cwd, capture_output=True,
                                text=True, check=False)
    except OSError as error:  # a host with Debian's lists but without apt
        raise SourceUnavailable(f"cannot run apt-get: {error.strerror}") from None
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise SourceUnavailable(f"apt-get {' '.join(args)} failed: {last[0]}")
