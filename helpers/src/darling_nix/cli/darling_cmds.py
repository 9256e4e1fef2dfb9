"""`darling-nix darling build|toolchain|deps|nix|stdenv|host-nix`: Darling from source on a host
without Nix, the darwin cross toolchain made from it, Nix's dependencies and Nix cross-built
with that, and a current Nix for the host itself (the interop matrix's client)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from .. import compat, stdenv_lite
from ..darling import build as darling_build
from ..darling import deps, host_nix, sources, toolchain
from ..darling import nix as nix_tarball
from ..darling.cache import CacheLockError, Layout, default_cache
from ..darling.compiler import CompileError, DarwinCompiler
from .common import EXIT_FAILED, JsonOption, fail, print_json

HELP = "Darling itself, built on this host (for machines without Nix)."

CacheOption = Annotated[Path | None, typer.Option(
    help="Cache directory (ccache, trees, installs, toolchains, sysroots). Default: "
         "/var/cache/darling-nix as root, ~/.cache/darling-nix otherwise.", show_default=False)]
InstallOption = Annotated[Path | None, typer.Option(
    help="A Darling install made by `darling build` (it holds manifest.json). Default: "
         "<cache>/installs/patched.", show_default=False)]


def shared_source() -> Path | None:
    """The pinned source tarball beside a checkout (../shared/darling), when there is one."""
    shared = darling_build.checkout_pkgs_darling().parents[2] / "shared" / "darling"
    found = sorted(p for p in shared.glob("darling-*-src.tar.xz")
                   if not p.name.endswith(darling_build.TOOLS_SUFFIX[1]))
    return found[-1] if found else None


class Progress:
    """ninja's [N/M] as one rewritten line on a tty, a line per tenth otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        if self.tty:
            end = "\n" if done == total else ""
            sys.stderr.write(f"\r    building {done}/{total} ({percent}%){end}")
        elif percent // 10 != self.shown:
            self.shown = percent // 10
            sys.stderr.write(f"    building {done}/{total} ({percent}%)\n")
        sys.stderr.flush()


