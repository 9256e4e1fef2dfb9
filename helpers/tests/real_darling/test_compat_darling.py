"""The compatibility suite under the real Darling: each program of data/compat.json, built by
its authors for macOS and fetched from its registry (never compiled here), made to do real
work in one prefix. Programs that fail for a known cause are strict xfails naming it, so a
fix flips them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from darling_nix import compat
from darling_nix.runner import DarlingRunner

SUITE = compat.load()
# What stops each program that fails today (docs/compat.md), by the library dyld lacks.
MISSING = {"cmake": "libcurl.4.dylib", "esbuild": "Security.framework",
           "ruff": "CoreServices.framework", "typos": "IOKit.framework",
           "uv": "Foundation.framework"}


def _case(name: str) -> object:
    if name in MISSING:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=(
            f"needs {MISSING[name]}, which core Darling lacks")))
    return name


@pytest.mark.parametrize("name", [_case(name) for name in SUITE.programs])
def test_program_does_its_job_under_darling(name: str, compat_program: Callable[[str], Path],
                                            darling_runner: DarlingRunner, tmp_path: Path) -> None:
    program = SUITE.programs[name]
    result = compat.run_check(program, compat_program(name), darling_runner, tmp_path,
                              SUITE.providers, timeout=300)
    if name in MISSING:
        assert MISSING[name] in result.missing, result
    assert result.status == "PASS", result


def test_what_would_provide_a_missing_library_is_in_darlings_source() -> None:
    """Every source directory the table names for a missing library or framework exists in
    the pinned Darling tarball (its members start with src/)."""
    from darling_support import shared_source

    tarball = shared_source()
    assert tarball is not None
    listed = subprocess.run(["tar", "-tJf", str(tarball)], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    tops = {name.rstrip("/") for name in listed}
    for library, provider in SUITE.providers.items():
        assert f"src/{provider['source']}" in tops, (library, provider)
