from __future__ import annotations

from shim_support import SEED, Prefix


def test_read_user_macos_format(prefix: Prefix) -> None:
    out = prefix.run("dscl", ".", "-read", "/Users/me", check=True).stdout
    assert out.splitlines() == [
        "AppleMetaNodeLocation: /Local/Default",
        "NFSHomeDirectory: /Users/me",
        "Password: *",
        "PrimaryGroupID: 1000",
        "RealName:",
        " Me Myself",
        "RecordName: me",
        "RecordType: dsRecTypeStandard:Users",
        "UniqueID: 1000",
        "UserShell: /bin/bash",
    ]


def test_read_keys_and_datasource_forms(prefix: Prefix) -> None:
    for form in ([".", "-read"], [".", "read"], ["/Local/Default", "-read"]):
        out = prefix.run("dscl", *form, "/Users/root", "UniqueID", "dsAttrTypeStandard:UserShell")
        assert out.returncode == 0
        assert out.stdout == "UniqueID: 0\nUserShell: /bin/sh\n"


def test_read_missing_record(prefix: Prefix) -> None:
    proc = prefix.run("dscl", ".", "-read", "/Users/nobody")
    assert proc.returncode == 56
    assert proc.stderr == "<dscl_cmd> DS Error: -14136 (eDSRecordNotFound)\n"
    assert proc.stdout == ""


def test_read_missing_key(prefix: Prefix) -> None:
    proc = prefix.run("dscl", ".", "-read", "/Users/me", "IsHidden")
    assert proc.returncode != 0
    assert "No such key: IsHidden" in proc.stderr


def test_create_user_then_change_uid(prefix: Prefix) -> None:
    prefix.run("dscl", ".", "-create", "/Users/bob", check=True)
    bob = prefix.users()["bob"]
    assert bob == ["bob", "*", "501", "20", "", "0", "0", "", "/var/empty", "/usr/bin/false"]
    assert prefix.passwd()["bob"] == ["bob", "*", "501", "20", "", "/var/empty", "/usr/bin/false"]
    prefix.run("dscl", ".", "create", "/Users/bob", "UniqueID", "307", check=True)
    assert prefix.users()["bob"][2] == "307"
    assert prefix.passwd()["bob"][2] == "307"
    # The next automatic uid is the first free one >= 501 again.
    prefix.run("dscl", ".", "-create", "/Users/carol", check=True)
    assert prefix.users()["carol"][2] == "501"


def test_create_keys(prefix: Prefix) -> None:
    user = "/Users/_nixbld1"
    prefix.run("dscl", ".", "-create", user, "UniqueID", "351", check=True)
    prefix.run("dscl", ".", "-create", user, "RealName", "Nix build user 1", check=True)
    prefix.run("dscl", ".", "-create", user, "NFSHomeDirectory", "/var/empty", check=True)
    prefix.run("dscl", ".", "-create", user, "UserShell", "/sbin/nologin", check=True)
    prefix.run("dscl", ".", "-create", user, "PrimaryGroupID", "350", check=True)
    prefix.run("dscl", ".", "-create", user, "IsHidden", "1", check=True)
    prefix.run("dscl", ".", "-create", user, "Password", "*", check=True)
    assert prefix.users()["_nixbld1"] == [
        "_nixbld1", "*", "351", "350", "", "0", "0", "Nix build user 1", "/var/empty", "/sbin/nologin",
    ]
    out = prefix.run("dscl", ".", "-read", user, "RealName", "IsHidden").stdout
    assert out == "RealName:\n Nix build user 1\nIsHidden: 1\n"


