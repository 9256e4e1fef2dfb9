"""`darling deps` with fake recipes and tiny fake tarballs (no compiler, no network): a malformed
recipe is one line naming the dependency and key, before anything is fetched or built; a build
sees none of the build machine's search paths; a failed merge leaves no stamp vouching for it."""

from __future__ import annotations

import copy
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from darling_nix.cli import app, darling_cmds
from darling_nix.darling import deps, sources
from darling_nix.darling.toolchain import CrossToolchain

Recipes = dict[str, dict[str, object]]
UsePinned = Callable[[Recipes], None]

GOOD: Recipes = {
    "zlib": {"debian": "zlib", "version": "1.0", "file": "zlib_1.0.orig.tar.gz", "sha256": "0" * 64,
             "build": "commands", "commands": [["true"]], "libs": ["-lz"]},
    "curl": {"debian": "curl", "version": "7.0", "file": "curl_7.0.orig.tar.gz", "sha256": "1" * 64,
             "build": "autotools", "after": ["zlib"], "configure": ["--disable-shared"],
             "prepare": [["sed", "-i", "s/a/$$b/", "configure"]]},
}


def fake_toolchain(tmp_path: Path) -> CrossToolchain:
    tools = {name: f"/fake/bin/{name}" for name in ("cc", "cxx", "ar", "ranlib", "ld", "nm", "strip")}
    return CrossToolchain(key="fakekey", install_key="fakeinstall", root=str(tmp_path / "tc"),
                     target="x86_64-apple-darwin20", **tools, cmake_toolchain="/fake/darwin.cmake",
                     meson_cross="/fake/darwin.ini", autotools_env="/fake/autotools.env",
                     syslibroot="/fake/syslibroot", made_at="now")


