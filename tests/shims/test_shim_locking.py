"""The lock directory: concurrent writers lose nothing, a lock left by a dead
process is broken, a live one is waited for and then reported."""

from __future__ import annotations

import os
import subprocess
import time

from shim_support import Prefix

WRITERS = 8
EACH = 3


def test_concurrent_writers_lose_nothing(prefix: Prefix) -> None:
    procs = []
    for w in range(WRITERS):
        script = "; ".join(
            f'"$SHELL_" "$D/dscl" . -create /Users/w{w}u{i} && '
            f'"$SHELL_" "$D/dseditgroup" -o create -a w{w}u{i} -t user gw{w}u{i}'
            for i in range(EACH)
        )
        procs.append(
            subprocess.Popen(
                [prefix.shell, "-c", f"set -e; {script}"],
                env=prefix.env(SHELL_=prefix.shell, D=str(prefix_shims())),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    users, passwd, groups = prefix.users(), prefix.passwd(), prefix.groups()
    names = {f"w{w}u{i}" for w in range(WRITERS) for i in range(EACH)}
    assert names <= set(users) and names <= set(passwd)
    uids = [users[n][2] for n in names]
    assert len(set(uids)) == len(names), "two users got the same automatic uid"
    assert sorted(map(int, uids)) == list(range(501, 501 + len(names)))
    assert {f"g{n}" for n in names} <= set(groups)
    assert len({groups[f"g{n}"][2] for n in names}) == len(names)
    assert all(groups[f"g{n}"][3] == n for n in names)
    assert not (prefix.etc / ".accounts.lock").exists()
    assert [p.name for p in prefix.etc.iterdir()] != [] and not [
        p for p in prefix.etc.iterdir() if ".tmp." in p.name or "stale" in p.name
    ]


def prefix_shims():
    from shim_support import SHIMS

    return SHIMS


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_lock_is_broken(prefix: Prefix) -> None:
    lock = prefix.etc / ".accounts.lock"
    lock.mkdir()
    (lock / "pid").write_text(f"{dead_pid()}\n")
    start = time.monotonic()
    procs = [
        prefix.popen("dscl", ".", "-create", f"/Users/after{i}", "UniqueID", str(900 + i))
        for i in range(5)
    ]
    for p in procs:
        _, err = p.communicate(timeout=20)
        assert p.returncode == 0, err
    assert time.monotonic() - start < 8
    users = prefix.users()
    assert [users[f"after{i}"][2] for i in range(5)] == [str(900 + i) for i in range(5)]
    assert sorted(p.name for p in prefix.etc.iterdir()) == ["group", "master.passwd", "passwd"]


def test_live_lock_is_waited_for(prefix: Prefix) -> None:
    lock = prefix.etc / ".accounts.lock"
    lock.mkdir()
    (lock / "pid").write_text(f"{os.getpid()}\n")
    proc = prefix.popen("dscl", ".", "-create", "/Users/waiter", "UniqueID", "901")
    time.sleep(0.5)
    assert proc.poll() is None, "did not wait for a live lock"
    assert "waiter" not in prefix.users()
    (lock / "pid").unlink()
    lock.rmdir()
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert prefix.users()["waiter"][2] == "901"


def test_live_lock_times_out(prefix: Prefix) -> None:
    lock = prefix.etc / ".accounts.lock"
    lock.mkdir()
    (lock / "pid").write_text(f"{os.getpid()}\n")
    before = prefix.snapshot()
    start = time.monotonic()
    proc = prefix.run("dseditgroup", "-o", "create", "-i", "777", "late", timeout=30)
    took = time.monotonic() - start
    assert proc.returncode != 0
    assert str(lock) in proc.stderr
    assert 8 < took < 25
    assert prefix.snapshot() == before
    assert (lock / "pid").read_text() == f"{os.getpid()}\n"


def test_lock_released_on_sigterm(prefix: Prefix) -> None:
    """A writer killed while waiting leaves no lock of its own behind, and a
    writer killed holding the lock leaves one that the next writer breaks."""
    lock = prefix.etc / ".accounts.lock"
    lock.mkdir()
    (lock / "pid").write_text(f"{os.getpid()}\n")
    proc = prefix.popen("dscl", ".", "-create", "/Users/killed", "UniqueID", "902")
    time.sleep(0.4)
    proc.terminate()
    proc.wait(timeout=10)
    assert proc.returncode != 0
    assert (lock / "pid").read_text() == f"{os.getpid()}\n", "waiter removed someone else's lock"
    (lock / "pid").unlink()
    lock.rmdir()
    assert "killed" not in prefix.users()
