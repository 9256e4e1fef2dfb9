"""BSD syscall numbers -> names, kept as data (data/bsd_syscalls.tsv).

The table is generated from xnu's `bsd/kern/syscalls.master` (the darling-xnu copy
Darling is built from) by `python -m darling_nix.syscalls SYSCALLS_MASTER SOURCE`,
which prints the TSV with a header saying where it came from.
"""

from __future__ import annotations

import re
import sys
from functools import cache
from importlib import resources

# "488	AUE_RENAMEAT	ALL	{ int renameatx_np(int fromfd, ...); }  { comment }"
_ENTRY_RE = re.compile(r"^(\d+)\s+\S+\s+\S+\s+\{[^(]*?\b(\w+)\s*\(.*?\}\s*(?:\{\s*(.*?)\s*\})?")
# Placeholders for numbers with no call in this configuration.
_PLACEHOLDERS = ("nosys", "enosys")


def parse_master(text: str) -> dict[int, str]:
    """Number -> name. Where `#if` branches give one number twice, the real call wins over
    a placeholder; a placeholder keeps its comment (e.g. 'enosys (old creat)')."""
    table: dict[int, str] = {}
    for line in text.splitlines():
        match = _ENTRY_RE.match(line)
        if not match:
            continue
        number, name, comment = int(match.group(1)), match.group(2), match.group(3)
        # The kernel's implementations of close etc. are named sys_<call>.
        name = name.removeprefix("sys_")
        if name in _PLACEHOLDERS:
            if number not in table:
                table[number] = f"{name} ({comment})" if comment else name
        elif number not in table or table[number].split()[0] in _PLACEHOLDERS:
            table[number] = name
    return table


def render_tsv(table: dict[int, str], source: str) -> str:
    header = (f"# BSD syscall numbers of xnu, from {source}\n"
              "# Regenerate: python -m darling_nix.syscalls SYSCALLS_MASTER 'SOURCE' "
              "> data/bsd_syscalls.tsv\n"
              "# number\tname\n")
    return header + "".join(f"{number}\t{name}\n" for number, name in sorted(table.items()))


@cache
def load_table() -> dict[int, str]:
    text = resources.files("darling_nix").joinpath("data/bsd_syscalls.tsv").read_text()
    table = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            number, name = line.split("\t", 1)
            table[int(number)] = name
    return table


def syscall_name(number: int) -> str:
    return load_table().get(number, "unknown")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m darling_nix.syscalls SYSCALLS_MASTER SOURCE-DESCRIPTION")
    with open(sys.argv[1]) as master:
        sys.stdout.write(render_tsv(parse_master(master.read()), sys.argv[2]))
