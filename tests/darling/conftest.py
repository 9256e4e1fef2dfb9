"""Fixtures of the package-layer tests: the pinned Darling tree and pkgs/darling/package.nix
evaluated with the recording stub pkgs (tests/nix/package-eval.nix)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

# pytest runs with --import-mode=importlib: make the support modules importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nix"))

from nix_support import REPO, instantiate, nix_lib_dir
from tree_support import find_pinned_tree


@pytest.fixture(scope="session")
def pinned_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """darling 25afbc76 (read-only; DARLING_SRC), or the files the tests read, unpacked
    from its source tarball once per session. Skipped, saying why, without either."""
    found = find_pinned_tree(tmp_path_factory.mktemp("pinned-tree"))
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.fixture(scope="session")
def package() -> dict[str, Any]:
    """pkgs/darling/package.nix through the stub pkgs. With nixpkgs' lib (NIXPKGS_LIB or
    NIXPKGS) everything is evaluated; without it, what needs no lib (`withLib` false)."""
    if shutil.which("nix-instantiate") is None:
        pytest.skip("needs nix-instantiate (Debian's nix-bin)")
    lib = nix_lib_dir()
    result = instantiate(REPO / "tests" / "nix" / "package-eval.nix",
                         {"lib": f"import {lib}" if lib else "null"})
    if result.returncode != 0:
        raise AssertionError(f"evaluating pkgs/darling/package.nix failed:\n{result.stderr}")
    evaluated: dict[str, Any] = json.loads(result.stdout)
    return evaluated


@pytest.fixture
def package_with_lib(package: dict[str, Any]) -> dict[str, Any]:
    if not package["withLib"]:
        pytest.skip("this part of package.nix needs nixpkgs' lib: set NIXPKGS_LIB (a "
                    "directory holding lib's default.nix) or NIXPKGS")
    return package
