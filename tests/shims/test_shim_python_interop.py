"""The shims and darling_nix.accounts share one format and one lock: what one writes, the
other reads, and writers of both kinds running at once lose no entry."""

from __future__ import annotations

from darling_nix.accounts import Accounts, Group, User
from forked import all_succeed_in_forks
from shim_support import Prefix


def test_python_writes_shims_read(prefix: Prefix) -> None:
    accounts = Accounts(prefix.etc)
    accounts.add_group(Group("nixbld", 350))
    accounts.add_user(User("_nixbld1", 351, 350, gecos="Nix build user 1"))
    accounts.set_membership("nixbld", "_nixbld1", True)
    read = prefix.run("dscl", ".", "-read", "/Users/_nixbld1", "UniqueID", check=True)
    assert read.stdout == "UniqueID: 351\n"
    gid = prefix.run("dscl", ".", "-read", "/Groups/nixbld", "PrimaryGroupID", check=True)
    assert gid.stdout == "PrimaryGroupID: 350\n"
    member = prefix.run("dseditgroup", "-o", "checkmember", "-m", "_nixbld1", "nixbld")
    assert member.returncode == 0 and member.stdout.startswith("yes _nixbld1 is a member")


def test_shims_write_python_reads(prefix: Prefix) -> None:
    prefix.run("dseditgroup", "-o", "create", "-r", "Nix build group", "-i", "30000", "nixbld",
               check=True)
    prefix.run("sysadminctl", "-addUser", "_nixbld2", "-UID", "30002", "-GID", "30000",
               "-fullName", "Nix build user 2", "-home", "/var/empty", "-shell",
               "/sbin/nologin", check=True)
    prefix.run("dseditgroup", "-o", "edit", "-t", "user", "-a", "_nixbld2", "nixbld", check=True)
    accounts = Accounts(prefix.etc)
    assert User("_nixbld2", 30002, 30000, gecos="Nix build user 2", home="/var/empty",
                shell="/sbin/nologin") in accounts.users()
    assert [g.members for g in accounts.groups() if g.name == "nixbld"] == [("_nixbld2",)]
    # and Python's own edit of that file keeps the shim's lines as they were
    before = prefix.read("master.passwd")
    accounts.add_user(User("later", 40000, 20))
    assert prefix.read("master.passwd").startswith(before)


def test_mixed_writers_lose_nothing(prefix: Prefix) -> None:
    shims = [prefix.popen("dscl", ".", "-create", f"/Users/s{i}", "UniqueID", str(2000 + i))
             for i in range(4)]

    def five_users(writer: int) -> None:
        accounts = Accounts(prefix.etc)
        for i in range(5):
            accounts.add_user(User(f"p{writer}x{i}", 3000 + 10 * writer + i, 20))

    assert all_succeed_in_forks(4, five_users)
    assert all(shim.wait(timeout=60) == 0 for shim in shims)
    names = {u.name for u in Accounts(prefix.etc).users()}
    assert {f"s{i}" for i in range(4)} | {f"p{w}x{i}" for w in range(4) for i in range(5)} <= names
    assert not (prefix.etc / ".accounts.lock").exists()
