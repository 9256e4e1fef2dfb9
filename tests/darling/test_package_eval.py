"""pkgs/darling/package.nix and regress/package.nix evaluated with the recording stub
pkgs (tests/nix/package-eval.nix): the attributes they ask nixpkgs for, their CMake
flags against the CMake files of the pinned tree, their compiler wrappers run with
stand-in compilers."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tree_support import PKG, cmake_files, upstream_patch

SERIES = json.loads((PKG / "patches" / "series.json").read_text())

# nixpkgs 26.05 renamed the X11 libraries; the old names are aliases (a warning, an
# error with allowAliases = false). From pkgs/servers/x11/xorg/default.nix of that
# time (NixOS/nixpkgs, "libX11 = libx11;" ...), the ones a Darling build could name.
X11_ALIASES = {"libX11": "libx11", "libXext": "libxext", "libXrandr": "libxrandr",
               "libXcursor": "libxcursor", "libXrender": "libxrender", "libXfixes": "libxfixes",
               "libXi": "libxi", "libXinerama": "libxinerama", "libXcomposite": "libxcomposite",
               "libXdamage": "libxdamage", "libXft": "libxft", "libXt": "libxt"}
DEFINE = re.compile(r"^-D([A-Za-z0-9_]+)(?::[A-Z]+)?=(.*)$")
MINIMUM = re.compile(r"cmake_minimum_required\s*\(\s*VERSION\s+([0-9]+)\.([0-9]+)", re.IGNORECASE)


def defines(package: dict[str, Any]) -> dict[str, str]:
    found = {}
    for flag in package["cmakeFlags"]:
        match = DEFINE.match(flag)
        assert match, flag
        found[match.group(1)] = match.group(2)
    return found


def test_ffmpeg_7_not_the_default(package: dict[str, Any]) -> None:
    assert "ffmpeg_7" in package["asked"] and "ffmpeg" not in package["asked"]
    assert "ffmpeg_7" in package["wrappedLibs"] and "ffmpeg_7" in package["buildInputs"]


def test_ffmpeg_8_would_not_do(pinned_tree: Path, tmp_path: Path) -> None:
    """Why FFmpeg 7: with upstream's FFmpeg 7 patch applied, AudioConverterImpl still
    calls avcodec_close, which FFmpeg 8 removed."""
    (entry,) = [p for p in SERIES["patches"] if p["name"] == "ffmpeg7"]
    patch = upstream_patch(entry["localName"])
    if patch is None:
        pytest.skip(f"{entry['localName']} not found beside the tarball (../shared/darling/"
                    "upstream) nor in DARLING_UPSTREAM_PATCHES")
    rel = "src/CoreAudio/AudioToolbox/AudioConverterImpl.cpp"
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_bytes((pinned_tree / rel).read_bytes())
    # only this file's part of the patch; never inside a repository (GIT_CEILING_DIRECTORIES)
    result = subprocess.run(["git", "apply", f"--include={rel}", str(patch)], cwd=tmp_path,
                            env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / rel).read_bytes() != (pinned_tree / rel).read_bytes(), "patch not applied"
    calls = [line for line in (tmp_path / rel).read_text().splitlines()
             if "avcodec_close(" in line and not line.strip().startswith("//")]
    assert calls, "the FFmpeg 7 patch removed avcodec_close: FFmpeg 8 may do"


def test_no_name_that_26_05_only_aliases(package: dict[str, Any]) -> None:
    old = set(X11_ALIASES) & set(package["asked"])
    assert old == set(), f"ask for {[X11_ALIASES[n] for n in sorted(old)]} instead"
    assert {"libx11", "libxext", "libxrandr", "libxcursor", "libxkbfile"} <= set(package["asked"])
    assert set(package["regressAsked"]) == {"clangStdenv", "darling"}


def test_the_cmake_defines_are_variables_of_the_tree(package: dict[str, Any],
                                                     pinned_tree: Path) -> None:
    """Each -D that is not CMake's own names a cache variable or option of the tree."""
    text = "\n".join((pinned_tree / f).read_text(errors="replace") for f in cmake_files(pinned_tree))
    for name in defines(package):
        if name.startswith("CMAKE_"):
            continue
        declared = re.search(rf"(set\s*\(\s*{name}\s[^)]*CACHE|option\s*\(\s*{name}\s)", text)
        assert declared, f"-D{name}: no set(... CACHE) or option() in the tree"


