from __future__ import annotations

from shim_support import Prefix


def test_add_user_with_everything(prefix: Prefix) -> None:
    prefix.run(
        "sysadminctl", "-addUser", "alice", "-fullName", "Alice Liddell", "-UID", "610",
        "-GID", "1000", "-home", "/Users/alice", "-shell", "/bin/zsh",
        "-password", "secret", "-admin", check=True,
    )
    assert prefix.users()["alice"] == [
        "alice", "*", "610", "1000", "", "0", "0", "Alice Liddell", "/Users/alice", "/bin/zsh",
    ]
    assert prefix.passwd()["alice"] == [
        "alice", "*", "610", "1000", "Alice Liddell", "/Users/alice", "/bin/zsh",
    ]
    assert "secret" not in prefix.read("master.passwd")
    assert prefix.groups()["admin"] == ["admin", "*", "80", "alice"]


def test_add_user_defaults_and_role_account(prefix: Prefix) -> None:
    prefix.run("sysadminctl", "-addUser", "bob", check=True)
    assert prefix.users()["bob"] == [
        "bob", "*", "501", "20", "", "0", "0", "", "/var/empty", "/usr/bin/false",
    ]
    prefix.run("sysadminctl", "-addUser", "_svc", "-roleAccount", check=True)
    assert prefix.users()["_svc"][2] == "200"
    before = prefix.snapshot()
    assert prefix.run("sysadminctl", "-addUser", "svc", "-roleAccount").returncode != 0
    assert prefix.run("sysadminctl", "-addUser", "_x", "-roleAccount", "-UID", "501").returncode != 0
    assert prefix.snapshot() == before


def test_existing_user_and_uid_refused(prefix: Prefix) -> None:
    before = prefix.snapshot()
    proc = prefix.run("sysadminctl", "-addUser", "me")
    assert proc.returncode != 0 and "already exists" in proc.stderr
    proc = prefix.run("sysadminctl", "-addUser", "other", "-UID", "1000")
    assert proc.returncode != 0 and "1000" in proc.stderr
    assert prefix.snapshot() == before


def test_delete_user(prefix: Prefix) -> None:
    prefix.run("sysadminctl", "-addUser", "alice", "-admin", check=True)
    prefix.run("dseditgroup", "-o", "edit", "-a", "alice", "-t", "user", "wheel", check=True)
    prefix.run("sysadminctl", "-deleteUser", "alice", "-secure", check=True)
    assert "alice" not in prefix.users() and "alice" not in prefix.passwd()
    assert prefix.groups()["wheel"][3] == "root"
    assert prefix.groups()["admin"][3] == ""
    assert prefix.run("sysadminctl", "-deleteUser", "alice").returncode != 0
