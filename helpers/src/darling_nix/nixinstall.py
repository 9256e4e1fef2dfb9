"""`darling-nix install-nix`: a Nix binary tarball into the prefix, offline.

The official tarball holds `nix-VERSION-SYSTEM/store/<paths>`, `.reginfo` (for
`nix-store --load-db`) and an install script we do not run. Each store path is
unpacked into a staging directory and renamed into the store whole, so a killed
install leaves complete paths or none, and the next run redoes the rest.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, cast

from .fsutil import atomic_write, remove_tree
from .models import BuilderConfig
from .prefix import nix_conf_path
from .render import render_nix_conf
from .runner import Runner

STAGING_PREFIX = ".darling-nix-unpack-"
PROFILE = "/nix/var/nix/profiles/default"


class InstallError(RuntimeError):
    """Bad input: a missing or wrong tarball, a hash mismatch."""


class StepFailed(InstallError):
    """A step run inside the prefix failed."""


@dataclass(frozen=True)
class InstallResult:
    nix_path: str
    already_installed: bool
    unpacked: int


Progress = Callable[[int, int], None]


def sha256_of(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    return digest.hexdigest()


def terminal_progress(label: str) -> Progress | None:
    """A one-line progress bar on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{done >> 20}/{total >> 20} MiB")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def marker_path(prefix: Path) -> Path:
    return prefix / "nix" / "var" / "darling-nix" / "installed"


def _store_member(name: str) -> tuple[str, PurePosixPath] | None:
    """('store'|'.reginfo', rest) for the members we use; None for others."""
    parts = PurePosixPath(name).parts
    if len(parts) < 2 or not parts[0].startswith("nix-"):
        return None
    if ".." in parts or parts[0].startswith("/"):
        raise InstallError(f"tarball member {name!r} escapes the tarball's directory")
    if parts[1] == ".reginfo" and len(parts) == 2:
        return ".reginfo", PurePosixPath()
    if parts[1] == "store" and len(parts) >= 3:
        return "store", PurePosixPath(*parts[2:])
    return None


class _Reader:
    """Counts bytes read from the compressed file, for the progress bar."""

    def __init__(self, stream: IO[bytes], progress: Progress | None, total: int) -> None:
        self.stream, self.progress, self.total = stream, progress, total

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if self.progress:
            self.progress(self.stream.tell(), self.total)
        return data


def unpack(tarball: Path, store: Path, progress: Progress | None) -> tuple[list[str], bytes]:
    """Unpack store paths missing from STORE; returns (store path names, .reginfo)."""
    for stale in store.glob(STAGING_PREFIX + "*"):
        remove_tree(stale)
    staging = store / f"{STAGING_PREFIX}{os.getpid()}"
    staging.mkdir()
    names: list[str] = []
    reginfo = b""
    try:
        with tarball.open("rb") as raw, tarfile.open(
                fileobj=cast(IO[bytes], _Reader(raw, progress, tarball.stat().st_size)),
                mode="r|*") as archive:
            for member in archive:
                kind_rest = _store_member(member.name)
                if kind_rest is None:
                    continue
                kind, rest = kind_rest
                if kind == ".reginfo":
                    extracted = archive.extractfile(member)
                    reginfo = extracted.read() if extracted else b""
                    continue
                top = rest.parts[0]
                if len(rest.parts) == 1:
                    names.append(top)
                if (store / top).exists():
                    continue
                member.name = str(rest)
                archive.extract(member, staging, filter="tar")
        if not reginfo:
            raise InstallError(f"{tarball} has no nix-*/.reginfo: not a Nix binary tarball")
        for name in names:
            _move_into_store(staging / name, store / name)
    finally:
        remove_tree(staging)
    return names, reginfo


def _move_into_store(source: Path, target: Path) -> None:
    if not source.exists() and not source.is_symlink():
        return  # present before this run
    if source.is_dir() and not source.is_symlink():
        # Moving a directory to another parent needs write permission on it ('..' changes).
        mode = source.stat().st_mode
        source.chmod(mode | 0o200)
        os.rename(source, target)
        target.chmod(mode)
    else:
        os.rename(source, target)


def _nix_path(store: Path, names: list[str]) -> str:
    for name in names:
        if (store / name / "bin" / "nix-store").exists():
            return f"/nix/store/{name}"
    raise InstallError("no store path in the tarball has bin/nix-store: not a Nix binary tarball")


def install(config: BuilderConfig, runner: Runner, tarball: Path, sha256: str,
            report: Callable[[str], None], force: bool = False) -> InstallResult:
    prefix = config.prefix_path
    marker = marker_path(prefix)
    if not tarball.is_file():
        raise InstallError(f"Nix tarball {tarball} does not exist")
    if not force and marker.is_file():
        installed_sha, _, nix_path = marker.read_text().partition(" ")
        if installed_sha == sha256:
            return InstallResult(nix_path.strip(), True, 0)
    actual = sha256_of(tarball, terminal_progress("verifying"))
    if actual != sha256:
        raise InstallError(f"sha256 mismatch for {tarball}: expected {sha256}, got {actual}; "
                           "the prefix was not touched")
    store = prefix / "nix" / "store"
    if not store.is_dir():
        raise InstallError(f"{store} does not exist: run `darling-nix prefix init` first")

    runner.stop()
    before = {p.name for p in store.iterdir()}
    names, reginfo = unpack(tarball, store, terminal_progress("unpacking"))
    unpacked = len([n for n in names if n not in before])
    report(f"unpacked {unpacked} of {len(names)} store paths into {store}")
    nix_path = _nix_path(store, names)
    atomic_write(nix_conf_path(prefix), render_nix_conf(config).encode(), 0o644)

    _run(runner, [f"{nix_path}/bin/nix-store", "--load-db"], reginfo, "registering store paths")
    report(f"registered {len(names)} store paths")
    if _profile_target(prefix) != nix_path:
        _run(runner, [f"{nix_path}/bin/nix-env", "--profile", PROFILE, "--set", nix_path], b"",
             "setting the default profile")
        report(f"default profile -> {nix_path}")
    runner.stop()
    marker.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(marker, f"{sha256} {nix_path}\n".encode(), 0o644)
    return InstallResult(nix_path, False, unpacked)


def _profile_target(prefix: Path) -> str:
    """Where the prefix's default profile points, following links inside the prefix."""
    path = PROFILE
    for _ in range(8):
        host_path = prefix / path.lstrip("/")
        if not host_path.is_symlink():
            return path
        target = os.readlink(host_path)
        path = target if target.startswith("/") else os.path.join(os.path.dirname(path), target)
    return path


def _run(runner: Runner, argv: list[str], stdin: bytes, what: str) -> None:
    result = runner.run(argv, input=stdin, capture=True)
    if result.returncode != 0:
        raise StepFailed(f"{what} failed (exit {result.returncode}): "
                           f"{result.stderr.decode(errors='replace').strip()[-2000:]}")
