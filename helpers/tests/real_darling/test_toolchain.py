"""The darwin cross toolchain (`darling-nix darling toolchain`) and the dependencies built
with it (`darling deps`), checked by running what they produce under the real Darling:
a C++17 program, tiny CMake / meson projects, the calls Nix's store code makes on macOS
(nix_store_calls.c, sources cited there), and a round trip through each dependency."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from darling_support import CXX17_RUNTIME_CHECKS, REGRESS
from macho_layout import build_version

from darling_nix.darling import deps, sources, toolchain
from darling_nix.darling.build import Installed
from darling_nix.darling.cache import default_cache, read_record
from darling_nix.darling.compiler import CompileError, DarwinCompiler
from darling_nix.runner import DarlingRunner, path_inside

HERE = Path(__file__).resolve().parent
CliRunner = Callable[..., subprocess.CompletedProcess[str]]
# Found by nix_store_calls.c (docs/darling-patches.md): Darling answers no kern.maxfilesperproc;
# Nix's bumpFileLimit then falls back to the hard limit, which the next check shows works.
KNOWN_GAPS = ["sysctlbyname kern.maxfilesperproc answers > 0 (errno 2: No such file or directory)"]
TINY_C = 'const char *greet(void) { return "hello from a static library"; }\n'
TINY_CXX = """#include <iostream>
#include <zlib.h>
extern "C" const char *greet(void);
int main() { std::cout << greet() << ", zlib " << zlibVersion() << std::endl; }
"""


@pytest.fixture(scope="session")
def cross(cross_toolchain: toolchain.CrossToolchain) -> toolchain.CrossToolchain:
    return cross_toolchain


@pytest.fixture(scope="session")
def sysroot(cross: toolchain.CrossToolchain) -> Path:
    """Every dependency of darwin-deps.json that Darling's toolchain builds (cached by recipe:
    minutes cold, seconds warm); boost 1.83 is the C++20 toolchain's (test_nix_226_build.py)."""
    try:
        for name in deps.built_by("darling"):
            deps.build_dep(name, cross, default_cache(), say=lambda message: None)
    except sources.SourceUnavailable as error:
        pytest.skip(f"the pinned sources cannot be fetched here: {error}")
    except deps.DepInputError as error:
        pytest.skip(str(error))
    return deps.sysroot(default_cache(), cross)


def checks(runner: DarlingRunner, program: Path) -> tuple[list[str], list[str], str]:
    result = runner.run([path_inside(program)], capture=True, timeout=120)
    output = result.stdout.decode()
    return re.findall(r"^PASS: (.*)$", output, re.M), re.findall(r"^FAIL: (.*)$", output, re.M), output


def tiny_project(where: Path, build_file: str, text: str) -> None:
    """A static C library and a C++ program using it and Darling's libz, for BUILD_FILE."""
    (where / "greet.c").write_text(TINY_C)
    (where / "main.cpp").write_text(TINY_CXX)
    (where / build_file).write_text(text)


