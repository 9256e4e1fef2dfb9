"""The call forms of the official Nix macOS multi-user installer
(scripts/install-multi-user.sh, install-darwin-multi-user.sh and
create-darwin-volume.sh in NixOS/nix), replayed against the shims.

The sequences below are written from the installer's documented behaviour:
each `*_get` is a read whose answer it compares, each `*_set` a write it makes
only when the answer differs.  `dsclattr` is the installer's
`dscl . -read PATH | awk "/KEY/ { print $2 }"`.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from shim_support import Prefix

GROUP, GID, FIRST_UID = "nixbld", "350", 351
USERS = 4


def dsclattr(prefix: Prefix, path: str, key: str) -> str:
    out = prefix.run("dscl", ".", "-read", path).stdout
    fields = [line.split() for line in out.splitlines() if key in line]
    return "\n".join(f[1] if len(f) > 1 else "" for f in fields)


def install(prefix: Prefix) -> list[str]:
    """One installer run; returns the writes it made."""
    writes: list[str] = []

    def write(*args: str) -> None:
        writes.append(" ".join(args))
        prefix.run(*args, check=True)

    # create_build_group
    if prefix.run("dscl", ".", "-read", f"/Groups/{GROUP}").returncode != 0:
        write("dseditgroup", "-o", "create", "-r", "Nix build group for nix-daemon",
              "-i", GID, GROUP)
    else:
        assert int(dsclattr(prefix, f"/Groups/{GROUP}", "PrimaryGroupID")) == int(GID)

    # create_build_user_for_core
    for core in range(1, USERS + 1):
        user, uid = f"_nixbld{core}", str(FIRST_UID + core - 1)
        path = f"/Users/{user}"
        if prefix.run("dscl", ".", "-read", path).returncode != 0:
            write("dscl", ".", "create", path, "UniqueID", uid)
        else:
            assert dsclattr(prefix, path, "UniqueID") == uid
        if dsclattr(prefix, path, "IsHidden") != "1":
            write("dscl", ".", "-create", path, "IsHidden", "1")
        if dsclattr(prefix, path, "NFSHomeDirectory") != "/var/empty":
            write("dscl", ".", "-create", path, "NFSHomeDirectory", "/var/empty")
        # The installer greps the RealName read; on macOS (and here) the value
        # is on its own line, so awk prints an empty $2 and the note is set
        # again on every run.
        if f"Nix build user {core}" not in dsclattr(prefix, path, "RealName"):
            write("dscl", ".", "-create", path, "RealName", f"Nix build user {core}")
        if dsclattr(prefix, path, "UserShell") != "/sbin/nologin":
            write("dscl", ".", "-create", path, "UserShell", "/sbin/nologin")
        check = prefix.run("dseditgroup", "-o", "checkmember", "-m", user, GROUP)
        if check.returncode != 0:
            write("dseditgroup", "-o", "edit", "-t", "user", "-a", user, GROUP)
        if dsclattr(prefix, path, "PrimaryGroupID") != GID:
            write("dscl", ".", "-create", path, "PrimaryGroupID", GID)
    return writes


def test_installer_creates_group_and_users_idempotently(prefix: Prefix) -> None:
    first = install(prefix)
    assert first[0] == "dseditgroup -o create -r Nix build group for nix-daemon -i 350 nixbld"
    # IsHidden is derived (uid < 500) and /var/empty is the default home:
    # neither is written.
    assert first[1:6] == [
        "dscl . create /Users/_nixbld1 UniqueID 351",
        "dscl . -create /Users/_nixbld1 RealName Nix build user 1",
        "dscl . -create /Users/_nixbld1 UserShell /sbin/nologin",
        "dseditgroup -o edit -t user -a _nixbld1 nixbld",
        "dscl . -create /Users/_nixbld1 PrimaryGroupID 350",
    ]
    assert len(first) == 1 + USERS * 5
    after_first = prefix.snapshot()

    users = prefix.users()
    for core in range(1, USERS + 1):
        name = f"_nixbld{core}"
        assert users[name] == [
            name, "*", str(FIRST_UID + core - 1), GID, "", "0", "0",
            f"Nix build user {core}", "/var/empty", "/sbin/nologin",
        ]
        assert prefix.passwd()[name][2:] == [
            str(FIRST_UID + core - 1), GID, f"Nix build user {core}", "/var/empty", "/sbin/nologin",
        ]
    members = ",".join(f"_nixbld{i}" for i in range(1, USERS + 1))
    assert prefix.groups()[GROUP] == [GROUP, "*", GID, members]

    second = install(prefix)
    assert all(" RealName " in w for w in second), second
    assert prefix.snapshot() == after_first


def test_installer_refuses_a_group_with_another_gid(prefix: Prefix) -> None:
    prefix.run("dscl", ".", "-create", f"/Groups/{GROUP}", "PrimaryGroupID", "30000", check=True)
    with pytest.raises(AssertionError):
        install(prefix)


XPATH_GPE = "(/plist/dict/key[text()='GlobalPermissionsEnabled'])/following-sibling::*[1]"


def xpath(xml: str, expr: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["xmllint", "--xpath", expr, "-"], input=xml, capture_output=True, text=True
    )


@pytest.mark.skipif(shutil.which("xmllint") is None, reason="xmllint (libxml2-utils) not installed")
def test_installer_diskutil_reads(prefix: Prefix) -> None:
    (prefix.root / "nix").mkdir()
    # poly_prepare_to_install / setup_volume: fail only on "<false/>".
    out = prefix.run("diskutil", "info", "-plist", "/nix", check=True).stdout
    assert xpath(out, XPATH_GPE).stdout.rstrip("\n") == "<true/>"
    # volume_encrypted's note: the [name()='true'] form matches.
    assert xpath(out, XPATH_GPE + "[name()='true']").returncode == 0
    # read_only_root's note and root_disk_identifier's note, on /.
    root = prefix.run("diskutil", "info", "-plist", "/", check=True).stdout
    expr = "name(/plist/dict/key[text()='Writable']/following-sibling::*[1])"
    assert xpath(root, expr).stdout.strip() == "true"
    expr = "/plist/dict/key[text()='ParentWholeDisk']/following-sibling::string[1]/text()"
    assert xpath(root, expr).stdout.strip() == "disk0"
    # await_volume: `diskutil info /nix` succeeds once /nix is there.
    assert prefix.run("diskutil", "info", "/nix").returncode == 0
    (prefix.root / "nix").rmdir()
    assert prefix.run("diskutil", "info", "/nix").returncode == 1
