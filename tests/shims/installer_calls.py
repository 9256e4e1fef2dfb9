"""The call forms of the official Nix macOS multi-user installer
(scripts/install-multi-user.sh, install-darwin-multi-user.sh and
create-darwin-volume.sh in NixOS/nix), replayed against the shims: on the host
under dash and bash (test_shim_installer.py), and inside a real Darling prefix
under its bash 3.2 (helpers/tests/real_darling/test_shims_darling.py).

The sequences below are written from the installer's documented behaviour:
each `*_get` is a read whose answer it compares, each `*_set` a write it makes
only when the answer differs.  `dsclattr` is the installer's
`dscl . -read PATH | awk "/KEY/ { print $2 }"`.
"""

from __future__ import annotations

import subprocess
from typing import Protocol


class Shims(Protocol):
    """Runs a shim by name: shim_support.Prefix on the host, or inside a Darling prefix."""

    def run(self, shim: str, *args: str, check: bool = False
            ) -> subprocess.CompletedProcess[str]: ...


GROUP, GID, FIRST_UID = "nixbld", "350", 351
USERS = 4


def dsclattr(prefix: Shims, path: str, key: str) -> str:
    out = prefix.run("dscl", ".", "-read", path).stdout
    fields = [line.split() for line in out.splitlines() if key in line]
    return "\n".join(f[1] if len(f) > 1 else "" for f in fields)


def install(prefix: Shims, users: int = USERS) -> list[str]:
    """One installer run creating USERS build users; returns the writes it made."""
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
    for core in range(1, users + 1):
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
