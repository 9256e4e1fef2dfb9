"""The compatibility suite: real macOS programs, built by their authors, run under Darling.

data/compat.json pins each program (registry, version, file, sha256); `fetch` brings the
file into <cache>/compat/<sha256> with pip or npm, `unpack` opens it there once, and
`run_suite` makes each program do real work (compat_checks.py) in a fresh prefix, with a
time limit, and says what stopped it: the first error, the library or framework dyld could
not load and what in Darling would provide it, and what triage finds in its output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

from .compat_checks import CHECKS
from .darling.cache import Layout, locked, sha256_file
from .removal import remove_tree
from .runner import DarlingRunner, path_inside
from .triage import Triage

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NOT_LOADED_RE = re.compile(r"Library not loaded: (\S+)")
_ERROR_RE = re.compile(r"dyld: |error|Error|ERROR|FAIL|Abort|abort|Segmentation|not found")
_FIELDS = ("package", "registry", "version", "file", "sha256", "program", "language", "check")


class CompatInputError(ValueError):
    """A malformed compat.json or an unknown program name (exit 2)."""


class FetchError(RuntimeError):
    """A registry could not be reached, or what came has another hash (exit 3)."""


@dataclass(frozen=True)
class Program:
    name: str
    package: str
    registry: str  # pypi | npm
    version: str
    file: str
    sha256: str
    program: str  # the Mach-O, relative to the unpacked archive
    language: str
    check: str
    platform: str = ""  # pip's --platform (pypi only)


@dataclass
class Result:
    name: str
    version: str
    language: str
    did: str
    status: str  # PASS | FAIL
    first_error: str
    missing: str  # the library dyld could not load, and what would provide it
    triage: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class Suite:
    programs: dict[str, Program]
    providers: dict[str, dict[str, str]]  # library or framework -> component, source


def load(text: str | None = None) -> Suite:
    """data/compat.json (or TEXT), every entry checked."""
    if text is None:
        text = resources.files("darling_nix").joinpath("data/compat.json").read_text()
    try:
        data = json.loads(text)
    except ValueError as error:
        raise CompatInputError(f"compat.json: not JSON ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("programs"), dict) \
            or not isinstance(data.get("providers", {}), dict):
        raise CompatInputError("compat.json: expected 'programs' and 'providers' mappings")
    programs = {name: _program(name, entry) for name, entry in data["programs"].items()}
    providers = data.get("providers", {})
    for path, provider in providers.items():
        if not isinstance(provider, dict) or not all(
                isinstance(provider.get(key), str) for key in ("component", "source")):
            raise CompatInputError(f"compat.json: providers.{path}: expected component and source")
    return Suite(programs, providers)


def _program(name: str, entry: object) -> Program:
    where = f"compat.json: programs.{name}"
    if not _NAME_RE.match(name) or not isinstance(entry, dict):
        raise CompatInputError(f"{where}: expected a plain name and a mapping")
    missing = [key for key in _FIELDS if not isinstance(entry.get(key), str) or not entry[key]]
    if missing:
        raise CompatInputError(f"{where}: missing or empty {', '.join(missing)}")
    if entry["registry"] not in ("pypi", "npm"):
        raise CompatInputError(f"{where}.registry: expected pypi or npm, got {entry['registry']!r}")
    if not _SHA256_RE.match(entry["sha256"]):
        raise CompatInputError(f"{where}.sha256: expected 64 lowercase hex digits")
    if not _NAME_RE.match(entry["file"]) or not _NAME_RE.match(entry["version"]):
        raise CompatInputError(f"{where}: file and version must be plain names")
    program = PurePosixPath(entry["program"])
    if program.is_absolute() or ".." in program.parts:
        raise CompatInputError(f"{where}.program: must stay inside the archive")
    if entry["check"] not in CHECKS:
        raise CompatInputError(f"{where}.check: unknown check {entry['check']!r}")
    if entry["registry"] == "pypi" and not _NAME_RE.match(str(entry.get("platform", ""))):
        raise CompatInputError(f"{where}.platform: pip's --platform is needed for pypi")
    return Program(name, **{key: entry[key] for key in (*_FIELDS, "platform") if key in entry})


def select(suite: Suite, names: list[str] | None) -> list[Program]:
    unknown = [name for name in names or [] if name not in suite.programs]
    if unknown:
        raise CompatInputError(f"unknown program {unknown[0]!r} (known: "
                               f"{', '.join(suite.programs)})")
    return [suite.programs[name] for name in names] if names else list(suite.programs.values())


Download = Callable[[Program, Path], None]


def registry_download(program: Program, directory: Path) -> None:
    """PROGRAM's file into DIRECTORY, from its registry, with the host's pip or npm."""
    if program.registry == "pypi":
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--only-binary=:all:", "--platform", program.platform,
                f"{program.package}=={program.version}", "--dest", str(directory)]
    else:
        argv = ["npm", "pack", "--silent", f"{program.package}@{program.version}"]
    try:
        result = subprocess.run(argv, cwd=directory, capture_output=True, text=True,
                                timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FetchError(f"{program.name}: cannot run {argv[0]}: {error}") from None
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise FetchError(f"{program.name}: {' '.join(argv[:4])} failed: {last[0]}")


def archive_dir(program: Program, cache: Path) -> Path:
    return Layout(cache).compat / program.sha256


def fetch(program: Program, cache: Path, download: Download = registry_download) -> Path:
    """PROGRAM's file in the cache, downloaded and checked against its pin when missing.
    Nothing but a file with the pinned hash ever lands at that path."""
    target = archive_dir(program, cache) / program.file
    if target.is_file() and not target.is_symlink() and sha256_file(target) == program.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=target.parent) as scratch:
        download(program, Path(scratch))
        fetched = Path(scratch) / program.file
        if not fetched.is_file() or fetched.is_symlink():
            raise FetchError(f"{program.name}: the registry did not give {program.file}")
        actual = sha256_file(fetched)
        if actual != program.sha256:
            raise FetchError(f"{program.name}: {program.file} has sha256 {actual}, "
                             f"pinned {program.sha256}")
        os.replace(fetched, target)  # a planted symlink at TARGET is replaced, not followed
    return target


def unpack(program: Program, archive: Path) -> Path:
    """ARCHIVE opened beside it once; the program made executable. Returns the program."""
    into = archive.parent / "unpacked"
    if not (into / ".done").is_file():
        with locked(archive.parent / ".unpack.lock"):  # two runs would replace each other's
            if not (into / ".done").is_file():
                _unpack(program, archive, into)
    executable = into / program.program
    if not executable.is_file():
        raise FetchError(f"{program.name}: {program.program} is not in {archive.name}")
    executable.chmod(0o755)
    return executable


def _unpack(program: Program, archive: Path, into: Path) -> None:
    """ARCHIVE's files as INTO, made whole beside it and renamed into place."""
    if into.exists():
        remove_tree(into)
    scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=archive.parent))
    try:
        if archive.name.endswith(".whl"):
            with zipfile.ZipFile(archive) as wheel:
                _check_members(program, wheel.namelist())
                wheel.extractall(scratch)
        else:
            with tarfile.open(archive) as tgz:
                tgz.extractall(scratch, filter="data")
        (scratch / ".done").touch()
        os.replace(scratch, into)
    except BaseException:
        remove_tree(scratch)
        raise


