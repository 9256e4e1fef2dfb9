"""What is still running that mentions a marker: the check that a stuck build or session
left nothing behind (a scan of /proc, so it sees Darling's processes too: each is a Linux
process whose command line carries its macOS argv)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def running_with(marker: str) -> list[str]:
    """The command lines of the live processes (not zombies) that contain MARKER."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def gone_within(marker: str, seconds: float) -> list[str]:
    """[] once nothing with MARKER runs, waiting up to SECONDS; else what still runs."""
    deadline = time.monotonic() + seconds
    while (left := running_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def watched_build(argv: list[str], env: dict[str, str], marker: str,
                  timeout: float = 180) -> tuple[int, str, float]:
    """Run a host build whose builder carries MARKER; assert its process shows up while it
    runs (so that its absence afterwards means something). Returns the exit status, stderr
    and the seconds it took."""
    started = time.monotonic()
    build = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        while not running_with(marker) and time.monotonic() < deadline and build.poll() is None:
            time.sleep(0.1)
        assert running_with(marker), "the builder never showed up in /proc"
        _, stderr = build.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        build.kill()
        build.wait()
        raise AssertionError(f"the build had not ended after {timeout:.0f} s; still running: "
                             f"{running_with(marker)}") from None
    return build.returncode, stderr, time.monotonic() - started


def abandoned_build(argv: list[str], env: dict[str, str], marker: str) -> None:
    """Start a host build whose builder carries MARKER, and once that builder runs, kill
    the host's side of it outright (nix-build and its ssh client, SIGKILL to their process
    group): the builder's SSH session loses its client mid-build."""
    build = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not running_with(marker) and time.monotonic() < deadline and build.poll() is None:
            time.sleep(0.1)
        assert running_with(marker), ("the builder never showed up in /proc: "
                                      f"{build.stderr.read() if build.poll() is not None else ''}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(build.pid, signal.SIGKILL)
        build.communicate()


def spin_expression(marker: str, before: str = "") -> str:
    """A darwin derivation whose builder runs BEFORE, then spins silently for ever; MARKER
    in its command line finds its processes."""
    return ("derivation {\n  name = \"darling-nix-spin\";\n  system = \"x86_64-darwin\";\n"
            "  builder = \"/bin/sh\";\n"
            f"  args = [ \"-c\" \"{before}while :; do :; done # {marker}\" ];\n}}\n")


def stubborn_tree(marker: str) -> str:
    """A shell script that ignores SIGTERM, with a background child that ignores it too and
    one that drops its whole environment (as Nix does for a builder); MARKER in each one's
    command line."""
    return (f"trap '' TERM; (trap '' TERM; while :; do sleep 0.2; done; : {marker}) & "
            f"env -i /bin/sh -c 'while :; do sleep 0.2; done; : {marker}' & "
            f"while :; do sleep 0.2; done; : {marker}")


def wait_for(marker: str, count: int, seconds: float = 30) -> None:
    """Until COUNT live processes mention MARKER (a shell's fork that is about to exec
    `sleep` counts while it lasts, so the count is read once per look)."""
    deadline = time.monotonic() + seconds
    while len(found := running_with(marker)) < count:
        assert time.monotonic() < deadline, found
        time.sleep(0.05)
