"""Hostile prefixes given to `darling-nix accounts`: users only passwd knows, links planted
where the files, their directories, the temporary files or the lock go, and corrupt lines.
Each is refused with one line and exit 2 (or handled), the account files stay byte for
byte as they were, and nothing outside the prefix (the sentinel) changes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sentinel import Sentinel, assert_refused, snapshot

from darling_nix import fsutil
from darling_nix.accounts import Accounts, AccountsError, User
from darling_nix.dirlock import NO_PID_GRACE

MASTER = "root:*:0:0::0:0:System Administrator:/var/root:/bin/sh\n"
PASSWD = ("root:*:0:0:System Administrator:/var/root:/bin/sh\n"
          "ponly:*:700:20:Passwd Only:/Users/ponly:/bin/sh\n")
GROUP = "wheel:*:0:root\n"


def seed(prefix: Path, master: str = MASTER, passwd: str = PASSWD, group: str = GROUP) -> Path:
    etc = prefix / "private" / "etc"
    etc.mkdir(parents=True)
    for name, text in (("master.passwd", master), ("passwd", passwd), ("group", group)):
        (etc / name).write_text(text)
    (prefix / "etc").symlink_to("private/etc")  # macOS's layout, as Darling makes it
    return etc


def files(etc: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in etc.iterdir() if p.is_file() and not p.is_symlink()}


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    return seed(tmp_path / "prefix")


def accounts(cli: Any, prefix_config: Path, *args: str) -> Any:
    return cli("accounts", "--config", str(prefix_config), *args, timeout=60)


# A user only passwd has ---------------------------------------------------------------

def test_uid_of_a_passwd_only_user_is_taken(etc: Path, prefix_config: Path, cli: Any) -> None:
    before = files(etc)
    result = accounts(cli, prefix_config, "add-user", "other", "--uid", "700", "--gid", "20")
    assert_refused(result, "uid 700 is already used by 'ponly'")
    assert files(etc) == before


def test_passwd_only_user_is_not_replaced(etc: Path, prefix_config: Path, cli: Any) -> None:
    before = files(etc)
    result = accounts(cli, prefix_config, "add-user", "ponly", "--uid", "701", "--gid", "20")
    assert_refused(result, "user 'ponly' already exists with uid 700")
    assert files(etc) == before


def test_passwd_only_user_added_again_as_it_is_completes_master(etc: Path, prefix_config: Path,
                                                               cli: Any) -> None:
    result = accounts(cli, prefix_config, "add-user", "ponly", "--uid", "700", "--gid", "20",
                      "--home", "/Users/ponly", "--shell", "/bin/sh", "--real-name",
                      "Passwd Only")
    assert result.returncode == 0, result.stderr
    assert (etc / "passwd").read_text() == PASSWD
    assert (etc / "master.passwd").read_text().endswith(
        "ponly:*:700:20::0:0:Passwd Only:/Users/ponly:/bin/sh\n")


def test_passwd_only_user_is_listed(etc: Path, prefix_config: Path, cli: Any) -> None:
    listing = json.loads(accounts(cli, prefix_config, "list", "--json").stdout)
    assert [u["uid"] for u in listing["users"] if u["name"] == "ponly"] == [700]


def test_master_user_whose_passwd_line_differs(tmp_path: Path, prefix_config: Path,
                                               cli: Any) -> None:
    etc = seed(tmp_path / "prefix", MASTER + "m:*:800:20::0:0::/var/empty:/usr/bin/false\n",
               PASSWD + "m:*:801:20::/var/empty:/usr/bin/false\n")
    before = files(etc)
    result = accounts(cli, prefix_config, "add-user", "m", "--uid", "800", "--gid", "20")
    assert_refused(result, "already exists with uid 801")
    assert files(etc) == before


# Links planted in the prefix ----------------------------------------------------------

@pytest.mark.parametrize("where", ["private/etc", "private", "the prefix itself"])
def test_directory_that_is_a_link_out_is_refused(tmp_path: Path, prefix_config: Path, cli: Any,
                                                 sentinel: Sentinel, where: str) -> None:
    prefix = tmp_path / "prefix"
    seed(prefix)
    planted = {"private/etc": prefix / "private" / "etc", "private": prefix / "private",
               "the prefix itself": prefix}[where]
    planted.rename(tmp_path / "moved")
    planted.symlink_to(sentinel.root / "dir")
    result = accounts(cli, prefix_config, "add-user", "x", "--uid", "900", "--gid", "20")
    assert_refused(result, "symbolic link")
    assert_refused(accounts(cli, prefix_config, "list"), "symbolic link")
    sentinel.assert_unchanged()


def test_macos_etc_link_is_the_one_accepted(etc: Path, cli: Any) -> None:
    prefix_etc = etc.parent.parent / "etc"
    result = cli("accounts", "--etc", str(prefix_etc), "add-user", "x", "--uid", "900",
                 "--gid", "20")
    assert result.returncode == 0, result.stderr
    assert "x:*:900:20:" in (etc / "master.passwd").read_text()


def test_etc_link_elsewhere_is_refused(tmp_path: Path, sentinel: Sentinel, cli: Any) -> None:
    (tmp_path / "etc").symlink_to(sentinel.root / "dir")
    result = cli("accounts", "--etc", str(tmp_path / "etc"), "add-user", "x", "--uid", "900",
                 "--gid", "20")
    assert_refused(result, "symbolic link")
    sentinel.assert_unchanged()


@pytest.mark.parametrize("target", ["the sentinel's file", "/dev/zero", "a FIFO"])
def test_account_file_that_is_not_a_file_is_refused(etc: Path, prefix_config: Path, cli: Any,
                                                    sentinel: Sentinel, target: str) -> None:
    master = etc / "master.passwd"
    master.unlink()
    if target == "a FIFO":
        os.mkfifo(master)
    else:
        master.symlink_to(sentinel.root / "file" if target.startswith("the") else target)
    words = "not a regular file" if target == "a FIFO" else "symbolic link"
    assert_refused(accounts(cli, prefix_config, "add-user", "x", "--uid", "900", "--gid", "20"),
                   str(master), words)
    assert_refused(accounts(cli, prefix_config, "list"), words)
    sentinel.assert_unchanged()


def test_links_at_temporary_names_are_never_opened(etc: Path, sentinel: Sentinel,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Links planted at the old fixed name (.NAME.tmp.PID) and at the first random name
    the writer will draw: it skips both (O_EXCL) and writes nothing through them."""
    planted = [etc / f".{name}.tmp.{os.getpid()}" for name in ("master.passwd", "passwd")]
    draws = iter([b"\x00" * 4, b"\x01" * 4, b"\x02" * 4, b"\x03" * 4])
    monkeypatch.setattr(fsutil.os, "urandom", lambda size: next(draws))
    planted.append(etc / ".master.passwd.tmp.00000000")
    for link in planted:
        link.symlink_to(sentinel.root / "file")
    assert Accounts(etc).add_user(User("x", 900, 20))
    monkeypatch.undo()
    sentinel.assert_unchanged()
    assert all(os.readlink(link) == str(sentinel.root / "file") for link in planted)
    assert "x:*:900:20:" in (etc / "master.passwd").read_text()


