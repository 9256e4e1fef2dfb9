"""In CI a test under the real Darling that skips fails the run; elsewhere it stays a visible
skip. Shown with a real skip: the real-Darling fixtures skip when no Darling source tarball
lies beside the checkout, here a pkgs/darling copy without one (DARLING_NIX_PKGS_DARLING).
So .ci/run must build, before the tests, every darwin Nix they run on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from darling_nix.darling import nix

REPO = Path(__file__).resolve().parents[2]
TEST = "helpers/tests/real_darling/test_regress.py::test_regress_passes_with_our_patches[clonefile]"


def run(ci: bool, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    pkgs = tmp_path / "checkout" / "pkgs" / "darling"  # no ../shared/darling beside it
    shutil.copytree(REPO / "pkgs" / "darling", pkgs)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["DARLING_NIX_PKGS_DARLING"] = str(pkgs)
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs",
         f"--basetemp={tmp_path / 'base'}", TEST],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_a_real_darling_skip_fails_only_in_ci(tmp_path: Path) -> None:
    here = run(False, tmp_path / "local")
    assert here.returncode == 0 and "1 skipped" in here.stdout, here.stdout + here.stderr
    assert "no Darling source tarball" in here.stdout, here.stdout
    ci = run(True, tmp_path / "ci")
    # a skip in a fixture fails the setup: pytest counts it as an error
    assert ci.returncode == 1 and "1 error" in ci.stdout, ci.stdout + ci.stderr
    assert "skipped in CI, where the real-Darling tests must run: Skipped: no Darling source " \
        "tarball" in ci.stdout, ci.stdout


@pytest.mark.parametrize("which", nix.NIX_ENTRIES)
def test_ci_builds_every_darwin_nix_before_the_tests(which: str) -> None:
    """`darling nix` alone builds only the default: a cold CI run of 6d0556b had no Nix 2.8,
    and its 23 tests on it failed as skips (a warm cache had hidden that)."""
    stages = (REPO / ".ci" / "run").read_text().splitlines()
    assert f'stage "darling nix --nix {which}" .venv/bin/darling-nix darling nix --nix {which}' \
        in stages
