"""The C++20 darwin toolchain: zig's clang 18 and libc++ 18, for what Darling's own cannot
compile (Nix 2.26).

Darling's toolchain (toolchain.py) has the host's clang 14 and Darling's libc++ 13, which
lacks C++20's library comparisons (`operator<=>` of std::string, std::tuple, std::variant):
Nix 2.26's sources fail on them by the hundred. A newer libc++ built from LLVM 19's source
needs clang 17 or later to compile, which Debian 12 lacks. zig 0.13 (PyPI's Linux wheel,
pinned in data/darwin-deps.json as "cxx20") is clang 18 with libc++ 18 and its own macOS
headers and libSystem stubs, and links libc++ and libc++abi statically into each program:
what it builds needs nothing from Darling but libSystem. C libraries built with Darling's
toolchain link into it unchanged (plain C ABI).

The directory (<cache>/toolchains/cxx20-KEY) holds:

    bin/x86_64-apple-darwin20-{cc,c++,ar,ranlib}   zig, through POSIX sh wrappers
    include/    macOS headers zig's set lacks, copied from Darling's SDK
    dylibs/     the Darling libraries zig's stubs lack (libz, libedit), as links
    pkgconfig/readline.pc   macOS's libedit as readline (Nix's readline-flavor=readline)
    cmake/darwin.cmake, meson/darwin.ini, manifest.json   as toolchain.py's

KEY hashes the base toolchain's key, the wheel's sha256 and this module's FORMAT.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from .. import compat
from ..removal import remove_tree
from . import sources
from .cache import Layout, content_key, locked
from .compiler import MACOS_MIN, TARGET, DarwinCompiler
from .toolchain import CrossToolchain, ToolchainError, cmake_file, made_already, meson_file

FORMAT = 3
ZIG_TARGET = f"x86_64-macos.{MACOS_MIN}"
# SDK headers Nix includes that zig's macOS set has not (readline: libedit's own names)
SDK_HEADERS = ("sys/syscall.h", "sandbox.h", "editline/readline.h")
READLINE_SHIMS = ("readline/readline.h", "readline/history.h")
# Darling libraries a program may link beside libSystem (zig ships stubs of libSystem only)
DYLIBS = {"libz.dylib": "libz.1.dylib", "libedit.dylib": "libedit.3.dylib"}

# zig rejects -l when only compiling; meson's checks pass pkg-config's Libs there. A partial
# link (-r: meson's prelink of Nix's static libraries) is ld64's, from the Darling build:
# zig 0.13's -r output crashed zig's own linker (SIGSEGV) when it linked `nix`. Each
# argument is matched whole ("-DX=-r" is no -r); the values are shell-quoted by _fill.
_WRAPPER = """#!/bin/sh
# {target}-{name}: zig {version} (C++20 darwin toolchain of darling-nix, base {base})
export ZIG_GLOBAL_CACHE_DIR={cache} ZIG_LOCAL_CACHE_DIR={cache}
partial= compile=
for arg in "$@"; do
  case "$arg" in -r) partial=1 ;; -c) compile=1 ;; esac
done
if [ -n "$partial" ]; then exec {ld} -arch x86_64 "$@"; fi
if [ -n "$compile" ]; then
  library=
  for arg in "$@"; do
    shift
    if [ -n "$library" ]; then library=; continue; fi
    case "$arg" in -l) library=1 ;; -l*) ;; *) set -- "$@" "$arg" ;; esac
  done
