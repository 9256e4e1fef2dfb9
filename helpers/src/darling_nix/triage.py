"""Finding what Darling could not do in Darling's and Nix's output.

Message formats, from Darling's sources:
- `Unimplemented syscall (N)`, `Unimplemented machdep trap (N)` (darling-xnu,
  libsystem_kernel/emulation .../base.c) and `Unimplemented mach trap (N)` (mach table);
- `STUB: NAME called` (generated framework stubs, printed when STUB_VERBOSE is set),
  `DARLING STUB CALLED: NAME` (IOKit HID stubs), `stub: NAME`, `stub (safe): NAME`,
  `stub (unsafe): NAME` (darlingserver's duct tape, in its log);
- any other line saying "not implemented" or "unimplemented", which catches strerror(ENOSYS)
  ("Function not implemented") in Nix's errors, e.g. clonefileat.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from .syscalls import syscall_name

_TRAP_RE = re.compile(r"Unimplemented (syscall|machdep trap|mach trap) \((-?\d+)\)")
_STUB_RES = (
    re.compile(r"\bSTUB: (\S+) called"),
    re.compile(r"DARLING STUB CALLED: (.+?)\s*$"),
    re.compile(r"\bstub(?: \((?:safe|unsafe)\))?: (\S+)"),
)
_NOT_IMPLEMENTED_RE = re.compile(r"not implemented|unimplemented", re.IGNORECASE)
# Store paths and numbers differ between otherwise equal messages.
_VARYING_RE = re.compile(r"/nix/store/[a-z0-9]{32}-|\b\d+\b")


@dataclass
class Finding:
    kind: str  # syscall | machdep trap | mach trap | stub | not implemented
    what: str
    count: int
    first: str  # the first command, or file:line, that printed it
    example: str


def classify(line: str) -> tuple[str, str] | None:
    """(kind, what) for a line that shows something missing; None for other lines."""
    trap = _TRAP_RE.search(line)
    if trap:
        kind, number = trap.group(1), int(trap.group(2))
        what = f"{syscall_name(number)} ({number})" if kind == "syscall" else str(number)
        return kind, what
    for pattern in _STUB_RES:
        stub = pattern.search(line)
        if stub:
            return "stub", stub.group(1)
    if _NOT_IMPLEMENTED_RE.search(line):
        return "not implemented", _VARYING_RE.sub(
            lambda m: "/nix/store/...-" if m.group().startswith("/") else "N", line.strip())[:200]
    return None


class Triage:
    """Counts findings across any number of outputs, keeping where each was first seen."""

    def __init__(self) -> None:
        self._findings: dict[tuple[str, str], Finding] = {}

    def feed(self, line: str, where: str) -> None:
        found = classify(line)
        if found is None:
            return
        existing = self._findings.get(found)
        if existing:
            existing.count += 1
        else:
            self._findings[found] = Finding(*found, 1, where, line.strip()[:300])

    def feed_text(self, text: str, where: str) -> None:
        for line in text.splitlines():
            self.feed(line, where)

    def feed_file(self, lines: Iterable[str], name: str) -> None:
        for number, line in enumerate(lines, 1):
            self.feed(line, f"{name}:{number}")

    def findings(self) -> list[Finding]:
        return sorted(self._findings.values(), key=lambda f: (-f.count, f.kind, f.what))


def as_json(findings: list[Finding]) -> list[dict[str, Any]]:
    return [asdict(f) for f in findings]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(findings: list[Finding]) -> str:
    if not findings:
        return "No unimplemented syscalls, stubs or \"not implemented\" messages found.\n"
    rows = ["| kind | what | count | first seen |", "|---|---|---:|---|"]
    rows += [f"| {f.kind} | `{_cell(f.what)}` | {f.count} | `{_cell(f.first)}` |"
             for f in findings]
    return "\n".join(rows) + "\n"
