"""`darling-nix darling deps`: Nix's C/C++ dependencies cross-built into a darwin sysroot.

Each dependency of data/darwin-deps.json is built from its pinned tarball (sources.py)
with the toolchain of toolchain.py and installed into <cache>/sysroot/TOOLCHAIN-KEY
(include/, lib/). A stamp <sysroot>/.deps/NAME.json, written last, records the recipe
it was built from: an unchanged recipe is not built again, so a second run is fast.
A build installs into a staging DESTDIR first and is merged into the sysroot only
when it succeeded, so a failed build leaves the sysroot as it was.
"""

from __future__ import annotations

import os
import re
import string
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..removal import remove_tree
from . import recipes, sources
from .build import SDK
from .cache import Layout, StepFailed, build_environment, content_key, locked, read_record, write_record
from .cache import missing_tools as missing_programs
from .cache import run as run_logged
from .toolchain import CrossToolchain

BUILD_MACHINE = "x86_64-pc-linux-gnu"
_KEY_NAME = re.compile(r"[0-9a-f]{20}")  # cache.content_key's
Say = Callable[[str], None]


class DepBuildFailed(StepFailed):
    """A dependency's configure, build or install step failed; the log has the details."""


class DepInputError(RuntimeError):
    """An unknown dependency, a malformed recipe, or a host tool its build needs is missing
    (exit 2)."""


@dataclass(frozen=True)
class Built:
    name: str
    version: str
    sysroot: str
    libs: list[str]
    recipe: str  # sha256 of the recipe (and the toolchain) it was built with
    seconds: float
    built_now: bool


def sysroot(cache: Path, toolchain: CrossToolchain) -> Path:
    return Layout(cache).sysroots / toolchain.key


def recipe_hash(recipe: dict[str, object], toolchain: CrossToolchain) -> str:
    return content_key({"recipe": recipe, "toolchain": toolchain.key})


def checked(names: list[str], kind: str | None = None) -> dict[str, dict[str, object]]:
    """Every recipe, once each is known to be well formed, NAMES are all among them and (given
    KIND) all built by the toolchain of KIND: boost 1.83 in Darling's sysroot would hide the
    1.74 that Nix 2.8 is built with."""
    pinned = sources.pinned()
    problem = next(recipes.problems(pinned), None)
    if problem is not None:
        raise DepInputError(f"data/darwin-deps.json: {problem}")
    unknown = [name for name in names if name not in pinned]
    if unknown:
        raise DepInputError(f"unknown dependency {unknown[0]!r} (known: {', '.join(pinned)})")
    for name in names if kind is not None else []:
        builder = pinned[name].get("toolchain", "darling")
        if builder != kind:
            raise DepInputError(f"{name}: built by the {builder} toolchain, not the {kind} one")
    return pinned


def built_by(kind: str) -> list[str]:
    """The dependencies that the toolchain of KIND builds (recipes.TOOLCHAINS)."""
    return [name for name, recipe in checked([]).items()
            if recipe.get("toolchain", "darling") == kind]


def build_dep(name: str, toolchain: CrossToolchain, cache: Path, say: Say) -> Built:
    """NAME built into the toolchain's sysroot, unless its stamp says it is there already."""
    recipe = checked([name], toolchain.kind)[name]  # a bad recipe is named before the lock
    root = sysroot(cache, toolchain)
    stamp = root / ".deps" / f"{name}.json"
    found = _stamped(stamp, _wanted(recipe, toolchain, cache, say))
    if found is not None:
        return found
    with locked(Layout(cache).steps_lock):
        # again: while this run waited, another may have built this or what it links against
        wanted = _wanted(recipe, toolchain, cache, say)
        return _stamped(stamp, wanted) or _build_dep(name, recipe, root, stamp, wanted,
                                                     toolchain, cache, say)


def _wanted(recipe: dict[str, object], toolchain: CrossToolchain, cache: Path, say: Say) -> str:
    """The recipe hash RECIPE's stamp must carry: what it links against is built first, and
    a rebuilt one means this is rebuilt too."""
    before = [build_dep(dep, toolchain, cache, say) for dep in strings(recipe, "after")]
    return recipe_hash({**recipe, "after": [b.recipe for b in before]} if before else recipe,
                       toolchain)


