"""How builds through the builder scale with concurrency: builds per second with 1, 2, 4,
8 and 16 builds running at once through the builder (nix-build --max-jobs 0 over ssh-ng,
the builder's nix.max_jobs 16), against the same number of local builds on the host, each
level measured side by side (remote, then local, alternating rounds). Then the latency of
one trivial build, remote against local (medians).

    sudo .venv/bin/python bench/scaling.py [BUILDS_PER_WORKER] [LATENCY_RUNS]   # 4, 10
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from _common import alternate, builder, median_ms, require_root, timed
from darling_nix.hostnix import remote_build

LEVELS = (1, 2, 4, 8, 16)
Build = Callable[[Path, str], None]


def expression(directory: Path, system: str, tag: str) -> Path:
    path = directory / f"{tag}.nix"
    path.write_text(f'derivation {{ name = "scaling"; system = "{system}"; builder = "/bin/sh";'
                    f' args = [ "-c" "echo {tag} > $out" ]; }}')
    return path


def checked(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        sys.exit(f"build failed: {result.stderr[-500:]}")


def local_build(directory: Path, tag: str) -> None:
    checked(subprocess.run(["nix-build", str(expression(directory, "x86_64-linux", tag)),
                            "--no-out-link", "--option", "substituters", ""],
                           capture_output=True, text=True, check=False))


def throughput(build: Build, workers: int, per_worker: int, directory: Path) -> float:
    """Builds per second with WORKERS threads each running PER_WORKER builds in a row."""
    start = threading.Barrier(workers + 1)

    def worker(number: int) -> None:
        start.wait()
        for index in range(per_worker):
            build(directory, f"{time.time_ns()}-{number}-{index}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    return workers * per_worker / (time.perf_counter() - began)


def main() -> None:
    require_root()
    per_worker = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with builder({"nix": {"max_jobs": max(LEVELS)}}) as b, b.sshd(), \
            tempfile.TemporaryDirectory() as work:
        directory = Path(work)

        def remote(directory: Path, tag: str) -> None:
            checked(remote_build(expression(directory, "x86_64-darwin", tag), b.machines,
                                 b.ssh_config))

        remote(directory, "warm-up")  # the shared connection is up from here on
        print(f"{'concurrent':>10} {'remote builds/s':>16} {'local builds/s':>15} "
              f"{'remote/local':>13}")
        for level in LEVELS:
            remote_rate = throughput(remote, level, per_worker, directory)
            local_rate = throughput(local_build, level, per_worker, directory)
            print(f"{level:>10} {remote_rate:>16.2f} {local_rate:>15.2f} "
                  f"{remote_rate / local_rate:>12.2f}x")
        times = alternate(runs,
                          remote=lambda: timed(lambda: remote(directory, str(time.time_ns()))),
                          local=lambda: timed(lambda: local_build(directory,
                                                                  str(time.time_ns()))))
    remote_ms, local_ms = median_ms(times["remote"]), median_ms(times["local"])
    print(f"trivial build, {runs} runs each alternating: remote {remote_ms:.0f} ms, "
          f"local {local_ms:.0f} ms median: {remote_ms / local_ms:.2f}x")


if __name__ == "__main__":
    main()