def test_lines_that_do_not_parse_are_kept_in_place(prefix: Prefix) -> None:
    prefix.run("dscl", ".", "-create", "/Users/me", "UserShell", "/bin/zsh", check=True)
    prefix.run("dscl", ".", "-create", "/Users/new", "UniqueID", "600", check=True)
    lines = prefix.read("master.passwd").splitlines()
    seed = SEED["master.passwd"].splitlines()
    assert lines[:3] == seed[:3]
    assert lines[3] == "me:*:1000:1000::0:0:Me Myself:/Users/me:/bin/zsh"
    assert lines[4] == "new:*:600:20::0:0::/var/empty:/usr/bin/false"
    assert len(lines) == 5
    assert (prefix.etc / "master.passwd").stat().st_mode & 0o777 == 0o600
    assert (prefix.etc / "passwd").stat().st_mode & 0o777 == 0o644
    assert (prefix.etc / "group").read_text() == SEED["group"]


def test_groups(prefix: Prefix) -> None:
    prefix.run("dscl", ".", "-create", "/Groups/nixbld", "PrimaryGroupID", "350", check=True)
    prefix.run("dscl", ".", "-append", "/Groups/nixbld", "GroupMembership", "me", "root", check=True)
    prefix.run("dscl", ".", "-append", "/Groups/nixbld", "GroupMembership", "me", check=True)
    assert prefix.groups()["nixbld"] == ["nixbld", "*", "350", "me,root"]
    out = prefix.run("dscl", ".", "-read", "/Groups/nixbld", check=True).stdout
    assert "GroupMembership: me root\n" in out
    assert "PrimaryGroupID: 350\n" in out
    prefix.run("dscl", ".", "-delete", "/Groups/nixbld", "GroupMembership", "me", check=True)
    assert prefix.groups()["nixbld"][3] == "root"
    prefix.run("dscl", ".", "-create", "/Groups/nixbld", "GroupMembership", "a", "b", check=True)
    assert prefix.groups()["nixbld"][3] == "a,b"
    prefix.run("dscl", ".", "-delete", "/Groups/nixbld", "GroupMembership", check=True)
    assert prefix.groups()["nixbld"][3] == ""
    prefix.run("dscl", ".", "-create", "/Groups/other", check=True)
    assert prefix.groups()["other"][2] == "501"


def test_list_and_search(prefix: Prefix) -> None:
    prefix.run("dscl", ".", "-create", "/Users/_nixbld1", "UniqueID", "351", check=True)
    names = prefix.run("dscl", ".", "-list", "/Users", check=True).stdout.split()
    assert names == ["_nixbld1", "me", "root"]
    rows = prefix.run("dscl", ".", "-list", "/Users", "UniqueID", check=True).stdout.splitlines()
    assert rows == ["_nixbld1 351", "me       1000", "root     0"]
    groups = prefix.run("dscl", "/Local/Default", "list", "/Groups", check=True).stdout.split()
    assert groups == ["me", "wheel"]
    found = prefix.run("dscl", ".", "-search", "/Users", "UniqueID", "1000", check=True).stdout
    assert found == "me\t\tUniqueID = (\n    1000\n)\n"
    assert prefix.run("dscl", ".", "-search", "/Users", "UniqueID", "4", check=True).stdout == ""


def test_delete(prefix: Prefix) -> None:
    prefix.run("dscl", ".", "-create", "/Users/gone", "UniqueID", "700", check=True)
    prefix.run("dscl", ".", "-delete", "/Users/gone", check=True)
    assert "gone" not in prefix.users() and "gone" not in prefix.passwd()
    assert prefix.read("master.passwd") == SEED["master.passwd"]
    proc = prefix.run("dscl", ".", "-delete", "/Users/gone")
    assert proc.returncode == 185
    assert proc.stdout == "delete: Invalid Path\n"
    assert "eDSUnknownNodeName" in proc.stderr


def test_rename(prefix: Prefix) -> None:
    prefix.run("dscl", ".", "-create", "/Users/me", "RecordName", "myself", check=True)
    assert "me" not in prefix.users() and prefix.users()["myself"][2] == "1000"
    proc = prefix.run("dscl", ".", "-create", "/Users/myself", "RecordName", "root")
    assert proc.returncode != 0
