"""Running a command while its output is read line by line, with a deadline.

The command gets its own process group so a timeout or Ctrl-C ends everything it
started. SIGTERM comes first: Nix then stops its builders itself (they run in a
session of their own, out of reach of our group kill), SIGKILL only after a grace time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

LineSink = Callable[[bytes], None]
GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Outcome:
    returncode: int
    timed_out: bool


def _pump(stream: IO[bytes], sink: LineSink) -> None:
    with stream:
        for line in iter(stream.readline, b""):
            sink(line)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def stream(argv: Sequence[str], env: dict[str, str] | None, *, on_stdout: LineSink,
           on_stderr: LineSink, stdin: IO[bytes] | int | None = subprocess.DEVNULL,
           timeout: float | None = None) -> Outcome:
    """Run ARGV, passing each line of stdout and stderr to the sinks as it comes."""
    process = subprocess.Popen(argv, env=env, stdin=stdin, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    assert process.stdout is not None and process.stderr is not None
    pumps = [threading.Thread(target=_pump, args=(process.stdout, on_stdout), daemon=True),
             threading.Thread(target=_pump, args=(process.stderr, on_stderr), daemon=True)]
    for pump in pumps:
        pump.start()
    timed_out = False
    try:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
    except BaseException:
        _signal_group(process, signal.SIGKILL)
        process.wait()
        raise
    finally:
        # Whatever the command left behind in its group (pipes held open) goes too.
        _signal_group(process, signal.SIGKILL)
        for pump in pumps:
            pump.join()
    return Outcome(process.returncode, timed_out)