fi
exec {zig} {name} -target {zig_target} -idirafter {include} {library_dir} "$@"
"""
_TOOL = """#!/bin/sh
# {target}-{name}: zig {version} (C++20 darwin toolchain of darling-nix, base {base})
exec {zig} {name} "$@"
"""


def zig_program() -> compat.Program:
    """The pinned Linux wheel of zig (data/darwin-deps.json's "cxx20")."""
    pin = sources.darwin_deps().get("cxx20")
    fields = ("package", "version", "platform", "file", "sha256")
    if not isinstance(pin, dict) or not all(isinstance(pin.get(key), str) for key in fields):
        raise ToolchainError(f"data/darwin-deps.json: cxx20: needs {', '.join(fields)}")
    return compat.Program(name="cxx20", package=pin["package"], registry="pypi",
                          version=pin["version"], file=pin["file"], sha256=pin["sha256"],
                          program="ziglang/zig", language="C, C++", check="",
                          platform=pin["platform"])


def in_cache(cache: Path, base: CrossToolchain, compilers: DarwinCompiler,
             download: compat.Download = compat.registry_download) -> CrossToolchain:
    """The C++20 toolchain beside BASE (Darling's), made (and zig fetched) if missing."""
    program = zig_program()
    key = content_key({"format": FORMAT, "base": base.key, "zig": program.sha256})
    root = Layout(cache).toolchains / f"cxx20-{key}"
    found = made_already(root, key)
    if found is not None:
        return found
    with locked(Layout(cache).steps_lock):  # two makers would replace each other's
        return made_already(root, key) or _made(cache, root, key, program, base, compilers,
                                                download)


def _made(cache: Path, root: Path, key: str, program: compat.Program, base: CrossToolchain,
          compilers: DarwinCompiler, download: compat.Download) -> CrossToolchain:
    """The toolchain of KEY made in ROOT, with the steps lock held."""
    zig = compat.unpack(program, compat.fetch(program, cache, download))
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        try:
            made = _fill(stage, root, key, base, compilers, zig, program.version,
                         Layout(cache).root / "zig-cache")
        except OSError as error:  # an SDK header or Darling library missing, a full disk
            raise ToolchainError(f"C++20 toolchain {root}: {error}") from error
        if root.exists():
            remove_tree(root)
        os.rename(stage, root)
    except BaseException:
        remove_tree(stage)
        raise
    return made


def _fill(stage: Path, root: Path, key: str, base: CrossToolchain, compilers: DarwinCompiler,
          zig: Path, version: str, zig_cache: Path) -> CrossToolchain:
    for header in SDK_HEADERS:
        (stage / "include" / header).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(compilers.sdk / "usr" / "include" / header, stage / "include" / header)
    for shim in READLINE_SHIMS:
        (stage / "include" / shim).parent.mkdir(parents=True, exist_ok=True)
        (stage / "include" / shim).write_text("#include <editline/readline.h>\n")
    (stage / "dylibs").mkdir()
    for link, target in DYLIBS.items():
        os.symlink(compilers.syslibroot / "usr" / "lib" / target, stage / "dylibs" / link)
    (stage / "pkgconfig").mkdir()
    # ${pcfiledir}: pkg-config's own way to a path beside the file, whatever its characters
    (stage / "pkgconfig" / "readline.pc").write_text(
        "Name: readline\nDescription: macOS's libedit, as readline\nVersion: 8.0\n"
        "Libs: -L${pcfiledir}/../dylibs -ledit\nCflags:\n")
    (stage / "bin").mkdir()
    quoted = {"cache": str(zig_cache), "zig": str(zig), "include": str(root / "include"),
              "library_dir": f"-L{root / 'dylibs'}", "ld": base.ld}
    values = {"target": TARGET, "version": version, "base": base.key, "zig_target": ZIG_TARGET,
              **{name: shlex.quote(value) for name, value in quoted.items()}}
    paths = {}
    for name, template in (("cc", _WRAPPER), ("c++", _WRAPPER), ("ar", _TOOL), ("ranlib", _TOOL)):
        path = stage / "bin" / f"{TARGET}-{name}"
        path.write_text(template.format(name=name, **values))
        path.chmod(0o755)
        paths[name] = str(root / "bin" / path.name)
    made = CrossToolchain(
        key=key, install_key=base.install_key, root=str(root), target=TARGET, cc=paths["cc"],
        cxx=paths["c++"], ar=paths["ar"], ranlib=paths["ranlib"], ld=base.ld, nm=base.nm,
        strip=base.strip, cmake_toolchain=str(root / "cmake" / "darwin.cmake"),
        meson_cross=str(root / "meson" / "darwin.ini"), autotools_env="",
        syslibroot=base.syslibroot, made_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        kind="cxx20")
    (stage / "cmake").mkdir()
    (stage / "cmake" / "darwin.cmake").write_text(cmake_file(made))
    (stage / "meson").mkdir()
    (stage / "meson" / "darwin.ini").write_text(meson_file(made))
    (stage / "manifest.json").write_text(json.dumps(asdict(made), indent=2) + "\n")
    return made
