"""Faults in the middle of a build. After each: the build fails on the host with a message
naming the builder, within FAIL_WITHIN seconds (no hang); the next build of the same
derivation succeeds with no repair; and `darling-nix verify --check-contents` passes on
the prefix store (no half-registered path)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loadkit import (
    build,
    close_shared_connection,
    command_line,
    darwin_derivation,
    parent,
    process_tree,
    start_build,
    stop_tree,
    wait_for,
)

from darling_nix import loopback
from darling_nix.loopback import LoopbackBuilder

pytestmark = [pytest.mark.integration, pytest.mark.load, pytest.mark.usefixtures("integration")]

FAIL_WITHIN = 60.0  # seconds from the fault to the failed build's exit
MiB = 1024 * 1024


def sleeper(name: str, marker: Path, tag: str, seconds: int = 30) -> str:
    """A build that says it started (MARKER), then takes SECONDS."""
    return darwin_derivation(name, f": > {marker}; /bin/sleep {seconds}; echo {tag} > $out")


def failed_in_time(process: subprocess.Popen[str], since: float) -> tuple[str, float]:
    """Wait for the build to end; it must have failed. Its stderr and seconds since SINCE."""
    try:
        _stdout, stderr = process.communicate(timeout=FAIL_WITHIN)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"the build still ran {FAIL_WITHIN:.0f} s after the fault")
    assert process.returncode != 0, "the build succeeded despite the fault"
    return stderr, time.monotonic() - since


def recovers(builder: LoopbackBuilder, tmp_path: Path, expression: str, cli: object) -> None:
    """The same build again succeeds, and the prefix store verifies with its contents."""
    again = build(builder.client, tmp_path / "again", expression)
    assert again.returncode == 0, again.stderr[-2000:]
    verify = cli("verify", "--check-contents", "--config", str(builder.config_file))  # type: ignore[operator]
    assert verify.returncode == 0, verify.stdout + verify.stderr


def names_the_builder(builder: LoopbackBuilder, stderr: str) -> None:
    """The host says which builder the build went to, and gives an error."""
    assert f"on 'ssh-ng://{builder.config.ssh.host_alias}'" in stderr, stderr[-2000:]
    assert builder_line(stderr), stderr[-2000:]


def builder_line(stderr: str) -> str:
    """The host's first error line: Nix's own words for what went wrong."""
    return next((line.strip()[:200] for line in stderr.splitlines()
                 if line.startswith("error:")), "")


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n    {line}", end="")


@pytest.fixture(scope="module")
def builder(standin_tarball: tuple[Path, str]) -> Iterator[LoopbackBuilder]:
    """A builder that runs several builds at once (sshd not started)."""
    root = loopback.secure_tempdir("faults")
    yield loopback.create(root, lambda line: None, tarball=standin_tarball,
                          overrides={"nix": {"max_jobs": 4}})
    loopback.remove(root)


@pytest.fixture(autouse=True)
def no_shared_connection(builder: LoopbackBuilder) -> None:
    """Each test's builds open their connection to that test's sshd."""
    close_shared_connection(builder.client)


def test_builder_sshd_restarted_mid_build(builder: LoopbackBuilder, tmp_path: Path,
                                          cli: object, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    """The module restarts the builder's sshd on a config change, which ends every session
    (KillMode=control-group): builds then running fail, later ones reconnect."""
    tag = str(time.time_ns())
    markers = [tmp_path / f"started-{index}" for index in range(3)]
    expressions = [sleeper(f"restart-{index}", marker, tag)
                   for index, marker in enumerate(markers)]
    with builder.sshd() as server:
        assert server.process is not None
        builds = [start_build(builder.client, tmp_path / f"build-{index}", expression)
                  for index, expression in enumerate(expressions)]
        wait_for(lambda: all(marker.exists() for marker in markers), 60, "the builds start")
        stop_tree(server.process.pid)
        fault = time.monotonic()
    with builder.sshd():
        outcomes = [failed_in_time(process, fault) for process in builds]
        for stderr, _seconds in outcomes:
            names_the_builder(builder, stderr)
        report(capsys, "sshd restarted: the builds failed after "
               + ", ".join(f"{seconds:.1f} s" for _stderr, seconds in outcomes)
               + f"; {builder_line(outcomes[0][0])}")
        recovers(builder, tmp_path, expressions[0], cli)


def session_command(server_pid: int) -> int:
    """The process sshd started for the one open session: the runner the gate exec'd."""
    tree = process_tree(server_pid)
    sessions = [pid for pid in tree if command_line(pid)[:1] == ["sshd: root@notty"]]
    (command,) = (pid for pid in tree if parent(pid) in sessions)
    return command


