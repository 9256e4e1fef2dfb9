"""The real Darling as a runner, side by side with the stand-in and the bare host:
container cold start, one `darling shell` call, how that call's time splits (the session
that ends what it started, the launcher, a spawn inside), and stream
throughput through the runner. Builds (or finds cached) Darling like the tests do.

    sudo .venv/bin/python bench/darling_runner.py [RUNS]
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from _common import alternate, median_ms, require_root, scratch, timed
from darling_nix.cli.darling_cmds import shared_source
from darling_nix.darling import build as darling_build
from darling_nix.darling.cache import default_cache
from darling_nix.darling.compiler import DarwinCompiler
from darling_nix.runner import DarlingRunner, NamespaceRunner, Runner

CAT_SOURCE = Path(__file__).resolve().parents[1] / "helpers" / "tests" / "real_darling" / "darwin_cat.c"
STREAM_MIB = 64
INNER_SPAWNS = 20


def install() -> darling_build.Installed:
    source = shared_source()
    if source is None:
        sys.exit("no Darling source tarball at ../shared/darling; see docs/building-darling.md")
    plan = darling_build.plan(source, cache=default_cache(), variant="patched",
                             upstream_dir=source.parent / "upstream")
    installed, _ = darling_build.build_darling(plan, say=lambda m: print(f"  setup: {m}", file=sys.stderr))
    return installed


def call(runner: Runner, argv: list[str], data: bytes | None = None) -> Callable[[], float]:
    return lambda: timed(lambda: runner.run(argv, input=data, capture=True, check=True))


def host(argv: list[str], data: bytes | None = None) -> Callable[[], float]:
    return lambda: timed(lambda: subprocess.run(argv, input=data, capture_output=True, check=True))


def main() -> None:
    require_root()
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    installed = install()
    with scratch() as work:
        cat = DarwinCompiler.for_install(installed).build([CAT_SOURCE], work / "cat")
        darling = DarlingRunner(work / "prefix", installed.darling)
        darling.create_prefix()
        (work / "standin" / "nix").mkdir(parents=True)
        standin = NamespaceRunner(work / "standin")

        def cold_start() -> float:
            darling.stop()
            return timed(darling.start)

        cold = alternate(3, cold=cold_start)["cold"]
        darling.start()
        inside_cat = f"/Volumes/SystemRoot{cat}"
        loop = f"i=0; while [ $i -lt {INNER_SPAWNS} ]; do /usr/bin/true; i=$((i+1)); done"
        calls = alternate(
            runs,
            host=host(["/bin/true"]),
            standin=call(standin, ["/bin/true"]),
            darling=call(darling, ["/usr/bin/true"]),
            # the same call without the session around it (session.py)
            bare=lambda: timed(lambda: subprocess.run(
                darling.direct_command(["/usr/bin/true"]), env=darling.environment(),
                capture_output=True, check=True)),
            darling_loop=call(darling, ["/bin/sh", "-c", loop]),
        )
        data = os.urandom(STREAM_MIB << 20)
        streams = alternate(
            max(3, runs // 5),
            host=host(["cat"], data),
            standin=call(standin, ["/bin/cat"], data),
            darling=call(darling, [inside_cat], data),
        )
        darling.stop()

    host_ms, standin_ms, darling_ms = (median_ms(calls[k]) for k in ("host", "standin", "darling"))
    spawn_ms = (median_ms(calls["darling_loop"]) - darling_ms) / INNER_SPAWNS
    print(f"Darling {installed.key} ({installed.variant}); runs: {runs} each, alternating")
    print(f"container cold start (darling shell true, stopped before): {median_ms(cold):7.0f} ms median of 3")
    print(f"one call, host /bin/true:                  {host_ms:7.1f} ms")
    print(f"one call, stand-in runner:                 {standin_ms:7.1f} ms")
    print(f"one call, darling shell /usr/bin/true:     {darling_ms:7.1f} ms")
    print(f"  of which the session around the call:    {darling_ms - median_ms(calls['bare']):7.1f} ms "
          "(session_entry.py; the bare darling shell call takes "
          f"{median_ms(calls['bare']):.1f} ms)")
    print(f"  of which one process spawn inside:       {spawn_ms:7.1f} ms "
          f"(a loop of {INNER_SPAWNS} in one shell)")
    print(f"  launcher + shellspawn + bash --login:    {darling_ms - spawn_ms:7.1f} ms")
    print(f"ratio darling/stand-in per call:           {darling_ms / standin_ms:7.1f}x")
    print(f"ratio darling/host per call:               {darling_ms / host_ms:7.1f}x")
    for name in ("host", "standin", "darling"):
        rate = STREAM_MIB / (median_ms(streams[name]) / 1000)
        print(f"stream {STREAM_MIB} MiB through cat, {name:8}:    {rate:7.0f} MiB/s")
    print(f"ratio darling/host stream throughput:      "
          f"{median_ms(streams['host']) / median_ms(streams['darling']):7.2f}x")


if __name__ == "__main__":
    main()
