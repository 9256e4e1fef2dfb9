"""Reaching and writing files inside a tree someone else owns (the prefix belongs to the
builder, root may run the CLI) without following a link planted there, and writing files
so that a reader sees the old or the new version, never a torn one.

A `Directory` is an open directory: names are resolved relative to it, one component at a
time, and a component that is a symbolic link is refused, never followed. Only the path a
`Directory` is first opened from (the admin's: a config file's directory, a prefix's
parent) is resolved the ordinary way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path, PurePath, PurePosixPath
from types import TracebackType
from typing import BinaryIO

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(ValueError):
    """A path we were asked to go through is a symbolic link, or not what it should be."""


def _refusal(path: Path, st: os.stat_result | None, wanted: str) -> UnsafePath:
    if st is not None and stat.S_ISLNK(st.st_mode):
        return UnsafePath(f"{path} is a symbolic link; refusing to follow it")
    return UnsafePath(f"{path} is not a {wanted}")


class Directory:
    """An open directory; see the module's docstring. Close it, or use it in `with`."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path

    @classmethod
    def open(cls, path: Path) -> Directory:
        """PATH itself is resolved the ordinary way: it is the caller's, not the tree's."""
        return cls(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), path)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def lstat(self, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def child(self, name: str, create: bool = False, mode: int = 0o755) -> Directory:
        """The subdirectory NAME (made first when CREATE); a link or a file is refused."""
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, mode, dir_fd=self.fd)
        try:
            return Directory(os.open(name, _DIRECTORY_FLAGS, dir_fd=self.fd), self.path / name)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _refusal(self.path / name, self.lstat(name), "directory") from None
            raise

    def descend(self, relative: str | PurePath, create: bool = False) -> Directory:
        """The directory RELATIVE below this one, every component checked as in `child`."""
        current = Directory(os.dup(self.fd), self.path)
        try:
            for name in PurePosixPath(relative).parts:
                below = current.child(name, create)
                current.close()
                current = below
        except BaseException:
            current.close()
            raise
        return current

    def open_regular(self, name: str) -> BinaryIO | None:
        """NAME opened for reading; None when it does not exist. A link, a FIFO or a
        device is refused (UnsafePath) before anything is read."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise _refusal(self.path / name, self.lstat(name), "file") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UnsafePath(f"{self.path / name} is not a regular file")
        return os.fdopen(fd, "rb")

    def read_regular(self, name: str, limit: int) -> bytes | None:
        """NAME's bytes, as `open_regular` reaches them; a file over LIMIT bytes is refused."""
        stream = self.open_regular(name)
        if stream is None:
            return None
        with stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise UnsafePath(f"{self.path / name} is larger than {limit} bytes")
        return data

    def create_file(self, name: str, mode: int) -> int:
        """A new file NAME, opened for writing; fails if anything (a link too) has the name."""
        return os.open(name, _NEW_FILE_FLAGS, mode, dir_fd=self.fd)

    def write_atomic(self, name: str, data: bytes, mode: int | None = None) -> None:
        """Write a temporary file next to NAME, fsync, rename it over NAME, fsync the
        directory. NAME itself is replaced, never written through; without MODE an existing
        file keeps its mode, a new one gets 0644."""
        if mode is None:
            current = self.lstat(name)
            mode = stat.S_IMODE(current.st_mode) if current and stat.S_ISREG(
                current.st_mode) else 0o644
        temporary, fd = self._new_temporary(name)
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(temporary, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=self.fd)
            raise
        os.fsync(self.fd)

    def _new_temporary(self, name: str) -> tuple[str, int]:
        """A fresh `.NAME.tmp.XXXXXXXX`: a random name, created exclusively, so that no
        link or file planted under a predictable name is ever opened."""
        for _attempt in range(100):
            temporary = f".{name}.tmp.{os.urandom(4).hex()}"
            try:
                return temporary, self.create_file(temporary, 0o600)
            except FileExistsError:
                continue
        raise FileExistsError(errno.EEXIST, "no free temporary name", str(self.path / name))


def open_beneath(root: Path, relative: str | PurePath, create: bool = False) -> Directory:
    """ROOT/RELATIVE with no link followed below ROOT's parent: ROOT itself (a prefix, say)
    must be a real directory too."""
    with Directory.open(root.parent) as parent:
        return parent.descend(PurePosixPath(root.name) / relative, create)


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace PATH atomically (see `Directory.write_atomic`); PATH's directory is the
    caller's and resolved the ordinary way."""
    with Directory.open(path.parent) as directory:
        directory.write_atomic(path.name, data, mode)
