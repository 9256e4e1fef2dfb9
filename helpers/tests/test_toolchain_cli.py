"""`darling toolchain` and `darling deps` on bad input: one line naming what is wrong, exit 2,
nothing written. (What they make is tested under the real Darling: real_darling/test_toolchain.py.)"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from darling_nix import sources

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize("command", ["toolchain", "deps"])
def test_a_missing_install_is_named(cli: CliRunner, tmp_path: Path, command: str) -> None:
    result = cli("darling", command, "--install", str(tmp_path / "nothing"),
                 "--cache", str(tmp_path / "cache"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"darling-nix: {tmp_path / 'nothing'}: not a Darling install")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "cache" / "toolchains").exists()


def test_every_pinned_source_names_its_debian_package_and_hash() -> None:
    for name, entry in sources.pinned().items():
        source = sources.source_of(name)
        assert source.debian and source.file.startswith(f"{source.debian}_{entry['version']}"), name
        assert len(source.sha256) == 64 and int(source.sha256, 16) >= 0, name
        assert entry["build"] in {"autotools", "cmake", "make"}, name
