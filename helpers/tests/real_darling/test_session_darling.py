"""A `darling shell` call and what it starts in the container end together (session.py),
under the real Darling: on SIGTERM, even when the program ignores it, and when a run times
out. First the Darling behaviour that makes this necessary, shown on the bare call."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid

import pytest
from leftovers import gone_within, running_with, stubborn_tree, wait_for

from darling_nix import session
from darling_nix.runner import DarlingRunner


def still_answers(runner: DarlingRunner) -> bool:
    """The container outlived the session: a new call runs."""
    return runner.run(["/bin/echo", "alive"], capture=True, timeout=120).stdout == b"alive\n"


def test_a_bare_darling_shell_outlives_sigterm_and_leaves_children_after_sigkill(
        darling_runner: DarlingRunner) -> None:
    """Darling's own behaviour (no session around the call): the client passes SIGTERM on
    and waits for a program that ignores it; killed, it takes only the shell along."""
    marker = f"darling-nix-bare-{uuid.uuid4().hex}"
    mark = session.new_mark()  # only to clean up afterwards: nothing reads it during the test
    darling_runner.start()
    client = subprocess.Popen(
        darling_runner.direct_command(["/bin/sh", "-c", stubborn_tree(marker)]),
        env={**darling_runner.environment(), session.VARIABLE: mark}, stdin=subprocess.DEVNULL)
    try:
        wait_for(marker, 4)  # the client and the three shells in the container
        client.send_signal(signal.SIGTERM)
        time.sleep(session.GRACE_SECONDS)
        assert client.poll() is None
        client.kill()
        client.wait(timeout=30)
        time.sleep(2)
        assert len(running_with(marker)) == 2  # both background children
    finally:
        client.kill()
        client.wait()
        session.end(mark)
    assert gone_within(marker, 10) == []


def test_sigterm_ends_a_darling_session_that_ignores_it(darling_runner: DarlingRunner) -> None:
    marker = f"darling-nix-session-{uuid.uuid4().hex}"
    process = subprocess.Popen(darling_runner.command(["/bin/sh", "-c", stubborn_tree(marker)]),
                               env=darling_runner.environment(), stdin=subprocess.DEVNULL)
    try:
        wait_for(marker, 5)  # session_entry, the darling client, the three shells
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=session.GRACE_SECONDS + 20) == 128 + signal.SIGKILL
    finally:
        process.kill()
        process.wait()
    assert gone_within(marker, 10) == []
    assert still_answers(darling_runner)


def test_a_darling_run_that_times_out_leaves_nothing(darling_runner: DarlingRunner) -> None:
    marker = f"darling-nix-timeout-{uuid.uuid4().hex}"
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        darling_runner.run(["/bin/sh", "-c", stubborn_tree(marker)], timeout=5)
    assert time.monotonic() - started < 5 + session.GRACE_SECONDS + 10
    assert gone_within(marker, 10) == []
    assert still_answers(darling_runner)


def test_a_finished_darling_command_leaves_nothing(darling_runner: DarlingRunner) -> None:
    marker = f"darling-nix-left-{uuid.uuid4().hex}"
    result = darling_runner.run(
        ["/bin/sh", "-c", f"(while :; do sleep 0.2; done; : {marker}) & echo started"],
        capture=True, timeout=120)
    assert result.stdout == b"started\n"
    assert gone_within(marker, 10) == []


def test_ending_one_darling_session_leaves_another_alone(darling_runner: DarlingRunner) -> None:
    """Two calls at once, as two SSH sessions of the builder run: SIGTERM to one ends it
    and nothing of the other (its shells share the container, launchd and shellspawn)."""
    mine, other = (f"darling-nix-session-{uuid.uuid4().hex}" for _ in range(2))
    first, second = (subprocess.Popen(darling_runner.command(["/bin/sh", "-c", script]),
                                      env=darling_runner.environment(), stdin=subprocess.DEVNULL)
                     for script in (stubborn_tree(mine), stubborn_tree(other)))
    try:
        wait_for(mine, 5)
        wait_for(other, 5)
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=session.GRACE_SECONDS + 20)
        assert gone_within(mine, 10) == []
        assert len(running_with(other)) == 5
    finally:
        for process in (first, second):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=session.GRACE_SECONDS + 20)
    assert gone_within(other, 10) == []
