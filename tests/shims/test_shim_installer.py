"""The Nix macOS installer's call forms (installer_calls.py) against the shims on the host."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from installer_calls import FIRST_UID, GID, GROUP, USERS, install
from shim_support import Prefix


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
