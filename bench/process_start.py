"""Issue 21's breakdown: where a process start goes under Darling. One probe
(bench/probes/process_start.c) built twice, for Linux with the host's cc and for macOS
with the project's toolchain, run on the host and inside a fresh Darling prefix in the
same run; each row is the median of the probe's repetitions, in microseconds.

    sudo .venv/bin/python bench/process_start.py [REPS [INSTALL ...]]

REPS: default 15, at most 64. INSTALL: a directory name under /var/cache/darling-nix/installs
(a key, `patched`, `control`); default `patched`. Several give one column each, in one run:
a Darling build before and after a patch, side by side.

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

import resource
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


def under_darling(installed: Installed, work: Path, reps: str) -> dict[str, float]:
    probe = DarwinCompiler.for_install(installed).build(
        [PROBE], work / f"process_start-{installed.key}",
        cflags=["-O2", "-Wno-nullability-completeness", "-Wno-availability"])
    runner = DarlingRunner(work / f"prefix-{installed.key}", installed.darling)
    runner.create_prefix()
    try:
        ran = runner.run([path_inside(probe), reps], capture=True, timeout=1800)
    finally:
        runner.stop()
    return parse(ran.stdout.decode())


def main() -> None:
    require_root()
    reps = sys.argv[1] if len(sys.argv) > 1 else "15"
    compared = installs(sys.argv[2:])
    with scratch() as work:
        host_probe = work / "process_start-linux"
        subprocess.run(["cc", "-O2", "-pthread", str(PROBE), "-o", str(host_probe)], check=True)
        resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_MAX, OPEN_MAX))
        host = parse(subprocess.run([str(host_probe), reps], capture_output=True, text=True,
                                    check=True).stdout)
        darling = [under_darling(installed, work, reps) for installed in compared]
    print(f"process start: the host (Linux) and Darling; medians of {reps} repetitions, "
          "microseconds; ratio = Darling / host")
    print(f"{'operation':<36} {'host':>9}" + "".join(
        f" {installed.key[:12]:>12} {'ratio':>6}" for installed in compared))
    for name, host_us in host.items():
        cells = "".join(f" {rows.get(name, float('nan')):>12.1f} "
                        f"{rows.get(name, float('nan')) / host_us if host_us else float('nan'):>6.1f}"
                        for rows in darling)
        print(f"{name:<36} {host_us:>9.1f}{cells}")


if __name__ == "__main__":
    main()
