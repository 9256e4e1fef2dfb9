"""Fixtures for the tests under the real Darling (pytest marker `darling`).

Darling is built from the pinned source tarball beside the checkout
(../shared/darling/darling-*-src.tar.xz) by `darling-nix darling build`, once per cache
key: the first run on a machine takes ~20 minutes (its progress is shown), later runs
find the install in /var/cache/darling-nix. Without the tarball, or without root
(`darling` is setuid root), every test here is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib: make darling_support, and the shim tests' call
# forms (tests/shims), importable by the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[3] / "tests" / "shims"))

from darling_support import darling_missing, new_prefix, no_download

from darling_nix import compat
from darling_nix.darling import deps, host_nix, sources, toolchain
from darling_nix.darling import nix as nix_tarball
from darling_nix.darling.build import Installed
from darling_nix.darling.cache import default_cache
from darling_nix.darling.compiler import DarwinCompiler
from darling_nix.hostnix import DEBIAN_NIX, HostClient
from darling_nix.runner import DarlingRunner


def _build(request: pytest.FixtureRequest, variant: str) -> Installed:
    reason = darling_missing()
    if reason:
        pytest.skip(reason)
    capture = request.config.pluginmanager.getplugin("capturemanager")
    # A cold build takes many minutes: its progress goes to the terminal, not the capture.
    with capture.global_and_fixture_disabled():
        print(f"\n==> darling-nix darling build --variant {variant}", file=sys.stderr, flush=True)
        result = subprocess.run([sys.executable, "-m", "darling_nix", "darling", "build",
                                 "--variant", variant, "--json"], stdout=subprocess.PIPE,
                                text=True, check=False)
    assert result.returncode == 0, f"darling build --variant {variant} failed (see above)"
    return Installed(**json.loads(result.stdout))


@pytest.fixture(scope="session")
def darling_install(request: pytest.FixtureRequest) -> Installed:
    """Darling with every patch of pkgs/darling/patches/series.json."""
    return _build(request, "patched")


@pytest.fixture(scope="session")
def darling_control(request: pytest.FixtureRequest) -> Installed:
    """The negative control: the same build without our darling-xnu patches."""
    return _build(request, "control")


@pytest.fixture(scope="session")
def darwin_cc(darling_install: Installed) -> DarwinCompiler:
    return DarwinCompiler.for_install(darling_install)


@pytest.fixture(scope="session")
def darwin_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host directory for Mach-O test programs, reachable from inside every prefix."""
    return tmp_path_factory.mktemp("darwin-bin")


@pytest.fixture(scope="module")
def darling_runner(darling_install: Installed) -> Iterator[DarlingRunner]:
    yield from new_prefix(darling_install)


@pytest.fixture(scope="module")
def control_runner(darling_control: Installed) -> Iterator[DarlingRunner]:
    yield from new_prefix(darling_control)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI (CI=true) a test under the real Darling that skips is a failure: CI must not be
    green with the real path untested. Elsewhere the skip stays visible with its reason."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail") \
            and item.get_closest_marker("darling") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where the real-Darling tests must run: {reason}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this directory carries the `darling` marker (`pytest -m darling`)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.darling)


@pytest.fixture(scope="session")
def compat_program() -> Callable[[str], Path]:
    """A program of the compatibility suite (data/compat.json), unpacked from the cache. The
    tests never download: `darling-nix darling compat --fetch-only` does (a stage of .ci/run);
    a program not fetched yet is a visible skip (in CI, a failure)."""

    suite = compat.load()

    def unpacked(name: str) -> Path:
        program = suite.programs[name]
        archive = compat.archive_dir(program, default_cache()) / program.file
        if not archive.is_file():
            pytest.skip(f"{program.file} is not in the cache: `darling-nix darling compat "
                        "--fetch-only` downloads it")
        return compat.unpack(program, compat.fetch(program, default_cache(), no_download))

    return unpacked


@pytest.fixture(scope="session")
def zig(compat_program: Callable[[str], Path]) -> Path:
    """zig 0.13 from PyPI's macOS wheel (built by zig's authors on macOS)."""
    return compat_program("zig-cc")


@pytest.fixture(scope="session")
def cross_toolchain(darling_install: Installed, darwin_cc: DarwinCompiler) -> toolchain.CrossToolchain:
    return toolchain.in_cache(default_cache(), darling_install, darwin_cc)


def _not_fetched(program: compat.Program, directory: Path) -> None:
    """The tests never download (zig, for the C++20 toolchain): `darling nix --nix 2.26` does."""
    raise compat.FetchError(f"{program.file} is not in the cache")


