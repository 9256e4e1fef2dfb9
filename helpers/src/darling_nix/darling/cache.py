"""What the steps of `darling-nix darling` share: the cache directory and its layout, the
content keys that name what is in it, the records a finished step leaves, and running a
step's command into its log.

    <cache>/   /var/cache/darling-nix as root, else $XDG_CACHE_HOME/darling-nix
      ccache/               the compiler cache of every build
      source-hashes.json    a source tarball's sha256, by its path, size and mtime
      .build.lock           one Darling build at a time
      .steps.lock           one of the other steps at a time (locked)
      trees/KEY/, KEY.log   Darling's source tree while it builds (build.py), and its log
      installs/KEY/         a Darling install; installs/VARIANT -> the KEY last built
      toolchains/KEY/       a cross toolchain (toolchain.py)
      sources/              pinned Debian source tarballs, and apt's state (sources.py)
      sysroot/KEY/          dependencies built for darwin (deps.py), in deps-build/,
      deps-logs/            with their logs and the darwin Nix's
      nix/KEY/              a darwin Nix tarball (nix.py), built in nix-build/KEY
      host-nix/KEY/         Nix 2.26 for this host (host_nix.py), built in host-nix-build/KEY
      compat/SHA256/        a download of the compatibility suite (compat.py)
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..fsutil import atomic_write

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Record = TypeVar("Record", bound="DataclassInstance")


@dataclass(frozen=True)
class Layout:
    """Where each kind of thing lives under the cache directory ROOT."""

    root: Path

    @property
    def ccache(self) -> Path:
        return self.root / "ccache"

    @property
    def source_hashes(self) -> Path:
        return self.root / "source-hashes.json"

    @property
    def build_lock(self) -> Path:
        return self.root / ".build.lock"

    @property
    def steps_lock(self) -> Path:
        return self.root / ".steps.lock"

    @property
    def trees(self) -> Path:
        return self.root / "trees"

    @property
    def installs(self) -> Path:
        return self.root / "installs"

    @property
    def toolchains(self) -> Path:
        return self.root / "toolchains"

    @property
    def sources(self) -> Path:
        return self.root / "sources"

    @property
    def sysroots(self) -> Path:
        return self.root / "sysroot"

    @property
    def deps_build(self) -> Path:
        return self.root / "deps-build"

    @property
    def deps_logs(self) -> Path:
        return self.root / "deps-logs"

    @property
    def nix(self) -> Path:
        return self.root / "nix"

    @property
    def nix_build(self) -> Path:
        return self.root / "nix-build"

    @property
    def host_nix(self) -> Path:
        return self.root / "host-nix"

    @property
    def host_nix_build(self) -> Path:
        return self.root / "host-nix-build"

    @property
    def compat(self) -> Path:
        return self.root / "compat"


    def step_log(self, name: str) -> Path:
        """<cache>/deps-logs/NAME.log, emptied for a new run (its folder made)."""
        self.deps_logs.mkdir(parents=True, exist_ok=True)
        log = self.deps_logs / f"{name}.log"
        log.write_bytes(b"")
        return log


def default_cache() -> Path:
    if os.geteuid() == 0:
        return Path("/var/cache/darling-nix")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "darling-nix"


def content_key(identity: object) -> str:
    """The cache key of what IDENTITY describes (JSON-able): equal inputs, equal keys."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_record(path: Path, record: DataclassInstance) -> None:
    """A step's record (a stamp, a manifest) as JSON, written whole, last; its `built_now`
    is about this run and is not kept."""
    fields = {k: v for k, v in asdict(record).items() if k != "built_now"}
    atomic_write(path, json.dumps(fields, indent=2).encode() + b"\n")


# a record's field types, as write_record writes them to JSON
_JSON_TYPES: dict[str, Callable[[object], bool]] = {
    "str": lambda value: isinstance(value, str),
    "float": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "list[str]": lambda value: isinstance(value, list) and all(isinstance(v, str) for v in value),
}


def read_record(kind: type[Record], path: Path) -> Record | None:
    """PATH's record as KIND (not built now); None when there is none or it is not one: not
    JSON, other fields, or a field of another type (then what it records is built again)."""
    try:
        fields = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    declared = {f.name: str(f.type) for f in dataclasses.fields(kind) if f.name != "built_now"}
    if not isinstance(fields, dict) or fields.keys() != declared.keys() \
            or not all(_JSON_TYPES[declared[name]](value) for name, value in fields.items()):
        return None
    return kind(**{**fields, "built_now": False})


class CacheLockError(RuntimeError):
    """The cache's lock file cannot be opened (a cache of another user's): exit 2."""


