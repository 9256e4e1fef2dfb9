"""`prefix init` over a prefix whose directories were replaced by links to outside (the
prefix is the builder user's; root may run init): refused with one line and exit 2 before
anything is written through the link, and a link at a file's name is replaced, not
written through."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sentinel import Sentinel, assert_refused


@pytest.mark.parametrize("where", ["private/etc", "private/etc/nix", "usr/bin", "usr",
                                   "nix/var/nix"])
def test_directory_replaced_by_a_link_is_refused(initialised_config: Path, tmp_path: Path,
                                                 cli: Any, sentinel: Sentinel,
                                                 where: str) -> None:
    planted = tmp_path / "prefix" / where
    planted.rename(tmp_path / "moved")
    planted.symlink_to(sentinel.root / "dir")
    assert_refused(cli("prefix", "init", "--config", str(initialised_config)), "symbolic link")
    assert_refused(cli("prefix", "init", "--dry-run", "--config", str(initialised_config)),
                   "symbolic link")
    sentinel.assert_unchanged()


@pytest.mark.parametrize("name", ["private/etc/nix/nix.conf", "usr/bin/dscl"])
def test_link_at_a_file_name_is_replaced_not_written_through(initialised_config: Path,
                                                             tmp_path: Path, cli: Any,
                                                             sentinel: Sentinel,
                                                             name: str) -> None:
    planted = tmp_path / "prefix" / name
    planted.unlink()
    planted.symlink_to(sentinel.root / "file")
    result = cli("prefix", "init", "--config", str(initialised_config))
    assert result.returncode == 0, result.stderr
    assert f"replace {planted}" in result.stdout
    assert not planted.is_symlink() and planted.is_file()
    sentinel.assert_unchanged()


def test_fifo_at_a_shim_name_does_not_hang(initialised_config: Path, tmp_path: Path,
                                           cli: Any) -> None:
    planted = tmp_path / "prefix" / "usr" / "sbin" / "diskutil"
    planted.unlink()
    os.mkfifo(planted)
    result = cli("prefix", "init", "--config", str(initialised_config), timeout=60)
    assert result.returncode == 0, result.stderr
    assert planted.is_file()
