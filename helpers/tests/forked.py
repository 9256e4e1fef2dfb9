"""Concurrent writers as separate processes: forked, so each one takes the locks itself."""

from __future__ import annotations

import os
from collections.abc import Callable


def all_succeed_in_forks(count: int, action: Callable[[int], None]) -> bool:
    """ACTION(0..COUNT-1), each in a child forked at once; whether every child returned normally."""
    children = []
    for index in range(count):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                action(index)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    return all(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0 for pid in children)