_held: dict[Path, int] = {}  # the locks this process holds, and how deep


@contextlib.contextmanager
def locked(lock: Path) -> Iterator[None]:
    """LOCK (a file) held while the block runs: a second process waits, then finds what the
    first made. A step may call another that takes the same lock (a Nix build, its
    dependencies): within one process it is taken once."""
    key = lock.parent.resolve() / lock.name  # one lock however its path is spelled
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    with _acquired(lock):
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]


@contextlib.contextmanager
def _acquired(lock: Path) -> Iterator[None]:
    """LOCK's flock, on the file that is LOCK when it is granted: a lock file removed (or
    replaced) while a holder had it would let the next run lock a file of its own beside it."""
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            held = lock.open("a")
        except OSError as error:
            raise CacheLockError(f"{lock}: cannot be opened as the cache's lock "
                                 f"({error.strerror}); is the cache someone else's?") from None
        with held:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"==> waiting for {lock}: another run holds it", file=sys.stderr,
                      flush=True)
                fcntl.flock(held, fcntl.LOCK_EX)
            try:
                current = os.stat(lock)
            except FileNotFoundError:
                continue
            mine = os.fstat(held.fileno())
            if (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
                continue
            yield
            return


# What the caller's environment would change in a build unseen by its key: compilers and their
# flags and search paths (clang honours CPATH and friends even under -nostdinc, and adds
# CCC_OVERRIDE_OPTIONS to every command), make's (it takes variables from MAKEFLAGS and reads
# the makefiles MAKEFILES names), where pkg-config, CMake and meson look for libraries, where
# `install` puts files. A build sees its own values of these or none.
UNKEYED_VARIABLES = frozenset((
    "CC", "CXX", "CPP", "OBJC", "OBJCXX", "ASM", "CCAS", "LD", "CC_LD", "CXX_LD", "AR", "NM",
    "RANLIB", "STRIP", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "OBJCFLAGS", "OBJCXXFLAGS", "ASMFLAGS",
    "CCASFLAGS", "LDFLAGS", "LIBS", "CCC_OVERRIDE_OPTIONS", "MAKEFLAGS", "GNUMAKEFLAGS", "MAKEFILES",
    "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "LIBRARY_PATH",
    "GCC_EXEC_PREFIX", "COMPILER_PATH", "CONFIG_SITE", "PKG_CONFIG", "PKG_CONFIG_PATH",
    "PKG_CONFIG_LIBDIR", "PKG_CONFIG_SYSROOT_DIR", "DESTDIR", "CMAKE_PREFIX_PATH",
    "CMAKE_INCLUDE_PATH", "CMAKE_LIBRARY_PATH", "CMAKE_TOOLCHAIN_FILE", "CMAKE_GENERATOR",
    "CMAKE_BUILD_TYPE", "CMAKE_C_COMPILER_LAUNCHER", "CMAKE_CXX_COMPILER_LAUNCHER",
    "BOOST_ROOT", "BOOST_INCLUDEDIR", "BOOST_LIBRARYDIR"))


def build_environment(own: dict[str, str]) -> dict[str, str]:
    """The environment of a build step: the caller's, less UNKEYED_VARIABLES, plus OWN."""
    kept = {name: value for name, value in os.environ.items() if name not in UNKEYED_VARIABLES}
    return {**kept, **own}


def missing_tools(names: Iterable[str]) -> list[str]:
    """Those of NAMES the build machine lacks, checked before a long build, not at its end."""
    return [name for name in names if shutil.which(name) is None]


class StepFailed(RuntimeError):
    """A step's command failed or could not start (exit 1); the log has the details."""


def run(argv: list[str], log: Path, *, cwd: Path | None = None,
        env: dict[str, str] | None = None, on_line: Callable[[bytes], None] | None = None,
        failure: type[StepFailed] = StepFailed) -> None:
    """Run ARGV with its output appended to LOG, each line also to ON_LINE; FAILURE, with
    the log's tail, if it fails."""
    with log.open("ab") as sink:
        sink.write(f"\n$ {' '.join(argv)}\n".encode())
        sink.flush()
        try:
            process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as error:
            raise failure(f"cannot run {argv[0]}: {error.strerror}; log: {log}") from None
        assert process.stdout is not None
        for line in process.stdout:
            sink.write(line)
            if on_line:
                on_line(line)
        status = process.wait()
    if status != 0:
        tail = log.read_bytes()[-3000:].decode(errors="replace")
        raise failure(f"{argv[0]} failed (exit {status}); log: {log}\n{tail}")
