"""Checks of pkgs/darling: the patches against darling-xnu / Darling, the
regression programs and the Nix files.

Always run: patch headers, patches parse as unified diffs, target paths,
regression program shape, `nix-instantiate --parse` (if available).

Run when the upstream sources are given, visibly skipped otherwise:
  DARLING_XNU_SRC  unpacked darlinghq/darling-xnu at 814a90cae0b725c65b89dcba2b680d36aceeeec4
  DARLING_SRC      unpacked darlinghq/darling at 25afbc76428c39c3909e9efcf5caef1140425211
                   (submodules xnu, libc, libpthread, libplatform, libmalloc and
                   darlingserver checked out, for the compile check)
Both call pkgs/darling/check-patches.sh, which anyone can run by hand.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from darling_nix.cli.darling_cmds import shared_source
from darling_nix.darling.build import tools_tarball

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "pkgs" / "darling"
SCRIPT = PKG / "check-patches.sh"
XNU_PATCHES = sorted((PKG / "patches" / "xnu").glob("*.patch"))
DARLING_PATCHES = sorted((PKG / "patches" / "darling").glob("*.patch"))
ALL_PATCHES = XNU_PATCHES + DARLING_PATCHES
SERIES = json.loads((PKG / "patches" / "series.json").read_text())
# The fixes (each with a regression program; left out of the negative control) against
# build patches (what a build needs from the tree, e.g. the core-shell CMake option).
KIND = {PKG / "patches" / p["file"]: p["kind"] for p in SERIES["patches"] if "file" in p}
SYSCALL_PATCHES = [p for p in ALL_PATCHES if KIND.get(p) == "fix"]
BUILD_PATCHES = [p for p in ALL_PATCHES if KIND.get(p) == "build"]
# Where our Darling-root fixes apply
MLDR = "src/startup/mldr/"
DUCT_TAPE = "src/external/darlingserver/duct-tape/"
DARLING_FIX_FILES = {"0001-sandbox-errorbuf-null.patch": {"src/sandbox/sandbox.c"},
                     "0004-mldr-zero-fill.patch": {MLDR + "loader.c"},
                     "0005-mldr-commpage-taken.patch": {MLDR + "mldr.c", MLDR + "commpage.c",
                                                      MLDR + "commpage.h"},
                     "0006-objc4-release.patch": {"src/external/objc4/runtime/CMakeLists.txt"},
                     "0007-mldr-fork.patch": {MLDR + "mldr.c", MLDR + "elfcalls/elfcalls.c",
                                            MLDR + "elfcalls/elfcalls.h"},
                     "0008-shellspawn-signal-status.patch": {"src/shellspawn/shellspawn.c"},
                     "0009-dserver-message-credentials.patch": {
                         "src/external/darlingserver/src/message.cpp"},
                     "0010-dserver-wait-wakeup.patch": {
                         DUCT_TAPE + "src/thread.c",
                         DUCT_TAPE + "internal-include/darlingserver/duct-tape/thread.h"},
                     "0011-dserver-thread-abort-safely.patch": {DUCT_TAPE + "src/thread.c"},
                     "0012-dyld-optimize.patch": {"src/external/dyld/CMakeLists.txt"},
                     "0013-dserver-inline-calls.patch": {
                         "src/external/darlingserver/src/server.cpp",
                         "src/external/darlingserver/internal-include/darlingserver/workers.hpp"}}
REGRESS = sorted((PKG / "regress").glob("*.c"))

XNU_REV = "814a90cae0b725c65b89dcba2b680d36aceeeec4"
DARLING_REV = "25afbc76428c39c3909e9efcf5caef1140425211"
EMULATION = "darling/src/libsystem_kernel/emulation/linux/"
# libsyscall's files an xnu fix may change beside the emulation: errno (0001) and the
# CPU number (0011)
XNU_LIBSYSCALL_FILES = {"libsyscall/custom/errno.c", "libsyscall/os/tsd.h"}


def header(patch: Path) -> str:
    text = patch.read_text()
    idx = text.find("\ndiff --git ")
    assert idx > 0, f"{patch.name}: no 'diff --git' section after a header"
    return text[:idx]


def git_apply(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # Never inside a repository: git apply in a repository subdirectory
    # silently skips paths outside it.
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(cwd.resolve().parent))
    return subprocess.run(
        ["git", "apply", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_patch_set_is_complete():
    names = [p.name for p in ALL_PATCHES]
    assert len(XNU_PATCHES) == 14, names
    assert len(DARLING_PATCHES) == 13, names
    for word in ("mldr-commpage-taken", "objc4-release", "mldr-fork", "shellspawn-signal-status",
                 "dserver-message-credentials", "dserver-wait-wakeup",
                 "dserver-thread-abort-safely", "dyld-optimize",
                 "dserver-inline-calls"):
        assert any(word in p.name for p in DARLING_PATCHES), (word, names)
    for word in ("renameatx", "attrlist", "clonefile", "ulock_wait2", "signal-self",
                 "rlimit-nofile", "boottime-stable", "pselect-sigmask", "unfair-lock-shadow",
                 "pthread-cancel", "cpu-number-lsl", "fork-through-mldr",
                 "sigaltstack-thread-exit", "quiet-kprintf"):
        assert any(word in p.name for p in XNU_PATCHES), (word, names)
    assert len(SYSCALL_PATCHES) == 25 and [p.name for p in BUILD_PATCHES] == [
        "0002-core-shell-option.patch", "0003-core-tools-option.patch"
    ]
    assert set(XNU_PATCHES) <= set(SYSCALL_PATCHES)


def test_series_lists_every_patch_file_once_in_its_tree():
    ours = [p for p in SERIES["patches"] if "file" in p]
    listed = sorted(PKG / "patches" / p["file"] for p in ours)
    assert listed == sorted(ALL_PATCHES)
    for p in ours:
        assert p["file"].startswith(p["root"] + "/"), p
        assert p["kind"] == ("fix" if p["root"] == "xnu" or "option" not in p["name"] else "build"), p
    assert SERIES["rev"] == DARLING_REV
    for p in SERIES["patches"]:
        assert ("file" in p) != ("url" in p), p
        if "url" in p:
            assert p["root"] == "darling" and p["hash"].startswith("sha256-"), p
            assert re.fullmatch(r"[0-9a-f]{8}-[a-z0-9-]+\.patch", p["localName"]), p


@pytest.mark.parametrize("patch", BUILD_PATCHES, ids=lambda p: p.name)
def test_build_patch_header_says_what_and_why(patch: Path):
    head = header(patch)
    for section in ("Applies to:", "What", "Why"):
        assert section in head, f"{patch.name}: header lacks {section!r}"
    assert DARLING_REV in head


@pytest.mark.parametrize("patch", SYSCALL_PATCHES, ids=lambda p: p.name)
def test_patch_header_says_what_why_and_nix_operation(patch: Path):
    head = header(patch)
    assert len(head.splitlines()[0]) > 10, "first line is a summary"
    for section in ("Applies to:", "What", "Why", "Nix operation:", "Regression program"):
        assert section in head, f"{patch.name}: header lacks {section!r}"
    rev = XNU_REV if patch in XNU_PATCHES else DARLING_REV
    assert rev in head, f"{patch.name}: header does not name the upstream commit"
    # nothing in the header may look like diff syntax to patch(1)
    for line in head.splitlines():
        assert not line.startswith(("--- ", "+++ ", "@@", "diff ", "Index:")), line
    regress = re.search(r"^Regression programs?: (.+?)\.?$", head, re.M)
    assert regress, f"{patch.name}: header names no regression program"
    first, *more = regress.group(1).split(", ")  # more: names beside the first
    for program in (ROOT / first, *((ROOT / first).parent / name for name in more)):
        assert program.is_file(), program


@pytest.mark.parametrize("patch", ALL_PATCHES, ids=lambda p: p.name)
def test_patch_parses_as_unified_diff(patch: Path, tmp_path: Path):
    res = git_apply(["--numstat", str(patch)], tmp_path)
    assert res.returncode == 0, res.stderr
    paths = [line.split("\t")[2] for line in res.stdout.splitlines()]
    assert paths, f"{patch.name}: no files in the diff"
    for path in paths:
        if patch in XNU_PATCHES:
            assert path.startswith(EMULATION) or path in XNU_LIBSYSCALL_FILES, \
                f"{path}: not relative to the darling-xnu root"
        elif patch in BUILD_PATCHES:
            assert path in BUILD_PATCH_FILES[patch.name], path
        else:
            assert path in DARLING_FIX_FILES[patch.name], path


# The build patches' files: the top CMakeLists.txt, and for the core tools the tools'
# submodules whose build must change without the system/cli components.
BUILD_PATCH_FILES = {
    "0002-core-shell-option.patch": {"src/CMakeLists.txt"},
    "0003-core-tools-option.patch": {"src/CMakeLists.txt", "src/external/patch_cmds/CMakeLists.txt"},
}


# The files two xnu patches may share: the syscall table, where every new call is routed;
# sys_fork, whose child 0010 clears of cancel marks and whose fork 0012 makes through mldr;
# a thread's end, where 0010 forgets its cancel mark and 0013 unmaps its alternate signal
# stack; sigexc.c, 0005's signal handling, 0013's alternate stacks and a debug line 0014
# removes (apart hunks: each patch still applies alone).
XNU_SHARED_FILES = {EMULATION + f for f in ("syscalls.c", "process/fork.c",
                                            "bsdthread/bsdthread_terminate.c", "signal/sigexc.c")}


def test_xnu_patches_share_only_known_files(tmp_path: Path):
    """Each xnu patch applies alone (check-patches.sh checks it on the pristine tree); no two
    of them change the same file but those in XNU_SHARED_FILES."""
    seen: dict[str, str] = {}
    for patch in XNU_PATCHES:
        res = git_apply(["--numstat", str(patch)], tmp_path)
        for line in res.stdout.splitlines():
            path = line.split("\t")[2]
            assert path not in seen or path in XNU_SHARED_FILES, \
                f"{path} in {seen.get(path)} and {patch.name}"
            seen[path] = patch.name


@pytest.mark.parametrize("prog", REGRESS, ids=lambda p: p.name)
def test_regress_program_shape(prog: Path):
    text = prog.read_text()
    assert '#include "regress.h"' in text
    assert "regress_check(" in text
    assert "return regress_status();" in text
    helpers = (PKG / "regress" / "regress.h").read_text()
    assert 'printf("PASS: %s\\n"' in helpers and 'printf("FAIL: %s' in helpers
    assert "regress_failures ? 1 : 0" in helpers


def test_regress_programs_cover_each_call():
    names = {p.stem for p in REGRESS}
    assert {"renameatx_np", "setattrlist_flags", "clonefile", "sandbox_init", "ulock_wait2",
            "mldr_zero_fill", "signal_self", "os_unfair_lock"} <= names


@pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="nix-instantiate not installed")
@pytest.mark.parametrize("nixfile", ["package.nix", "regress/package.nix"])
def test_nix_files_parse(nixfile: str):
    res = subprocess.run(
        ["nix-instantiate", "--parse", str(PKG / nixfile)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr


def test_package_reads_the_series():
    text = (PKG / "package.nix").read_text()
    assert "lib.importJSON ./patches/series.json" in text
    assert "patch -p1 -d src/external/xnu" in text
    assert "sha256-z9IMgc5hH2Upn8wHl1OgP42q9HTSkeHnxB3N812A+Kc=" in text


def test_check_script_is_posix_sh():
    res = subprocess.run(["sh", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    if shutil.which("dash"):
        res = subprocess.run(["dash", "-n", str(SCRIPT)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr


# --- needs the upstream sources ------------------------------------------


@pytest.fixture(scope="session")
def shared_tree(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The whole pinned tree unpacked from ../shared/darling's tarball (about 15 s), when
    DARLING_SRC does not name one: the source the host build uses, submodules included."""
    tarball = shared_source()
    if os.environ.get("DARLING_SRC") or tarball is None:
        return None
    scratch = tmp_path_factory.mktemp("darling-tree")
    # the tools' submodules over it, as `darling build` unpacks them (the core-tools patch)
    for part in (tarball, tools_tarball(tarball)):
        subprocess.run(["tar", "-xJf", str(part), "-C", str(scratch)], check=True, timeout=600)
    return scratch / "src"


