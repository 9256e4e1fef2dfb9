"""The prefix's user and group entries (what macOS keeps in Directory Services).

The files and their format are in accountfiles.py. A user is an entry of master.passwd
or, when master.passwd has no such name, of passwd (docs/shims.md): both files count for
names and uids. Every change holds the lock the shims use and replaces each file
atomically; a request is validated in full before anything is written.

The prefix belongs to the builder user and root may run the CLI, so the files are reached
through directories opened without following links: the prefix, `private` and `etc` must
be real directories. `<prefix>/etc -> private/etc` (macOS's layout, which Darling makes)
is the one link accepted, as a way to name `<prefix>/private/etc`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NoReturn

from .accountfiles import (
    GROUP,
    MASTER,
    MAX_ID,
    NAME_RE,
    PASSWD,
    AccountFile,
    AccountsError,
)
from .dirlock import directory_lock
from .fsutil import Directory, UnsafePath
from .oneline import control_class

__all__ = ["Accounts", "AccountsError", "Group", "User"]

LOCK = ".accounts.lock"
MACOS_ETC_LINK = "private/etc"
# ':' ends a field; control characters as the config defines them (C1 and U+2028 too)
_FORBIDDEN_TEXT = re.compile(f"[:{control_class()}]")


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    gecos: str = ""
    home: str = "/var/empty"
    shell: str = "/usr/bin/false"
    password: str = "*"
    login_class: str = ""
    change: str = "0"
    expire: str = "0"

    def master_line(self) -> bytes:
        return ":".join([self.name, self.password, str(self.uid), str(self.gid),
                         self.login_class, self.change, self.expire, self.gecos, self.home,
                         self.shell]).encode() + b"\n"

    def passwd_line(self) -> bytes:
        return ":".join([self.name, "*", str(self.uid), str(self.gid), self.gecos, self.home,
                         self.shell]).encode() + b"\n"

    def public(self) -> tuple[int, int, str, str, str]:
        """What passwd shows of the user."""
        return self.uid, self.gid, self.gecos, self.home, self.shell


@dataclass(frozen=True)
class Group:
    name: str
    gid: int
    members: tuple[str, ...] = ()
    password: str = "*"

    def line(self) -> bytes:
        return f"{self.name}:{self.password}:{self.gid}:{','.join(self.members)}\n".encode()


def check_name(kind: str, name: str) -> None:
    if not NAME_RE.match(name):
        raise AccountsError(f"invalid {kind} name {name!r}: expected a letter or '_' followed by "
                            "letters, digits, '_', '.' or '-' (no ':' or white space)")


def check_id(kind: str, value: int) -> None:
    if not 0 <= value <= MAX_ID:
        raise AccountsError(f"invalid {kind} {value}: expected 0 to {MAX_ID}")


def check_text(what: str, value: str) -> None:
    if _FORBIDDEN_TEXT.search(value):
        raise AccountsError(f"invalid {what} {value!r}: ':' and control characters are not allowed")


def _master_user(f: list[str]) -> User:
    return User(name=f[0], password=f[1], uid=int(f[2]), gid=int(f[3]), login_class=f[4],
                change=f[5], expire=f[6], gecos=f[7], home=f[8], shell=f[9])


def _passwd_user(f: list[str]) -> User:
    return User(name=f[0], uid=int(f[2]), gid=int(f[3]), gecos=f[4], home=f[5], shell=f[6])


def _group(f: list[str]) -> Group:
    return Group(name=f[0], password=f[1], gid=int(f[2]),
                 members=tuple(m for m in f[3].split(",") if m))


def _users(master: AccountFile, passwd: AccountFile) -> list[User]:
    """master.passwd's users, then those only passwd has."""
    users = [_master_user(f) for _, f in master.entries()]
    known = {u.name for u in users}
    return users + [u for u in (_passwd_user(f) for _, f in passwd.entries())
                    if u.name not in known]


def _already_exists(user: User) -> NoReturn:
    raise AccountsError(f"user {user.name!r} already exists with uid {user.uid} and gid "
                        f"{user.gid}; remove it first to change it")


def _locate(etc: Path) -> tuple[Path, Path]:
    """(trusted directory, etc below it). The trusted one is the prefix's parent when ETC
    is a prefix's private/etc, else ETC's parent."""
    etc = etc.absolute()
    with contextlib.suppress(OSError):
        if etc.is_symlink() and os.readlink(etc).rstrip("/") == MACOS_ETC_LINK:
            etc = etc.parent / MACOS_ETC_LINK
    if etc.parent.name == "private" and len(etc.parents) >= 3:
        return etc.parents[2], etc
    return etc.parent, etc


Files = tuple[AccountFile, AccountFile, AccountFile]


