"""pkgs/darling/copy-sdk.sh (the sdk output of the Nix package and of the host build),
under dash and bash, on a built tree with every kind of link Darling's Developer/ has."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sdk_fixture import SDK, BuiltTree, make_built_tree
from tree_support import PKG

SCRIPT = PKG / "copy-sdk.sh"


@pytest.fixture(params=["dash", "bash"])
def shell(request: pytest.FixtureRequest) -> str:
    if shutil.which(request.param) is None:
        pytest.skip(f"{request.param} is not installed")
    return str(request.param)


@pytest.fixture
def built(tmp_path: Path) -> BuiltTree:
    return make_built_tree(tmp_path)


def copy_sdk(shell: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([shell, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=120, check=False)


def test_the_copy_stands_on_its_own(shell: str, built: BuiltTree, tmp_path: Path) -> None:
    dest = tmp_path / "sdk"
    result = copy_sdk(shell, built.src, built.build, dest)
    assert result.returncode == 0, result.stderr
    sdk = dest / SDK
    # links into the source and build trees: replaced by copies of what they name
    for path, text in ((sdk / "usr/include/stdio.h", "/* stdio */\n"),
                       (sdk / "usr/lib/libSystem.dylib", "Mach-O\n"),
                       (sdk / "usr/include/IOKit/IOKitLib.h", "/* IOKitLib */\n"),
                       (sdk / "usr/include/IOKit/IOReturn.h", "/* IOKitLib */\n")):
        assert not path.is_symlink() and path.read_text() == text, path
    assert (sdk / "usr/include/IOKit").is_dir() and not (sdk / "usr/include/IOKit").is_symlink()
    # relative links within Developer/ stay links, with their text
    assert os.readlink(sdk / "usr/include/alias.h") == "local.h"
    assert os.readlink(sdk.parent / "MacOSX10.13.sdk") == "MacOSX.sdk"
    assert (sdk.parent / "MacOSX10.13.sdk" / "usr/include/local.h").is_file()
    # an absolute link into Developer/ would name the source tree: copied instead
    symlinks = dest / "Developer/usr/bin/symlinks"
    assert not symlinks.is_symlink() and os.access(symlinks, os.X_OK)
    # dropped: dangling (also inside a copied directory) and host paths
    for gone in (sdk / "usr/lib/libNotBuilt.dylib", sdk / "usr/include/IOKit/IOMissing.h",
                 dest / "Developer/usr/bin/git"):
        assert not gone.exists() and not gone.is_symlink(), gone
    assert "usr/bin/git -> " + str(built.outside) in result.stderr
    assert "usr/lib/libNotBuilt.dylib -> " in result.stderr
    # the generated build/Developer is not the SDK
    assert not (sdk / "usr/include/mach").exists()
    # nothing dangles, and nothing points back into the trees
    for link in (p for p in dest.rglob("*") if p.is_symlink()):
        assert link.exists() and not os.readlink(link).startswith("/"), link
    assert result.stdout.strip().endswith("4 links replaced by copies, 2 kept, 3 dropped")


def test_cctools_under_both_names(shell: str, built: BuiltTree, tmp_path: Path) -> None:
    dest = tmp_path / "sdk"
    assert copy_sdk(shell, built.src, built.build, dest).returncode == 0
    for tool in ("ld", "ar", "ranlib"):
        full = dest / "bin" / f"x86_64-apple-darwin20-{tool}"
        assert os.access(full, os.X_OK) and not full.is_symlink()
        assert os.readlink(dest / "bin" / tool) == full.name
    assert "ld64/src/x86_64-apple-darwin20-ld" in (dest / "bin/x86_64-apple-darwin20-ld").read_text()


def test_bad_arguments_are_one_line_and_exit_2(shell: str, built: BuiltTree,
                                               tmp_path: Path) -> None:
    dest = tmp_path / "sdk"
    cases = [
        ((built.src, built.build), "usage: copy-sdk.sh SRC_ROOT BUILD_DIR DEST"),
        ((built.outside.parent, built.build, dest), f"{built.outside.parent}/Developer: "
         "no such directory (SRC_ROOT must be a Darling source tree)"),
        ((built.src, tmp_path / "none", dest), f"{tmp_path}/none: no such directory (BUILD_DIR)"),
    ]
    for args, message in cases:
        result = copy_sdk(shell, *args)
        assert (result.returncode, result.stderr) == (2, f"copy-sdk: {message}\n"), args
    assert not dest.exists()


def test_nothing_is_overwritten_or_left_half_done(shell: str, built: BuiltTree,
                                                  tmp_path: Path) -> None:
    dest = tmp_path / "sdk"
    (dest / "Developer").mkdir(parents=True)
    (dest / "Developer" / "mine").write_text("keep\n")
    result = copy_sdk(shell, built.src, built.build, dest)
    assert result.returncode == 2 and "sdk/Developer already exists" in result.stderr
    assert (dest / "Developer" / "mine").read_text() == "keep\n"

    # a build without its linker: refused before anything is written
    (built.build / "src/external/cctools-port/cctools/ld64/src/x86_64-apple-darwin20-ld").unlink()
    other = tmp_path / "other"
    result = copy_sdk(shell, built.src, built.build, other)
    assert result.returncode == 2 and "x86_64-apple-darwin20-ld: not built" in result.stderr
    assert not other.exists()


def test_a_failed_copy_leaves_no_trace(shell: str, built: BuiltTree, tmp_path: Path) -> None:
    """A copy that fails half-way (here: a file name with a newline, which the script
    does not handle) exits non-zero and leaves DEST without Developer, bin or staging."""
    (built.src / "Developer" / "odd\nname").write_text("x\n")
    dest = tmp_path / "sdk"
    result = copy_sdk(shell, built.src, built.build, dest)
    assert result.returncode != 0
    assert list(dest.iterdir()) == []
