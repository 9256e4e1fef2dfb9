"""Building tarballs member by member for the hostile-input tests: the official layout
(nix-VERSION/.reginfo, nix-VERSION/store/<paths>) with whatever a test adds to it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

Member = tuple[tarfile.TarInfo, bytes]

TOP = "nix-1"
STORE = f"{TOP}/store"
PACKAGE = f"{STORE}/aaa-pkg"


def regular(name: str, data: bytes = b"data\n", mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 1
    return info, data


def directory(name: str, mode: int = 0o755) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 1
    return info, b""


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = kind, target, 1
    return info, b""


def special(name: str, kind: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = kind, 1, 3
    return info, b""


def base() -> list[Member]:
    """A small valid tarball: .reginfo and one store path with bin/nix-store."""
    return [regular(f"{TOP}/.reginfo", b"reginfo\n"), directory(PACKAGE),
            directory(f"{PACKAGE}/bin", 0o555),
            regular(f"{PACKAGE}/bin/nix-store", b"#!/bin/sh\n", 0o555)]


def tar_bytes(members: list[Member], form: int = tarfile.GNU_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=form) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def write(path: Path, members: list[Member], form: int = tarfile.GNU_FORMAT,
          compression: str = "xz") -> Path:
    """The tarball at PATH, compressed like the official one (xz) unless told otherwise."""
    raw = tar_bytes(members, form)
    if compression == "xz":
        import lzma
        raw = lzma.compress(raw)
    path.write_bytes(raw)
    return path
