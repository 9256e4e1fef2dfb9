"""The phases of pkgs/darling/package.nix run for real: postPatch on a copy of the
pinned tree's files (the store paths of the package's own scripts replaced by this
checkout's, patchShebangs by a stand-in), postInstall in a small built tree; and
prepare-source.sh, which the host build runs too, under dash and bash."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sdk_fixture import SDK, make_built_tree
from tree_support import (
    BUILD_SCRIPTS,
    PKG,
    RECORDED,
    STUB_BIN,
    install_rules,
    run_phase,
    setid_rules,
    tree_copy,
)

# The rules the source preparation has to neutralise (negative control of the scan).
KNOWN_SETID = {
    "src/startup/CMakeLists.txt": "SETUID",  # bin/darling, setuid root on a host
    "src/external/basic_cmds/CMakeLists.txt": "SETGID",  # write(1), group tty
}


@pytest.fixture
def patched(package: dict[str, Any], pinned_tree: Path, tmp_path: Path) -> Path:
    """A copy of the tree's files after the package's postPatch."""
    tree = tree_copy(pinned_tree, tmp_path / "tree")
    log = tmp_path / "patchShebangs.log"
    result = run_phase(package["postPatch"], package["scripts"], tree,
                       {"xnuPatches": "", "PATCH_SHEBANGS_LOG": str(log)})
    assert result.returncode == 0, result.stderr
    (tree / ".patchShebangs-args").write_text(log.read_text())
    return tree


def test_the_copy_has_what_the_scan_must_find(pinned_tree: Path, tmp_path: Path) -> None:
    """Negative control: before preparation the scan finds the known rules."""
    found = setid_rules(tree_copy(pinned_tree, tmp_path / "tree"))
    for path, bit in KNOWN_SETID.items():
        assert any(bit in rule for rule in found[path]), (path, found.get(path))


def test_no_setid_install_rule_survives(patched: Path) -> None:
    assert setid_rules(patched) == {}


def test_only_the_permission_bits_go(pinned_tree: Path, patched: Path) -> None:
    """The write(1) rule (basic_cmds, recorded) keeps every other token: the sed of
    prepare-source.sh handles the real rule's form."""
    before = RECORDED["src/external/basic_cmds/CMakeLists.txt"].text
    (after,) = install_rules((patched / "src/external/basic_cmds/CMakeLists.txt").read_text())
    (original,) = install_rules(before)
    assert after == [token for token in original if token != "SETGID"]
    startup = "src/startup/CMakeLists.txt"
    old = install_rules((pinned_tree / startup).read_text())
    new = install_rules((patched / startup).read_text())
    assert new == [[t for t in rule if t not in ("SETUID", "SETGID")] for rule in old]


@pytest.mark.parametrize("script", sorted(BUILD_SCRIPTS))
def test_build_scripts_get_store_interpreters(script: str, patched: Path) -> None:
    path = patched / script
    first = path.read_text().splitlines()[0]
    assert first.startswith(f"#!{STUB_BIN}/"), (script, first)
    assert os.access(path, os.X_OK), script


def test_patch_shebangs_names_paths_of_the_tree(patched: Path, pinned_tree: Path) -> None:
    """patchShebangs ignores a path that does not exist: each one it is given must be in
    the pinned tree (or, for submodules the tree lacks, hold a recorded file)."""
    args = (patched / ".patchShebangs-args").read_text().split()
    assert args
    for arg in args:
        recorded = any(name == arg or name.startswith(arg + "/") for name in RECORDED)
        assert (pinned_tree / arg).exists() or recorded, arg


def test_build_scripts_need_patching(pinned_tree: Path) -> None:
    """Why: each script's first line names an interpreter the sandbox lacks, and the
    CMake file that runs it (where the tree has it) names it."""
    for script, cmake in BUILD_SCRIPTS.items():
        source = pinned_tree / script
        text = source.read_text() if source.is_file() else RECORDED[script].text
        assert text.split("\n", 1)[0] in ("#!/bin/bash", "#!/usr/bin/env python3"), script
        if (pinned_tree / cmake).is_file():
            assert Path(script).name in (pinned_tree / cmake).read_text(), (script, cmake)
    mig = pinned_tree / "src/external/bootstrap_cmds/migcom.tproj/mig.sh"
    assert mig.stat().st_mode & 0o100 == 0  # not executable in git: patchShebangs skips it


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_prepare_source_alone(shell: str, pinned_tree: Path, tmp_path: Path) -> None:
    """The host build runs prepare-source.sh by itself: same result under both shells."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    tree = tree_copy(pinned_tree, tmp_path / "tree")
    result = subprocess.run([shell, str(PKG / "prepare-source.sh")], cwd=tree,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert setid_rules(tree) == {}
    assert os.access(tree / "src/external/bootstrap_cmds/migcom.tproj/mig.sh", os.X_OK)
    for path in KNOWN_SETID:
        assert f"removed setuid/setgid install rules from ./{path}" in result.stdout


def test_post_install_copies_the_sdk_from_the_build_dir(package: dict[str, Any],
                                                        tmp_path: Path) -> None:
    """postInstall runs where the cmake setup hook leaves it, <source>/build; the sdk
    output gets the source tree's SDK (not build/Developer, the MIG headers)."""
    built = make_built_tree(tmp_path)
    sdk = tmp_path / "sdk-output"
    result = run_phase(package["postInstall"], package["scripts"], built.build,
                       {"sdk": str(sdk), "out": str(tmp_path / "out")})
    assert result.returncode == 0, result.stderr
    stdio = sdk / SDK / "usr/include/stdio.h"
    assert stdio.is_file() and not stdio.is_symlink()
    assert (sdk / "bin" / "ld").exists()
    assert [p for p in sdk.rglob("*") if p.is_symlink() and not p.exists()] == []