class Accounts:
    """Accounts of one prefix; ETC is <prefix>/private/etc."""

    def __init__(self, etc: Path) -> None:
        self.root, self.etc = _locate(etc)

    @contextlib.contextmanager
    def _directory(self, create: bool) -> Iterator[Directory | None]:
        """ETC opened without following links; None when it does not exist (reading)."""
        try:
            with Directory.open(self.root) as root:
                try:
                    etc = root.descend(self.etc.relative_to(self.root), create)
                except FileNotFoundError:
                    if create:
                        raise
                    yield None
                    return
                with etc:
                    yield etc
        except UnsafePath as error:
            raise AccountsError(str(error)) from None

    @staticmethod
    def _read(etc: Directory | None) -> Files:
        if etc is None:
            return (AccountFile("master.passwd", MASTER, False),
                    AccountFile("passwd", PASSWD, False), AccountFile("group", GROUP, False))
        return (AccountFile.read(etc, "master.passwd", MASTER),
                AccountFile.read(etc, "passwd", PASSWD), AccountFile.read(etc, "group", GROUP))

    # Reading --------------------------------------------------------------

    def users(self) -> list[User]:
        with self._directory(create=False) as etc:
            master, passwd, _ = self._read(etc)
        return _users(master, passwd)

    def groups(self) -> list[Group]:
        with self._directory(create=False) as etc:
            _, _, group = self._read(etc)
        return [_group(f) for _, f in group.entries()]

    # Writing --------------------------------------------------------------

    def _change(self, edit: Callable[[AccountFile, AccountFile, AccountFile], None]) -> bool:
        """Run EDIT(master, passwd, group) under the lock; save what changed."""
        with self._directory(create=True) as etc:
            assert etc is not None  # created
            with directory_lock(etc, LOCK):
                files = self._read(etc)
                edit(*files)
                # Validation happened inside edit; from here on we only write.
                changed = [f.save(etc) for f in files]
        return any(changed)

    def add_user(self, user: User) -> bool:
        """Add USER; True when something changed. Same entry again: no change."""
        check_name("user", user.name)
        check_id("uid", user.uid)
        check_id("gid", user.gid)
        for what, value in (("real name", user.gecos), ("home", user.home),
                            ("shell", user.shell), ("password", user.password)):
            check_text(what, value)

        def edit(master: AccountFile, passwd: AccountFile, _group: AccountFile) -> None:
            in_master, in_passwd = master.find(user.name), passwd.find(user.name)
            if in_master and _master_user(in_master[1]) != user:
                _already_exists(_master_user(in_master[1]))
            if in_passwd and _passwd_user(in_passwd[1]).public() != user.public():
                _already_exists(_passwd_user(in_passwd[1]))
            for _, fields in [*master.entries(), *passwd.entries()]:
                if int(fields[2]) == user.uid and fields[0] != user.name:
                    raise AccountsError(f"uid {user.uid} is already used by {fields[0]!r}")
            master.put(in_master[0] if in_master else None, user.master_line())
            passwd.put(in_passwd[0] if in_passwd else None, user.passwd_line())

        return self._change(edit)

    def remove_user(self, name: str) -> bool:
        check_name("user", name)

        def edit(master: AccountFile, passwd: AccountFile, group: AccountFile) -> None:
            for file in (master, passwd):
                found = file.find(name)
                if found is not None:
                    del file.lines[found[0]]
            for position, fields in list(group.entries()):
                entry = _group(fields)
                if name in entry.members:
                    members = tuple(m for m in entry.members if m != name)
                    group.lines[position] = replace(entry, members=members).line()

        return self._change(edit)

    def add_group(self, group: Group) -> bool:
        check_name("group", group.name)
        check_id("gid", group.gid)
        for member in group.members:
            check_name("user", member)

        def edit(_master: AccountFile, _passwd: AccountFile, groups: AccountFile) -> None:
            for other in (_group(f) for _, f in groups.entries()):
                if other.name == group.name and other.gid != group.gid:
                    raise AccountsError(f"group {group.name!r} already exists with gid "
                                        f"{other.gid}; remove it first to change it")
                if other.gid == group.gid and other.name != group.name:
                    raise AccountsError(f"gid {group.gid} is already used by {other.name!r}")
            if groups.find(group.name) is None:
                groups.put(None, group.line())

        return self._change(edit)

    def remove_group(self, name: str) -> bool:
        check_name("group", name)

        def edit(_master: AccountFile, _passwd: AccountFile, groups: AccountFile) -> None:
            found = groups.find(name)
            if found is not None:
                del groups.lines[found[0]]

        return self._change(edit)

    def set_membership(self, group_name: str, user: str, member: bool) -> bool:
        """Make USER a member of GROUP_NAME (or not)."""
        check_name("group", group_name)
        check_name("user", user)

        def edit(_master: AccountFile, _passwd: AccountFile, groups: AccountFile) -> None:
            found = groups.find(group_name)
            if found is None:
                raise AccountsError(f"no group named {group_name!r}")
            entry = _group(found[1])
            members = tuple(m for m in entry.members if m != user)
            if member:
                members += (user,)
            if set(members) != set(entry.members):
                groups.lines[found[0]] = replace(entry, members=members).line()

        return self._change(edit)