def test_xdg_user_dir_reaches_darlingserver(package: dict[str, Any], pinned_tree: Path) -> None:
    """darlingserver's CMakeLists turns the cache variable into a compile definition,
    which wins over darlingserver.cpp's #ifndef default: the store path must come as
    the -D, and rewriting the default in the source would change nothing."""
    cmake = (pinned_tree / "src/external/darlingserver/CMakeLists.txt").read_text()
    assert re.search(r'DARLINGSERVER_XDG_USER_DIR_CMD="\$\{DARLINGSERVER_XDG_USER_DIR_CMD\}"', cmake)
    source = (pinned_tree / "src/external/darlingserver/src/darlingserver.cpp").read_text()
    assert "#ifndef DARLINGSERVER_XDG_USER_DIR_CMD" in source
    value = defines(package)["DARLINGSERVER_XDG_USER_DIR_CMD"]
    assert re.fullmatch(r"/nix/store/[0-9a-z]{32}-xdg-user-dirs/bin/xdg-user-dir", value), value
    assert "xdg-user-dirs" in package["asked"]
    assert "darlingserver.cpp" not in package["postPatch"]


def test_cmake_4_gets_a_policy_minimum(package: dict[str, Any], pinned_tree: Path) -> None:
    """CMake 4 refuses cmake_minimum_required below 3.5; the tree has such files."""
    old = [str(f) for f in cmake_files(pinned_tree)
           if any((int(a), int(b)) < (3, 5) for a, b in
                  MINIMUM.findall((pinned_tree / f).read_text(errors="replace")))]
    assert old, "no CMake file below 3.5 left: the policy minimum may go"
    assert defines(package).get("CMAKE_POLICY_VERSION_MINIMUM") == "3.5"


def test_the_build_settings_of_the_known_good_builds(package: dict[str, Any]) -> None:
    flags = defines(package)
    assert (flags["TARGET_i386"], flags["COMPILE_PY2_BYTECODE"], flags["CMAKE_BUILD_TYPE"]) == \
        ("OFF", "OFF", "")
    assert package["switches"] == {"dontFixCmake": True, "dontPatchShebangs": True,
                                   "dontStrip": True, "dontCheckForBrokenSymlinks": True}
    assert package["outputs"] == ["out", "sdk"]
    assert "linux-headers" in package["buildInputs"]
    assert {"cmake", "ninja", "bison", "flex", "pkg-config", "python3"} <= \
        set(package["nativeBuildInputs"])


def run_wrapper(package: dict[str, Any], which: str, args: list[str], tmp_path: Path) -> str:
    """The compiler wrapper's text with its two compilers replaced by scripts that
    print which one ran and with what."""
    text = package["compilers"][which]["text"]
    for path in sorted(set(re.findall(r"/nix/store/[0-9a-z]{32}-[^/\s]+/bin/[a-z+]+", text))):
        stand_in = tmp_path / path.replace("/", "_")
        stand_in.write_text(f'#!/bin/sh\necho "{path.rsplit("-", 1)[1]}" "$@"\n')
        stand_in.chmod(0o755)
        text = text.replace(path, str(stand_in))
    return subprocess.run(["bash", "-c", text, "wrapper", *args], capture_output=True,
                          text=True, timeout=30, check=True).stdout.strip()


@pytest.mark.parametrize("which", ["cc", "cxx"])
def test_darwin_compiles_bypass_the_cc_wrapper(package: dict[str, Any], which: str,
                                               tmp_path: Path) -> None:
    unwrapped, wrapped = {"cc": ("clang/bin/clang", "wrapper/bin/cc"),
                          "cxx": ("clang/bin/clang++", "wrapper/bin/c++")}[which]
    darwin = run_wrapper(package, which, ["-target", "x86_64-apple-darwin20", "-c", "x.c"],
                         tmp_path)
    # Darling's flags first, ours after them (later warning flags win)
    assert darwin == f"{unwrapped} -target x86_64-apple-darwin20 -c x.c " \
                     "-Wno-macro-redefined -Wno-unused-command-line-argument"
    assert run_wrapper(package, which, ["--target=x86_64-apple-darwin20", "-c", "x.c"],
                       tmp_path).startswith(unwrapped + " ")
    assert run_wrapper(package, which, ["-O2", "-c", "x.c"], tmp_path) == f"{wrapped} -O2 -c x.c"


