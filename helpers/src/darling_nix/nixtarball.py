"""Unpacking the Nix binary tarball's store paths into a staging directory, member by
member, so that nothing can land outside it.

The official tarball holds `nix-VERSION-SYSTEM/.reginfo`, `nix-VERSION-SYSTEM/store/<paths>`
and the installer scripts, made with `tar --hard-dereference`. Accepted members: regular
files, directories, symbolic links whose target (read inside the prefix) stays below
/nix/store, and hard links to a regular file unpacked earlier in the same run. Refused,
naming the member: devices, FIFOs, sparse files, absolute or `..` names, control characters
in a name, a member outside `nix-*/`, a duplicate, a member below a link or a file, a count,
a size or a depth beyond the bounds below, a damaged or truncated stream.

Files are created exclusively (O_EXCL) in directories opened without following links,
never chowned, with the member's mode less setuid/setgid/sticky and group/other write;
directory modes are set last, so a read-only directory can still be filled as non-root.
"""

from __future__ import annotations

import lzma
import os
import re
import stat
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO

from .fsutil import Directory, UnsafePath

MAX_MEMBERS = 200_000
MAX_MEMBER_BYTES = 4 << 30
MAX_TOTAL_BYTES = 16 << 30
MAX_REGINFO_BYTES = 64 << 20
MAX_DEPTH = 64
MAX_NAME_BYTES = 4096
STORE = ("nix", "store")
_ACCEPTED = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
             tarfile.LNKTYPE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STREAM_ERRORS = (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError)


class TarballRefused(ValueError):
    pass


@dataclass
class Unpacked:
    names: list[str] = field(default_factory=list)  # store path names, in tarball order
    reginfo: bytes = b""


def _kind(member: tarfile.TarInfo) -> str:
    if member.ischr():
        return "a character device"
    if member.isblk():
        return "a block device"
    if member.isfifo():
        return "a FIFO"
    if member.issparse():
        return "a sparse file"
    return f"of tar type {member.type!r}"


def _file_mode(member: tarfile.TarInfo) -> int:
    return member.mode & 0o755


def _mtime_ns(member: tarfile.TarInfo) -> int:
    """The member's time, within what utime takes (a pax header may say nan or 1e300;
    Nix does not read store times)."""
    try:
        seconds = int(member.mtime)
    except (ValueError, OverflowError):
        seconds = 0
    return min(max(seconds, 0), 1 << 33) * 1_000_000_000


class _Refuse:
    """Builds the one-line refusal for a member."""

    def __init__(self, label: str, member: tarfile.TarInfo) -> None:
        self.label, self.name = label, member.name

    def __call__(self, what: str) -> TarballRefused:
        return TarballRefused(f"{self.label}: member {self.name[:200]!r} {what}; nothing was "
                              "installed")


def _name_problem(name: str) -> str | None:
    if _CONTROL.search(name):
        return "has a control character in its name"
    if len(name.encode(errors="surrogateescape")) > MAX_NAME_BYTES:
        return f"has a name longer than {MAX_NAME_BYTES} bytes"
    if name.startswith("/"):
        return "has an absolute name"
    parts = _parts(name)
    if ".." in parts:
        return "escapes its directory with '..'"
    if not parts or not parts[0].startswith("nix-"):
        return "is outside the tarball's nix-*/ directory"
    if len(parts) > MAX_DEPTH:
        return f"is nested deeper than {MAX_DEPTH} directories"
    return None


def _parts(name: str) -> list[str]:
    return [p for p in name.split("/") if p not in ("", ".")]


def _member_path(name: str) -> PurePosixPath | str:
    """NAME checked (relative, no `..`, no control characters, below nix-*/), or what is
    wrong with it."""
    return _name_problem(name) or PurePosixPath(*_parts(name))


def _store_relative(path: PurePosixPath) -> PurePosixPath | None:
    """nix-X/store/REST -> REST; None for the other members."""
    parts = path.parts
    return PurePosixPath(*parts[2:]) if len(parts) > 2 and parts[1] == "store" else None


def _link_stays_in_store(location: PurePosixPath, target: str) -> bool:
    """Whether a link at /nix/store/LOCATION pointing to TARGET resolves below /nix/store.
    `..` is allowed only at the start of a relative target: the directories it climbs are
    real ones (they were made by this unpacker), while after a name it could climb out of
    wherever a link led."""
    parts = [p for p in target.split("/") if p not in ("", ".")]
    climbs = 0
    while climbs < len(parts) and parts[climbs] == "..":
        climbs += 1
    if ".." in parts[climbs:] or (target.startswith("/") and climbs):
        return False
    if target.startswith("/"):
        resolved = parts
    else:
        base = [*STORE, *location.parent.parts]
        if climbs > len(base):
            return False
        resolved = base[:len(base) - climbs] + parts[climbs:]
    return tuple(resolved[:2]) == STORE and len(resolved) > 2


