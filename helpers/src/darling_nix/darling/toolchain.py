"""`darling-nix darling toolchain`: a darwin cross toolchain made from a Darling build.

Everything a build system needs to produce Mach-O x86_64 programs that run under that
Darling, in one directory (default <cache>/toolchains/KEY/):

    bin/x86_64-apple-darwin20-{cc,c++,ld,ar,ranlib,nm,strip}   POSIX sh wrappers
    lib/libc++fs.a        std::filesystem, compiled from Darling's own libc++ sources:
                          Darling's libc++.1.dylib leaves them out (macOS's has them)
    cmake/darwin.cmake    CMAKE_TOOLCHAIN_FILE
    meson/darwin.ini      meson --cross-file
    autotools.env         CC, CXX, ... and DARWIN_HOST for ./configure --host=$DARWIN_HOST
    manifest.json         written last: its presence means the directory is complete

The compiler flags are compiler.DarwinCompiler's (the one place they are kept). KEY
hashes the install's key, those flags and this module's FORMAT, so a toolchain is made
once per Darling build and remade when anything it embeds changes.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..removal import remove_tree
from .build import Installed
from .cache import Layout, content_key, locked
from .compiler import TARGET, CompileError, DarwinCompiler

FORMAT = 1
# What libc++'s own build compiles its filesystem sources with (LLVM 13 src/CMakeLists.txt).
FILESYSTEM_SOURCES = ("operations.cpp", "directory_iterator.cpp", "int128_builtins.cpp")
FILESYSTEM_FLAGS = ("-std=c++17", "-O2", "-D_LIBCPP_BUILDING_LIBRARY", "-fvisibility=hidden",
                    "-fvisibility-inlines-hidden")


class ToolchainError(RuntimeError):
    """Bad input (no install, an --out that is something else): exit 2."""


@dataclass(frozen=True)
class CrossToolchain:
    """A finished toolchain directory, read back from its manifest."""

    key: str
    install_key: str
    root: str
    target: str
    cc: str
    cxx: str
    ar: str
    ranlib: str
    ld: str
    nm: str
    strip: str
    cmake_toolchain: str
    meson_cross: str
    autotools_env: str
    syslibroot: str
    made_at: str
    kind: str = "darling"  # or "cxx20" (cxx20.py), which recipes say they need

    @classmethod
    def read(cls, root: Path) -> CrossToolchain:
        return cls(**json.loads((root / "manifest.json").read_text()))


def tools(compilers: DarwinCompiler) -> dict[str, Path]:
    """The binutils of the Darling build (cctools, beside ld in <install>/sdk/bin), and LLVM's
    nm and strip (it built neither)."""
    cctools = compilers.ld.parent
    found = {"ld": compilers.ld, "ar": cctools / f"{TARGET}-ar",
             "ranlib": cctools / f"{TARGET}-ranlib", "nm": _llvm_tool(compilers, "llvm-nm"),
             "strip": _llvm_tool(compilers, "llvm-strip")}
    for name, path in found.items():
        if not path.is_file():
            raise ToolchainError(f"no {name} at {path}: an incomplete Darling install?")
    return found


def _llvm_tool(compilers: DarwinCompiler, name: str) -> Path:
    answer = subprocess.run([compilers.clang, f"-print-prog-name={name}"], capture_output=True,
                            text=True, check=True).stdout.strip()
    return Path(answer if os.path.isabs(answer) else shutil.which(answer) or answer)


def toolchain_key(installed: Installed, compilers: DarwinCompiler) -> str:
    identity = {"format": FORMAT, "install": installed.key, "c": compilers.flags(cxx=False),
                "c++": compilers.flags(cxx=True),
                "tools": {k: str(v) for k, v in tools(compilers).items()}}
    return content_key(identity)


def default_root(cache: Path, installed: Installed, compilers: DarwinCompiler) -> Path:
    return Layout(cache).toolchains / toolchain_key(installed, compilers)


def in_cache(cache: Path, installed: Installed,
             compilers: DarwinCompiler | None = None) -> CrossToolchain:
    """The toolchain for INSTALLED in its place in CACHE (default_root), made if missing."""
    compilers = compilers or DarwinCompiler.for_install(installed)
    root = default_root(cache, installed, compilers)
    existing = made_already(root, root.name)  # the root is named by its key
    if existing is not None:
        return existing
    with locked(Layout(cache).steps_lock):  # two makers would replace each other's
        return make(installed, root, compilers)[0]


# What a toolchain directory holds (_fill): nothing else may be there when it is replaced.
_MADE = {"bin", "lib", "cmake", "meson", "autotools.env", "manifest.json"}


def _read_existing(root: Path) -> CrossToolchain | None:
    """The toolchain in ROOT, or None where ROOT holds none (or something else's manifest)."""
    try:
        return CrossToolchain.read(root)
    except (OSError, ValueError, TypeError):
        return None


def made_already(root: Path, key: str) -> CrossToolchain | None:
    """The toolchain in ROOT if it is KEY's; None if ROOT holds none or another."""
    existing = _read_existing(root)
    return existing if existing is not None and existing.key == key else None


def make(installed: Installed, root: Path,
         compilers: DarwinCompiler | None = None) -> tuple[CrossToolchain, bool]:
    """The toolchain for INSTALLED in ROOT, made unless ROOT already holds it; (it, made now?)."""
    compilers = compilers or DarwinCompiler.for_install(installed)
    key = toolchain_key(installed, compilers)
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise ToolchainError(f"{root} is not a directory")
    existing = _read_existing(root)
    if existing is not None and existing.key == key:
        return existing, False
    if existing is None and root.exists() and any(root.iterdir()):
        raise ToolchainError(f"{root} exists and is not a toolchain directory")
    if existing is not None and set(os.listdir(root)) - _MADE:
        # replaced whole below: never with files of someone else's in it
        raise ToolchainError(f"{root} holds files a toolchain does not make; remove them first")
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        made = _fill(stage, root, key, installed, compilers)
        if root.exists():
            remove_tree(root)  # an older toolchain (another key) or an empty directory
        os.rename(stage, root)
    except BaseException:
        remove_tree(stage)
        raise
    return made, True


def _fill(stage: Path, root: Path, key: str, installed: Installed,
          compilers: DarwinCompiler) -> CrossToolchain:
    """Write every file into STAGE, naming paths as they will be once STAGE is renamed ROOT."""
    binutils = tools(compilers)
    bin_dir, lib_dir = root / "bin", root / "lib"
    wrappers = {
        "cc": [compilers.clang, *compilers.flags(cxx=False)],
        "c++": [f"{compilers.clang}++", *compilers.flags(cxx=True), f"-L{lib_dir}", "-lc++fs"],
        **{name: [str(path)] for name, path in binutils.items()},
    }
    (stage / "bin").mkdir()
    for name, argv in wrappers.items():
        _write(stage / "bin" / f"{TARGET}-{name}", _wrapper(name, argv, installed.key), 0o755)
    (stage / "lib").mkdir()
    _libcxx_filesystem(compilers, binutils["ar"], stage / "lib" / "libc++fs.a")
    paths = {name: str(bin_dir / f"{TARGET}-{name}") for name in wrappers}
    toolchain = CrossToolchain(
        key=key, install_key=installed.key, root=str(root), target=TARGET, cc=paths["cc"],
        cxx=paths["c++"], ar=paths["ar"], ranlib=paths["ranlib"], ld=paths["ld"], nm=paths["nm"],
        strip=paths["strip"],
        cmake_toolchain=str(root / "cmake" / "darwin.cmake"),
        meson_cross=str(root / "meson" / "darwin.ini"),
        autotools_env=str(root / "autotools.env"), syslibroot=str(compilers.syslibroot),
        made_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    (stage / "cmake").mkdir()
    _write(stage / "cmake" / "darwin.cmake", cmake_file(toolchain))
    (stage / "meson").mkdir()
    _write(stage / "meson" / "darwin.ini", meson_file(toolchain))
    _write(stage / "autotools.env", _autotools(toolchain))
    _write(stage / "manifest.json", json.dumps(asdict(toolchain), indent=2) + "\n")
    return toolchain


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.write_text(text)
    path.chmod(mode)


def _wrapper(name: str, argv: list[str], install_key: str) -> str:
    return (f"#!/bin/sh\n# {TARGET}-{name} for the Darling build {install_key} "
            f"(darling-nix darling toolchain)\nexec {shlex.join(argv)} \"$@\"\n")


def _libcxx_filesystem(compilers: DarwinCompiler, ar: Path, archive: Path) -> None:
    sources = compilers.libcxx_source / "src" / "filesystem"
    with tempfile.TemporaryDirectory(prefix="libcxxfs-") as scratch:
        objects = []
        for source in FILESYSTEM_SOURCES:
            obj = Path(scratch) / source.replace(".cpp", ".o")
            compilers.build([sources / source], obj, cxx=True,
                            cflags=[*FILESYSTEM_FLAGS, f"-I{compilers.libcxx_source / 'src'}", "-c"])
            objects.append(str(obj))
        result = subprocess.run([str(ar), "rcs", str(archive), *objects], capture_output=True,
                                text=True, check=False)
        if result.returncode != 0:
            raise CompileError(f"{ar} rcs {archive}: {result.stderr}")


def cmake_quote(value: str) -> str:
    """VALUE as a quoted CMake argument: no escape, variable reference or quote inside."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def cmake_file(tc: CrossToolchain) -> str:
    settings = {
        "CMAKE_SYSTEM_NAME": "Darwin", "CMAKE_SYSTEM_PROCESSOR": "x86_64",
        "CMAKE_C_COMPILER": tc.cc, "CMAKE_CXX_COMPILER": tc.cxx,
        # the wrappers carry the target and the deployment target; CMake must add no SDK
        "CMAKE_OSX_SYSROOT": "", "CMAKE_OSX_ARCHITECTURES": "",
        # Darling's libraries (libz, libc++, ...) are found in its prefix template only
        "CMAKE_FIND_ROOT_PATH": tc.syslibroot,
        "CMAKE_FIND_ROOT_PATH_MODE_PROGRAM": "NEVER", "CMAKE_FIND_ROOT_PATH_MODE_LIBRARY": "ONLY",
        "CMAKE_FIND_ROOT_PATH_MODE_INCLUDE": "ONLY", "CMAKE_FIND_ROOT_PATH_MODE_PACKAGE": "ONLY",
    }
    cached = {"CMAKE_AR": tc.ar, "CMAKE_RANLIB": tc.ranlib, "CMAKE_NM": tc.nm, "CMAKE_STRIP": tc.strip}
    lines = [f"# {tc.target} for the Darling build {tc.install_key} (darling-nix darling toolchain)"]
    lines += [f"set({name} {cmake_quote(value)})" for name, value in settings.items()]
    lines += [f"set({name} {cmake_quote(value)} CACHE FILEPATH \"\")" for name, value in cached.items()]
    return "\n".join(lines) + "\n"


def meson_quote(value: str) -> str:
    """VALUE as a string of a meson machine file. Meson doubles every backslash of such a file
    before it parses it, so a backslash stays one and a quote cannot be escaped at all."""
    if "'" in value or "\n" in value:
        raise ToolchainError(f"{value!r}: a meson machine file cannot hold a quote or a newline")
    return f"'{value}'"


def meson_file(tc: CrossToolchain) -> str:
    binaries = {"c": tc.cc, "cpp": tc.cxx, "ar": tc.ar, "ranlib": tc.ranlib, "nm": tc.nm,
                "strip": tc.strip}
    host = {"system": "darwin", "subsystem": "macos", "kernel": "xnu", "cpu_family": "x86_64",
            "cpu": "x86_64", "endian": "little"}
    lines = [f"# {tc.target} for the Darling build {tc.install_key} (darling-nix darling toolchain)",
             "[binaries]"]
    lines += [f"{name} = {meson_quote(value)}" for name, value in binaries.items()]
    lines += ["", "[host_machine]"]
    lines += [f"{name} = {meson_quote(value)}" for name, value in host.items()]
    # the programs run under Darling, not on the build machine
    lines += ["", "[properties]", "needs_exe_wrapper = true"]
    return "\n".join(lines) + "\n"


def _autotools(tc: CrossToolchain) -> str:
    variables = {"CC": tc.cc, "CXX": tc.cxx, "AR": tc.ar, "RANLIB": tc.ranlib, "LD": tc.ld,
                 "NM": tc.nm, "STRIP": tc.strip, "DARWIN_HOST": tc.target}
    lines = [f"# . this file, then ./configure --host=$DARWIN_HOST (Darling build {tc.install_key})"]
    lines += [f"{name}={shlex.quote(value)}" for name, value in variables.items()]
    lines.append(f"export {' '.join(variables)}")
    return "\n".join(lines) + "\n"
