"""The parts of the Nix 2.26 build that need no compiler: its recipes (which toolchain builds
what, checked before anything is built), the sysroot view meson sees, its cross file, and
the C++20 toolchain's compiler wrapper (with a stand-in for zig)."""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import subprocess
from pathlib import Path

import pytest
from mesonbuild.machinefile import MachineFileParser
from typer.testing import CliRunner

from darling_nix.cli import app
from darling_nix.darling import cxx20, deps, meson_build, recipes, sources
from darling_nix.darling import nix as nix_tarball
from darling_nix.darling.compiler import DarwinCompiler
from darling_nix.darling.toolchain import CrossToolchain, ToolchainError
from darling_nix.removal import remove_tree

PINNED = sources.pinned()


def toolchain(tmp_path: Path, kind: str) -> CrossToolchain:
    tools = {name: f"/fake/bin/{name}" for name in ("cc", "cxx", "ar", "ranlib", "ld", "nm", "strip")}
    return CrossToolchain(key=f"{kind}key", install_key="fakeinstall", root=str(tmp_path / "tc"),
                          target="x86_64-apple-darwin20", **tools, cmake_toolchain="/f/d.cmake",
                          meson_cross="/f/d.ini", autotools_env="", syslibroot="/f/root",
                          made_at="now", kind=kind)


def test_both_nix_recipes_are_well_formed_and_each_builds_one_way() -> None:
    for which in nix_tarball.NIX_ENTRIES:
        entry = nix_tarball.recipe(which)
        assert ("configure" in entry) != ("meson" in entry)
    assert nix_tarball.recipe("2.26")["version"] == "2.26.3"
    with pytest.raises(deps.DepInputError, match=r"no darwin Nix '2\.99' \(known: 2\.8, 2\.26\)"):
        nix_tarball.recipe("2.99")


def entry_problems(**changes: object) -> list[str]:
    entry = copy.deepcopy(sources.darwin_deps()["nix-2.26"])
    assert isinstance(entry, dict)
    for key, value in changes.items():
        if value is None:
            del entry[key]
        else:
            entry[key] = value
    return list(recipes.nix_problems(entry, PINNED, "nix-2.26"))


@pytest.mark.parametrize(("changes", "expected"), [
    ({"cxx20_needs": ["boost"]}, "nix-2.26: cxx20_needs: 'boost' is not built by the cxx20 toolchain"),
    ({"needs": ["boost1.83"]}, "nix-2.26: needs: 'boost1.83' is not built by the darling toolchain"),
    ({"cxx20_needs": ["boots"]}, "nix-2.26: cxx20_needs: 'boots' is not a dependency"),
    ({"configure": ["--disable-shared"]}, "nix-2.26: configure or meson: exactly one of them"),
    ({"meson": None}, "nix-2.26: configure or meson: exactly one of them"),
    ({"meson": "-Dgc=disabled"}, "nix-2.26: meson: not a list of strings"),
    ({"patches": "../../etc"}, "nix-2.26: patches: '../../etc' is not the name of a folder"),
    ({"patches": ".."}, "nix-2.26: patches: '..' is not the name of a folder"),
    ({"patches": "no-such-folder"}, "nix-2.26: patches: data/no-such-folder has no .patch file"),
    ({"patches": "stdenv-lite"}, "nix-2.26: patches: data/stdenv-lite has no .patch file"),
    ({"version": "../../x y"}, "nix-2.26: version: '../../x y' is not an upstream version"),
    ({"meson": None, "configure": []}, "nix-2.26: cxx20_needs: only a meson build uses"),
    ({"suite": "sid"}, "nix-2.26: suite: 'sid' is none of bookworm, trixie"),
    ({"toolchain": "cxx20"}, "nix-2.26: toolchain: not a key of the nix recipe"),
])
def test_a_malformed_nix_entry_is_named(changes: dict[str, object], expected: str) -> None:
    assert entry_problems() == []
    assert entry_problems(**changes)[:1] and entry_problems(**changes)[0].startswith(expected)