def run_output(runner: DarlingRunner, program: Path) -> str:
    result = runner.run([path_inside(program)], capture=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def test_cxx17_program_runs(cross: toolchain.CrossToolchain, darwin_bin: Path,
                            darling_runner: DarlingRunner) -> None:
    program = darwin_bin / "cxx17"
    subprocess.run([cross.cxx, "-std=c++17", "-Wall", "-Werror", f"-I{REGRESS}",
                    str(HERE / "cxx17_runtime.cpp"), "-o", str(program)], check=True)
    passed, failed, output = checks(darling_runner, program)
    assert not failed and len(passed) == CXX17_RUNTIME_CHECKS, output


def test_darlings_libcxx_has_no_filesystem(darwin_cc: DarwinCompiler, tmp_path: Path) -> None:
    """Why the toolchain carries lib/libc++fs.a: without it std::filesystem does not link."""
    with pytest.raises(CompileError, match=r"__fs10filesystem"):
        darwin_cc.build([HERE / "cxx17_runtime.cpp"], tmp_path / "cxx17", cxx=True,
                        cflags=["-std=c++17", f"-I{REGRESS}"])


def test_a_key_ending_in_digits_links(darling_install: Installed, darwin_bin: Path,
                                     darling_runner: DarlingRunner, tmp_path: Path) -> None:
    """ld64 took the SDK version from the last digits of the -syslibroot path (the install's
    key) unless told: a key such as ...ad4767051 failed every link. The same install
    reached through such a path links and runs, and its program says SDK 11.0, as
    Darling's own programs do."""
    through = tmp_path / "installs" / "77ffd726ee8ad4767051"
    through.parent.mkdir()
    through.symlink_to(darling_install.install)
    compiler = DarwinCompiler(Path(darling_install.sdk), Path(darling_install.ld),
                              through / "libexec" / "darling")
    source = tmp_path / "hello.c"
    source.write_text('#include <stdio.h>\nint main(void) { puts("linked"); return 0; }\n')
    program = compiler.build([source], darwin_bin / "key_in_digits")
    assert run_output(darling_runner, program) == "linked\n"
    # LC_BUILD_VERSION: platform (1 = macOS), minos, sdk (each 0xXXXXYYZZ)
    platform, minos, sdk = build_version(program)
    assert (platform, minos, sdk) == (1, 0x0B0000, 0x0B0000)


def test_c11_atomics_are_hidden_by_the_sdks_stdatomic(cross: toolchain.CrossToolchain,
                                                       tmp_path: Path) -> None:
    """A known gap, worked around in curl's recipe (ac_cv_header_stdatomic_h=no): Darling's SDK
    carries a copy of clang's <stdatomic.h> for its own build (-DDARLING) with clang's include
    guard, so clang's real header is skipped and atomic_int is unknown. Apple's SDKs have no
    stdatomic.h. If this starts compiling, drop the work-around."""
    (tmp_path / "atomics.c").write_text("#include <stdatomic.h>\natomic_int hits;\n"
                                        "int main(void) { return atomic_load(&hits); }\n")
    result = subprocess.run([cross.cc, "-std=c11", "atomics.c", "-o", "atomics"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode != 0 and "unknown type name 'atomic_int'" in result.stderr, result.stderr


@pytest.mark.parametrize("form", ["compile then link", "compile and link", "dylib"])
def test_wrappers_take_every_invocation_form(cross: toolchain.CrossToolchain, tmp_path: Path,
                                             form: str) -> None:
    (tmp_path / "greet.c").write_text(TINY_C)
    (tmp_path / "main.c").write_text('const char *greet(void);\nint main(void) { return !greet(); }\n')
    # -Werror: a link must not warn about compile flags, nor (-Wextra) about how ld is named
    cc = [cross.cc, "-Wall", "-Wextra", "-Werror"]
    if form == "compile then link":
        for name in ("greet", "main"):
            subprocess.run([*cc, "-c", f"{name}.c", "-o", f"{name}.o"], cwd=tmp_path, check=True)
        subprocess.run([cross.ar, "rcs", "libgreet.a", "greet.o"], cwd=tmp_path, check=True)
        subprocess.run([*cc, "-o", "prog", "main.o", "-L.", "-lgreet"], cwd=tmp_path, check=True)
    elif form == "compile and link":
        subprocess.run([*cc, "-g", "-o", "prog", "main.c", "greet.c"], cwd=tmp_path, check=True)
    else:
        subprocess.run([*cc, "-dynamiclib", "-o", "libgreet.dylib", "greet.c"], cwd=tmp_path, check=True)
        subprocess.run([*cc, "-o", "prog", "main.c", "-L.", "-lgreet"], cwd=tmp_path, check=True)
    kind = subprocess.run(["file", "-b", str(tmp_path / "prog")], capture_output=True, text=True).stdout
    assert kind.startswith("Mach-O 64-bit x86_64 executable"), kind


def test_cmake_toolchain_file(cross: toolchain.CrossToolchain, tmp_path: Path, darwin_bin: Path,
                              darling_runner: DarlingRunner) -> None:
    tiny_project(tmp_path, "CMakeLists.txt",
        "cmake_minimum_required(VERSION 3.16)\nproject(tiny C CXX)\nadd_library(greet STATIC greet.c)\n"
        "find_library(ZLIB_LIB z REQUIRED)\nadd_executable(hello main.cpp)\n"
        "target_link_libraries(hello greet ${ZLIB_LIB})\n")
    build = darwin_bin / "cmake-build"
    subprocess.run(["cmake", "-S", str(tmp_path), "-B", str(build), "-G", "Ninja",
                    f"-DCMAKE_TOOLCHAIN_FILE={cross.cmake_toolchain}"], check=True, capture_output=True)
    subprocess.run(["ninja", "-C", str(build)], check=True, capture_output=True)
    # zlib is found in Darling's prefix template, not on the Linux host
    assert f"ZLIB_LIB:FILEPATH={cross.syslibroot}/usr/lib/libz" in (build / "CMakeCache.txt").read_text()
    assert run_output(darling_runner, build / "hello").startswith("hello from a static library, zlib 1.")


def test_meson_cross_file(cross: toolchain.CrossToolchain, tmp_path: Path, darwin_bin: Path,
                          darling_runner: DarlingRunner) -> None:
    meson = shutil.which("meson", path=str(Path(sys.executable).parent)) or shutil.which("meson")
    if meson is None:
        pytest.skip("meson is not installed (pip install -e 'helpers[dev]' brings it)")
    tiny_project(tmp_path, "meson.build",
        "project('tiny', 'c', 'cpp')\ngreet = static_library('greet', 'greet.c')\n"
        "zlib = meson.get_compiler('cpp').find_library('z')\n"
        "executable('hello', 'main.cpp', link_with: greet, dependencies: zlib)\n")
    build = darwin_bin / "meson-build"
    setup = subprocess.run([meson, "setup", str(build), str(tmp_path), "--cross-file", cross.meson_cross],
                           check=True, capture_output=True, text=True)
    assert "C linker for the host machine" in setup.stdout and "ld64" in setup.stdout, setup.stdout
    subprocess.run(["ninja", "-C", str(build)], check=True, capture_output=True)
    assert run_output(darling_runner, build / "hello").startswith("hello from a static library, zlib 1.")


def test_nix_store_calls_behave_as_on_macos(cross: toolchain.CrossToolchain, sysroot: Path, darwin_bin: Path,
                                            darling_runner: DarlingRunner) -> None:
    """sqlite3 here was cross-built by its own autotools configure --host (the autotools check)."""
    program = darwin_bin / "nix_store_calls"
    subprocess.run([cross.cc, "-Wall", "-Werror", "-Wno-availability", f"-I{REGRESS}",
                    f"-I{sysroot / 'include'}", str(HERE / "nix_store_calls.c"), "-o", str(program),
                    f"-L{sysroot / 'lib'}", "-lsqlite3", "-lz"], check=True)
    passed, failed, output = checks(darling_runner, program)
    assert failed == KNOWN_GAPS and len(passed) == 21, output


def test_dependencies_round_trip(cross: toolchain.CrossToolchain, sysroot: Path, darwin_bin: Path,
                                 darling_runner: DarlingRunner) -> None:
    # sqlite3 has its own program; googletest is for Nix's unit tests (and brings a main)
    pinned = sources.pinned()
    libs = [lib for name in deps.built_by("darling") if name not in ("sqlite3", "googletest")
            for lib in pinned[name].get("libs", [])]  # type: ignore[attr-defined]
    program = darwin_bin / "deps_roundtrip"
    # boost 1.74's coroutine2 still names std::result_of, deprecated in C++17
    subprocess.run([cross.cxx, "-std=c++17", "-Wall", "-Werror", "-Wno-deprecated-declarations",
                    f"-I{REGRESS}", f"-I{sysroot / 'include'}", str(HERE / "deps_roundtrip.cpp"),
                    "-o", str(program), f"-L{sysroot / 'lib'}", *libs], check=True)
    passed, failed, output = checks(darling_runner, program)
    assert not failed and len(passed) == 10, output


def test_an_unknown_dependency_is_named(cross: toolchain.CrossToolchain, cli: CliRunner) -> None:
    result = cli("darling", "deps", "--only", "nosuch")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "unknown dependency 'nosuch'" in result.stderr


def test_a_non_toolchain_out_directory_is_left_alone(cli: CliRunner, darling_install: Installed,
                                                     tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep")
    result = cli("darling", "toolchain", "--install", darling_install.install, "--out", str(tmp_path))
    assert result.returncode == 2 and "is not a toolchain directory" in result.stderr, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("kind", ["a file", "a dangling link", "a Darling install"])
def test_an_out_that_is_not_a_toolchain_directory_is_one_line(cli: CliRunner, darling_install: Installed,
                                                              tmp_path: Path, kind: str) -> None:
    out = tmp_path / "out"
    if kind == "a file":
        out.write_text("keep")
    elif kind == "a dangling link":
        out.symlink_to(tmp_path / "nowhere")
    else:
        out = Path(darling_install.install)  # it has a manifest.json, not a toolchain's
    before = sorted(p.name for p in out.iterdir()) if out.is_dir() else None
    result = cli("darling", "toolchain", "--install", darling_install.install, "--out", str(out))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert (sorted(p.name for p in out.iterdir()) if out.is_dir() else None) == before
    assert kind != "a file" or out.read_text() == "keep"


def test_a_toolchain_is_not_made_while_another_run_holds_the_cache(
        cli: CliRunner, darling_install: Installed, tmp_path: Path) -> None:
    """`darling toolchain` replaces the cache's toolchain directory whole: it used to do so
    under a `darling nix` of the same cache that was compiling with it."""
    cache = tmp_path / "cache"
    cache.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
         str(cache / ".steps.lock")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    maker = subprocess.Popen([sys.executable, "-m", "darling_nix", "darling", "toolchain",
                              "--install", darling_install.install, "--cache", str(cache)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(8)  # a toolchain is made in about 3 s
        assert maker.poll() is None and not (cache / "toolchains").exists()
    finally:
        holder.communicate("")
    made, err = maker.communicate(timeout=120)
    assert maker.returncode == 0, err
    assert "another run holds it" in err
    assert Path(made.strip()).parent == cache / "toolchains"
    assert (Path(made.strip()) / "manifest.json").is_file()


def test_another_keys_toolchain_with_foreign_files_is_not_replaced(
        cross: toolchain.CrossToolchain, cli: CliRunner, darling_install: Installed, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(Path(cross.root), out, symlinks=True)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "key": "another-key"}))
    (out / "notes.txt").write_text("mine")
    result = cli("darling", "toolchain", "--install", darling_install.install, "--out", str(out))
    assert result.returncode == 2 and "holds files a toolchain does not make" in result.stderr
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("stamp", ["garbage", "{\"unknown\": 1}", "a directory"])
def test_a_stamp_that_is_not_one_means_build_again(tmp_path: Path, stamp: str) -> None:
    path = tmp_path / "dep.json"
    if stamp == "a directory":
        path.mkdir()
    else:
        path.write_text(stamp)
    assert read_record(deps.Built, path) is None
