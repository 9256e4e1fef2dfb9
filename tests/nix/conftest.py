"""Shared helpers of the Nix tests: finding nixpkgs' lib, evaluating the modules,
running the helpers' CLI on what they produce."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

# pytest runs with --import-mode=importlib: make nix_support importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nix_support import REPO, instantiate, nix_lib_dir

HERE = Path(__file__).resolve().parent

Evaluate = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def nix_lib() -> Path:
    if shutil.which("nix-instantiate") is None:
        pytest.skip("needs nix-instantiate (Debian's nix-bin)")
    lib = nix_lib_dir()
    if lib is None:
        pytest.skip("module evaluation needs nixpkgs' lib: set NIXPKGS_LIB to a directory "
                    "holding lib's default.nix (e.g. a nix-community/nixpkgs.lib checkout's "
                    "lib/) or NIXPKGS to a nixpkgs checkout")
    if not (lib / "default.nix").is_file():
        pytest.fail(f"NIXPKGS_LIB/NIXPKGS: {lib}/default.nix does not exist")
    return lib


def nix_string(value: str) -> str:
    """A Nix string literal (JSON's escapes are Nix's, except for `${`)."""
    return json.dumps(value).replace("${", "\\${")


@pytest.fixture(scope="session")
def evaluate(nix_lib: Path) -> Evaluate:
    """evaluate([module, ...], system=...) -> one summary per module (tests/nix/eval.nix).

    Each module is Nix source text: an attribute set or a module function."""

    def run(modules: Sequence[str], system: str = "x86_64-linux") -> list[dict[str, Any]]:
        result = instantiate(HERE / "eval.nix", {
            "lib": f"import {nix_lib}",
            "configurations": "[ " + " ".join(f"({m})" for m in modules) + " ]",
            "system": nix_string(system),
        })
        if result.returncode != 0:
            raise AssertionError(f"evaluation failed:\n{result.stderr}")
        summaries: list[dict[str, Any]] = json.loads(result.stdout)
        return summaries

    return run


def _cli(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "darling_nix", *map(str, args)],
                            capture_output=True, text=True, check=False, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"darling-nix {' '.join(map(str, args))} exited "
                             f"{result.returncode}:\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def darling_nix() -> Callable[..., subprocess.CompletedProcess[str]]:
    """darling_nix(*args, check=True): the real `darling-nix` of this checkout."""
    return _cli


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def eval_flake_outputs(nix_lib: Path) -> Callable[[], Any]:
    """The flake's outputs called with stand-in inputs (tests/nix/flake-outputs.nix)."""

    def run() -> Any:
        result = instantiate(HERE / "flake-outputs.nix", {"lib": f"import {nix_lib}"})
        if result.returncode != 0:
            raise AssertionError(f"evaluation failed:\n{result.stderr}")
        return json.loads(result.stdout)

    return run
