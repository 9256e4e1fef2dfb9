"""What the tests under the real Darling share besides fixtures (see conftest.py)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from darling_nix.cli.darling_cmds import shared_source
from darling_nix.darling.build import TOOLS, Installed
from darling_nix.darling.compiler import DarwinCompiler
from darling_nix.removal import remove_tree
from darling_nix.runner import DarlingRunner

HERE = Path(__file__).resolve().parent
REGRESS = HERE.parents[2] / "pkgs" / "darling" / "regress"
# The PASS lines cxx17_runtime.cpp prints when every check passes.
CXX17_RUNTIME_CHECKS = 11
# Where a prefix finds programs: the layout of Darling's prefix template.
PROGRAM_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin")


def darling_missing() -> str:
    if os.geteuid() != 0:
        return "needs root: darling is setuid root and its prefix is root's"
    if shared_source() is None:
        return "no Darling source tarball at ../shared/darling/darling-*-src.tar.xz beside the checkout"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"needs {' '.join(missing)} to build Darling (scripts/setup installs them)"
    return ""


def missing_programs(installed: Installed, names: Iterable[str]) -> list[str]:
    """Those of NAMES that no program directory of the install's prefix template holds."""
    template = Path(installed.install) / "libexec" / "darling"
    return [name for name in names
            if not any((template / directory / name).exists() for directory in PROGRAM_DIRS)]


def build_probe(toolchain: DarwinCompiler, name: str, out_dir: Path) -> Path:
    """HERE/NAME.c compiled as a Mach-O program OUT_DIR/NAME."""
    return toolchain.build([HERE / f"{name}.c"], out_dir / name,
                           cflags=["-Wall", "-Werror", "-Wno-nullability-completeness"])


def no_download(program: object, directory: Path) -> None:
    """compat.fetch's download step for the tests: they never download."""
    raise AssertionError("the cached file had another hash; tests do not download")


def darling_runner_settings(installed: Installed) -> dict[str, str]:
    """The config's `runner` section for INSTALLED."""
    return {"kind": "darling", "darling_command": installed.darling}


@contextlib.contextmanager
def _scratch(installed: Installed, prefix: str) -> Iterator[tuple[Path, DarlingRunner]]:
    """A scratch directory and a runner for the prefix at PREFIX under it; the container is
    shut down and the directory removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="darling-nix-prefix-", dir="/var/tmp"))
    runner = DarlingRunner(root / prefix, installed.darling)
    try:
        yield root, runner
    finally:
        runner.stop()
        remove_tree(root)


def new_prefix(installed: Installed) -> Iterator[DarlingRunner]:
    """A fresh prefix with its container started; shut down and removed afterwards."""
    with _scratch(installed, "prefix") as (_, runner):
        runner.create_prefix()
        yield runner


@contextlib.contextmanager
def darling_config(installed: Installed, **settings: object
                   ) -> Iterator[tuple[Path, DarlingRunner]]:
    """A builder config file (SETTINGS, the Darling runner, a scratch state_dir) and the
    runner of its prefix, which does not exist yet."""
    with _scratch(installed, "state/prefix") as (root, runner):
        config = root / "config.json"
        config.write_text(json.dumps({"state_dir": str(root / "state"),
                                      "runner": darling_runner_settings(installed),
                                      **settings}))
        yield config, runner
