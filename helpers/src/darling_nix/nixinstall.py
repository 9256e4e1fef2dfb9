"""`darling-nix install-nix`: a Nix binary tarball into the prefix, offline.

The official tarball holds `nix-VERSION-SYSTEM/store/<paths>`, `.reginfo` (for
`nix-store --load-db`) and an install script we do not run. Each store path is
unpacked into a staging directory (nixtarball.py: what a member may be) and renamed
into the store whole, so a killed install leaves complete paths or none, and the next
run redoes the rest. The tarball is opened once: the bytes hashed are the bytes unpacked.
The prefix belongs to the builder, so its directories are opened without following links.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, cast

from . import nixtarball
from .fsutil import Directory, UnsafePath, open_beneath
from .models import BuilderConfig
from .prefix import NIX_CONF
from .removal import remove_at
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


def sha256_of(stream: IO[bytes], progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total = os.fstat(stream.fileno()).st_size
    done = 0
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


MARKER = PurePosixPath("nix/var/darling-nix/installed")


def marker_path(prefix: Path) -> Path:
    return prefix / MARKER


class _Reader:
    """Counts bytes read from the compressed file, for the progress bar."""

    def __init__(self, stream: IO[bytes], progress: Progress | None, total: int) -> None:
        self.stream, self.progress, self.total = stream, progress, total

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if self.progress:
            self.progress(self.stream.tell(), self.total)
        return data


def open_tarball(path: Path) -> BinaryIO:
    """PATH opened for reading: a regular file, possibly reached through a link (the
    admin's path); a directory, a device or a FIFO is refused before anything is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InstallError(f"Nix tarball {path} does not exist") from None
    except OSError as error:
        raise InstallError(f"cannot open the Nix tarball {path}: {error.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise InstallError(f"Nix tarball {path} is {what}")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def unpack(tarball: IO[bytes], label: str, store: Directory,
           progress: Progress | None) -> tuple[list[str], bytes]:
    """Unpack store paths missing from STORE; returns (store path names, .reginfo)."""
    for stale in os.listdir(store.fd):
        if stale.startswith(STAGING_PREFIX):
            remove_at(store, stale)
    staging = f"{STAGING_PREFIX}{os.getpid()}"
    os.mkdir(staging, 0o700, dir_fd=store.fd)
    try:
        present = {n for n in os.listdir(store.fd) if not n.startswith(STAGING_PREFIX)}
        size = os.fstat(tarball.fileno()).st_size
        with store.child(staging) as staged:
            unpacked = nixtarball.unpack(cast(IO[bytes], _Reader(tarball, progress, size)),
                                         label, staged, present)
            if not unpacked.reginfo:
                raise InstallError(f"{label} has no nix-*/.reginfo: not a Nix binary tarball")
            for name in unpacked.names:
                _move_into_store(staged, store, name)
    except nixtarball.TarballRefused as error:
        raise InstallError(str(error)) from None
    finally:
        remove_at(store, staging)
    return unpacked.names, unpacked.reginfo


def _move_into_store(staging: Directory, store: Directory, name: str) -> None:
    source = staging.lstat(name)
    if source is None:
        return  # present before this run
    if stat.S_ISDIR(source.st_mode):
        # Moving a directory to another parent needs write permission on it ('..' changes).
        with staging.child(name) as moved:
            os.fchmod(moved.fd, stat.S_IMODE(source.st_mode) | 0o200)
            os.rename(name, name, src_dir_fd=staging.fd, dst_dir_fd=store.fd)
            os.fchmod(moved.fd, stat.S_IMODE(source.st_mode))
    else:
        os.rename(name, name, src_dir_fd=staging.fd, dst_dir_fd=store.fd)


def _nix_path(store: Directory, names: list[str]) -> str:
    for name in names:
        with contextlib.suppress(FileNotFoundError, UnsafePath), \
                store.descend(PurePosixPath(name) / "bin") as bin_dir:
            if bin_dir.lstat("nix-store") is not None:
                return f"/nix/store/{name}"
    raise InstallError("no store path in the tarball has bin/nix-store: not a Nix binary tarball")


def _installed(prefix: Path) -> tuple[str, str] | None:
    """(sha256, nix path) from the marker of an earlier install."""
    try:
        with open_beneath(prefix, MARKER.parent) as directory:
            data = directory.read_regular(MARKER.name, 4096)
    except (FileNotFoundError, UnsafePath):
        return None
    if data is None:
        return None
    sha, _, nix_path = data.decode(errors="replace").partition(" ")
    return sha, nix_path.strip()


def install(config: BuilderConfig, runner: Runner, tarball: Path, sha256: str,
            report: Callable[[str], None], force: bool = False) -> InstallResult:
    prefix = config.prefix_path
    with open_tarball(tarball) as stream:
        installed = None if force else _installed(prefix)
        if installed and installed[0] == sha256:
            return InstallResult(installed[1], True, 0)
        actual = sha256_of(stream, terminal_progress("verifying"))
        if actual != sha256:
            raise InstallError(f"sha256 mismatch for {tarball}: expected {sha256}, got "
                               f"{actual}; the prefix was not touched")
        stream.seek(0)
        try:
            store = open_beneath(prefix, "nix/store")
        except FileNotFoundError:
            raise InstallError(f"{prefix / 'nix/store'} does not exist: run `darling-nix "
                               "prefix init` first") from None
        except UnsafePath as error:
            raise InstallError(str(error)) from None
        with store:
            runner.stop()
            before = set(os.listdir(store.fd))
            names, reginfo = unpack(stream, str(tarball), store, terminal_progress("unpacking"))
            unpacked = len([n for n in names if n not in before])
            report(f"unpacked {unpacked} of {len(names)} store paths into {store.path}")
            nix_path = _nix_path(store, names)
    _write_in_prefix(prefix, NIX_CONF, render_nix_conf(config).encode())

    _run(runner, [f"{nix_path}/bin/nix-store", "--load-db"], reginfo, "registering store paths")
    report(f"registered {len(names)} store paths")
    if _profile_target(prefix) != nix_path:
        _run(runner, [f"{nix_path}/bin/nix-env", "--profile", PROFILE, "--set", nix_path], b"",
             "setting the default profile")
        report(f"default profile -> {nix_path}")
    runner.stop()
    _write_in_prefix(prefix, MARKER, f"{sha256} {nix_path}\n".encode())
    return InstallResult(nix_path, False, unpacked)


def _write_in_prefix(prefix: Path, relative: PurePosixPath, data: bytes) -> None:
    try:
        with open_beneath(prefix, relative.parent, create=True) as directory:
            directory.write_atomic(relative.name, data, 0o644)
    except UnsafePath as error:
        raise InstallError(str(error)) from None


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