def _darwin_nix(which: str, cross_toolchain: toolchain.CrossToolchain,
                compilers: DarwinCompiler) -> nix_tarball.NixTarball:
    cache = default_cache()
    recipe = nix_tarball.recipe(which)
    try:
        built, cxx = nix_tarball.build_inputs(recipe, cross_toolchain, cache,
                                              lambda message: None, compilers, _not_fetched)
    except (sources.SourceHashMismatch, deps.DepInputError) as error:
        pytest.fail(f"Nix {which}'s dependencies are pinned wrong: {error}")  # a bug here
    except (sources.SourceUnavailable, compat.FetchError) as error:
        pytest.skip(f"Nix {which}'s dependencies cannot be fetched here: {error}")
    found = nix_tarball.cached(recipe, cross_toolchain, built, cache, cxx.key if cxx else None)
    if found is not None:
        return found
    if os.environ.get("DARLING_NIX_BUILD_NIX") != "1":
        pytest.skip(f"no darwin Nix {which} for these inputs in the cache: `darling-nix darling "
                    f"nix --nix {which}` builds it (11 to 30 min on 2 cores), or set "
                    "DARLING_NIX_BUILD_NIX=1")
    return nix_tarball.build_nix(cross_toolchain, cache, lambda message: None, which, compilers)


@pytest.fixture(scope="session")
def darwin_nix(cross_toolchain: toolchain.CrossToolchain,
               darwin_cc: DarwinCompiler) -> nix_tarball.NixTarball:
    """Nix 2.8 for x86_64-darwin (autotools, Darling's toolchain)."""
    return _darwin_nix("2.8", cross_toolchain, darwin_cc)


# The fixture of each darwin Nix (nix_tarball.NIX_ENTRIES)
NIX_FIXTURES = {"2.8": "darwin_nix", "2.26": "darwin_nix_226"}


@pytest.fixture(scope="module", params=sorted(NIX_FIXTURES))
def builder_nix(request: pytest.FixtureRequest) -> nix_tarball.NixTarball:
    """A test module's builder Nix, each in turn: 2.26 (the default) and 2.8."""
    found: nix_tarball.NixTarball = request.getfixturevalue(NIX_FIXTURES[request.param])
    return found


@pytest.fixture(scope="session")
def default_darwin_nix(request: pytest.FixtureRequest) -> nix_tarball.NixTarball:
    """The darwin Nix `darling nix` and the demo take when not told (nix_tarball.DEFAULT)."""
    found: nix_tarball.NixTarball = request.getfixturevalue(NIX_FIXTURES[nix_tarball.DEFAULT])
    return found


@pytest.fixture(scope="session")
def darwin_nix_226(cross_toolchain: toolchain.CrossToolchain,
                   darwin_cc: DarwinCompiler) -> nix_tarball.NixTarball:
    """Nix 2.26 for x86_64-darwin (meson, the C++20 toolchain of darling/cxx20.py)."""
    return _darwin_nix("2.26", cross_toolchain, darwin_cc)


@pytest.fixture(scope="session")
def host_nix_226() -> host_nix.HostNix:
    """Nix 2.26 built for this host (`darling-nix darling host-nix`): the interop matrix's
    current client. Built like the darwin Nixes: when cached, or DARLING_NIX_BUILD_NIX=1."""
    host_nix.recipe()  # a malformed recipe is a bug here: it fails, not skips
    cache = default_cache()
    try:
        found = host_nix.cached(cache)
    except deps.DepInputError as error:
        pytest.skip(f"the host's Nix 2.26 cannot be built here: {error}")
    if found is not None:
        return found
    if os.environ.get("DARLING_NIX_BUILD_NIX") != "1":
        pytest.skip("no host Nix 2.26 for these inputs in the cache: `darling-nix darling "
                    "host-nix` builds it (about 10 min on 2 cores), or set DARLING_NIX_BUILD_NIX=1")
    return host_nix.build_host_nix(cache, lambda message: None)


@pytest.fixture(params=["debian", "2.26"])
def host_client(request: pytest.FixtureRequest, tmp_path: Path) -> HostClient:
    """The host Nix that sends a test's builds, each in turn: Debian's 2.8 into the host's
    store, and Nix 2.26 built here into a store of its own."""
    if request.param == "debian":
        return DEBIAN_NIX
    built: host_nix.HostNix = request.getfixturevalue("host_nix_226")
    return HostClient(built.bin, tmp_path / "host-store")