class _Staging:
    """The staging directory as it is filled."""

    def __init__(self, root: Directory) -> None:
        self.root = root
        self.files: set[PurePosixPath] = set()
        self.directory_modes: list[tuple[PurePosixPath, int, int]] = []

    def _parent(self, path: PurePosixPath) -> Directory:
        return self.root.descend(path.parent, create=True)

    def add(self, archive: tarfile.TarFile, member: tarfile.TarInfo, path: PurePosixPath,
            refuse: _Refuse) -> None:
        mtime = _mtime_ns(member)
        with self._parent(path) as parent:
            if member.isdir():
                try:
                    os.mkdir(path.name, 0o700, dir_fd=parent.fd)
                except FileExistsError:
                    if not _is_directory(parent, path.name):
                        raise refuse("clashes with an earlier member") from None
                self.directory_modes.append((path, _file_mode(member), mtime))
            elif member.issym():
                if not _link_stays_in_store(path, member.linkname) or \
                        _CONTROL.search(member.linkname):
                    raise refuse(f"is a symbolic link to {member.linkname[:200]!r}, outside "
                                 "/nix/store")
                os.symlink(member.linkname, path.name, dir_fd=parent.fd)
                os.utime(path.name, ns=(mtime, mtime), dir_fd=parent.fd, follow_symlinks=False)
            elif member.islnk():
                self._hard_link(member, path, parent, refuse)
            else:
                self._write_file(archive, member, path.name, parent, mtime, refuse)
                self.files.add(path)

    def _hard_link(self, member: tarfile.TarInfo, path: PurePosixPath, parent: Directory,
                   refuse: _Refuse) -> None:
        target = _member_path(member.linkname)
        inside = _store_relative(target) if isinstance(target, PurePosixPath) else None
        if inside is None or inside not in self.files:
            raise refuse(f"is a hard link to {member.linkname[:200]!r}, which is not a file "
                         "unpacked before it")
        with self.root.descend(inside.parent) as source:
            os.link(inside.name, path.name, src_dir_fd=source.fd, dst_dir_fd=parent.fd,
                    follow_symlinks=False)
        self.files.add(path)

    @staticmethod
    def _write_file(archive: tarfile.TarFile, member: tarfile.TarInfo, name: str,
                    parent: Directory, mtime: int, refuse: _Refuse) -> None:
        source = archive.extractfile(member)
        fd = parent.create_file(name, 0o600)
        try:
            while source is not None and (chunk := _read(source, refuse)):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            os.fchmod(fd, _file_mode(member))
            os.utime(fd, ns=(mtime, mtime))
        finally:
            os.close(fd)

    def finish(self) -> None:
        """Directory modes and times, deepest first (a parent's time after its children)."""
        for path, mode, mtime in sorted(self.directory_modes, key=lambda d: -len(d[0].parts)):
            with self.root.descend(path) as directory:
                os.fchmod(directory.fd, mode)
                os.utime(directory.fd, ns=(mtime, mtime))


def _is_directory(parent: Directory, name: str) -> bool:
    st = parent.lstat(name)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _read(source: IO[bytes], refuse: _Refuse) -> bytes:
    """A chunk of a member's data; the stream's own errors become a refusal."""
    try:
        return source.read(1 << 20)
    except _STREAM_ERRORS as error:
        raise refuse(f"is truncated or damaged ({_short(error)})") from None


def _short(error: BaseException) -> str:
    return str(error)[:160] or type(error).__name__


def _read_reginfo(archive: tarfile.TarFile, member: tarfile.TarInfo, refuse: _Refuse) -> bytes:
    if not member.isreg():
        raise refuse("is not a regular file")
    if member.size > MAX_REGINFO_BYTES:
        raise refuse(f"declares {member.size} bytes, more than {MAX_REGINFO_BYTES}")
    source = archive.extractfile(member)
    data = b""
    while source is not None and (chunk := _read(source, refuse)):
        data += chunk
    return data


class _Limits:
    def __init__(self) -> None:
        self.members = 0
        self.total = 0

    def count(self, member: tarfile.TarInfo, refuse: _Refuse) -> None:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise refuse(f"is one more than the {MAX_MEMBERS} members allowed")
        if member.type not in _ACCEPTED or member.issparse():
            raise refuse(f"is {_kind(member)}: only regular files, directories and symbolic "
                         "links are allowed")
        if member.isreg():
            if member.size > MAX_MEMBER_BYTES:
                raise refuse(f"declares {member.size} bytes, more than {MAX_MEMBER_BYTES}")
            self.total += member.size
            if self.total > MAX_TOTAL_BYTES:
                raise refuse(f"takes the tarball past {MAX_TOTAL_BYTES} bytes unpacked")


def unpack(stream: IO[bytes], label: str, staging: Directory,
           present: set[str]) -> Unpacked:
    """Check every member of the tarball STREAM (named LABEL in messages); unpack the
    members of store paths not in PRESENT into STAGING. TarballRefused on any problem."""
    result = Unpacked()
    target = _Staging(staging)
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            _unpack_members(archive, label, target, present, result)
    except _STREAM_ERRORS as error:
        raise TarballRefused(f"{label} is damaged or truncated ({_short(error)}); nothing "
                             "was installed") from None
    target.finish()
    return result


def _unpack_members(archive: tarfile.TarFile, label: str, target: _Staging,
                    present: set[str], result: Unpacked) -> None:
    limits = _Limits()
    seen: set[PurePosixPath] = set()
    names: set[str] = set()
    for member in archive:
        refuse = _Refuse(label, member)
        limits.count(member, refuse)
        path = _member_path(member.name)
        if isinstance(path, str):
            raise refuse(path)
        if path in seen:
            raise refuse("appears twice")
        seen.add(path)
        if path.parts[1:] == (".reginfo",):
            result.reginfo = _read_reginfo(archive, member, refuse)
            continue
        inside = _store_relative(path)
        if inside is None:
            continue  # the installer scripts, the nix-*/store directory itself
        if inside.parts[0] not in names:
            names.add(inside.parts[0])
            result.names.append(inside.parts[0])
        if inside.parts[0] in present:
            continue
        try:
            target.add(archive, member, inside, refuse)
        except UnsafePath as error:
            raise refuse(f"lies below something that is not a directory ({error})") from None
        except FileExistsError:
            raise refuse("clashes with an earlier member") from None
        except OSError as error:  # the filesystem's: the stream's are refusals already
            raise refuse(f"cannot be unpacked ({error.strerror or error})") from None
