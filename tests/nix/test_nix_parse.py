"""Every .nix file of the repository parses (`nix-instantiate --parse`): tracked
files and untracked ones that git does not ignore."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def nix_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                             "--", "*.nix"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.split()
    return sorted({name for name in listed if (REPO / name).is_file()})


FILES = nix_files()


def test_the_nix_files_are_found() -> None:
    for expected in ("flake.nix", "modules/darling.nix", "modules/darling-builder.nix",
                     "modules/darling-builder/options.nix", "modules/darling-builder/service.nix",
                     "templates/darling-builder/flake.nix", "tests/nix/nixos-surface.nix"):
        assert expected in FILES


@pytest.mark.parametrize("name", FILES)
def test_parses(name: str) -> None:
    if shutil.which("nix-instantiate") is None:
        pytest.skip("needs nix-instantiate (Debian's nix-bin)")
    result = subprocess.run(["nix-instantiate", "--parse", name], cwd=REPO,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