def _src(var: str, probe: str, fallback: Path | None) -> Path:
    value = os.environ.get(var)
    if not value and fallback is None:
        pytest.skip(f"{var} not set and no ../shared/darling tarball: no upstream tree to "
                    "check the patches against")
    path = Path(value) if value else fallback
    assert path is not None
    if not (path / probe).is_file():
        pytest.skip(f"{var}={value} is not the expected tree (no {probe})")
    return path


@pytest.fixture
def xnu_src(shared_tree: Path | None) -> Path:
    fallback = shared_tree / "src" / "external" / "xnu" if shared_tree else None
    return _src("DARLING_XNU_SRC", EMULATION + "syscalls.c", fallback)


@pytest.fixture
def darling_src(shared_tree: Path | None) -> Path:
    return _src("DARLING_SRC", "src/sandbox/sandbox.c", shared_tree)


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env or {})),
        timeout=300,
    )


def test_patches_apply(xnu_src: Path, darling_src: Path):
    res = run_script("--apply-only", str(xnu_src), str(darling_src))
    print(res.stdout)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "FAIL" not in res.stdout
    for patch in XNU_PATCHES:
        assert f"PASS: git apply --check patches/xnu/{patch.name} on darling-xnu" in res.stdout
    assert "PASS: all darling-xnu patches applied, in order, to a copy of darling-xnu" in res.stdout
    assert "PASS: all darling patches applied, in order, to a copy of darling" in res.stdout


