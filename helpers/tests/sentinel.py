"""Support for the hostile-input tests: a sentinel tree outside the prefix whose every
entry (type, mode, owner, mtime, content, link target) is recorded before an attack and
compared after it, and the shape of a refusal (one line on stderr, exit 2, no traceback)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

Entry = tuple[str, int, int, int, int, str]


def snapshot(root: Path) -> dict[str, Entry]:
    """Every entry under root (root included), read with lstat: links are never followed."""
    entries: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [".", *dirnames, *filenames]:
            path = Path(dirpath) / name if name != "." else Path(dirpath)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                kind, detail = "link", os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                kind, detail = "file", hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISDIR(st.st_mode):
                kind, detail = "dir", ""
            else:
                kind, detail = "other", ""
            entries[str(path.relative_to(root))] = (
                kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns, detail)
    return entries


@dataclass
class Sentinel:
    """A small tree (files, a read-only directory, a symlink) that an attack aims at."""

    root: Path
    before: dict[str, Entry]

    @classmethod
    def plant(cls, root: Path) -> Sentinel:
        (root / "dir" / "sub").mkdir(parents=True)
        (root / "file").write_text("sentinel file\n")
        (root / "dir" / "secret").write_text("sentinel secret\n")
        (root / "dir" / "sub" / "deep").write_bytes(b"\x00sentinel\xff")
        (root / "link").symlink_to("dir")
        os.chmod(root / "dir" / "sub", 0o555)
        os.chmod(root / "file", 0o444)
        return cls(root, snapshot(root))

    def assert_unchanged(self) -> None:
        after = snapshot(self.root)
        changed = {k for k in self.before.keys() | after.keys() if self.before.get(k) != after.get(k)}
        assert not changed, {k: (self.before.get(k), after.get(k)) for k in sorted(changed)}


def assert_refused(res: subprocess.CompletedProcess[str], *words: str, code: int = 2) -> None:
    """A refusal: exit `code`, one non-empty line on stderr naming `words`, no traceback."""
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == code, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    assert len(lines) == 1, res.stderr[-2000:]
    assert len(lines[0]) <= 400, lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