def test_a_dependency_is_built_only_by_its_own_toolchain(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    """boost 1.83 in Darling's sysroot would hide the 1.74 that Nix 2.8 is built with."""
    monkeypatch.setattr(sources, "fetch", lambda source, cache: pytest.fail("fetched"))
    with pytest.raises(deps.DepInputError, match=r"boost1\.83: built by the cxx20 toolchain, not "
                                                 "the darling one"):
        deps.build_dep("boost1.83", toolchain(tmp_path, "darling"), tmp_path / "cache", print)
    with pytest.raises(deps.DepInputError, match="boost: built by the darling toolchain"):
        deps.build_dep("boost", toolchain(tmp_path, "cxx20"), tmp_path / "cache", print)
    assert not (tmp_path / "cache").exists()
    assert "boost1.83" not in deps.built_by("darling") and "boost1.83" in deps.built_by("cxx20")


def test_cmake_arguments_have_their_placeholders_filled_in(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(deps, "run", lambda argv, log, cwd=None, env=None: seen.append(argv))
    deps._cmake({"cmake": ["-DZ=$SDK/usr/include", "-DL=$SYSLIBROOT/usr/lib/libz.dylib",
                           "-DP=$PREFIX/include"]},
                tmp_path, tmp_path / "sysroot", tmp_path / "stage", toolchain(tmp_path, "darling"),
                tmp_path / "log")
    sdk = "/sdk/Developer/Platforms/MacOSX.platform/Developer/SDKs/MacOSX.sdk"  # /f/root's
    assert seen[0][-3:] == [f"-DZ={sdk}/usr/include", "-DL=/f/root/usr/lib/libz.dylib",
                            f"-DP={tmp_path / 'sysroot'}/include"]


def fake_sysroot(root: Path) -> None:
    for name, text in {"include/boost/version.hpp": "1.74", "include/zlib.h": "",
                       "lib/libboost_context.a": "", "lib/libbrotlicommon-static.a": "brotli",
                       "lib/libcurl.a": "curl", ".deps/curl.json": "{}",
                       "lib/pkgconfig/libcurl.pc": f"prefix={root}\nLibs: -L{root}/lib -lcurl\n",
                       "lib/cmake/x/xConfig.cmake": f'set(X "{root}/include")\n'}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "lib" / "libbrotlicommon.1.dylib").write_text("dylib")
    (root / "lib" / "libbrotlicommon.dylib").symlink_to("libbrotlicommon.1.dylib")


def tree_of(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() if p.is_file() else "<dir>"
            for p in sorted(root.rglob("*"))}


def test_meson_setup_runs_in_the_build_tree(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """zig's `c++ -x c++ -E -dM -`, which meson's compiler detection runs, writes an empty
    '-.o' into its working directory: that of whoever ran `darling nix`, until setup ran in
    the build's own tree."""
    seen: list[tuple[list[str], Path | None]] = []

    class Stop(Exception):
        pass

    def record(argv: list[str], log: Path, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> None:
        seen.append((argv, cwd))
        raise Stop

    monkeypatch.setattr(deps, "run", record)
    monkeypatch.setattr(meson_build, "meson_program", lambda: "meson")
    fake_sysroot(tmp_path / "sysroot")
    tree = tmp_path / "tree"
    tree.mkdir()
    with pytest.raises(Stop):
        meson_build.build({"version": "2.26.3", "meson": []}, tmp_path / "src", tree,
                          tmp_path / "stage", "/nix/store/x-nix-2.26.3", tmp_path / "sysroot",
                          toolchain(tmp_path, "cxx20"), tmp_path / "cxx-sysroot",
                          tmp_path / "log", print)
    assert [(argv[1], cwd) for argv, cwd in seen] == [("setup", tree)]


def test_the_view_hides_boost_174_and_dylibs_and_leaves_the_sysroot_as_it_was(tmp_path: Path) -> None:
    darling, view = tmp_path / "sysroot", tmp_path / "tree" / "sysroot"
    fake_sysroot(darling)
    before = tree_of(darling)
    (view / "stale").mkdir(parents=True)  # a view left by an earlier setup is made anew
    meson_build.make_view(darling, view)
    assert tree_of(darling) == before
    assert not (view / "include" / "boost").exists() and not (view / "stale").exists()
    assert not list(view.rglob("*.dylib")) and not list(view.rglob("libboost_*"))
    assert not (view / ".deps").exists()
    assert (view / "lib" / "libbrotlicommon.a").read_text() == "brotli"
    assert (view / "lib" / "pkgconfig" / "libcurl.pc").read_text() == \
        f"prefix={view}\nLibs: -L{view}/lib -lcurl\n"
    assert (view / "lib" / "cmake" / "x" / "xConfig.cmake").read_text() == f'set(X "{view}/include")\n'


@pytest.mark.parametrize("linked", ["include", "lib"])
def test_a_sysroot_whose_include_or_lib_leads_elsewhere_is_refused(tmp_path: Path,
                                                                    linked: str) -> None:
    """The view keeps symbolic links, and boost is left out of, and archives linked into, its
    include/ and lib/: through a link they would reach the directory it names."""
    darling, elsewhere = tmp_path / "sysroot", tmp_path / "elsewhere"
    fake_sysroot(darling)
    (darling / linked).rename(elsewhere)
    (darling / linked).symlink_to(elsewhere)
    before = tree_of(elsewhere)
    with pytest.raises(deps.DepInputError, match=re.escape(f"{darling / linked}: not a directory")):
        meson_build.make_view(darling, tmp_path / "tree" / "sysroot")
    assert tree_of(elsewhere) == before and not (tmp_path / "tree").exists()


def test_links_inside_the_sysroot_are_copied_as_links_and_never_followed(tmp_path: Path) -> None:
    darling, view, elsewhere = tmp_path / "sysroot", tmp_path / "view", tmp_path / "elsewhere"
    fake_sysroot(darling)
    (elsewhere / "boost").mkdir(parents=True)
    (elsewhere / "boost" / "version.hpp").write_text("elsewhere")
    remove_tree(darling / "include" / "boost")
    (darling / "include" / "boost").symlink_to(elsewhere / "boost")
    (darling / "lib" / "libz-static.a").symlink_to(elsewhere / "libz.a")  # dangling
    meson_build.make_view(darling, view)
    assert (elsewhere / "boost" / "version.hpp").read_text() == "elsewhere"
    assert not os.path.lexists(view / "include" / "boost")
    assert not os.path.lexists(view / "lib" / "libz.a") and not (elsewhere / "libz.a").exists()


def test_the_cross_file_is_read_by_meson_as_written(tmp_path: Path) -> None:
    """Parsed by meson's own machine-file parser: paths with a space, a backslash and a $."""
    view, boost = tmp_path / "a b\\c $x" / "sysroot", tmp_path / "cxx20"
    text = meson_build.cross_file(view, toolchain(tmp_path, "cxx20"), boost, tmp_path / "find.cmake")
    (tmp_path / "cross.ini").write_text(text)
    parsed = MachineFileParser([str(tmp_path / "cross.ini")], str(tmp_path)).sections
    assert parsed["properties"]["boost_root"] == str(boost)
    assert parsed["built-in options"]["cpp_args"] == ["-isystem", f"{boost}/include", "-UNDEBUG"]
    libdirs = parsed["properties"]["pkg_config_libdir"]
    assert f"{view}/lib/pkgconfig" in libdirs
    assert f"{tmp_path}/tc/pkgconfig" in libdirs  # the toolchain's readline.pc


@pytest.mark.parametrize("name", ["it's", "new\nline"])
def test_a_path_meson_cannot_read_is_refused_by_name(tmp_path: Path, name: str) -> None:
    """A quote cannot be escaped in a meson machine file at all."""
    with pytest.raises(ToolchainError, match="cannot hold a quote or a newline"):
        meson_build.cross_file(tmp_path / name, toolchain(tmp_path, "cxx20"), tmp_path / "b",
                               tmp_path / "find.cmake")


# where the toolchain, zig and ld64 live in these tests: every path a wrapper names is one a
# shell would split, expand or run unquoted (a single quote meson refuses: tested above)
HOSTILE = 'a dir $HOME;`false`"\\x'


@pytest.fixture
def cxx_toolchain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CrossToolchain:
    """cxx20.in_cache with a shell script in zig's place that prints its arguments, then
    the zig cache it was given."""
    wheel = tmp_path / HOSTILE / "unpacked" / "ziglang"
    wheel.mkdir(parents=True)
    (wheel / "zig").write_text('#!/bin/sh\nfor a; do echo "$a"; done\necho "$ZIG_GLOBAL_CACHE_DIR"\n')
    (wheel / "zig").chmod(0o755)
    monkeypatch.setattr(cxx20.compat, "fetch", lambda program, cache, download: wheel / "x.whl")
    monkeypatch.setattr(cxx20.compat, "unpack", lambda program, archive: wheel / "zig")
    sdk = tmp_path / "sdk"
    for header in cxx20.SDK_HEADERS:
        (sdk / "usr" / "include" / header).parent.mkdir(parents=True, exist_ok=True)
        (sdk / "usr" / "include" / header).write_text(f"/* {header} */\n")
    ld = tmp_path / HOSTILE / "ld64"
    ld.write_text('#!/bin/sh\necho ld64; for a; do echo "$a"; done\n')
    ld.chmod(0o755)
    compilers = DarwinCompiler(sdk=sdk, ld=ld, syslibroot=tmp_path / "root")
    base = dataclasses.replace(toolchain(tmp_path, "darling"), ld=str(ld))
    return cxx20.in_cache(tmp_path / HOSTILE / "cache", base, compilers)


def wrapper_output(tc: CrossToolchain, *args: str) -> list[str]:
    """The lines the program the wrapper ran printed (the stand-ins print their arguments)."""
    return subprocess.run([tc.cxx, *args], capture_output=True, text=True,
                          check=True).stdout.splitlines()


def zig_argv(tc: CrossToolchain, *args: str) -> list[str]:
    """The arguments zig was given (after checking the zig cache it was given)."""
    *argv, cache = wrapper_output(tc, *args)
    assert cache == str(Path(tc.root).parents[1] / "zig-cache")
    return argv


def test_the_cxx20_wrapper_drops_libraries_only_when_compiling(cxx_toolchain: CrossToolchain) -> None:
    """zig fails on -l with -c; meson's checks pass pkg-config's Libs there."""
    compiling = zig_argv(cxx_toolchain, "-c", "a b.cc", "-lz", "-l", "m", "-o", "a.o", "-I/x")
    root = Path(cxx_toolchain.root)
    assert compiling[:6] == ["c++", "-target", cxx20.ZIG_TARGET, "-idirafter",
                             str(root / "include"), f"-L{root / 'dylibs'}"]
    assert compiling[6:] == ["-c", "a b.cc", "-o", "a.o", "-I/x"]
    linking = zig_argv(cxx_toolchain, "a.o", "-lz", "-o", "a")
    assert linking[-4:] == ["a.o", "-lz", "-o", "a"]
    # -c inside another argument is no -c
    assert zig_argv(cxx_toolchain, "-DX= -c ", "a.o", "-lz")[-3:] == ["-DX= -c ", "a.o", "-lz"]


def test_a_partial_link_is_ld64s(cxx_toolchain: CrossToolchain) -> None:
    """zig's -r output crashed zig's linker when it linked `nix` (meson prelinks Nix's libs)."""
    assert wrapper_output(cxx_toolchain, "-r", "-o", "pre.o", "a.o", "b.o") == \
        ["ld64", "-arch", "x86_64", "-r", "-o", "pre.o", "a.o", "b.o"]
    # -r inside another argument is no partial link
    assert zig_argv(cxx_toolchain, "-DMSG=x -r y", "-c", "a.c")[-3:] == ["-DMSG=x -r y", "-c", "a.c"]


def test_the_cxx20_toolchain_is_made_once_with_the_sdk_headers_nix_needs(
        cxx_toolchain: CrossToolchain, tmp_path: Path) -> None:
    root = Path(cxx_toolchain.root)
    assert cxx_toolchain.kind == "cxx20" and root.name == f"cxx20-{cxx_toolchain.key}"
    assert (root / "include" / "sys" / "syscall.h").read_text() == "/* sys/syscall.h */\n"
    assert (root / "include" / "readline" / "history.h").read_text() == \
        "#include <editline/readline.h>\n"
    assert os.readlink(root / "dylibs" / "libz.dylib") == str(tmp_path / "root/usr/lib/libz.1.dylib")
    # pkg-config's own name for the file's folder: no path of ours to quote in the file
    assert "Libs: -L${pcfiledir}/../dylibs -ledit\n" in \
        (root / "pkgconfig" / "readline.pc").read_text()
    assert CrossToolchain.read(root) == cxx_toolchain
    base = dataclasses.replace(toolchain(tmp_path, "darling"), ld=str(tmp_path / HOSTILE / "ld64"))
    again = cxx20.in_cache(tmp_path / HOSTILE / "cache", base,
                           DarwinCompiler(sdk=tmp_path / "gone", ld=tmp_path / "ld64",
                                          syslibroot=tmp_path / "root"))
    assert again == cxx_toolchain  # not made again (the SDK is not even read)


def test_a_missing_sdk_header_is_a_toolchain_error_and_leaves_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cxx20.compat, "fetch", lambda program, cache, download: tmp_path / "x.whl")
    monkeypatch.setattr(cxx20.compat, "unpack", lambda program, archive: tmp_path / "zig")
    compilers = DarwinCompiler(sdk=tmp_path / "no-sdk", ld=tmp_path / "ld64",
                               syslibroot=tmp_path / "root")
    with pytest.raises(ToolchainError, match=r"sys/syscall\.h"):
        cxx20.in_cache(tmp_path / "cache", toolchain(tmp_path, "darling"), compilers)
    assert os.listdir(tmp_path / "cache" / "toolchains") == []


def test_an_unknown_nix_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(app, ["darling", "nix", "--nix", "2.99", "--cache", "/nonexistent"])
    assert result.exit_code == 2, result.output
    assert result.output == "darling-nix: no darwin Nix '2.99' (known: 2.8, 2.26)\n"
    assert not Path("/nonexistent").exists()
