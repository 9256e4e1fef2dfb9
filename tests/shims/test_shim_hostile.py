"""Hostile prefixes under the account shims (dash and bash): users only passwd has, links
planted at the temporary names or in place of the directories and files, corrupt lines.
The shims follow the same rules as darling_nix.accounts, and each case leaves the account
files byte for byte as they were and the sentinel outside the prefix untouched."""

from __future__ import annotations

import os
import subprocess

import pytest
from darling_nix.accounts import Accounts, AccountsError, User
from sentinel import Sentinel
from shim_support import SHIMS, Prefix

PASSWD_ONLY = "ponly:*:700:20:Passwd Only:/Users/ponly:/bin/sh\n"


def one_line(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """A refusal by a shim: status 1, one line on stderr naming WORDS."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_uid_of_a_passwd_only_user_is_taken_everywhere(prefix: Prefix) -> None:
    with (prefix.etc / "passwd").open("a") as stream:
        stream.write(PASSWD_ONLY)
    before = prefix.snapshot()
    create = prefix.run("dscl", ".", "-create", "/Users/other", "UniqueID", "700")
    assert create.returncode == 55 and "already used by user ponly" in create.stderr
    add = prefix.run("sysadminctl", "-addUser", "other", "-UID", "700")
    assert add.returncode == 1 and "ponly" in add.stderr
    with pytest.raises(AccountsError, match="uid 700 is already used by 'ponly'"):
        Accounts(prefix.etc).add_user(User("other", 700, 20))
    assert prefix.snapshot() == before
    listed = prefix.run("dscl", ".", "-list", "/Users", "UniqueID", check=True).stdout
    assert "ponly" in listed and any(u.name == "ponly" for u in Accounts(prefix.etc).users())


def test_links_at_the_old_temporary_names_are_not_written_through(prefix: Prefix,
                                                                  sentinel: Sentinel) -> None:
    """The shim's pid is known before it runs (exec keeps it): links planted at every
    .NAME.tmp.PID it used to write stay links, and the sentinel is untouched."""
    script = ('for f in master.passwd passwd group; do ln -s "$OUT" "$ETC/.$f.tmp.$$"; done; '
              'exec "$SHELL_" "$SHIM" . -create /Users/planted UniqueID 901')
    proc = subprocess.run([prefix.shell, "-c", script], capture_output=True, text=True,
                          timeout=30, env=prefix.env(OUT=str(sentinel.root / "file"),
                                                      ETC=str(prefix.etc),
                                                      SHELL_=prefix.shell,
                                                      SHIM=str(SHIMS / "dscl")))
    assert proc.returncode == 0, proc.stderr
    sentinel.assert_unchanged()
    links = [p for p in prefix.etc.iterdir() if p.is_symlink()]
    assert len(links) == 3 and all(os.readlink(p) == str(sentinel.root / "file") for p in links)
    assert prefix.users()["planted"][2] == "901"
    assert not [p for p in prefix.etc.iterdir() if ".tmp." in p.name and not p.is_symlink()]


@pytest.mark.parametrize("where", ["private/etc", "private"])
def test_directory_that_is_a_link_out_is_refused(prefix: Prefix, sentinel: Sentinel,
                                                 where: str) -> None:
    planted = prefix.root / where
    planted.rename(prefix.root / "moved")
    planted.symlink_to(sentinel.root / "dir")
    for args in ((".", "-create", "/Users/x", "UniqueID", "900"), (".", "-read", "/Users/root")):
        one_line(prefix.run("dscl", *args), str(planted), "symbolic link")
    sentinel.assert_unchanged()


@pytest.mark.parametrize("target", ["the sentinel's file", "/dev/zero", "a FIFO", "a directory"])
def test_account_file_that_is_not_a_file_is_refused(prefix: Prefix, sentinel: Sentinel,
                                                    target: str) -> None:
    group = prefix.etc / "group"
    group.unlink()
    if target == "a FIFO":
        os.mkfifo(group)
    elif target == "a directory":
        group.mkdir()
    else:
        group.symlink_to(sentinel.root / "file" if target.startswith("the") else target)
    word = "not a regular file" if target.startswith("a ") else "symbolic link"
    one_line(prefix.run("dseditgroup", "-o", "create", "-i", "900", "g", timeout=20),
             str(group), word)
    one_line(prefix.run("dscl", ".", "-list", "/Groups", timeout=20), word)
    sentinel.assert_unchanged()


CORRUPT = [
    ("master.passwd", b"this line does not parse\n", "has 1 ':'-separated fields"),
    ("passwd", b"bob:*:abc:20::/:/bin/sh\n", "uid that is not a number"),
    ("passwd", b"bob:*:12345678901:20::/:/bin/sh\n", "uid that is not a number"),
    ("group", b"staff:*:twenty:\n", "gid that is not a number"),
    ("group", b"big:*:30:" + b"m," * 3000 + b"\n", "longer than 4096 bytes"),
    ("group", b"nul:*:31:a\x00b\n", "NUL byte"),
    ("master.passwd", b"two words:*:5:5::0:0::/:/bin/sh\n", "invalid name"),
    ("group", b"crlf:*:32:root,bob\r\n", "a CR from CRLF line endings"),
    ("passwd", b"bob:*:5:5:Bob\x7f:/:/bin/sh\n", "has a control character ("),
    ("passwd", b"neg:*:-0:20::/:/bin/sh\n", "uid that is not a number: '-0'"),
]


@pytest.mark.parametrize(("name", "line", "problem"), CORRUPT, ids=[c[2] for c in CORRUPT])
def test_corrupt_line_is_named_like_python_names_it(prefix: Prefix, name: str, line: bytes,
                                                    problem: str) -> None:
    path = prefix.etc / name
    with path.open("ab") as stream:
        stream.write(line)
    number = path.read_bytes().count(b"\n")
    before = prefix.snapshot()
    where = f"{path}:{number}:"
    for shim, args in (("dscl", (".", "-create", "/Users/x", "UniqueID", "900")),
                       ("dseditgroup", ("-o", "create", "-i", "900", "g")),
                       ("sysadminctl", ("-addUser", "x")),
                       ("dscl", (".", "-read", "/Users/root"))):
        one_line(prefix.run(shim, *args), where, problem)
    with pytest.raises(AccountsError) as refusal:
        Accounts(prefix.etc).add_user(User("x", 900, 20))
    assert where in str(refusal.value) and problem in str(refusal.value)
    assert prefix.snapshot() == before