def _compile_ready(darling: Path) -> None:
    if shutil.which(os.environ.get("CLANG", "clang")) is None:
        pytest.skip("clang not installed: the compile check needs it (apt-get install clang)")
    missing = [
        s
        for s in ("xnu", "libc", "libpthread", "libplatform", "libmalloc", "darlingserver")
        if not any((darling / "src" / "external" / s).glob("*"))
    ]
    if missing:
        pytest.skip(f"DARLING_SRC lacks checked-out submodules {missing}: compile check not possible")


def test_patched_sources_compile(xnu_src: Path, darling_src: Path):
    _compile_ready(darling_src)
    res = run_script(str(xnu_src), str(darling_src))
    print(res.stdout)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "FAIL" not in res.stdout and "SKIP" not in res.stdout
    for f in ("unistd/renameatx_np.c", "syscalls.c", "xattr/setattrlistat.c",
              "xattr/getattrlist.c", "misc/clonefile.c", "psynch/ulock_wait.c",
              "misc/abort_with_payload.c"):  # sigexc.c needs generated headers: the build's
        assert f"PASS: compiles (libsystem_kernel): {f}" in res.stdout
        assert f"PASS: compiles (dyld): {f}" in res.stdout
    assert "PASS: compiles (sandbox): sandbox.c" in res.stdout
    for prog in REGRESS:
        assert f"regress/{prog.name}" in res.stdout


def test_check_script_reports_broken_patches(xnu_src: Path, darling_src: Path, tmp_path: Path):
    """Negative control: a patch set with a C error and one with a stale
    context must make the script fail."""
    _compile_ready(darling_src)
    broken = tmp_path / "patches"
    shutil.copytree(PKG / "patches", broken)
    p = broken / "xnu" / "0002-attrlist-cmn-flags.patch"
    text = p.read_text()
    assert "+\t\tstruct linux_stat lst;" in text
    p.write_text(text.replace("+\t\tstruct linux_stat lst;", "+\t\tstruct linux_stat lst", 1))
    q = broken / "darling" / "0001-sandbox-errorbuf-null.patch"
    text = q.read_text()
    q.write_text(text.replace(' const enum sandbox_filter_type', ' const enum sandbox_filter_kind', 1))
    res = run_script(str(xnu_src), str(darling_src), env={"DARLING_PATCH_DIR": str(broken)})
    print(res.stdout)
    assert res.returncode != 0
    assert re.search(r"FAIL: compiles \(libsystem_kernel\): xattr/\w*attrlist\w*\.c", res.stdout)
    assert "FAIL: git apply --check" in res.stdout and "0001-sandbox-errorbuf-null.patch" in res.stdout
