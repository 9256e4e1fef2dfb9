"""The accounts lock, shared with the shims (docs/shims.md has the protocol): a directory
made with mkdir, which is atomic on every filesystem and in POSIX sh, holding its
holder's pid. Everything is done relative to the open directory that holds the lock, and
a lock that has been replaced by a link is never followed."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator

from .fsutil import Directory, UnsafePath
from .removal import remove_at

# Holders write their pid right after mkdir; one still without it after this long died
# in between.
NO_PID_GRACE = 2.0
# Breakers hold the break mutex for a few system calls; one held longer died holding it.
BREAK_MUTEX_GRACE = 1.0
# What a holder writes, read as the shims read it: digits only, no leading zero, at most
# 7 of them (Linux pids stop at 2^22). Anything else (0, -1, 1_0, a 20-digit number, which
# kill(2) cannot even take) is no pid, broken after the grace, never a live holder.
_PID_RE = re.compile(rb"[1-9][0-9]{0,6}")


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


def _owner(parent: Directory, name: str) -> int | None:
    """The pid in NAME/pid; None when there is none yet or it is not a pid."""
    try:
        with parent.child(name) as lock:
            text = lock.read_regular("pid", 64)
    except (OSError, UnsafePath):
        return None
    digits = (text or b"").rstrip(b"\n")
    return int(digits) if _PID_RE.fullmatch(digits) else None


def _older_than(parent: Directory, name: str, seconds: float) -> bool:
    st = parent.lstat(name)
    return st is not None and time.time() - st.st_mtime > seconds


def _break_if_stale(parent: Directory, name: str) -> None:
    """Remove the lock NAME if its holder is dead. Breakers take the mutex NAME.break and
    re-read the pid, so two of them that saw the same dead holder cannot remove a lock a
    third writer has just taken."""
    owner = _owner(parent, name)
    if owner is None:
        if not _older_than(parent, name, NO_PID_GRACE):
            return
        owner = 0
    elif _pid_alive(owner):
        return
    mutex = name + ".break"
    try:
        os.mkdir(mutex, 0o700, dir_fd=parent.fd)
    except FileExistsError:
        if _older_than(parent, mutex, BREAK_MUTEX_GRACE):  # a breaker died holding it
            with contextlib.suppress(OSError, UnsafePath):
                remove_at(parent, mutex)  # its directory, or anything left under its name
        return
    try:
        if (_owner(parent, name) or 0) != owner:
            return  # taken again since we looked
        graveyard = f"{name}.stale.{os.getpid()}"
        os.rename(name, graveyard, src_dir_fd=parent.fd, dst_dir_fd=parent.fd)
        remove_at(parent, graveyard)
    except (OSError, UnsafePath):
        pass
    finally:
        # another breaker may have taken it for a dead one's and removed it meanwhile
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(mutex, dir_fd=parent.fd)


@contextlib.contextmanager
def directory_lock(parent: Directory, name: str, timeout: float = 10.0) -> Iterator[None]:
    """Hold the lock NAME in PARENT; LockTimeout after TIMEOUT seconds of a live holder."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.mkdir(name, 0o700, dir_fd=parent.fd)
            break
        except FileExistsError:
            _break_if_stale(parent, name)
            if time.monotonic() > deadline:
                raise LockTimeout(f"{parent.path / name} is held by another writer (waited "
                                  f"{timeout:.0f} s); if no writer runs, remove that "
                                  "directory") from None
            time.sleep(0.02)
    try:
        with parent.child(name) as lock:
            fd = lock.create_file("pid", 0o644)
            try:
                os.write(fd, f"{os.getpid()}\n".encode())
            finally:
                os.close(fd)
            try:
                yield
            finally:
                with contextlib.suppress(OSError):
                    os.unlink("pid", dir_fd=lock.fd)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(name, dir_fd=parent.fd)  # never follows a link
