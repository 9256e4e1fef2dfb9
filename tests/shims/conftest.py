from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib: make shim_support importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from shim_support import SHELLS, Prefix, seed_prefix


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> str:
    if shutil.which(request.param) is None:
        pytest.skip(f"{request.param} is not installed")
    return str(request.param)


@pytest.fixture
def prefix(tmp_path: Path, shell: str) -> Prefix:
    return seed_prefix(tmp_path / "prefix", shell)