def build_command(
    source: Annotated[Path | None, typer.Option(
        help="Darling's source: the pinned tarball, or a `git clone --recursive` of the pinned "
             "rev. Default: ../shared/darling/darling-*-src.tar.xz beside this checkout.",
        show_default=False)] = None,
    tools_source: Annotated[Path | None, typer.Option(
        help="The tarball of the command-line tools' submodules, unpacked over a source "
             "tarball. Default: NAME-tools-src.tar.xz beside NAME-src.tar.xz.",
        show_default=False)] = None,
    upstream_patches: Annotated[Path | None, typer.Option(
        help="Directory with the upstream fixes the patch list names (localName in "
             "pkgs/darling/patches/series.json). Default: upstream/ beside a source tarball.",
        show_default=False)] = None,
    cache: CacheOption = None,
    variant: Annotated[str, typer.Option(
        help="patched (every patch in the list), or control (the negative control: "
             "without the fixes, the patches of kind fix in the list).")] = "patched",
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Parallel compile jobs "
                                             "(ninja's default if unset).", min=1)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and its cache key; "
                                          "build nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Build Darling with this project's patch list and install it into the cache; a build
    whose inputs (source, patches, flags, compiler) are unchanged is skipped. Prints the
    install directory (or, with --json, its manifest). A cold build takes ~15-20 minutes on
    2 cores; with a warm ccache a few minutes."""
    def say(message: str) -> None:
        typer.echo(f"==> {message}", err=True)

    try:
        plan = darling_plan(source, tools_source, upstream_patches, cache or default_cache(),
                            variant)
        if dry_run:
            summary = {"key": plan.key, "variant": plan.variant, "source": str(plan.source),
                       "tools_source": str(plan.tools_source) if plan.tools_source else None,
                       "install": str(plan.install), "flags": list(plan.flags),
                       "patches": [p.name for p in plan.patches],
                       "installed": (plan.install / "manifest.json").is_file()}
            if as_json:
                print_json(summary)
            else:
                for name, value in summary.items():
                    typer.echo(f"{name:10} {value}")
            return
        installed, built = darling_build.build_darling(plan, say=say, progress=Progress(), jobs=jobs)
    except (darling_build.BuildInputError, CacheLockError) as error:
        fail(str(error))
    except darling_build.BuildStepFailed as error:
        fail(str(error), EXIT_FAILED)
    if not built:
        say(f"up to date: {installed.install} (key {installed.key})")
    if as_json:
        print_json(asdict(installed))
    else:
        typer.echo(installed.install)


def darling_plan(source: Path | None, tools_source: Path | None, upstream_patches: Path | None,
                 cache: Path, variant: str) -> darling_build.BuildPlan:
    """The build plan of SOURCE (default: the tarball in ../shared/darling), with the upstream
    fixes in upstream/ beside it unless UPSTREAM_PATCHES names them."""
    source = source or shared_source()
    if source is None:
        fail("no --source given and no ../shared/darling/darling-*-src.tar.xz beside this checkout")
    if upstream_patches is None and (source.parent / "upstream").is_dir():
        upstream_patches = source.parent / "upstream"
    return darling_build.plan(source, cache=cache, variant=variant, upstream_dir=upstream_patches,
                              tools_source=tools_source)


def selected_install(install: Path | None,
                     cache: Path | None) -> tuple[Path, darling_build.Installed, DarwinCompiler]:
    """The cache, the Darling install (default: the cache's patched one) and its compilers."""
    cache = cache or default_cache()
    install = install or Layout(cache).installs / "patched"
    try:
        installed = darling_build.Installed.read(install)
    except (OSError, ValueError, TypeError) as error:
        fail(f"{install}: not a Darling install made by `darling-nix darling build` ({error})")
    return cache, installed, DarwinCompiler.for_install(installed)


def toolchain_command(
    install: InstallOption = None,
    out: Annotated[Path | None, typer.Option(
        help="Where to put the toolchain. Default: <cache>/toolchains/KEY.", show_default=False)] = None,
    cache: CacheOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make the x86_64-apple-darwin20 cross toolchain of a Darling build: cc/c++/ld/ar/ranlib
    wrappers, a CMake toolchain file, a meson cross file and an env file for autotools
    (docs/darwin-toolchain.md). Made once per install; prints its directory (or, with
    --json, its manifest)."""
    cache, installed, compilers = selected_install(install, cache)
    try:
        # the cache's (under its lock: what deps and nix use may not be replaced) or OUT's
        made = toolchain.in_cache(cache, installed, compilers) if out is None \
            else toolchain.make(installed, out, compilers)[0]
    except (toolchain.ToolchainError, CacheLockError) as error:
        fail(str(error))
    except CompileError as error:
        fail(f"building libc++fs failed: {error}", EXIT_FAILED)
    if as_json:
        print_json(asdict(made))
    else:
        typer.echo(made.root)


def deps_command(
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Build only this dependency (repeatable). Default: all of "
                       "data/darwin-deps.json.", show_default=False)] = None,
    install: InstallOption = None,
    cache: CacheOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cross-build Nix's dependencies and the lite darwin stdenv's make (pinned Debian
    sources) into the darwin sysroot <cache>/sysroot/TOOLCHAIN-KEY with the toolchain of
    `darling toolchain`; a dependency whose recipe is unchanged is not built again."""
    results = []
    try:
        names = only or deps.built_by("darling")
    except deps.DepInputError as error:
        fail(str(error))
    with _cross_build(install, cache, names, "darling") as (made, cache, _):
        for name in names:
            results.append(deps.build_dep(name, made, cache, say_step))
    if as_json:
        print_json([asdict(built) for built in results])
    else:
        for built in results:
            state = f"built in {built.seconds:.0f} s" if built.built_now else "up to date"
            typer.echo(f"{built.name:15} {built.version:10} {state}")


def nix_command(
    install: InstallOption = None,
    cache: CacheOption = None,
    which: Annotated[str, typer.Option(
        "--nix", help="Which Nix: 2.26 (meson, the C++20 toolchain: zig's clang and libc++, "
                      "fetched from PyPI) or 2.8 (autotools, Darling's toolchain).")
    ] = nix_tarball.DEFAULT,
    as_json: JsonOption = False,
) -> None:
    """Cross-build Nix (Debian's pinned source) for x86_64-darwin against the sysroot of
    `darling deps` (built first if needed) and pack it as the official binary tarball is
    packed, for `darling-nix install-nix`. Made once per key (<cache>/nix/KEY); prints the
    tarball and its sha256 (or, with --json, the manifest)."""
    try:
        nix = nix_tarball.recipe(which)
    except deps.DepInputError as error:
        fail(str(error))
    needs = deps.strings(nix, "needs") + deps.strings(nix, "cxx20_needs")
    with _cross_build(install, cache, needs) as (made, cache, compilers):
        result = nix_tarball.build_nix(made, cache, say_step, which, compilers)
    if as_json:
        print_json(asdict(result))
    else:
        typer.echo(f"{result.tarball} {result.sha256}")


def host_nix_command(
    cache: CacheOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build Nix 2.26 for this Linux host, natively (meson, the host's g++, Debian 12's
    libraries), from the pinned source of the darwin 2.26: a current client for the interop
    matrix. Made once per key (<cache>/host-nix/KEY; about 9 minutes cold on 2 cores);
    prints its bin directory (or, with --json, the manifest). Debian's Nix stays the host's:
    this one reads its own nix.conf (store = daemon) and is meant to be run with --store."""
    try:
        result = host_nix.build_host_nix(cache or default_cache(), say_step)
    except (deps.DepInputError, CacheLockError) as error:
        fail(str(error))
    except (deps.DepBuildFailed, sources.SourceUnavailable) as error:
        fail(str(error), EXIT_FAILED)
    if as_json:
        print_json(asdict(result))
    else:
        typer.echo(str(result.bin))


def stdenv_command(
    install: InstallOption = None,
    cache: CacheOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fetch and build what the lite darwin stdenv (data/stdenv-lite) takes: zig (PyPI's
    macOS wheel), GNU make cross-built for darwin (`deps --only make`) and GNU hello's
    source (Debian's tarball), each kept in the cache by its pin. Prints the three paths
    (or, with --json, an object) that its default.nix takes as zig, make and helloSource."""
    with _cross_build(install, cache, ["make"]) as (made, cache, _):
        try:
            inputs = stdenv_lite.gather(made, cache, say_step)
        except compat.FetchError as error:
            fail(str(error), EXIT_FAILED)
    paths = {"zig": str(inputs.zig), "make": str(inputs.make),
             "helloSource": str(inputs.hello_source)}
    if as_json:
        print_json(paths)
    else:
        for name, path in paths.items():
            typer.echo(f"{name:12} {path}")


def say_step(message: str) -> None:
    typer.echo(f"==> {message}", err=True)


@contextlib.contextmanager
def _cross_build(install: Path | None, cache: Path | None, names: list[str],
                 kind: str | None = None
                 ) -> Iterator[tuple[toolchain.CrossToolchain, Path, DarwinCompiler]]:
    """The toolchain (made if missing) and the cache, once the recipes of NAMES are checked
    (a typo in --only or in a recipe, or a NAME another toolchain than KIND builds, is named
    before anything is built); a build's errors become exit codes: bad input 2, a failed
    step EXIT_FAILED."""
    cache, installed, compilers = selected_install(install, cache)
    try:
        deps.checked(names, kind)
        made = toolchain.in_cache(cache, installed, compilers)
        yield made, cache, compilers
    except (toolchain.ToolchainError, deps.DepInputError, CacheLockError) as error:
        fail(str(error))
    except (CompileError, deps.DepBuildFailed, sources.SourceUnavailable,
            compat.FetchError) as error:
        fail(str(error), EXIT_FAILED)
