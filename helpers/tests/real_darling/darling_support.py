"""What the tests under the real Darling share besides fixtures (see conftest.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from darling_nix.cli.darling_cmds import shared_source
from darling_nix.darlingbuild import TOOLS, Installed
from darling_nix.fsutil import remove_tree
from darling_nix.runner import DarlingRunner

REGRESS = Path(__file__).resolve().parents[3] / "pkgs" / "darling" / "regress"
# Inside the prefix the host's root is mounted here.
SYSTEM_ROOT = "/Volumes/SystemRoot"


def darling_missing() -> str:
    if os.geteuid() != 0:
        return "needs root: darling is setuid root and its prefix is root's"
    if shared_source() is None:
        return "no Darling source tarball at ../shared/darling/darling-*-src.tar.xz beside the checkout"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"needs {' '.join(missing)} to build Darling (scripts/setup installs them)"
    return ""


def inside(path: Path) -> str:
    """PATH on the host as a program inside the prefix names it."""
    return SYSTEM_ROOT + str(path.resolve())


def new_prefix(installed: Installed) -> Iterator[DarlingRunner]:
    """A fresh prefix with its container started; shut down and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="darling-nix-prefix-", dir="/var/tmp"))
    runner = DarlingRunner(root / "prefix", installed.darling)
    runner.create_prefix()
    try:
        yield runner
    finally:
        runner.stop()
        remove_tree(root)