def test_lock_that_is_a_link_out_is_broken_without_following(etc: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside-lock"
    outside.mkdir()
    (outside / "pid").write_text("999999999\n")  # no such process
    sentinel = Sentinel(outside, snapshot(outside))
    lock = etc / ".accounts.lock"
    lock.symlink_to(outside)
    old = time.time() - NO_PID_GRACE - 5
    os.utime(lock, (old, old), follow_symlinks=False)
    assert Accounts(etc).add_user(User("x", 900, 20))
    assert not os.path.lexists(lock)
    sentinel.assert_unchanged()


# Corrupt lines --------------------------------------------------------------------------

CORRUPT = [
    ("master.passwd", b"this line does not parse\n", 2, "has 1 ':'-separated fields"),
    ("master.passwd", b"short:*:1:1\n", 2, "expected 10"),
    ("passwd", b"bob:*:abc:20::/:/bin/sh\n", 3, "uid that is not a number"),
    ("passwd", b"bob:*:12345678901:20::/:/bin/sh\n", 3, "uid that is not a number"),
    ("group", b"staff:*:twenty:\n", 2, "gid that is not a number"),
    ("group", b"big:*:30:" + b"m," * 3000 + b"\n", 2, "longer than 4096 bytes"),
    ("group", b"nul:*:31:\x00\n", 2, "NUL byte"),
    ("master.passwd", b"caf\xe9:*:5:5::0:0::/:/bin/sh\n", 2, "not UTF-8"),
    ("passwd", b"two words:*:5:5::/:/bin/sh\n", 3, "invalid name"),
    # CRLF endings: the CR would stay in the last field (a member "bob\r" no edit matches)
    ("group", b"crlf:*:32:root,bob\r\n", 2, "a CR from CRLF line endings"),
    ("passwd", b"bob:*:5:5:Bob\x1b[2J:/:/bin/sh\n", 3, "has a control character ("),
    # Python would read "-0" as uid 0, the shims' awk not as a number: both refuse it
    ("passwd", b"neg:*:-0:20::/:/bin/sh\n", 3, "uid that is not a number: '-0'"),
]


@pytest.mark.parametrize(("name", "line", "number", "problem"), CORRUPT,
                         ids=[c[3] for c in CORRUPT])
def test_corrupt_line_is_named_and_nothing_is_written(etc: Path, prefix_config: Path, cli: Any,
                                                      name: str, line: bytes, number: int,
                                                      problem: str) -> None:
    with (etc / name).open("ab") as stream:
        stream.write(line)
    before = files(etc)
    for args in (("add-user", "x", "--uid", "900", "--gid", "20"), ("add-group", "g",
                                                                    "--gid", "900"), ("list",)):
        assert_refused(accounts(cli, prefix_config, *args), f"{etc / name}:{number}:", problem)
    assert files(etc) == before
    assert not (etc / ".accounts.lock").exists()


def test_macos_special_ids_are_kept_not_refused(tmp_path: Path, prefix_config: Path,
                                                cli: Any) -> None:
    """macOS's nobody (-2) and nogroup (-1): well formed, kept in place, never entries."""
    nobody = "nobody:*:-2:-2::0:0:Unprivileged User:/var/empty:/usr/bin/false\n"
    etc = seed(tmp_path / "prefix", MASTER + nobody, PASSWD, GROUP + "nogroup:*:-1:\n")
    result = accounts(cli, prefix_config, "add-user", "x", "--uid", "900", "--gid", "20")
    assert result.returncode == 0, result.stderr
    assert (etc / "master.passwd").read_text().startswith(MASTER + nobody)
    listing = json.loads(accounts(cli, prefix_config, "list", "--json").stdout)
    assert "nobody" not in [u["name"] for u in listing["users"]]


FIELD = st.one_of(st.sampled_from(["", "*", "0", "-2", "700", "x", "a b", "99999999999"]),
                  st.text(max_size=6))
LINE = st.one_of(st.lists(FIELD, min_size=1, max_size=11).map(":".join).map(str.encode),
                 st.binary(max_size=40))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["master.passwd", "passwd", "group"]), line=LINE)
def test_any_line_is_an_entry_or_a_refusal(tmp_path: Path, name: str, line: bytes) -> None:
    """Whatever line a file holds: the accounts read and change, or refuse with
    AccountsError and write nothing; never another exception."""
    etc = seed(tmp_path / f"prefix{os.urandom(6).hex()}")
    with (etc / name).open("ab") as stream:
        stream.write(line + b"\n")
    before = files(etc)
    try:
        Accounts(etc).users()
        Accounts(etc).add_user(User("fuzz", 4000, 20))
    except AccountsError:
        assert files(etc) == before


@pytest.mark.parametrize("text", ["a\u0085b", "a\u2028b", "a\x9bb", "a:b", "a\tb"])
def test_real_name_with_a_control_character_is_refused(etc: Path, prefix_config: Path, cli: Any,
                                                       text: str) -> None:
    """The same control characters the config refuses (C1 and U+2028 included)."""
    before = files(etc)
    assert_refused(accounts(cli, prefix_config, "add-user", "x", "--uid", "900", "--gid", "20",
                            "--real-name", text), "invalid real name")
    assert files(etc) == before