@pytest.fixture(autouse=True)
def no_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here reaches apt-get: a tarball is a fake one (use_tarball) or none at all."""
    def refuse(source: sources.Source, cache: Path) -> Path:
        raise AssertionError(f"{source.name} would be fetched with apt-get")
    monkeypatch.setattr(sources, "fetch", refuse)


@pytest.fixture
def use_pinned(monkeypatch: pytest.MonkeyPatch) -> UsePinned:
    def use(recipes: Recipes) -> None:
        monkeypatch.setattr(sources, "pinned", lambda: copy.deepcopy(recipes))
    return use


def broken(name: str, **changes: object) -> Recipes:
    recipes = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is None:
            del recipes[name][key]
        else:
            recipes[name][key] = value
    return recipes


def test_the_projects_own_recipes_are_well_formed() -> None:
    assert deps.checked(list(sources.pinned()))


@pytest.mark.parametrize(("recipes", "expected"), [
    (broken("curl", configure="--disable-shared"), "curl: configure: not a list of strings"),
    (broken("curl", build="meson"), "curl: build: 'meson' is none of autotools, cmake, commands"),
    (broken("curl", afer=["zlib"]), "curl: afer: not a key of a autotools recipe"),
    (broken("curl", commands=[["make"]]), "curl: commands: not a key of a autotools recipe"),
    (broken("curl", version=None), "curl: version: missing, or not a string"),
    (broken("curl", version=7), "curl: version: missing, or not a string"),
    (broken("curl", autoreconf="yes"), "curl: autoreconf: not true or false"),
    (broken("zlib", commands=[["make", "CC=$UNKNOWN"]]), "zlib: commands[0][1]: 'CC=$UNKNOWN' has a $"),
    (broken("zlib", commands=[["sh", "-c", "echo $1"]]), "zlib: commands[0][2]: 'echo $1' has a $"),
    (broken("zlib", commands=["make install"]), "zlib: commands: not a list of commands"),
    (broken("zlib", commands=[[]]), "zlib: commands: not a list of commands"),
    (broken("curl", prepare=[["sed", 1]]), "curl: prepare: not a list of commands"),
    (broken("curl", after=["openssl"]), "curl: after: 'openssl' is not a dependency"),
    (broken("curl", after="zlib"), "curl: after: not a list of strings"),
    # these reach apt-get's argv and the cache's paths
    (broken("curl", suite="bookworm main"), "curl: suite: 'bookworm main' is none of bookworm, trixie"),
    (broken("curl", debian="-oDir::Etc::SourceList=/tmp/evil"), "curl: debian: not a Debian source"),
    (broken("curl", file="../../etc/curl.tar.gz"), "curl: file: '../../etc/curl.tar.gz' is not a plain"),
    (broken("curl", sha256="ABC"), "curl: sha256: not 64 lowercase hex digits"),
    ({**GOOD, "zlib": ["not", "an", "object"]}, "zlib: not a JSON object"),
])
def test_a_malformed_recipe_is_named_before_anything_is_built(
        use_pinned: UsePinned, tmp_path: Path, recipes: Recipes, expected: str) -> None:
    use_pinned(recipes)
    with pytest.raises(deps.DepInputError) as raised:
        deps.build_dep("curl", fake_toolchain(tmp_path), tmp_path / "cache", print)
    assert str(raised.value).startswith(f"data/darwin-deps.json: {expected}")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "cache").exists()


def test_a_cycle_in_after_is_named_not_recursed_into(use_pinned: UsePinned, tmp_path: Path) -> None:
    recipes = broken("zlib", after=["curl"])
    recipes["ssl"] = {**recipes["zlib"], "after": ["ssl"]}
    use_pinned(recipes)
    with pytest.raises(deps.DepInputError, match=r"zlib: after: a cycle, zlib -> curl -> zlib$"):
        deps.build_dep("curl", fake_toolchain(tmp_path), tmp_path / "cache", print)
    use_pinned({"ssl": recipes["ssl"]})
    with pytest.raises(deps.DepInputError, match=r"ssl: after: a cycle, ssl -> ssl$"):
        deps.build_dep("ssl", fake_toolchain(tmp_path), tmp_path / "cache", print)


@pytest.mark.parametrize(("only", "expected"), [
    ("curll", "darling-nix: unknown dependency 'curll' (known: sqlite3,"),
    ("boost1.83", "darling-nix: boost1.83: built by the cxx20 toolchain, not the darling one"),
])
def test_a_bad_only_is_named_before_the_toolchain_is_made(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, only: str, expected: str) -> None:
    made: list[object] = []
    monkeypatch.setattr(darling_cmds, "selected_install", lambda install, cache: (tmp_path, None, None))
    monkeypatch.setattr(darling_cmds.toolchain, "in_cache", lambda *args: made.append(args))
    result = CliRunner().invoke(app, ["darling", "deps", "--only", "curl", "--only", only])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(expected)
    assert len(result.output.strip().splitlines()) == 1
    assert made == []


def test_a_recipe_that_is_no_object_is_named_not_a_traceback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deps.sources, "pinned", lambda: {"curl": ["not", "an", "object"]})
    result = CliRunner().invoke(app, ["darling", "deps"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("darling-nix: data/darwin-deps.json: curl:"), result.output


def test_a_build_sees_none_of_the_build_machines_search_paths(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """clang adds CPATH and C_INCLUDE_PATH even under -nostdinc (and LIBRARY_PATH as -L)."""
    leaks = ("CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "LIBRARY_PATH", "CFLAGS",
             "PKG_CONFIG_SYSROOT_DIR", "DESTDIR", "CMAKE_PREFIX_PATH", "ASM", "ASMFLAGS",
             "MAKEFLAGS", "CCC_OVERRIDE_OPTIONS")
    for name in leaks:
        monkeypatch.setenv(name, "/usr/include")
    monkeypatch.setenv("HOME", "/root/kept")
    env = deps.environment(fake_toolchain(tmp_path), tmp_path / "sysroot")
    assert not set(leaks) & set(env)
    assert env["HOME"] == "/root/kept"
    assert env["PKG_CONFIG_LIBDIR"].startswith(f"{tmp_path / 'sysroot'}/lib/pkgconfig")


def test_cmake_builds_see_only_the_sysroots_pkg_config_files(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[dict[str, str] | None] = []
    monkeypatch.setattr(deps, "run", lambda argv, log, cwd=None, env=None: seen.append(env))
    monkeypatch.setenv("CPATH", "/usr/include")
    deps._cmake({"cmake": []}, tmp_path, tmp_path / "sysroot", tmp_path / "stage",
                fake_toolchain(tmp_path), tmp_path / "log")
    assert len(seen) == 3
    for env in seen:
        assert env is not None and "CPATH" not in env
        assert env["PKG_CONFIG_LIBDIR"].startswith(f"{tmp_path / 'sysroot'}/lib/pkgconfig")


def fake_tarball(where: Path, members: dict[str, str]) -> Path:
    """A .tar.gz of MEMBERS (name -> text; a name ending in / is a directory)."""
    tree = where / "tree"
    for name, text in members.items():
        path = tree / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    tarball = where / "fake.orig.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for path in sorted(tree.iterdir()):
            tar.add(path, arcname=path.name)
    return tarball


@pytest.fixture
def use_tarball(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[dict[str, str]], None]:
    def use(members: dict[str, str]) -> None:
        tarball = fake_tarball(tmp_path, members)
        monkeypatch.setattr(sources, "fetch", lambda source, cache: tarball)
    return use


@pytest.mark.parametrize("members", [
    {"a-1.0/configure": "", "README": "beside the top directory"},
    {"a-1.0/configure": "", "b-1.0/": ""},
    {"README": "no directory at all"},
])
def test_a_tarball_without_one_top_directory_is_named(
        use_pinned: UsePinned, use_tarball: Callable[[dict[str, str]], None], tmp_path: Path,
        members: dict[str, str]) -> None:
    use_pinned({"zlib": GOOD["zlib"]})
    use_tarball(members)
    with pytest.raises(deps.DepInputError, match=r"fake\.orig\.tar\.gz: does not unpack to one dir"):
        deps.build_dep("zlib", fake_toolchain(tmp_path), tmp_path / "cache", print)


def test_a_top_directory_that_is_a_link_is_not_built_in(
        use_pinned: UsePinned, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A build in the directory a link points to would write wherever that is."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "top").symlink_to(tmp_path / "elsewhere")
    tarball = tmp_path / "link.tar"
    subprocess.run(["tar", "-cf", str(tarball), "-C", str(tmp_path / "tree"), "top"], check=True)
    monkeypatch.setattr(sources, "fetch", lambda source, cache: tarball)
    use_pinned(broken("zlib", commands=[["touch", "built-here"]]))
    with pytest.raises(deps.DepInputError, match="does not unpack to one directory"):
        deps.build_dep("zlib", fake_toolchain(tmp_path), tmp_path / "cache", print)
    assert not (tmp_path / "elsewhere" / "built-here").exists()


def install(*words: str) -> list[list[str]]:
    """Commands that put $STAGE$PREFIX/WORD in place for each WORD (a name ending in / is a
    directory), using every placeholder a command may name."""
    script = ('set -e; tools=$$1; shift; for w; do case $$w in */) mkdir -p "$$0/$$w";; '
              '*) echo "$$tools" > "$$0/$$w";; esac; done')
    return [["mkdir", "-p", "$STAGE$PREFIX/lib"],
            ["sh", "-c", script, "$STAGE$PREFIX", "$CC $CXX $AR $RANLIB -j$JOBS", *words]]


def test_every_placeholder_is_filled_in(use_pinned: UsePinned, use_tarball: Any, tmp_path: Path) -> None:
    use_pinned(broken("zlib", commands=install("include/", "include/zlib.h")))
    use_tarball({"zlib-1.0/Makefile": ""})
    built = deps.build_dep("zlib", fake_toolchain(tmp_path), tmp_path / "cache", print)
    header = Path(built.sysroot) / "include" / "zlib.h"
    assert header.read_text().startswith("/fake/bin/cc /fake/bin/cxx /fake/bin/ar /fake/bin/ranlib -j")


def test_a_failed_merge_leaves_no_stamp_vouching_for_the_sysroot(
        use_pinned: UsePinned, use_tarball: Any, tmp_path: Path) -> None:
    """v2's merge fails halfway (its include is a file where v1 made a directory): v1's stamp
    must not survive it, or going back to v1's recipe would find a mixed sysroot up to date."""
    toolchain, cache = fake_toolchain(tmp_path), tmp_path / "cache"
    use_tarball({"zlib-1.0/Makefile": ""})
    v1 = broken("zlib", commands=install("include/", "include/zlib.h"))
    use_pinned(v1)
    first = deps.build_dep("zlib", toolchain, cache, print)
    stamp = Path(first.sysroot) / ".deps" / "zlib.json"
    assert stamp.is_file()
    use_pinned(broken("zlib", commands=install("lib/libz.a", "include"), version="2.0"))
    with pytest.raises(deps.DepBuildFailed, match="cp failed"):
        deps.build_dep("zlib", toolchain, cache, print)
    assert (Path(first.sysroot) / "lib" / "libz.a").exists()  # half of v2 is in
    assert not stamp.exists()
    use_pinned(v1)
    assert deps.build_dep("zlib", toolchain, cache, print).built_now
