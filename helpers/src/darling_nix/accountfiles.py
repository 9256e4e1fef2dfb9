"""The three account files of a prefix, as lines (docs/shims.md has the contract the
shims share).

Files, in the BSD formats Darling reads, under <prefix>/private/etc:
  master.passwd  name:password:uid:gid:class:change:expire:gecos:home:shell   (mode 0600)
  passwd         name:*:uid:gid:gecos:home:shell                               (mode 0644)
  group          name:*:gid:member,member                                      (mode 0644)
Blank lines and comments are kept byte for byte and in place. Every other line must be
an entry: the file's number of fields, a valid name, decimal ids. Entries whose ids are
outside 0..2**31-1 (macOS's nobody is -2) are kept and otherwise ignored. A file with any
other line is refused, naming file and line, before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from .fsutil import Directory

MAX_ID = 2**31 - 1
MAX_LINE = 4096
MAX_FILE = 4 << 20
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,254}\Z")
# "-0" is refused: Python would read it as 0, the shims' awk not as a number at all
_ID_TEXT = re.compile(rb"(?!-0)-?[0-9]{1,10}\Z")
# C0 controls (tab included) and DEL: a CR from CRLF line endings would stay inside the
# last field and make a member "bob\r" that no edit matches.
_CONTROL = re.compile(rb"[\x01-\x1f\x7f]")


class AccountsError(ValueError):
    pass


@dataclass(frozen=True)
class Format:
    fields: int
    ids: tuple[tuple[int, str], ...]  # (field index, what it is)
    mode: int  # of a new file


MASTER = Format(10, ((2, "uid"), (3, "gid")), 0o600)
PASSWD = Format(7, ((2, "uid"), (3, "gid")), 0o644)
GROUP = Format(4, ((2, "gid"),), 0o644)


def _is_comment(body: bytes) -> bool:
    return not body.strip(b" \t") or body.startswith(b"#")


def line_problem(form: Format, line: bytes) -> str | None:
    """What makes LINE neither a comment nor an entry; None when it is fine."""
    body = line.rstrip(b"\n")
    if b"\x00" in body:
        return "has a NUL byte"
    if len(body) > MAX_LINE:
        return f"is longer than {MAX_LINE} bytes"
    if _is_comment(body):
        return None
    try:
        body.decode()
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    if _CONTROL.search(body):
        return "has a control character (a CR from CRLF line endings?)"
    parts = body.split(b":")
    if len(parts) != form.fields:
        return f"has {len(parts)} ':'-separated fields, expected {form.fields}"
    if not NAME_RE.match(parts[0].decode()):
        return f"has an invalid name {parts[0].decode()[:40]!r}"
    for index, what in form.ids:
        if not _ID_TEXT.match(parts[index]):
            return f"has a {what} that is not a number: {parts[index].decode()[:40]!r}"
    return None


def entry_fields(form: Format, line: bytes) -> list[str] | None:
    """The fields of an entry line (already checked by `line_problem`); None for comments
    and for entries with ids out of range."""
    body = line.rstrip(b"\n")
    if _is_comment(body):
        return None
    parts = body.decode().split(":")
    return parts if all(0 <= int(parts[i]) <= MAX_ID for i, _ in form.ids) else None


def _split_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends in a newline
    result = [line + b"\n" for line in lines]
    if tail:
        result.append(tail)
    return result


@dataclass
class AccountFile:
    """One file as lines of bytes; only the lines we change are rewritten."""

    name: str
    form: Format
    exists: bool
    lines: list[bytes] = field(default_factory=list)
    original: bytes = b""

    @classmethod
    def read(cls, etc: Directory, name: str, form: Format) -> AccountFile:
        data = etc.read_regular(name, MAX_FILE)
        lines = _split_lines(data or b"")
        for number, line in enumerate(lines, 1):
            problem = line_problem(form, line)
            if problem:
                raise AccountsError(f"{etc.path / name}:{number}: the line {problem}; fix or "
                                    "remove it (nothing was changed)")
        return cls(name, form, data is not None, lines, data or b"")

    def entries(self) -> Iterator[tuple[int, list[str]]]:
        """(line index, fields) of every entry."""
        for position, line in enumerate(self.lines):
            fields = entry_fields(self.form, line)
            if fields is not None:
                yield position, fields

    def find(self, name: str) -> tuple[int, list[str]] | None:
        """The first entry named NAME."""
        return next(((p, f) for p, f in self.entries() if f[0] == name), None)

    def put(self, position: int | None, line: bytes) -> None:
        if position is None:
            if self.lines and not self.lines[-1].endswith(b"\n"):
                self.lines[-1] += b"\n"
            self.lines.append(line)
        else:
            self.lines[position] = line

    def save(self, etc: Directory) -> bool:
        data = b"".join(self.lines)
        if data == self.original:
            return False
        etc.write_atomic(self.name, data, None if self.exists else self.form.mode)
        return True
