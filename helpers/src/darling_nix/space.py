"""Room in the prefix's store before a session starts (the gate runs this, so: lean).

A copy into the prefix cut short by a full disk leaves a partial, unregistered path
behind. Nix's own auto-GC (`min-free` in the prefix's nix.conf) removes it, but in a
thread alongside the next build, which meanwhile fails on the same full disk. So the
gate collects garbage first, and waits for it, whenever the store has less than
min-free bytes free. Every path in the prefix's store came from a client or went back
to one; paths in use by a running session are its temporary roots and stay.
"""

from __future__ import annotations

import os

from .runner import Runner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
# A collection that takes longer than this is left to finish on its own; the session starts.
GC_TIMEOUT = 300


def parse_size(text: str) -> int:
    """Bytes from '1073741824' or '1G' (Nix's unit suffixes); ValueError otherwise."""
    scale = _UNITS.get(text[-1:].upper(), 1)
    number = text[:-1] if scale > 1 else text
    # ASCII digits only: str.isdigit also takes '²' and '١٢٣', which Nix refuses.
    if not (number.isascii() and number.isdigit()) or int(number) * scale >= 1 << 64:
        raise ValueError(f"expected a number of bytes such as 1073741824 or 1G (below 2^64), "
                         f"got {text!r}")
    return int(number) * scale


def free_bytes(path: str) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def make_room(runner: Runner, min_free: int, log: Callable[[str], None]) -> None:
    """Collect the prefix store's garbage when it has less than MIN_FREE bytes free."""
    try:
        free = free_bytes(runner.prefix)
    except OSError:
        return  # no prefix to measure: the runner will say so
    if free >= min_free:
        return
    import subprocess  # only on this rare path

    log(f"{free} bytes free in {runner.prefix}, less than min-free {min_free}: "
        "collecting garbage before the session")
    try:
        # stdin and stdout are the client's protocol stream: the collection touches neither.
        result = runner.run(["nix-store", "--gc"], stdin=subprocess.DEVNULL, capture=True,
                            timeout=GC_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        log(f"garbage collection did not finish: {error}")
        return
    log(f"garbage collection exit {result.returncode}; {free_bytes(runner.prefix)} bytes free")