def _check_members(program: Program, names: list[str]) -> None:
    for name in names:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts:
            raise FetchError(f"{program.name}: {program.file} holds a path outside it: {name!r}")


def missing_library(output: str, providers: dict[str, dict[str, str]]) -> str:
    """The library dyld could not load, and what in Darling would provide it."""
    found = _NOT_LOADED_RE.search(output)
    if not found:
        return ""
    library = found.group(1)
    for path, provider in providers.items():
        if library == path or library.startswith(path + "/"):
            return (f"{path.rsplit('/', 1)[-1]}: Darling's {provider['component']} component, "
                    f"{provider['source']}")
    return f"{library}: not in core Darling"


def first_error(output: str) -> str:
    """The line that says what stopped the program: dyld's own first (stdout, where
    Darling's abort_with_payload line goes, comes before stderr in OUTPUT)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in sorted(lines, key=lambda line: "Library not loaded" not in line):
        if _ERROR_RE.search(line):
            return line[:200]
    return lines[-1][:200] if lines else "no output"


def run_check(program: Program, executable: Path, runner: DarlingRunner, scratch: Path,
              providers: dict[str, dict[str, str]], timeout: float) -> Result:
    """PROGRAM's check in a directory of its own under SCRATCH, inside RUNNER's prefix."""
    check = CHECKS[program.check]
    work = scratch / program.name
    work.mkdir()
    for name, text in check.files.items():
        (work / name).write_text(text)
    for name, host_file in check.copies.items():
        shutil.copy(host_file, work / name)
    started = time.monotonic()
    try:
        result = runner.run(["/bin/bash", "-c", check.script, "compat", path_inside(work),
                             path_inside(executable)], capture=True, timeout=timeout)
        output = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
        passed = result.returncode == 0 and all(text in output for text in check.expect)
        error = "" if passed else first_error(output)
    except subprocess.TimeoutExpired as expired:
        runner.stop()  # whatever it left running inside goes with the container
        output = (expired.stdout or b"").decode(errors="replace")
        passed, error = False, f"timed out after {timeout:.0f} s"
    triage = Triage()
    triage.feed_text(output, program.name)
    return Result(program.name, program.version, program.language, check.did,
                  "PASS" if passed else "FAIL", error, missing_library(output, providers),
                  [f"{f.what} x{f.count}" for f in triage.findings()],
                  round(time.monotonic() - started, 1))


def run_suite(programs: list[Program], executables: dict[str, Path], darling: str,
              providers: dict[str, dict[str, str]], timeout: float,
              say: Callable[[str], None]) -> list[Result]:
    """Each program's check, in one fresh prefix under /var/tmp, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="darling-nix-compat-", dir="/var/tmp"))
    runner = DarlingRunner(root / "prefix", darling)
    try:
        runner.create_prefix()
        scratch = root / "work"
        scratch.mkdir()
        results = []
        for program in programs:
            say(f"{program.name} {program.version}: {CHECKS[program.check].did}")
            results.append(run_check(program, executables[program.name], runner, scratch,
                                     providers, timeout))
            say(f"{program.name}: {results[-1].status} in {results[-1].seconds} s")
        return results
    finally:
        runner.stop()
        remove_tree(root)


def table(results: list[Result]) -> list[str]:
    """The results as a Markdown table (docs/compat.md has one)."""
    rows = ["| program | version | language | what it did | result | first error | "
            "missing, and what would provide it | triage |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        cells = (r.name, r.version, r.language, r.did, r.status, r.first_error or "-",
                 r.missing or "-", ", ".join(r.triage) or "-")
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return rows
