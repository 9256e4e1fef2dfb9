from __future__ import annotations

from shim_support import Prefix


def test_create_is_idempotent(prefix: Prefix) -> None:
    args = ("-o", "create", "-r", "Nix build group for nix-daemon", "-i", "350", "nixbld")
    prefix.run("dseditgroup", *args, check=True)
    first = prefix.snapshot()
    assert prefix.groups()["nixbld"] == ["nixbld", "*", "350", ""]
    prefix.run("dseditgroup", *args, check=True)
    assert prefix.snapshot() == first
    # Same name, other gid: refused, nothing written.
    proc = prefix.run("dseditgroup", "-o", "create", "-i", "351", "nixbld")
    assert proc.returncode != 0 and "350" in proc.stderr
    assert prefix.snapshot() == first


def test_create_without_gid_and_with_members(prefix: Prefix) -> None:
    prefix.run("dseditgroup", "-o", "create", "-a", "me", "-t", "user", "devs", check=True)
    assert prefix.groups()["devs"] == ["devs", "*", "501", "me"]


def test_edit_add_remove_and_checkmember(prefix: Prefix) -> None:
    prefix.run("dseditgroup", "-o", "create", "-i", "350", "nixbld", check=True)
    check = ("-o", "checkmember", "-m", "me", "nixbld")
    proc = prefix.run("dseditgroup", *check)
    assert (proc.returncode, proc.stdout) == (64, "no me is NOT a member of nixbld\n")
    prefix.run("dseditgroup", "-o", "edit", "-t", "user", "-a", "me", "nixbld", check=True)
    added = prefix.snapshot()
    prefix.run("dseditgroup", "-o", "edit", "-t", "user", "-a", "me", "nixbld", check=True)
    assert prefix.snapshot() == added
    assert prefix.groups()["nixbld"][3] == "me"
    proc = prefix.run("dseditgroup", *check)
    assert (proc.returncode, proc.stdout) == (0, "yes me is a member of nixbld\n")
    prefix.run("dseditgroup", "-o", "edit", "-d", "me", "-t", "user", "nixbld", check=True)
    assert prefix.groups()["nixbld"][3] == ""
    assert prefix.run("dseditgroup", *check).returncode == 64


def test_primary_group_counts_as_membership(prefix: Prefix) -> None:
    proc = prefix.run("dseditgroup", "-o", "checkmember", "-m", "me", "me")
    assert (proc.returncode, proc.stdout) == (0, "yes me is a member of me\n")
    assert prefix.run("dseditgroup", "-o", "checkmember", "-m", "root", "wheel").returncode == 0


def test_edit_unknown_user_or_group(prefix: Prefix) -> None:
    before = prefix.snapshot()
    proc = prefix.run("dseditgroup", "-o", "edit", "-a", "ghost", "-t", "user", "wheel")
    assert proc.returncode != 0 and "ghost" in proc.stderr
    proc = prefix.run("dseditgroup", "-o", "edit", "-a", "me", "-t", "user", "nogroup")
    assert proc.returncode != 0 and "Group not found." in proc.stderr
    proc = prefix.run("dseditgroup", "-o", "checkmember", "-m", "ghost", "wheel")
    assert proc.returncode not in (0, 64)
    assert prefix.snapshot() == before


def test_read_and_delete(prefix: Prefix) -> None:
    out = prefix.run("dseditgroup", "-o", "read", "wheel", check=True).stdout
    assert "dsAttrTypeStandard:PrimaryGroupID -\n\t\t0\n" in out
    assert "dsAttrTypeStandard:GroupMembership -\n\t\troot\n" in out
    prefix.run("dseditgroup", "-o", "delete", "wheel", check=True)
    assert "wheel" not in prefix.groups()
    prefix.run("dseditgroup", "-o", "delete", "wheel", check=True)
    assert prefix.run("dseditgroup", "-o", "read", "wheel").returncode != 0


def test_gid_collision(prefix: Prefix) -> None:
    before = prefix.snapshot()
    proc = prefix.run("dseditgroup", "-o", "create", "-i", "1000", "dup")
    assert proc.returncode != 0 and "1000" in proc.stderr
    assert prefix.snapshot() == before
