"""The shims run no program but shell builtins and shim_support.TOOLS: the installer's call
forms, diskutil's reads and a sysadminctl user work with a PATH that holds only those."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from installer_calls import install
from shim_support import ACCOUNT_SHIMS, TOOLS, Prefix


@dataclass
class OnlyTools:
    """PREFIX's shims with nothing on PATH but the shell and TOOLS."""

    prefix: Prefix
    path: str

    def run(self, shim: str, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.prefix.run(shim, *args, check=check, PATH=self.path)


@pytest.fixture
def only_tools(prefix: Prefix, tmp_path: Path) -> OnlyTools:
    directory = tmp_path / "bin"
    directory.mkdir()
    for program in (prefix.shell, *TOOLS):
        found = shutil.which(program)
        if found is None:
            pytest.skip(f"{program} is not installed")
        (directory / program).symlink_to(found)
    return OnlyTools(prefix, str(directory))


def test_installer_calls_need_nothing_else(only_tools: OnlyTools) -> None:
    assert install(only_tools)[0].startswith("dseditgroup -o create")
    member = only_tools.run("dseditgroup", "-o", "checkmember", "-m", "_nixbld1", "nixbld")
    assert member.stdout.startswith("yes _nixbld1 is a member"), member.stderr


def test_diskutil_and_sysadminctl_need_nothing_else(only_tools: OnlyTools) -> None:
    (only_tools.prefix.root / "nix").mkdir()
    plist = only_tools.run("diskutil", "info", "-plist", "/nix", check=True).stdout
    assert "<key>GlobalPermissionsEnabled</key>" in plist
    only_tools.run("sysadminctl", "-addUser", "_probe", "-UID", "399", check=True)
    assert only_tools.prefix.passwd()["_probe"][2] == "399"


@pytest.mark.parametrize("shim", ACCOUNT_SHIMS)
def test_missing_tools_are_named_before_anything_is_done(prefix: Prefix, tmp_path: Path,
                                                         shim: str) -> None:
    """The control, and what a Darling without file_cmds and text_cmds gets: one line naming
    every missing program, exit 1, no file touched."""
    directory = tmp_path / "bin"
    directory.mkdir()
    for program in (prefix.shell, "id", "mktemp", "sleep"):  # what the core+shell prefix has
        (directory / program).symlink_to(shutil.which(program) or program)
    before = prefix.snapshot()
    result = prefix.run(shim, "-h", PATH=str(directory))
    assert (result.returncode, result.stderr) == (1, f"{shim}: missing programs: awk cat chmod "
                                                     "head ls mkdir mv rm rmdir sort tr wc (the "
                                                     "darling-nix shims need them)\n")
    assert prefix.snapshot() == before
