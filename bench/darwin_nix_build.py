"""Issue 14's numbers: the per-build overhead of the real path (the gate into real Darling,
the x86_64-darwin Nix that `darling-nix darling nix` cross-built) against the stand-in
path (a mount namespace, the host's Linux Nix), for one trivial derivation built by the
host's nix-build --max-jobs 0 over ssh-ng, and where the time goes. Both builders run
side by side, measured alternately (a noisy machine hits both alike); medians.

    sudo .venv/bin/python bench/darwin_nix_build.py [RUNS]      # default 10

Needs the Darling install and the darwin Nix tarball in the cache (`darling-nix darling
build`, `darling-nix darling nix`).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from _common import alternate, builder, median_ms, require_root
from darling_nix.darling import nix as nix_tarball
from darling_nix.darling import toolchain
from darling_nix.darling.build import Installed
from darling_nix.darling.cache import default_cache
from darling_nix.darling.compiler import DarwinCompiler
from remote_breakdown import PHASES, phases, probed_sshd, ssh_probe


def darwin_nix(installed: Installed) -> tuple[toolchain.CrossToolchain, nix_tarball.NixTarball]:
    """INSTALLED's cross toolchain, and the cached darwin Nix of the default recipe made with
    it (the benchmark does not build Nix itself)."""
    cache = default_cache()
    compilers = DarwinCompiler.for_install(installed)
    cross = toolchain.in_cache(cache, installed, compilers)
    recipe = nix_tarball.recipe()
    built, cxx = nix_tarball.build_inputs(recipe, cross, cache, print, compilers)
    found = nix_tarball.cached(recipe, cross, built, cache, cxx.key if cxx else None)
    if found is None:
        sys.exit("no darwin Nix in the cache: run `darling-nix darling nix` first")
    return cross, found


def main() -> None:
    require_root()
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    installed = Installed.read(default_cache() / "installs" / "patched")
    _, nix = darwin_nix(installed)
    darling = {"runner": {"kind": "darling", "darling_command": installed.darling}}
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        standin_builder = stack.enter_context(builder())
        darling_builder = stack.enter_context(builder(darling, (Path(nix.tarball), nix.sha256)))
        standin = stack.enter_context(probed_sshd(standin_builder, "standin", read_rc=False))
        real = stack.enter_context(probed_sshd(darling_builder, "darling", read_rc=False))
        bin_dir = ssh_probe(work)
        phases(standin, bin_dir), phases(real, bin_dir)  # shared connections and containers up
        measured = alternate(runs, standin=lambda: phases(standin, bin_dir),  # type: ignore[arg-type]
                             darling=lambda: phases(real, bin_dir))  # type: ignore[arg-type]
    print(f"runs: {runs} each, alternating; trivial x86_64-darwin build over ssh-ng; "
          f"medians in ms; darwin Nix {nix.version} ({nix.store_path})")
    print(f"{'phase':<60} {'stand-in':>9} {'Darling':>9} {'ratio':>6}")
    for index, phase in enumerate(PHASES):
        standin_ms = 1000 * statistics.median(run[index] for run in measured["standin"])  # type: ignore[index]
        darling_ms = 1000 * statistics.median(run[index] for run in measured["darling"])  # type: ignore[index]
        ratio = darling_ms / standin_ms if standin_ms else float("nan")
        print(f"{phase:<60} {standin_ms:>9.0f} {darling_ms:>9.0f} {ratio:>6.1f}")
    totals = {name: [sum(run) for run in measured[name]] for name in measured}  # type: ignore[misc]
    standin_total, darling_total = median_ms(totals["standin"]), median_ms(totals["darling"])
    print(f"{'whole build (median of the sums)':<60} {standin_total:>9.0f} {darling_total:>9.0f} "
          f"{darling_total / standin_total:>6.1f}")


if __name__ == "__main__":
    main()
