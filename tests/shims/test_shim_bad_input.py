"""Bad requests: a message, a non-zero status, and the account files (and the
lock directory) exactly as they were."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shim_support import Prefix

BAD = [
    # missing arguments, unknown verbs and options
    ["dscl"],
    ["dscl", "."],
    ["dscl", ".", "-frobnicate", "/Users/x"],
    ["dscl", ".", "-create"],
    ["dscl", ".", "-create", "/Computers/x"],
    ["dscl", "/LDAPv3/server", "-read", "/Users/me"],
    ["dscl", ".", "-append", "/Users/me", "UniqueID", "5"],
    ["dscl", ".", "-append", "/Groups/wheel", "GroupMembership"],
    ["dscl", ".", "-create", "/Users/me", "HomeDirectory", "<x/>"],
    ["dscl", ".", "-delete", "/Users/me", "UniqueID"],
    ["dseditgroup"],
    ["dseditgroup", "-o", "create"],
    ["dseditgroup", "-o", "explode", "wheel"],
    ["dseditgroup", "-o", "create", "-x", "g"],
    ["dseditgroup", "-o", "create", "-i"],
    ["dseditgroup", "-o", "edit", "-a", "me", "-t", "group", "wheel"],
    ["sysadminctl"],
    ["sysadminctl", "-addUser"],
    ["sysadminctl", "-addUser", "x", "-UID"],
    ["sysadminctl", "-frob", "x"],
    # names with ':' or a newline, and other invalid names
    ["dscl", ".", "-create", "/Users/a:b"],
    ["dscl", ".", "-create", "/Users/a\nb", "UniqueID", "700"],
    ["dscl", ".", "-create", "/Users/1abc"],
    ["dscl", ".", "-create", "/Users/" + "a" * 256],
    ["dscl", ".", "-create", "/Users/me", "RecordName", "x:y"],
    ["dscl", ".", "-create", "/Users/me", "RealName", "a:b"],
    ["dscl", ".", "-create", "/Users/me", "UserShell", "/bin/sh\nroot::0:0::0:0::/:/bin/sh"],
    ["dscl", ".", "-append", "/Groups/wheel", "GroupMembership", "a:b"],
    ["dscl", ".", "-delete", "/Users/a:b"],
    ["dseditgroup", "-o", "create", "g:x"],
    ["dseditgroup", "-o", "create", "-i", "700", "g\nx"],
    ["dseditgroup", "-o", "edit", "-a", "a:b", "wheel"],
    ["sysadminctl", "-addUser", "a:b"],
    ["sysadminctl", "-addUser", "ok", "-fullName", "A:B"],
    ["sysadminctl", "-addUser", "ok", "-home", "/x\ny"],
    # bad ids and ids already taken
    ["dscl", ".", "-create", "/Users/x", "UniqueID", "-1"],
    ["dscl", ".", "-create", "/Users/x", "UniqueID", "2147483648"],
    ["dscl", ".", "-create", "/Users/x", "UniqueID", "12a"],
    ["dscl", ".", "-create", "/Users/x", "UniqueID", ""],
    ["dscl", ".", "-create", "/Users/x", "UniqueID", "1000"],
    ["dscl", ".", "-create", "/Users/root", "UniqueID", "1000"],
    ["dscl", ".", "-create", "/Groups/x", "PrimaryGroupID", "0"],
    ["dscl", ".", "-create", "/Groups/me", "PrimaryGroupID", "00"],
    ["dseditgroup", "-o", "create", "-i", "1000", "x"],
    ["dseditgroup", "-o", "create", "-i", "99999999999", "x"],
    ["sysadminctl", "-addUser", "x", "-UID", "0"],
    ["sysadminctl", "-addUser", "x", "-GID", "x"],
    ["sysadminctl", "-addUser", "root"],
    # records that are not there
    ["dscl", ".", "-append", "/Groups/none", "GroupMembership", "me"],
    ["dscl", ".", "-delete", "/Groups/none"],
    ["dseditgroup", "-o", "edit", "-a", "me", "none"],
    ["sysadminctl", "-deleteUser", "none"],
]


@pytest.mark.parametrize("argv", BAD, ids=[re.sub(r"\s", "_", " ".join(a))[:60] for a in BAD])
def test_bad_request_changes_nothing(prefix: Prefix, argv: list[str]) -> None:
    before = prefix.snapshot()
    proc = prefix.run(argv[0], *argv[1:])
    assert proc.returncode != 0
    assert proc.stderr.strip(), "no message"
    assert prefix.snapshot() == before


NAME_OK = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,254}\Z")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet=st.sampled_from("ab_Z09.-:\n é$*/\\"), min_size=0, max_size=12))
def test_any_name(prefix: Prefix, name: str) -> None:
    """A name is stored if and only if it is valid; otherwise nothing changes."""
    before = prefix.snapshot()
    proc = prefix.run("dseditgroup", "-o", "create", "-i", "4242", name)
    if NAME_OK.match(name) and "/" not in name:
        assert proc.returncode == 0, proc.stderr
        assert prefix.groups()[name][2] == "4242"
        prefix.run("dseditgroup", "-o", "delete", name, check=True)
        assert prefix.snapshot() == before
    else:
        assert proc.returncode != 0
        assert prefix.snapshot() == before