def test_runner_killed_mid_build(builder: LoopbackBuilder, tmp_path: Path, cli: object,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """SIGKILL to the runner: the build fails, and nothing of it runs on unsupervised."""
    tag = str(time.time_ns())
    marker = tmp_path / "started"
    expression = sleeper("runner-killed", marker, tag)
    with builder.sshd() as server:
        assert server.process is not None
        process = start_build(builder.client, tmp_path / "build", expression)
        wait_for(marker.exists, 60, "the build starts")
        os.kill(session_command(server.process.pid), signal.SIGKILL)
        fault = time.monotonic()
        stderr, seconds = failed_in_time(process, fault)
        names_the_builder(builder, stderr)
        wait_for(lambda: not builds_running(tag), 10, "the killed runner's build ends")
        report(capsys, f"runner killed: the build failed after {seconds:.1f} s; "
               f"{builder_line(stderr)}")
        recovers(builder, tmp_path, expression, cli)


def builds_running(tag: str) -> list[int]:
    """Processes (on this machine) whose command line carries TAG."""
    return [pid for pid in process_tree(1) if tag in " ".join(command_line(pid))]


def test_client_ssh_killed_mid_copy(builder: LoopbackBuilder, tmp_path: Path, cli: object,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The output (200 MiB) is half-way back on the host when the client's ssh dies."""
    tag = str(time.time_ns())
    expression = darwin_derivation(
        "copy-killed", f"echo {tag} > $out; /bin/dd if=/dev/zero bs=1048576 count=200 >> $out")
    output = host_output_path(tmp_path, expression)
    with builder.sshd():
        process = start_build(builder.client, tmp_path / "build", expression)
        wait_for(lambda: output.exists() and output.stat().st_size > 16 * MiB, 120,
                 "the output is being copied back")
        clients = [pid for pid in process_tree(process.pid)
                   if command_line(pid)[:1] == ["ssh"]]
        assert clients, "no ssh under the build"
        for pid in clients:
            os.kill(pid, signal.SIGKILL)
        fault = time.monotonic()
        stderr, seconds = failed_in_time(process, fault)
        names_the_builder(builder, stderr)
        report(capsys, f"client ssh killed at {output.stat().st_size // MiB if output.exists() else 0}"
               f" MiB copied: the build failed after {seconds:.1f} s; {builder_line(stderr)}")
        valid = subprocess.run(["nix-store", "--check-validity", str(output)],
                               capture_output=True, check=False)
        assert valid.returncode != 0, "the half-copied output is registered on the host"
        recovers(builder, tmp_path, expression, cli)


def host_output_path(tmp_path: Path, expression: str) -> Path:
    path = tmp_path / "instantiate.nix"
    path.write_text(expression)
    drv = subprocess.run(["nix-instantiate", str(path)], capture_output=True, text=True,
                         check=True).stdout.strip()
    return Path(subprocess.run(["nix-store", "--query", "--outputs", drv], capture_output=True,
                               text=True, check=True).stdout.strip())


@pytest.fixture
def small_prefix(standin_tarball: tuple[Path, str]) -> Iterator[LoopbackBuilder]:
    """A builder whose prefix is a 48 MiB tmpfs."""
    root = loopback.secure_tempdir("diskfull")
    prefix = root / "prefix"
    prefix.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0755", "darling-nix-test",
                    str(prefix)], check=True)
    try:
        yield loopback.create(root, lambda line: None, tarball=standin_tarball,
                              overrides={"prefix": str(prefix)})
    finally:
        subprocess.run(["umount", str(prefix)], check=False)
        loopback.remove(root)


def test_prefix_disk_full_during_a_copy(small_prefix: LoopbackBuilder, tmp_path: Path,
                                        cli: object, capsys: pytest.CaptureFixture[str]) -> None:
    """An input of 64 MiB does not fit into the prefix's 48 MiB."""
    builder = small_prefix
    big = tmp_path / "big-input"
    big.write_bytes(b"\0" * 64 * MiB)
    tag = str(time.time_ns())
    too_big = (f'derivation {{ name = "disk-full"; system = "x86_64-darwin"; '
               f'builder = "/bin/sh"; input = builtins.path {{ path = {big}; }}; '
               f'args = [ "-c" "echo {tag} > $out" ]; }}')
    with builder.sshd():
        started = time.monotonic()
        result = build(builder.client, tmp_path / "build", too_big, timeout=FAIL_WITHIN)
        seconds = time.monotonic() - started
        assert result.returncode != 0
        names_the_builder(builder, result.stderr)
        assert "No space left on device" in result.stderr, result.stderr[-2000:]
        report(capsys, f"prefix disk full: the build failed after {seconds:.1f} s; "
               f"{builder_line(result.stderr)}")
        recovers(builder, tmp_path, darwin_derivation("fits", f"echo {tag} > $out"), cli)
