"""A trivial remote build through sshd and the gate, against the same build through the same
kind of sshd without the gate (a plain-sh ForceCommand running the same runner).
Goal: 1.10x or less (median). For scale it also times, in the same alternation, this
Python's own start (`python -I -S -c pass` less `/bin/true`): the floor of any gate that is
a Python process, so the ratio a gate doing nothing at all would reach.

    sudo .venv/bin/python bench/remote_build.py [RUNS]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import alternate, builder, median_ms, require_root, timed, ungated_sshd, verdict
from darling_nix.hostnix import remote_build, write_probe_expression


def build_once(machines: Path, ssh_config: Path) -> None:
    with tempfile.TemporaryDirectory() as work:
        expression = write_probe_expression(Path(work), "x86_64-darwin", str(time.time_ns()))
        result = remote_build(expression, machines, ssh_config)
    if result.returncode != 0:
        sys.exit(f"build failed: {result.stderr[-500:]}")


def interpreter_start() -> float:
    """Seconds this Python takes to start and exit as the gate's ForceCommand starts it,
    less a bare process start (fork, exec, wait)."""
    bare = timed(lambda: subprocess.run(["/bin/true"], check=True))
    return timed(lambda: subprocess.run([sys.executable, "-I", "-S", "-c", "pass"],
                                        check=True)) - bare


def main() -> None:
    require_root()
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with builder() as b, b.sshd(), ungated_sshd(b) as ungated:
        ungated_machines, ungated_config = ungated.machines, ungated.ssh_config
        build_once(b.machines, b.ssh_config)  # warm both connections
        build_once(ungated_machines, ungated_config)
        times = alternate(runs,
                          gated=lambda: timed(lambda: build_once(b.machines, b.ssh_config)),
                          ungated=lambda: timed(lambda: build_once(ungated_machines,
                                                                   ungated_config)),
                          python=interpreter_start)
    gated, ungated = median_ms(times["gated"]), median_ms(times["ungated"])
    print(f"runs: {runs} each, alternating, ssh-ng, connection reuse on")
    print(f"without the gate: {ungated:7.1f} ms median")
    print(f"with the gate:    {gated:7.1f} ms median")
    floor = median_ms(times["python"])
    print(f"the gate added {gated - ungated:.1f} ms; {sys.executable} -I -S starts in "
          f"{floor:.1f} ms (less /bin/true): a Python gate doing nothing would be "
          f"{(ungated + floor) / ungated:.3f}")
    verdict("ratio gated/ungated", gated / ungated, "<= 1.10", gated / ungated <= 1.10)


if __name__ == "__main__":
    main()
