"""DarlingRunner against the real Darling: what passes through `darling shell` and what
comes back (bytes, exit status, the signal caveat), and the start-up pitfall where
darlingserver keeps the first caller's stdout pipe open."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from darling_nix.darling.compiler import DarwinCompiler
from darling_nix.runner import DarlingRunner, path_inside

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def darwin_cat(darwin_cc: DarwinCompiler, darwin_bin: Path) -> str:
    return path_inside(darwin_cc.build([HERE / "darwin_cat.c"], darwin_bin / "cat", cflags=["-Werror"]))


def test_every_byte_value_passes_unchanged(darling_runner: DarlingRunner, darwin_cat: str) -> None:
    data = bytes(range(256)) * 64
    result = darling_runner.run([darwin_cat], input=data, capture=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == data


@pytest.mark.parametrize("mib", [1, 64])
def test_large_stream_both_ways(darling_runner: DarlingRunner, darwin_cat: str, mib: int) -> None:
    data = os.urandom(mib << 20)
    result = darling_runner.run([darwin_cat], input=data, capture=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) == len(data)
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(data).digest()


def test_stdout_carries_only_the_commands_bytes(darling_runner: DarlingRunner) -> None:
    # `darling shell` runs bash --login: anything a profile printed would corrupt a protocol
    assert darling_runner.run(["/usr/bin/true"], capture=True, timeout=60).stdout == b""
    result = darling_runner.run(["/bin/sh", "-c", "printf 'a\\0b'"], capture=True, timeout=60)
    assert result.stdout == b"a\0b"


def test_stderr_carries_only_the_commands_bytes(darling_runner: DarlingRunner) -> None:
    """No login noise either: the profile's Library copy (by cp, which core Darling lacks)
    has nothing to do in a prefix made by create_prefix; `verify` reads stderr."""
    assert darling_runner.run(["/usr/bin/true"], capture=True, timeout=60).stderr == b""
    result = darling_runner.run(["/bin/sh", "-c", "echo oops >&2"], capture=True, timeout=60)
    assert result.stderr == b"oops\n"


@pytest.mark.parametrize("status", [0, 1, 7, 42, 255])
def test_exit_status_comes_back(darling_runner: DarlingRunner, status: int) -> None:
    result = darling_runner.run(["/bin/sh", "-c", f"exit {status}"], capture=True, timeout=60)
    assert result.returncode == status


def test_signal_death_reports_128_plus_the_signal(darling_runner: DarlingRunner) -> None:
    """A command killed by signal N reports 128 + N, as sh does (our darling/0008: upstream's
    `darling shell` reports 0)."""
    result = darling_runner.run(["/bin/sh", "-c", "echo before; kill -9 $$; echo after"],
                                capture=True, timeout=60)
    assert result.stdout == b"before\n"
    assert result.returncode == 128 + 9


def test_arguments_are_not_reparsed_by_a_shell(darling_runner: DarlingRunner, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    hostile = f"$(touch {path_inside(marker)}); `touch {path_inside(marker)}` \"'\\ *"
    result = darling_runner.run(["/bin/sh", "-c", 'printf %s "$1"', "sh", hostile], capture=True,
                                timeout=60)
    assert result.stdout.decode() == hostile
    assert not marker.exists()


def _first_call_through_a_pipe(runner: DarlingRunner, *, detached_start: bool) -> bytes | None:
    """What reading a first call's stdout to EOF gives (None: no EOF within 15 s)."""
    runner.stop()
    assert not runner.running()
    argv = ["/bin/sh", "-c", "echo hello"]
    # The runner's own command starts the container detached (session_entry.py's exec()).
    host_argv = runner.command(argv) if detached_start else runner.direct_command(argv)
    process = subprocess.Popen(host_argv,
                               env=runner.environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        return process.communicate(timeout=15)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
    finally:
        runner.stop()


def test_first_call_through_a_pipe_holds_it_open(darling_runner: DarlingRunner) -> None:
    """The pitfall itself (Darling's): darlingserver inherits the pipe of the call that starts
    the container, so its reader never sees EOF."""
    assert _first_call_through_a_pipe(darling_runner, detached_start=False) is None


def test_runner_starts_the_container_detached(darling_runner: DarlingRunner) -> None:
    assert _first_call_through_a_pipe(darling_runner, detached_start=True) == b"hello\n"
    darling_runner.stop()
    result = darling_runner.run(["/bin/sh", "-c", "echo again"], capture=True, timeout=60)
    assert result.stdout == b"again\n"
