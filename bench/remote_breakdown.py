"""Where the time of one trivial remote build goes. The build runs as the host's Nix runs
it (nix-build --max-jobs 0 over ssh-ng, the rendered alias, a shared connection already
up), with two probes on its path: an `ssh` first on PATH that notes when the build hook
starts ssh, and a ForceCommand (relay.py) that runs the gate as its child and notes when
each burst of protocol bytes passes. Measured twice, alternating: with the rendered
sshd_config, and with that file less its `SetEnv SHLVL=1` (the login shell then reads its
rc files, as before that line).

    sudo .venv/bin/python bench/remote_breakdown.py [RUNS]      # default 10
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import alternate, builder, other_sshd, require_root
from darling_nix.hostnix import remote_build_command, write_probe_expression
from darling_nix.loopback import Client, LoopbackBuilder

HERE = Path(__file__).resolve().parent
BUILD_DERIVATION = 36  # the worker protocol's wopBuildDerivation
PHASES = ("host: evaluate, start the build hook, pick the machine",
          "ssh session set-up (shared connection, sshd, login shell)",
          "gate + runner + nix-daemon start",
          "protocol round trips before the build",
          "the build (remote nix-daemon)",
          "copy back (output info, NAR)",
          "host: register the output, close")


@contextmanager
def probed_sshd(b: LoopbackBuilder, name: str, read_rc: bool) -> Iterator[Probed]:
    """Another sshd of the builder whose ForceCommand is the relay around the gate."""
    logs = b.root / f"relay-{name}"
    logs.mkdir()
    relay = f"{sys.executable} -I -S {HERE / 'relay.py'} {logs}"
    with other_sshd(b, name, edit=without_shlvl if read_rc else lambda text: text,
                    gate_command=f"{relay} {b.config.gate_command}") as client:
        yield Probed(client, logs)


@dataclasses.dataclass(frozen=True)
class Probed:
    client: Client
    logs: Path


def without_shlvl(sshd_config: str) -> str:
    return "".join(line for line in sshd_config.splitlines(keepends=True)
                   if not line.startswith("SetEnv SHLVL="))


def ssh_probe(directory: Path) -> Path:
    """A directory with an `ssh` that notes its start time, then is the real ssh."""
    probe = directory / "ssh"
    probe.write_text(f'#!/bin/sh\ndate +%s.%N >> {directory}/ssh-started\n'
                     f'exec /usr/bin/ssh "$@"\n')
    probe.chmod(0o755)
    return directory


def phases(probed: Probed, bin_dir: Path) -> list[float]:
    """One build; the seconds of each of PHASES."""
    for old in [*probed.logs.iterdir(), bin_dir / "ssh-started"]:
        old.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as work:
        expression = write_probe_expression(Path(work), "x86_64-darwin", str(time.time_ns()))
        argv, env = remote_build_command(expression, probed.client.machines,
                                         probed.client.ssh_config)
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
        began = time.time()
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        ended = time.time()
    if result.returncode != 0:
        sys.exit(f"build failed: {result.stderr[-500:]}")
    ssh_started = float((bin_dir / "ssh-started").read_text().split()[0])
    deadline = time.monotonic() + 10  # the relay writes its log once the session closed
    while not (logs := list(probed.logs.glob("*.json"))) and time.monotonic() < deadline:
        time.sleep(0.01)
    (log,) = logs
    session = json.loads(log.read_text())
    bursts = session["bursts"]
    build = next(i for i, b in enumerate(bursts) if b[0] == "client" and b[4] == BUILD_DERIVATION)
    first_daemon = next(b for b in bursts if b[0] == "daemon")
    reply = bursts[build + 1]
    marks = [began, ssh_started, session["started"], first_daemon[1], bursts[build][1],
             reply[2], bursts[-1][2], ended]
    return [later - earlier for earlier, later in itertools.pairwise(marks)]


def python_start() -> float:
    """Seconds Python takes to start as the relay starts (part of the session set-up)."""
    runs = []
    for _ in range(10):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


def main() -> None:
    require_root()
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with builder() as b, tempfile.TemporaryDirectory() as work, \
            probed_sshd(b, "now", read_rc=False) as now, \
            probed_sshd(b, "rc", read_rc=True) as before:
        bin_dir = ssh_probe(Path(work))
        phases(now, bin_dir), phases(before, bin_dir)  # the shared connections come up
        measured = alternate(runs, now=lambda: phases(now, bin_dir),
                             before=lambda: phases(before, bin_dir))  # type: ignore[arg-type]
    relay_ms = 1000 * python_start()
    print(f"runs: {runs} each, alternating; medians in ms (the relay's own Python start, "
          f"{relay_ms:.0f} ms, is in the session set-up)")
    print(f"{'phase':<60} {'rc files read':>14} {'SHLVL=1':>9}")
    totals = {"before": 0.0, "now": 0.0}
    for index, phase in enumerate(PHASES):
        cells = []
        for name in ("before", "now"):
            value = 1000 * statistics.median(run[index] for run in measured[name])  # type: ignore[index]
            totals[name] += value
            cells.append(value)
        print(f"{phase:<60} {cells[0]:>14.0f} {cells[1]:>9.0f}")
    print(f"{'sum of the medians':<60} {totals['before']:>14.0f} {totals['now']:>9.0f}")


if __name__ == "__main__":
    main()
