"""Prefix accounts: formats, idempotence, validation, atomicity under kills, concurrency."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from forked import all_succeed_in_forks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from darling_nix.accounts import Accounts, AccountsError, Group, User
from darling_nix.dirlock import NO_PID_GRACE, LockTimeout, directory_lock
from darling_nix.fsutil import Directory

FOREIGN_MASTER = (b"# master.passwd written by Darling\n"
                  b"nobody:*:-2:-2::0:0:Unprivileged User:/var/empty:/usr/bin/false\n"
                  b"\n# a comment after a blank line\n")
FOREIGN_GROUP = b"# group\nnogroup:*:-1:\n\n"


def seeded(etc: Path) -> Accounts:
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "master.passwd").write_bytes(FOREIGN_MASTER)
    (etc / "passwd").write_bytes(b"# passwd\n")
    (etc / "group").write_bytes(FOREIGN_GROUP)
    return Accounts(etc)


def test_formats_match_darling(tmp_path: Path) -> None:
    accounts = seeded(tmp_path)
    accounts.add_group(Group("nixbld", 30000))
    accounts.add_user(User("_nixbld1", 301, 30000, gecos="Nix build user 1"))
    accounts.set_membership("nixbld", "_nixbld1", True)
    master = (tmp_path / "master.passwd").read_text().splitlines()
    assert master[-1] == "_nixbld1:*:301:30000::0:0:Nix build user 1:/var/empty:/usr/bin/false"
    assert (tmp_path / "passwd").read_text().splitlines()[-1] == \
        "_nixbld1:*:301:30000:Nix build user 1:/var/empty:/usr/bin/false"
    assert (tmp_path / "group").read_text().splitlines()[-1] == "nixbld:*:30000:_nixbld1"
    assert (tmp_path / "master.passwd").stat().st_mode & 0o777 == 0o644  # kept as it was
    assert (tmp_path / "group").read_bytes().startswith(FOREIGN_GROUP)


def test_new_master_passwd_is_private(tmp_path: Path) -> None:
    Accounts(tmp_path).add_user(User("a", 501, 20))
    assert (tmp_path / "master.passwd").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "passwd").stat().st_mode & 0o777 == 0o644


def test_idempotent(tmp_path: Path) -> None:
    accounts = seeded(tmp_path)
    assert accounts.add_user(User("a", 501, 20)) is True
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert accounts.add_user(User("a", 501, 20)) is False
    assert accounts.add_group(Group("staff", 20)) is True
    assert accounts.add_group(Group("staff", 20)) is False
    assert accounts.remove_user("ghost") is False
    assert accounts.remove_group("ghost") is False
    assert (tmp_path / "master.passwd").read_bytes() == before["master.passwd"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda a: a.add_user(User("b", 501, 20)), "uid 501 is already used by 'a'"),
    (lambda a: a.add_user(User("a", 502, 20)), "already exists with uid 501"),
    (lambda a: a.add_user(User("bad:name", 600, 20)), "invalid user name"),
    (lambda a: a.add_user(User("bad\nname", 600, 20)), "invalid user name"),
    (lambda a: a.add_user(User("c", -1, 20)), "invalid uid"),
    (lambda a: a.add_user(User("c", 2**31, 20)), "invalid uid"),
    (lambda a: a.add_user(User("c", 600, 20, gecos="x:y")), "invalid real name"),
    (lambda a: a.add_user(User("c", 600, 20, home="/h\n")), "invalid home"),
    (lambda a: a.add_group(Group("other", 20)), "gid 20 is already used by 'staff'"),
    (lambda a: a.add_group(Group("staff", 21)), "already exists with gid 20"),
    (lambda a: a.set_membership("nogroup-here", "a", True), "no group named"),
    (lambda a: a.set_membership("staff", "x,y", True), "invalid user name"),
])
def test_invalid_requests_write_nothing(tmp_path: Path, call: Any, message: str) -> None:
    accounts = seeded(tmp_path)
    accounts.add_user(User("a", 501, 20))
    accounts.add_group(Group("staff", 20))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(AccountsError, match=message):
        call(accounts)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before
    assert not (tmp_path / ".accounts.lock").exists()


def test_remove_user_drops_memberships(tmp_path: Path) -> None:
    accounts = seeded(tmp_path)
    accounts.add_group(Group("staff", 20, ("a", "b")))
    accounts.add_user(User("a", 501, 20))
    accounts.remove_user("a")
    assert [g.members for g in accounts.groups() if g.name == "staff"] == [("b",)]
    assert "a:" not in (tmp_path / "passwd").read_text()


names = st.sampled_from([f"u{i}" for i in range(6)])
ids = st.integers(min_value=500, max_value=505)
operations = st.lists(st.one_of(
    st.tuples(st.just("add_user"), names, ids),
    st.tuples(st.just("remove_user"), names, ids),
    st.tuples(st.just("add_group"), names, ids),
    st.tuples(st.just("remove_group"), names, ids),
    st.tuples(st.just("join"), names, ids),
), max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_any_sequence_keeps_files_sound(tmp_path: Path, ops: list[tuple[str, str, int]]) -> None:
    etc = tmp_path / f"etc{random.getrandbits(64)}"
    accounts = seeded(etc)
    for op, name, number in ops:
        try:
            if op == "add_user":
                accounts.add_user(User(name, number, 20))
            elif op == "remove_user":
                accounts.remove_user(name)
            elif op == "add_group":
                accounts.add_group(Group("g" + name, number))
            elif op == "remove_group":
                accounts.remove_group("g" + name)
            else:
                accounts.set_membership("g" + name, name, True)
        except AccountsError:
            pass  # collisions are refused, and must leave the files sound
        users, groups = accounts.users(), accounts.groups()
        assert len({u.uid for u in users}) == len(users)
        assert len({u.name for u in users}) == len(users)
        assert len({g.gid for g in groups}) == len(groups)
        master = (etc / "master.passwd").read_bytes()
        assert master.startswith(FOREIGN_MASTER)  # foreign lines intact, in place
        assert (etc / "group").read_bytes().startswith(FOREIGN_GROUP)
        passwd_names = [line.split(":")[0] for line in
                        (etc / "passwd").read_text().splitlines()[1:]]
        assert sorted(passwd_names) == sorted(u.name for u in users)


def _writer(etc: Path, first: int, count: int) -> None:
    accounts = Accounts(etc)
    for i in range(first, first + count):
        accounts.add_user(User(f"w{i}", 1000 + i, 20))


def test_writer_killed_at_random_points_never_tears_a_file(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    seeded(etc)
    complete_lines = {f"w{i}:*:{1000 + i}:20::0:0::/var/empty:/usr/bin/false" for i in range(4000)}
    rng = random.Random(1234)
    next_user = 0
    for _trial in range(200):
        pid = os.fork()
        if pid == 0:  # child: write until killed
            try:
                _writer(etc, next_user, 20)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        next_user += 20
        data = (etc / "master.passwd").read_bytes()
        assert data.startswith(FOREIGN_MASTER) and data.endswith(b"\n")
        ours = data[len(FOREIGN_MASTER):].decode().splitlines()
        assert set(ours) <= complete_lines  # every entry whole
        passwd = (etc / "passwd").read_bytes()
        assert passwd.startswith(b"# passwd\n") and passwd.endswith(b"\n")
    accounts = Accounts(etc)
    # The writers did write between kills. How much depends on how often a kill left a
    # lock without its pid (each one blocks writers for NO_PID_GRACE), so only > 0.
    assert len(accounts.users()) > 0
    accounts.add_user(User("after", 999, 20))  # the lock a killed writer left is broken
    assert any(u.name == "after" for u in accounts.users())


def test_a_lock_left_without_pid_is_broken_after_the_grace(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    accounts = seeded(etc)
    lock = etc / ".accounts.lock"
    lock.mkdir()  # a writer killed between mkdir and writing its pid
    old = time.time() - NO_PID_GRACE - 1
    os.utime(lock, (old, old))
    assert accounts.add_user(User("after", 999, 20))
    assert not lock.exists()


def test_a_fresh_lock_without_pid_is_respected(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    seeded(etc)
    (etc / ".accounts.lock").mkdir()  # a writer between mkdir and writing its pid
    with Directory.open(etc) as directory, pytest.raises(LockTimeout), \
            directory_lock(directory, ".accounts.lock", timeout=0.3):
        pass


def test_eight_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    seeded(etc)
    assert all_succeed_in_forks(8, lambda writer: _writer(etc, writer * 25, 25))
    names = {u.name for u in Accounts(etc).users()}
    assert {f"w{i}" for i in range(200)} <= names


def test_cli_lists_json_and_reports_errors(tmp_path: Path, cli: Any) -> None:
    etc = tmp_path / "etc"
    seeded(etc)
    assert cli("accounts", "--etc", str(etc), "add-group", "nixbld", "--gid", "30000"
               ).returncode == 0
    added = cli("accounts", "--etc", str(etc), "add-user", "_nixbld1", "--uid", "301",
                "--gid", "30000", "--real-name", "Nix build user 1")
    assert added.stdout.strip() == "added user _nixbld1"
    again = cli("accounts", "--etc", str(etc), "add-user", "_nixbld1", "--uid", "301",
                "--gid", "30000", "--real-name", "Nix build user 1")
    assert again.stdout.strip() == "user _nixbld1 already present"
    assert cli("accounts", "--etc", str(etc), "add-member", "nixbld", "_nixbld1").returncode == 0
    listing = json.loads(cli("accounts", "--etc", str(etc), "list", "--json").stdout)
    assert {"name": "nixbld", "gid": 30000, "members": ["_nixbld1"], "password": "*"} in \
        listing["groups"]
    assert [u["uid"] for u in listing["users"] if u["name"] == "_nixbld1"] == [301]
    clash = cli("accounts", "--etc", str(etc), "add-user", "other", "--uid", "301", "--gid", "1")
    assert clash.returncode == 2 and "uid 301 is already used by '_nixbld1'" in clash.stderr