def test_regress_uses_the_flags_that_work_on_a_host(package: dict[str, Any]) -> None:
    """DESIGN.md, real Darling: -nostdinc with the SDK's and clang's headers and
    -DPLATFORM_MacOSX; ld64 links against the installed libSystem."""
    regress = package["regress"]
    compile_flags = " ".join(regress["compileFlags"])
    for flag in ("-target x86_64-apple-darwin20", "-mmacosx-version-min=11.0",
                 "-DPLATFORM_MacOSX", "-nostdinc",
                 f"-isystem {regress['sdk']}/Developer/Platforms/MacOSX.platform/Developer/"
                 "SDKs/MacOSX.sdk/usr/include", "/resource-root/include"):
        assert flag in compile_flags, flag
    assert " ".join(regress["linkFlags"]) == \
        f"-arch x86_64 -macosx_version_min 11.0 -syslibroot {regress['out']}/libexec/darling -lSystem"
    build = regress["buildPhase"]
    assert f"{regress['sdk']}/bin/x86_64-apple-darwin20-ld " in build and " -c -o " in build
    assert "-isysroot" not in build and "--ld-path" not in build


def test_patches_and_source_follow_the_series(package_with_lib: dict[str, Any]) -> None:
    package = package_with_lib
    assert package["src"]["rev"] == SERIES["rev"]
    assert package["src"]["hash"] == "sha256-z9IMgc5hH2Upn8wHl1OgP42q9HTSkeHnxB3N812A+Kc="
    assert package["src"]["fetchSubmodules"] is True
    darling = [p for p in SERIES["patches"] if p["root"] == "darling"]
    assert package["patches"] == [p.get("url") or str(PKG / "patches" / p["file"]) for p in darling]
    assert package["xnuPatches"] == [str(PKG / "patches" / p["file"])
                                     for p in SERIES["patches"] if p["root"] == "xnu"]


def test_runtime_paths_and_checks(package_with_lib: dict[str, Any]) -> None:
    package = package_with_lib
    library_path = package["env"]["LD_LIBRARY_PATH"].split(":")
    assert len(library_path) == len(package["wrappedLibs"])
    for lib, entry in zip(package["wrappedLibs"], library_path, strict=True):
        assert entry.endswith(f"-{lib}/lib"), (lib, entry)
    fixup = package["postFixup"]
    assert f"{package['env']['LD_LIBRARY_PATH']}:/run/opengl-driver/lib" in fixup  # GL drivers
    assert "find $sdk -xtype l" in fixup  # the broken-symlink hook is off: check the sdk here


# The command-line tools a builder script runs, and the component block of the pinned
# src/CMakeLists.txt that builds each in the package (tar: libarchive's bsdtar).
PACKAGE_TOOLS = {"file_cmds": "cli", "text_cmds": "cli", "awk": "cli", "grep": "cli",
                 "gpatch": "cli", "gnudiff": "cli", "libarchive/libarchive": "system"}


def test_the_package_builds_the_tools_through_its_components(package: dict[str, Any],
                                                            pinned_tree: Path) -> None:
    """The host build adds the tools to core (DARLING_CORE_TOOLS); the package leaves that
    option off and builds Darling's default component set, "stock", which carries them in
    its cli and system components."""
    flags = defines(package)
    assert "COMPONENTS" not in flags and "DARLING_CORE_TOOLS" not in flags, flags
    top = (pinned_tree / "CMakeLists.txt").read_text()
    assert re.search(r'set\(COMPONENTS_DEFAULT "stock"\)', top)
    parse = (pinned_tree / "cmake" / "darling_parse_components.cmake").read_text()
    stock = re.search(r'"stock"\)\s*set\(COMPONENT_DEPS ([^)]*) PARENT_SCOPE', parse)
    assert stock and "cli" in stock.group(1).split(), stock
    assert re.search(r'"cli"\)\s*set\(COMPONENT_DEPS system PARENT_SCOPE', parse)
    src = (pinned_tree / "src" / "CMakeLists.txt").read_text()
    for tool, component in PACKAGE_TOOLS.items():
        block = re.search(rf"if \(COMPONENT_{component}\)\n(.*?)\nendif\(\)", src, re.S)
        assert block and f"add_subdirectory(external/{tool})" in block.group(1), (tool, component)
