"""Locks left behind by writers that died, as the shims (dash and bash) and
darling_nix.dirlock both meet them: one protocol (docs/shims.md), so both recover from the
same states, and neither breaks a lock whose holder may still be alive.

Timing is asserted only as lower bounds the protocol makes deterministic (a poll takes at
least 0.1 s); how soon a writer recovers is left to its own 10 s timeout."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from darling_nix.accounts import Accounts, User
from forked import all_succeed_in_forks
from shim_support import Prefix

AN_HOUR_AGO = time.time() - 3600


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def lock_of(prefix: Prefix) -> Path:
    return prefix.etc / ".accounts.lock"


def age(path: Path) -> None:
    os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO), follow_symlinks=False)


def held_by(prefix: Prefix, pid: int) -> Path:
    lock = lock_of(prefix)
    lock.mkdir()
    (lock / "pid").write_text(f"{pid}\n")
    return lock


def abandoned_mutex(prefix: Prefix) -> None:
    """The break mutex of a breaker that died an hour ago."""
    mutex = prefix.etc / ".accounts.lock.break"
    mutex.mkdir()
    age(mutex)


def left_by_a_dead_breaker(prefix: Prefix) -> None:
    held_by(prefix, dead_pid())
    abandoned_mutex(prefix)


def without_pid(prefix: Prefix) -> None:
    lock_of(prefix).mkdir()
    age(lock_of(prefix))


def with_pid_text(text: str, name: str) -> Callable[[Prefix], None]:
    """An abandoned lock whose pid file holds TEXT, which no holder writes."""
    def wedge(prefix: Prefix) -> None:
        lock_of(prefix).mkdir()
        (lock_of(prefix) / "pid").write_text(text)
        age(lock_of(prefix))
    wedge.__name__ = name
    return wedge


with_garbage_pid = with_pid_text("not a pid\n", "with_garbage_pid")
# kill -0 0 and os.kill(0, 0) succeed; os.kill(-1, 0) signals everyone and succeeds; kill
# refuses 20 digits (an error, not "no such process") and os.kill raises OverflowError.
with_pid_zero = with_pid_text("0\n", "with_pid_zero")
with_minus_one_for_pid = with_pid_text("-1\n", "with_minus_one_for_pid")
with_a_pid_too_large_for_kill = with_pid_text("99999999999999999999\n",
                                              "with_a_pid_too_large_for_kill")


def with_a_fifo_for_pid(prefix: Prefix) -> None:
    lock_of(prefix).mkdir()
    os.mkfifo(lock_of(prefix) / "pid")
    age(lock_of(prefix))


def a_file_in_place_of_the_mutex(prefix: Prefix) -> None:
    """A stale lock, and a regular file (not a directory) under the break mutex's name."""
    held_by(prefix, dead_pid())
    mutex = prefix.etc / ".accounts.lock.break"
    mutex.write_text("planted\n")
    age(mutex)


def a_dead_breaker_without_pid(prefix: Prefix) -> None:
    without_pid(prefix)
    abandoned_mutex(prefix)


WEDGES: list[Callable[[Prefix], None]] = [left_by_a_dead_breaker, without_pid, with_garbage_pid,
                                          with_pid_zero, with_minus_one_for_pid,
                                          with_a_pid_too_large_for_kill,
                                          with_a_fifo_for_pid, a_dead_breaker_without_pid,
                                          a_file_in_place_of_the_mutex]


def clean(prefix: Prefix) -> bool:
    return not [p for p in prefix.etc.iterdir() if p.name.startswith(".accounts.lock")]


@pytest.mark.parametrize("wedge", WEDGES, ids=[w.__name__ for w in WEDGES])
def test_shim_recovers(prefix: Prefix, wedge: Callable[[Prefix], None]) -> None:
    wedge(prefix)
    proc = prefix.run("dscl", ".", "-create", "/Users/after", "UniqueID", "950", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert prefix.users()["after"][2] == "950"
    assert clean(prefix)


@pytest.mark.parametrize("wedge", WEDGES, ids=[w.__name__ for w in WEDGES])
def test_python_recovers_from_the_same_state(prefix: Prefix,
                                             wedge: Callable[[Prefix], None]) -> None:
    wedge(prefix)
    assert Accounts(prefix.etc).add_user(User("after", 950, 20))
    assert clean(prefix)


def test_many_writers_of_both_kinds_recover_together(prefix: Prefix) -> None:
    left_by_a_dead_breaker(prefix)
    shims = [prefix.popen("dscl", ".", "-create", f"/Users/s{i}", "UniqueID", str(960 + i))
             for i in range(4)]
    assert all_succeed_in_forks(
        2, lambda writer: Accounts(prefix.etc).add_user(User(f"p{writer}", 970 + writer, 20)))
    assert all(shim.wait(timeout=60) == 0 for shim in shims)
    assert {"s0", "s1", "s2", "s3", "p0", "p1"} <= set(prefix.users())
    assert clean(prefix)


def test_fresh_lock_without_pid_is_respected_for_the_grace(prefix: Prefix) -> None:
    """A writer between mkdir and writing its pid: no writer breaks that lock sooner than
    2 s after first seeing it (20 polls of at least 0.1 s each)."""
    lock_of(prefix).mkdir()
    proc = prefix.popen("dscl", ".", "-create", "/Users/patient", "UniqueID", "951")
    time.sleep(1.0)
    assert lock_of(prefix).is_dir() and proc.poll() is None
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert prefix.users()["patient"][2] == "951"


def test_live_lock_is_not_broken_even_with_an_abandoned_mutex(prefix: Prefix) -> None:
    lock = held_by(prefix, os.getpid())
    abandoned_mutex(prefix)
    proc = prefix.popen("dscl", ".", "-create", "/Users/waiter", "UniqueID", "952")
    time.sleep(1.5)
    assert proc.poll() is None
    assert (lock / "pid").read_text() == f"{os.getpid()}\n"
    (lock / "pid").unlink()
    lock.rmdir()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert prefix.users()["waiter"][2] == "952"
