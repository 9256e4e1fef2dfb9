"""Issue 19's numbers: GNU hello 2.10 built with the lite darwin stdenv inside Darling (the
host's nix-build --max-jobs 0 over ssh-ng, the gate, real Darling, the darwin Nix) against
the same hello built natively for Linux on the host by the same builder script (the same
phases and flags; the host's cc in place of zig), phase by phase, in one run. Each round
builds both, alternating; medians.

    sudo .venv/bin/python bench/hello_build.py [ROUNDS]      # default 1 (a round: ~6 min)

Needs the Darling install and the darwin Nix in the cache (`darling-nix darling build`,
`darling-nix darling nix`); zig, make and hello's source are fetched or built when missing.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from _common import builder, require_root
from darling_nix import loopback, stdenv_lite
from darling_nix.darling.build import Installed
from darling_nix.darling.cache import default_cache
from darling_nix.hostnix import remote_build
from darwin_nix_build import darwin_nix

CORES = 2  # NIX_BUILD_CORES on both sides: the builder's `cores`, and the native run's


def darwin_build(b: loopback.LoopbackBuilder, inputs: stdenv_lite.Inputs) -> dict[str, float]:
    started = time.monotonic()
    result = remote_build(stdenv_lite.EXPRESSION, b.machines, b.ssh_config,
                          extra_args=inputs.nix_args(uuid.uuid4().hex), timeout=3600)
    whole = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"the darwin build failed:\n{result.stderr[-3000:]}")
    report = stdenv_lite.read_report(Path(result.stdout.strip()))
    if report.uname != "Darwin":
        sys.exit(f"the darwin build ran on {report.uname}")
    return {**report.phases, "whole build": whole, "cc retries": report.cc_retries}


def native_build(inputs: stdenv_lite.Inputs, work: Path) -> dict[str, float]:
    """builder.sh run by the host's bash the way Nix runs it: an empty build directory, the
    same environment variables, $out a fresh directory."""
    top = Path(tempfile.mkdtemp(dir=work))
    env = {"PATH": "/usr/bin:/bin", "NIX_BUILD_TOP": str(top), "TMPDIR": str(top),
           "HOME": "/homeless-shelter", "out": str(top / "out"), "src": str(inputs.hello_source),
           "configureFlags": "--disable-nls", "patches": "", "doCheck": "1", "LD": "cc",
           "NIX_BUILD_CORES": str(CORES)}
    started = time.monotonic()
    subprocess.run(["bash", str(stdenv_lite.DIRECTORY / "builder.sh")], cwd=top, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    whole = time.monotonic() - started
    report = stdenv_lite.read_report(top / "out")
    assert report.uname == "Linux", report
    greeting = subprocess.run([str(top / "out" / "bin" / "hello")], capture_output=True,
                              text=True, check=True).stdout
    assert greeting == "Hello, world!\n", greeting
    return {**report.phases, "whole build": whole, "cc retries": report.cc_retries}


def main() -> None:
    require_root()
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    cache = default_cache()
    installed = Installed.read(cache / "installs" / "patched")
    cross, nix = darwin_nix(installed)
    inputs = stdenv_lite.gather(cross, cache, print)
    darling = {"runner": {"kind": "darling", "darling_command": installed.darling},
               "nix": {"cores": CORES}}
    measured: dict[str, list[dict[str, float]]] = {"native": [], "darling": []}
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        darwin_builder = stack.enter_context(builder(darling, (Path(nix.tarball), nix.sha256)))
        stack.enter_context(darwin_builder.sshd())
        for _ in range(rounds):
            measured["native"].append(native_build(inputs, work))
            measured["darling"].append(darwin_build(darwin_builder, inputs))
    print(f"rounds: {rounds}, alternating; GNU hello 2.10, the lite stdenv's builder.sh; "
          f"medians in s; {os.cpu_count()} cores, NIX_BUILD_CORES={CORES}")
    print("Darling's phases are in whole seconds (its date has no %N); its whole build "
          "includes copying the inputs (zig: 229 MB) on the first round")
    print(f"{'phase':<14} {'Linux host':>11} {'Darling':>9} {'ratio':>7}")
    for phase in [*stdenv_lite.PHASES, "whole build"]:
        native = statistics.median(run[phase] for run in measured["native"])
        darwin = statistics.median(run[phase] for run in measured["darling"])
        ratio = f"{darwin / native:7.1f}" if native and darwin else "      -"
        print(f"{phase:<14} {native:>11.2f} {darwin:>9.2f} {ratio}")
    retries = [int(run["cc retries"]) for run in measured["darling"]]
    print(f"zig runs repeated after a crash, per darwin build: {retries}")


if __name__ == "__main__":
    main()
