"""The prefix's user and group entries (what macOS keeps in Directory Services).

Files, in the BSD formats Darling reads, under <prefix>/private/etc:
  master.passwd  name:password:uid:gid:class:change:expire:gecos:home:shell   (mode 0600)
  passwd         name:*:uid:gid:gecos:home:shell                               (mode 0644)
  group          name:*:gid:member,member                                      (mode 0644)
Lines this module does not understand (comments, blank or foreign lines) are kept
byte for byte and in place. Every change holds the lock the shims use and replaces
each file atomically; a request is validated in full before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .fsutil import atomic_write, directory_lock

MAX_ID = 2**31 - 1
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,254}\Z")
_FORBIDDEN_TEXT = re.compile(r"[:\x00-\x1f\x7f]")


class AccountsError(ValueError):
    pass


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


@dataclass(frozen=True)
class Group:
    name: str
    gid: int
    members: tuple[str, ...] = ()
    password: str = "*"

    def line(self) -> bytes:
        return f"{self.name}:{self.password}:{self.gid}:{','.join(self.members)}\n".encode()


def check_name(kind: str, name: str) -> None:
    if not _NAME_RE.match(name):
        raise AccountsError(f"invalid {kind} name {name!r}: expected a letter or '_' followed by "
                            "letters, digits, '_', '.' or '-' (no ':' or white space)")


def check_id(kind: str, value: int) -> None:
    if not 0 <= value <= MAX_ID:
        raise AccountsError(f"invalid {kind} {value}: expected 0 to {MAX_ID}")


def check_text(what: str, value: str) -> None:
    if _FORBIDDEN_TEXT.search(value):
        raise AccountsError(f"invalid {what} {value!r}: ':' and control characters are not allowed")


def _parse_id(text: bytes) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID else None


def _parse_master(line: bytes) -> User | None:
    parts = line.rstrip(b"\n").split(b":")
    if len(parts) != 10 or line.startswith(b"#"):
        return None
    uid, gid = _parse_id(parts[2]), _parse_id(parts[3])
    try:
        text = [p.decode() for p in parts]
    except UnicodeDecodeError:
        return None
    if uid is None or gid is None or not _NAME_RE.match(text[0]):
        return None
    return User(name=text[0], password=text[1], uid=uid, gid=gid, login_class=text[4],
                change=text[5], expire=text[6], gecos=text[7], home=text[8], shell=text[9])


def _parse_passwd_name(line: bytes) -> str | None:
    parts = line.rstrip(b"\n").split(b":")
    if len(parts) != 7 or line.startswith(b"#"):
        return None
    return parts[0].decode(errors="replace")


def _parse_group(line: bytes) -> Group | None:
    parts = line.rstrip(b"\n").split(b":")
    if len(parts) != 4 or line.startswith(b"#"):
        return None
    gid = _parse_id(parts[2])
    try:
        name, password, members = parts[0].decode(), parts[1].decode(), parts[3].decode()
    except UnicodeDecodeError:
        return None
    if gid is None or not _NAME_RE.match(name):
        return None
    return Group(name=name, password=password, gid=gid,
                 members=tuple(m for m in members.split(",") if m))


def _split_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends in a newline
    result = [line + b"\n" for line in lines]
    if tail:
        result.append(tail)
    return result


@dataclass
class _File:
    """A file as lines of bytes; only the lines we change are rewritten."""

    path: Path
    mode: int
    lines: list[bytes] = field(default_factory=list)
    original: bytes = b""

    @classmethod
    def read(cls, path: Path, mode: int) -> _File:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        return cls(path, mode, _split_lines(data), data)

    def index(self, parse_name: Callable[[bytes], str | None], name: str) -> int | None:
        for position, line in enumerate(self.lines):
            if parse_name(line) == name:
                return position
        return None

    def put(self, position: int | None, line: bytes) -> None:
        if position is None:
            if self.lines and not self.lines[-1].endswith(b"\n"):
                self.lines[-1] += b"\n"
            self.lines.append(line)
        else:
            self.lines[position] = line

    def data(self) -> bytes:
        return b"".join(self.lines)

    def save(self) -> bool:
        data = self.data()
        if data == self.original:
            return False
        mode = self.path.stat().st_mode & 0o7777 if self.path.exists() else self.mode
        atomic_write(self.path, data, mode)
        return True


def _user_name(line: bytes) -> str | None:
    user = _parse_master(line)
    return user.name if user else None


def _group_name(line: bytes) -> str | None:
    group = _parse_group(line)
    return group.name if group else None


class Accounts:
    """Accounts of one prefix; ETC is <prefix>/private/etc."""

    def __init__(self, etc: Path) -> None:
        self.etc = etc
        self.lock_path = etc / ".accounts.lock"

    # Reading --------------------------------------------------------------

    def _files(self) -> tuple[_File, _File, _File]:
        return (_File.read(self.etc / "master.passwd", 0o600),
                _File.read(self.etc / "passwd", 0o644),
                _File.read(self.etc / "group", 0o644))

    def users(self) -> list[User]:
        master = _File.read(self.etc / "master.passwd", 0o600)
        return [u for u in map(_parse_master, master.lines) if u is not None]

    def groups(self) -> list[Group]:
        group = _File.read(self.etc / "group", 0o644)
        return [g for g in map(_parse_group, group.lines) if g is not None]

    # Writing --------------------------------------------------------------

    def _change(self, edit: Callable[[_File, _File, _File], None]) -> bool:
        """Run EDIT(master, passwd, group) under the lock; save what changed."""
        self.etc.mkdir(parents=True, exist_ok=True)
        with directory_lock(self.lock_path):
            files = self._files()
            edit(*files)
            # Validation happened inside edit; from here on we only write.
            changed = [f.save() for f in files]
        return any(changed)

    def add_user(self, user: User) -> bool:
        """Add USER; True when something changed. Same entry again: no change."""
        check_name("user", user.name)
        check_id("uid", user.uid)
        check_id("gid", user.gid)
        for what, value in (("real name", user.gecos), ("home", user.home),
                            ("shell", user.shell), ("password", user.password)):
            check_text(what, value)

        def edit(master: _File, passwd: _File, _group: _File) -> None:
            for other in filter(None, map(_parse_master, master.lines)):
                if other.name == user.name and other != user:
                    raise AccountsError(f"user {user.name!r} already exists with uid {other.uid}"
                                        f" and gid {other.gid}; remove it first to change it")
                if other.uid == user.uid and other.name != user.name:
                    raise AccountsError(f"uid {user.uid} is already used by {other.name!r}")
            master.put(master.index(_user_name, user.name), user.master_line())
            passwd.put(passwd.index(_parse_passwd_name, user.name), user.passwd_line())

        return self._change(edit)

    def remove_user(self, name: str) -> bool:
        check_name("user", name)

        def edit(master: _File, passwd: _File, group: _File) -> None:
            for file, parse in ((master, _user_name), (passwd, _parse_passwd_name)):
                position = file.index(parse, name)
                if position is not None:
                    del file.lines[position]
            for position, line in enumerate(group.lines):
                entry = _parse_group(line)
                if entry and name in entry.members:
                    members = tuple(m for m in entry.members if m != name)
                    group.lines[position] = replace(entry, members=members).line()

        return self._change(edit)

    def add_group(self, group: Group) -> bool:
        check_name("group", group.name)
        check_id("gid", group.gid)
        for member in group.members:
            check_name("user", member)

        def edit(_master: _File, _passwd: _File, groups: _File) -> None:
            for other in filter(None, map(_parse_group, groups.lines)):
                if other.name == group.name and other.gid != group.gid:
                    raise AccountsError(f"group {group.name!r} already exists with gid "
                                        f"{other.gid}; remove it first to change it")
                if other.gid == group.gid and other.name != group.name:
                    raise AccountsError(f"gid {group.gid} is already used by {other.name!r}")
            position = groups.index(_group_name, group.name)
            if position is None:
                groups.put(None, group.line())

        return self._change(edit)

    def remove_group(self, name: str) -> bool:
        check_name("group", name)

        def edit(_master: _File, _passwd: _File, groups: _File) -> None:
            position = groups.index(_group_name, name)
            if position is not None:
                del groups.lines[position]

        return self._change(edit)

    def set_membership(self, group_name: str, user: str, member: bool) -> bool:
        """Make USER a member of GROUP_NAME (or not)."""
        check_name("group", group_name)
        check_name("user", user)

        def edit(_master: _File, _passwd: _File, groups: _File) -> None:
            position = groups.index(_group_name, group_name)
            if position is None:
                raise AccountsError(f"no group named {group_name!r}")
            entry = _parse_group(groups.lines[position])
            assert entry is not None  # index() found it by parsing
            members = tuple(m for m in entry.members if m != user)
            if member:
                members += (user,)
            if set(members) != set(entry.members):
                groups.lines[position] = replace(entry, members=members).line()

        return self._change(edit)

