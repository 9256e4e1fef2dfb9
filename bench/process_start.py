"""Issue 21's breakdown: where a process start goes under Darling. One probe
(bench/probes/process_start.c) built twice, for Linux with the host's cc and for macOS
with the project's toolchain, run on the host and inside a fresh Darling prefix in the
same run, in rounds: each round runs the probe once on the host and once under each
Darling install, in turn, so that drift on a noisy machine hits every column alike. A row
is the median over the rounds of each run's median of the probe's repetitions, in
microseconds.

    sudo .venv/bin/python bench/process_start.py [REPS [INSTALL ...]]

REPS: default 15, at most 64. INSTALL: a directory name under /var/cache/darling-nix/installs
(a key, `patched`, `control`); default `patched`. Several give one column each, in one run:
a Darling build before and after a patch, side by side. ROUNDS (environment): default 5.

Rows: close() of an unused descriptor (no thread yet, and after one: a cancelable syscall,
which asked darlingserver before patch xnu/0010-pthread-cancel);
fork+_exit, fork+exec, vfork+exec and posix_spawn of the probe itself, each waited for;
exec alone (a chain of ten); what /bin/sh pays to run /usr/bin/true (a loop of 20 less a
loop of 0, over 20: issue 21's "small Mach-O spawned from bash"); a syscall Darling
answers through darlingserver (pthread_kill(self, 0)); Nix's builder start's
closeMostFDs (close every descriptor up to sysconf(_SC_OPEN_MAX) in the fork child of a
threaded process); fork+exec and posix_spawn from a parent with 50 MB touched (Nix-sized).
The host's open-file limit is set to Darling's (20000) so both close the same count.

Needs those Darling installs in the cache (`darling-nix darling build`).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from _common import installs, require_root, scratch
from darling_nix.darling.build import Installed
from darling_nix.darling.compiler import DarwinCompiler
from darling_nix.runner import DarlingRunner, path_inside

PROBE = Path(__file__).with_name("probes") / "process_start.c"
OPEN_MAX = 20000  # what `darling shell` gives its processes (19999 after Darling's one)


def parse(output: str) -> dict[str, float]:
    rows = {}
    for line in output.splitlines():
        name, _, value = line.partition(" ")
        rows[name] = float(value)
    return rows


def darling_probe(installed: Installed, work: Path) -> tuple[DarlingRunner, Path]:
    """The probe built for INSTALLED, and a fresh prefix of it to run in."""
    probe = DarwinCompiler.for_install(installed).build(
        [PROBE], work / f"process_start-{installed.key}",
        cflags=["-O2", "-Wno-nullability-completeness", "-Wno-availability"])
    runner = DarlingRunner(work / f"prefix-{installed.key}", installed.darling)
    runner.create_prefix()
    return runner, probe


def medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each row's median over the rounds."""
    return {name: statistics.median(run[name] for run in rounds) for name in rounds[0]}


def main() -> None:
    require_root()
    reps = sys.argv[1] if len(sys.argv) > 1 else "15"
    rounds = int(os.environ.get("ROUNDS", "5"))
    if rounds < 1:
        sys.exit(f"process_start.py: ROUNDS must be 1 or more, not {rounds}")
    compared = installs(sys.argv[2:])
    with scratch() as work:
        host_probe = work / "process_start-linux"
        subprocess.run(["cc", "-O2", "-pthread", str(PROBE), "-o", str(host_probe)], check=True)
        resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_MAX, OPEN_MAX))
        probes = [darling_probe(installed, work) for installed in compared]
        host_runs: list[dict[str, float]] = []
        darling_runs: list[list[dict[str, float]]] = [[] for _ in compared]
        try:
            for done in range(rounds):
                print(f"round {done + 1}/{rounds}", file=sys.stderr)
                host_runs.append(parse(subprocess.run([str(host_probe), reps], capture_output=True,
                                                      text=True, check=True).stdout))
                for (runner, probe), runs in zip(probes, darling_runs, strict=True):
                    runs.append(parse(runner.run([path_inside(probe), reps], capture=True,
                                                 timeout=600).stdout.decode()))
        finally:
            for runner, _ in probes:
                runner.stop()
    host = medians(host_runs)
    darling = [medians(runs) for runs in darling_runs]
    print(f"process start: the host (Linux) and Darling; medians of {reps} repetitions, the "
          f"median of {rounds} rounds, microseconds; ratio = Darling / host")
    print(f"{'operation':<36} {'host':>9}" + "".join(
        f" {installed.key[:12]:>12} {'ratio':>6}" for installed in compared))
    for name, host_us in host.items():
        cells = "".join(f" {rows.get(name, float('nan')):>12.1f} "
                        f"{rows.get(name, float('nan')) / host_us if host_us else float('nan'):>6.1f}"
                        for rows in darling)
        print(f"{name:<36} {host_us:>9.1f}{cells}")


if __name__ == "__main__":
    main()
