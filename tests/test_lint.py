"""ruff and mypy (strict) are part of the test run, so CI keeps the code clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists() and shutil.which(name) is None:
        pytest.skip(f"{name} is not installed (pip install -e 'helpers[dev]')")
    return str(path) if path.exists() else name


def test_ruff_is_clean() -> None:
    result = subprocess.run([tool("ruff"), "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run([tool("mypy")], cwd=REPO / "helpers", capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
