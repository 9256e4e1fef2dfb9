"""The stand-in for the real x86_64-darwin Nix tarball, which cannot be had here.

It has the official tarball's layout (`nix-VERSION-SYSTEM/store/...`, `.reginfo`),
made from a local store closure: one store path whose bin/ holds the Nix commands
as small scripts that exec the host's Nix. The installer, the profile link and the
PATH inside the prefix are exercised exactly as with the real tarball.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
from pathlib import Path

from .hostnix import host_nix_version, nix_store

NIX_COMMANDS = ("nix", "nix-build", "nix-daemon", "nix-env", "nix-instantiate", "nix-store",
                "nix-collect-garbage", "nix-copy-closure")


def add_standin_nix_to_store() -> str:
    """Add the wrapper package to the host store; returns its store path."""
    with tempfile.TemporaryDirectory() as work:
        package = Path(work) / "nix-standin"
        (package / "bin").mkdir(parents=True)
        for command in NIX_COMMANDS:
            script = package / "bin" / command
            script.write_text(f'#!/bin/sh\nexec /usr/bin/{command} "$@"\n')
            script.chmod(0o555)
        return nix_store("--add", str(package)).strip()


def make_standin_tarball(destination: Path) -> tuple[Path, str]:
    """Write the tarball into DESTINATION (a directory); returns (path, sha256)."""
    store_path = add_standin_nix_to_store()
    closure = nix_store("--query", "--requisites", store_path).split()
    reginfo = nix_store("--dump-db", *closure).encode()
    top = f"nix-{host_nix_version()}-x86_64-darwin-standin"
    tarball = destination / f"{top}.tar.xz"
    with tarfile.open(tarball, "w:xz") as archive:
        for path in closure:
            archive.add(path, arcname=f"{top}/store/{Path(path).name}")
        info = tarfile.TarInfo(f"{top}/.reginfo")
        info.size = len(reginfo)
        archive.addfile(info, io.BytesIO(reginfo))
    return tarball, hashlib.sha256(tarball.read_bytes()).hexdigest()

