"""Writing files so that a reader sees the old or the new version, never a torn one."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Temporary file in the same directory, fsync, rename over PATH, fsync the directory.

    Without MODE an existing file keeps its mode; a new one gets 0644.
    """
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    temporary = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


NO_PID_GRACE = 2.0
BREAK_MUTEX_GRACE = 1.0


class LockTimeout(RuntimeError):
    pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_owner(lock: Path) -> int | None:
    """The pid in LOCK/pid; None when there is none yet (the holder may be between mkdir and
    writing it) or it cannot be read."""
    try:
        return int((lock / "pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _break_if_stale(lock: Path) -> None:
    """Remove LOCK if its holder is dead. The shims follow the same rule (docs/shims.md):
    breakers take the mutex LOCK.break and re-read the pid, so two of them that saw the same
    dead holder cannot remove a lock a third writer has just taken."""
    owner = _lock_owner(lock)
    if owner is None:
        # Holders write their pid right after mkdir; one still without it after a few
        # seconds died in between.
        with contextlib.suppress(OSError):
            if time.time() - lock.stat().st_mtime > NO_PID_GRACE:
                owner = 0
        if owner is None:
            return
    elif _pid_alive(owner):
        return
    mutex = lock.with_name(lock.name + ".break")
    try:
        os.mkdir(mutex, 0o700)
    except FileExistsError:
        with contextlib.suppress(OSError):  # a breaker that died holding the mutex
            if time.time() - mutex.stat().st_mtime > BREAK_MUTEX_GRACE:
                mutex.rmdir()
        return
    try:
        if (_lock_owner(lock) or 0) != owner:
            return  # taken again since we looked
        graveyard = lock.with_name(f"{lock.name}.stale.{os.getpid()}")
        os.rename(lock, graveyard)
        (graveyard / "pid").unlink(missing_ok=True)
        graveyard.rmdir()
    except OSError:
        pass
    finally:
        mutex.rmdir()


@contextlib.contextmanager
def directory_lock(lock: Path, timeout: float = 10.0) -> Iterator[None]:
    """The lock the shims use too: mkdir is atomic on every filesystem and in POSIX sh."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.mkdir(lock, 0o700)
            break
        except FileExistsError:
            _break_if_stale(lock)
            if time.monotonic() > deadline:
                raise LockTimeout(f"{lock} is held by another writer (waited {timeout:.0f} s); "
                                  "if no writer runs, remove that directory") from None
            time.sleep(0.02)
    try:
        (lock / "pid").write_text(f"{os.getpid()}\n")
        yield
    finally:
        (lock / "pid").unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            lock.rmdir()


def remove_tree(path: Path) -> None:
    """rm -rf that also works as a non-root owner: Nix leaves store directories 0555."""
    for root, dirs, _files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o700)
    if path.is_dir():
        os.chmod(path, 0o700)
        shutil.rmtree(path)
