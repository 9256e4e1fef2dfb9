"""session.py on the host: a supervised command and everything it started end together, on
SIGTERM (with SIGKILL after the grace time) and when the command itself exits. The same code
ends a `darling shell` session: helpers/tests/real_darling/test_session_darling.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from leftovers import gone_within, running_with, stubborn_tree, wait_for

from darling_nix import session

SUPERVISE = ("import os, sys; from darling_nix.session import supervise; "
             "sys.exit(supervise(sys.argv[1:], dict(os.environ)))")


def supervised(script: str) -> subprocess.Popen[bytes]:
    """`sh -c SCRIPT` under session.supervise, in a process of its own."""
    return subprocess.Popen([sys.executable, "-c", SUPERVISE, "/bin/sh", "-c", script],
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_sigterm_ends_a_session_that_ignores_it() -> None:
    marker = f"darling-nix-session-{uuid.uuid4().hex}"
    process = supervised(stubborn_tree(marker))
    wait_for(marker, 4)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    status = process.wait(timeout=session.GRACE_SECONDS + 10)
    assert status == 128 + signal.SIGKILL  # it ignored SIGTERM: the grace time ran out
    assert time.monotonic() - started >= session.GRACE_SECONDS - 0.5
    assert gone_within(marker, 2) == []


def test_what_a_command_leaves_behind_ends_with_it() -> None:
    marker = f"darling-nix-session-{uuid.uuid4().hex}"
    process = supervised(f"(while :; do sleep 0.2; done; : {marker}) & sleep 1; exit 7")
    assert process.wait(timeout=20) == 7
    assert gone_within(marker, 2) == []


def test_a_command_that_obeys_sigterm_ends_at_once() -> None:
    marker = f"darling-nix-session-{uuid.uuid4().hex}"
    process = supervised(f"while :; do sleep 0.2; done; : {marker}")
    wait_for(marker, 2)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 128 + signal.SIGTERM
    assert time.monotonic() - started < session.GRACE_SECONDS
    assert gone_within(marker, 2) == []


def test_ending_one_session_leaves_another_alone() -> None:
    mine, other = (f"darling-nix-session-{uuid.uuid4().hex}" for _ in range(2))
    first = supervised(stubborn_tree(mine))
    second = supervised(f"while :; do sleep 0.2; done; : {other}")
    try:
        wait_for(mine, 4)
        wait_for(other, 2)
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=session.GRACE_SECONDS + 10)
        assert gone_within(mine, 2) == []
        assert len(running_with(other)) == 2  # its supervisor and its shell
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=10)
    assert gone_within(other, 2) == []


def test_members_are_the_marked_processes_and_their_descendants() -> None:
    mark = session.new_mark()
    env = {**os.environ, session.VARIABLE: mark}
    marked = subprocess.Popen(["/bin/sh", "-c", "env -i /bin/sleep 30 & exec /bin/sleep 30"],
                              env=env)
    unmarked = subprocess.Popen(["/bin/sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while len(session.members(mark)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        found = session.members(mark)
        assert marked.pid in found and unmarked.pid not in found and os.getpid() not in found
        assert len(found) == 2  # the shell (now sleep) and its child with an empty environment
        assert session.end(mark) == found
        assert marked.wait(timeout=5) == -signal.SIGKILL
        assert unmarked.poll() is None
    finally:
        unmarked.kill()
        unmarked.wait()