def _stamped(stamp: Path, wanted: str) -> Built | None:
    """STAMP's record if it says the recipe WANTED was built."""
    found = read_record(Built, stamp)
    return found if found is not None and found.recipe == wanted else None


def _build_dep(name: str, recipe: dict[str, object], root: Path, stamp: Path, wanted: str,
               toolchain: CrossToolchain, cache: Path, say: Say) -> Built:
    """build_dep's build, with the steps lock held."""
    missing = missing_tools(recipe)
    if missing:
        raise DepInputError(f"{name}: its build needs {' '.join(missing)} on the build machine")
    tarball = sources.fetch(sources.source_of(name), cache)
    log = Layout(cache).step_log(name)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"{name}-", dir=_scratch(cache)) as scratch:
        say(f"{name}: building from {tarball.name} (log: {log})")
        run(["tar", "-xf", str(tarball), "-C", scratch], log)
        top = _top(Path(scratch), tarball)
        stage = Path(scratch) / "stage"
        _BUILDERS[str(recipe["build"])](recipe, top, root, stage, toolchain, log)
        staged = Path(f"{stage}{root}")
        root.mkdir(parents=True, exist_ok=True)
        # from here the sysroot holds part of this build: no old stamp may vouch for it
        stamp.unlink(missing_ok=True)
        run(["cp", "-a", f"{staged}/.", str(root)], log)
    built = Built(name=name, version=str(recipe["version"]), sysroot=str(root),
                  libs=strings(recipe, "libs"), recipe=wanted,
                  seconds=round(time.monotonic() - started, 1), built_now=True)
    stamp.parent.mkdir(exist_ok=True)
    if stamp.is_dir() and not stamp.is_symlink():  # not a stamp: it goes, the stamp replaces it
        remove_tree(stamp)
    write_record(stamp, built)
    return built


def missing_tools(recipe: dict[str, object], also: Iterable[str] = ()) -> list[str]:
    """Those of the recipe's host_tools (and ALSO) the build machine lacks."""
    return missing_programs([*strings(recipe, "host_tools"), *also])


def _top(scratch: Path, tarball: Path) -> Path:
    """The one directory TARBALL unpacked to (a link there would have the build run where it
    points)."""
    tops = list(scratch.iterdir())
    if len(tops) != 1 or tops[0].is_symlink() or not tops[0].is_dir():
        raise DepInputError(f"{tarball}: does not unpack to one directory "
                            f"(it has {', '.join(sorted(p.name for p in tops)) or 'nothing'})")
    return tops[0]


def _scratch(cache: Path) -> Path:
    where = Layout(cache).deps_build
    where.mkdir(parents=True, exist_ok=True)
    return where


def strings(recipe: dict[str, object], key: str) -> list[str]:
    value = recipe.get(key, [])
    assert isinstance(value, list)
    return [str(item) for item in value]


def environment(toolchain: CrossToolchain, prefix: Path) -> dict[str, str]:
    """The cross compilers, and the sysroot as the only place headers, libraries and
    pkg-config files of dependencies are found (never the build machine's own)."""
    return build_environment({
        "CC": toolchain.cc, "CXX": toolchain.cxx, "AR": toolchain.ar,
        "RANLIB": toolchain.ranlib, "NM": toolchain.nm, "STRIP": toolchain.strip,
        "CPPFLAGS": f"-I{prefix}/include", "LDFLAGS": f"-L{prefix}/lib",
        "PKG_CONFIG_LIBDIR": f"{prefix}/lib/pkgconfig:{prefix}/share/pkgconfig",
        "PKG_CONFIG_PATH": ""})


def _autotools(recipe: dict[str, object], top: Path, prefix: Path, stage: Path,
               toolchain: CrossToolchain, log: Path) -> None:
    env = environment(toolchain, prefix)
    # prepare edits the sources, so it comes before configure is generated from them
    _run_commands(recipe, "prepare", top, prefix, stage, toolchain, log)
    if recipe.get("autoreconf"):  # a tarball of the repository, without a generated configure
        run(["autoreconf", "-vfi"], log, cwd=top, env=env)
    run(["./configure", f"--host={toolchain.target}", f"--build={BUILD_MACHINE}",
          f"--prefix={prefix}", *strings(recipe, "configure")], log, cwd=top, env=env)
    run(["make", f"-j{os.cpu_count() or 1}"], log, cwd=top, env=env)
    run(["make", "install", f"DESTDIR={stage}"], log, cwd=top, env=env)


