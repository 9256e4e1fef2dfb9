from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib: make shim_support and the shared sentinel
# (helpers/tests/sentinel.py) importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers" / "tests"))

from sentinel import Sentinel
from shim_support import SHELLS, Prefix, seed_prefix


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> str:
    if shutil.which(request.param) is None:
        pytest.skip(f"{request.param} is not installed")
    return str(request.param)


@pytest.fixture
def prefix(tmp_path: Path, shell: str) -> Prefix:
    return seed_prefix(tmp_path / "prefix", shell)


@pytest.fixture
def sentinel(tmp_path: Path) -> Sentinel:
    """A tree outside the prefix that hostile input aims at; `.assert_unchanged()` after."""
    return Sentinel.plant(tmp_path / "outside")
