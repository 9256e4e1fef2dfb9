"""A meson build of Nix (2.26 and later) for x86_64-darwin with the C++20 toolchain (cxx20.py).

Its libraries come from two sysroots: the C ones from Darling's toolchain's (as Nix 2.8's),
boost from the C++20 toolchain's (it must be compiled with the same libc++), kept apart:
boost's headers are given as system headers (-isystem, from boost_root), and Nix's
-Werror=suggest-override fails on boost's own headers when found through a pkg-config -I.
Darling's sysroot also holds boost 1.74 for Nix 2.8, which would hide 1.83 there. So the
build sees a copy made for it, TREE/sysroot: Darling's without boost, its text files
(pkg-config, CMake, libtool) pointing into the copy. Nix is linked statically, as 2.8 is:
the copy has no dylibs (brotli's pkg-config files name its dylibs, which would be linked
by their build-machine paths), and brotli's `-static` archives take the plain names.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ..removal import remove_tree
from . import deps
from .toolchain import CrossToolchain, cmake_quote, meson_quote

_TEXT_SUFFIXES = (".pc", ".cmake", ".la")


def meson_program() -> str:
    """meson 1.1 or later: Nix 2.26's minimum; Debian 12's is 1.0, so scripts/setup puts
    PyPI's into the venv beside this Python."""
    beside = Path(sys.executable).parent / "meson"
    found = str(beside) if beside.is_file() else shutil.which("meson")
    if found is None:
        raise deps.DepInputError("nix: its build needs meson 1.1 or later (scripts/setup "
                                 "installs it into .venv)")
    return found


def build(nix: dict[str, object], top: Path, tree: Path, stage: Path, store_path: str,
          darling_sysroot: Path, cxx: CrossToolchain, cxx_sysroot: Path, log: Path,
          say: deps.Say) -> None:
    """Configure (once per tree), compile and install Nix from TOP into STAGE."""
    meson = meson_program()
    view = tree / "sysroot"
    build_dir = tree / "build"
    env = {**deps.environment(cxx, view), "NINJA_STATUS": "[%f/%t] "}
    cross = tree / "nix-cross.ini"
    wanted = cross_file(view, cxx, cxx_sysroot, tree / "find-root.cmake")
    configured = (build_dir / "build.ninja").is_file() and cross.is_file() \
        and cross.read_text() == wanted
    if not configured:  # never configured, a setup that failed, or another cross file
        if build_dir.exists():
            remove_tree(build_dir)
        make_view(darling_sysroot, view)
        cross.write_text(wanted)
        (tree / "find-root.cmake").write_text(_find_root(view))
        # in the tree: zig's `c++ -x c++ -E -dM -` (meson's compiler detection) leaves an
        # empty '-.o' in its working directory, which was the caller's
        deps.run([meson, "setup", str(build_dir), str(top), "--cross-file", cxx.meson_cross,
                  "--cross-file", str(cross), f"--prefix={store_path}",
                  *deps.strings(nix, "meson")], log, cwd=tree, env=env)
    say(f"nix {nix['version']}: compiling with zig's clang (about 25 minutes cold on 2 cores)")
    deps.run(["ninja", "-C", str(build_dir), f"-j{os.cpu_count() or 1}"], log, env=env)
    if stage.exists():
        remove_tree(stage)
    deps.run(["ninja", "-C", str(build_dir), "install"], log, env={**env, "DESTDIR": str(stage)})


def make_view(darling_sysroot: Path, view: Path) -> None:
    """VIEW made anew: DARLING_SYSROOT without boost and dylibs. Its include/ and lib/ must be
    directories of its own: the copy keeps symbolic links, and what is done in the view's
    include/ and lib/ must not reach outside it."""
    for sub in ("include", "lib"):
        if (darling_sysroot / sub).is_symlink() or not (darling_sysroot / sub).is_dir():
            raise deps.DepInputError(f"{darling_sysroot / sub}: not a directory of the sysroot")
    if view.exists():
        remove_tree(view)
    include = darling_sysroot / "include"

    def left_out(directory: str, names: list[str]) -> set[str]:
        dropped = shutil.ignore_patterns(".deps", "*.dylib", "libboost_*")(directory, names)
        return dropped | ({"boost"} if Path(directory) == include else set())

    shutil.copytree(darling_sysroot, view, symlinks=True, ignore=left_out)
    for archive in (view / "lib").glob("*-static.a"):
        plain = archive.with_name(archive.name.replace("-static.a", ".a"))
        if not os.path.lexists(plain) and not archive.is_symlink():
            os.link(archive, plain)
    for path in view.rglob("*"):
        if path.suffix in _TEXT_SUFFIXES and path.is_file() and not path.is_symlink():
            text = path.read_text(errors="surrogateescape")
            moved = text.replace(str(darling_sysroot), str(view))
            if moved != text:
                path.write_text(moved, errors="surrogateescape")


def cross_file(view: Path, cxx: CrossToolchain, cxx_sysroot: Path, find_root: Path) -> str:
    """The second --cross-file: where the libraries are, for pkg-config, boost and CMake.
    Boost's headers are system headers for every target (libfetchers includes them without
    naming boost). -UNDEBUG: zig defines NDEBUG when it optimises, and Nix refuses to build
    without assertions."""
    dirs = [f"{root}/{sub}/pkgconfig" for root in (view, cxx_sysroot) for sub in ("lib", "share")]
    libdirs = ", ".join(meson_quote(d) for d in [*dirs, f"{cxx.root}/pkgconfig"])
    args = ", ".join(meson_quote(a) for a in ("-isystem", f"{cxx_sysroot}/include", "-UNDEBUG"))
    return "\n".join([
        "[binaries]", "pkg-config = 'pkg-config'", "cmake = 'cmake'", "",
        "[built-in options]", f"c_args = [{args}]", f"cpp_args = [{args}]", "",
        "[properties]", f"boost_root = {meson_quote(str(cxx_sysroot))}",
        f"pkg_config_libdir = [{libdirs}]",
        f"cmake_toolchain_file = {meson_quote(str(find_root))}", ""])


def _find_root(view: Path) -> str:
    """CMake's part: toml11 is found by its CMake package, in the view only."""
    return "\n".join(['set(CMAKE_SYSTEM_NAME "Darwin")', 'set(CMAKE_SYSTEM_PROCESSOR "x86_64")',
                      f'set(CMAKE_FIND_ROOT_PATH {cmake_quote(str(view))})',
                      'set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE "ONLY")', ""])