def _cmake(recipe: dict[str, object], top: Path, prefix: Path, stage: Path,
           toolchain: CrossToolchain, log: Path) -> None:
    build_dir = top / "darwin-build"
    env = environment(toolchain, prefix)
    values = _placeholders(toolchain, prefix, stage, env)
    run(["cmake", "-S", str(top), "-B", str(build_dir), "-G", "Ninja",
          f"-DCMAKE_TOOLCHAIN_FILE={toolchain.cmake_toolchain}", f"-DCMAKE_INSTALL_PREFIX={prefix}",
          "-DCMAKE_BUILD_TYPE=Release",
          *(string.Template(arg).substitute(values) for arg in strings(recipe, "cmake"))],
         log, env=env)
    run(["ninja", "-C", str(build_dir)], log, env=env)
    run(["ninja", "-C", str(build_dir), "install"], log, env={**env, "DESTDIR": str(stage)})


def _commands(recipe: dict[str, object], top: Path, prefix: Path, stage: Path,
              toolchain: CrossToolchain, log: Path) -> None:
    """A build that is neither autotools nor CMake: the recipe's "commands"."""
    _run_commands(recipe, "commands", top, prefix, stage, toolchain, log)


def _run_commands(recipe: dict[str, object], key: str, top: Path, prefix: Path, stage: Path,
                  toolchain: CrossToolchain, log: Path) -> None:
    """The recipe's KEY: argv lists run in the source tree with $PREFIX, $STAGE (the DESTDIR),
    $JOBS and the toolchain's $CC, $CXX, $AR, $RANLIB replaced (and set in the environment);
    recipes.PLACEHOLDERS names them, so a recipe with another is refused before it runs."""
    env = {**environment(toolchain, prefix), "STAGE": str(stage), "PREFIX": str(prefix)}
    values = _placeholders(toolchain, prefix, stage, env)
    commands = recipe.get(key, [])
    assert isinstance(commands, list)
    for command in commands:
        argv = [string.Template(str(word)).substitute(values) for word in command]
        run(argv, log, cwd=top, env=env)


def _placeholders(toolchain: CrossToolchain, prefix: Path, stage: Path,
                  env: dict[str, str]) -> dict[str, str]:
    """What $NAME stands for in a recipe (recipes.PLACEHOLDERS); SDK and SYSLIBROOT are the
    Darling install's (macOS headers, and libraries such as libz that a program links)."""
    return {"PREFIX": str(prefix), "STAGE": str(stage), "JOBS": str(os.cpu_count() or 1),
            "SDK": str(sdk_of(toolchain)), "SYSLIBROOT": toolchain.syslibroot,
            **{tool: env[tool] for tool in ("CC", "CXX", "AR", "RANLIB")}}


def sdk_of(toolchain: CrossToolchain) -> Path:
    """The macOS SDK of the toolchain's Darling install (<install>/sdk/..., build.SDK)."""
    return Path(toolchain.syslibroot).parents[1] / "sdk" / SDK


_BUILDERS = {"autotools": _autotools, "cmake": _cmake, "commands": _commands}


def run(argv: list[str], log: Path, *, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> None:
    run_logged(argv, log, cwd=cwd, env=env, failure=DepBuildFailed)


def drop_other_trees(tree: Path) -> None:
    """TREE's siblings named like a key go: build trees of other keys, left by failed builds
    of older inputs. Only in a directory of the cache's own: a link there could lead to
    anybody's files."""
    parent = tree.parent
    if parent.is_symlink():
        raise DepInputError(f"{parent}: a symbolic link; build trees of other keys are removed "
                            "there, so it must be a directory of its own")
    for stale in parent.iterdir() if parent.is_dir() else []:
        if stale != tree and _KEY_NAME.fullmatch(stale.name):
            remove_tree(stale)


def unpack(tarball: Path, top: Path, log: Path) -> None:
    """The content of TARBALL's one top directory into TOP, made anew."""
    if top.exists():
        remove_tree(top)
    top.mkdir(parents=True)
    run(["tar", "-xf", str(tarball), "-C", str(top), "--strip-components=1"], log)
