"""`darling-nix darling host-nix`, the host's own Nix 2.26: its recipe checked before anything
is built, a failed build leaving nothing that looks built, and (when the cache holds it,
as after .ci/run's stage) the built Nix itself: its version, its own configuration, and a
build from it through a loopback builder into a store of its own, on both protocols, with
the host's store untouched. The matrix under the real Darling is in
real_darling/test_nix_darwin.py (host_client)."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from darling_nix import loopback
from darling_nix.darling import deps, host_nix, sources
from darling_nix.darling.cache import default_cache
from darling_nix.hostnix import HostClient, remote_build, write_probe_expression
from darling_nix.sshd import SSHD

REPO = Path(__file__).resolve().parents[2]
CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def with_entry(monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    """darwin-deps.json as the build reads it, with the host-nix entry's keys changed."""
    document = copy.deepcopy(sources.darwin_deps())
    entry = document["host-nix"]
    assert isinstance(entry, dict)
    entry.update(changes)
    monkeypatch.setattr(sources, "darwin_deps", lambda: document)


def test_the_recipe_builds_the_darwin_226_source() -> None:
    entry, source = host_nix.recipe()
    assert entry["source"] == "nix-2.26" and source["version"] == "2.26.3"


def test_setup_installs_every_debian_package_the_recipe_names() -> None:
    entry, _ = host_nix.recipe()
    setup = (REPO / "scripts" / "setup").read_text()
    listed = re.search(r"packages=\(([^)]*)\)", setup)
    assert listed is not None
    assert set(entry["debian_packages"]) <= set(listed.group(1).split())  # type: ignore[arg-type]


def test_ci_builds_it_before_the_tests() -> None:
    assert 'stage "darling host-nix" .venv/bin/darling-nix darling host-nix' in \
        (REPO / ".ci" / "run").read_text()


@pytest.mark.parametrize(("changes", "expected"), [
    ({"meson": ["-Dfoo=bar; rm -rf /"]}, r"meson: '-Dfoo=bar; rm -rf /' is not -Dname=value"),
    ({"meson": ["-Dcpp_args=-O2 -g"]}, r"meson: '-Dcpp_args=-O2 -g' is not"),
    ({"meson": "-Dunit-tests=false"}, r"meson: not a list of strings"),
    ({"libgit2_cmake": ["-DUSE_SSH=$(id)"]}, r"libgit2_cmake: '-DUSE_SSH=\$\(id\)' is not"),
    ({"debian_packages": ["libfoo-dev curl"]}, r"debian_packages: 'libfoo-dev curl' is not a "),
    ({"debian_packages": ["-oAPT::Get=1"]}, r"debian_packages: '-oAPT::Get=1' is not a "),
    ({"source": "nix"}, r"source: 'nix' is not a meson-built Nix entry"),
    ({"source": "../etc"}, r"source: '\.\./etc' is not a meson-built Nix entry"),
    ({"configure": ["--x"]}, r"configure: not a key of the host-nix recipe"),
    # what the build sets itself: a later option would win
    ({"meson": ["--sysconfdir=/etc"]}, r"meson: '--sysconfdir=/etc' sets what the build sets"),
    ({"meson": ["--native-file=/tmp/x"]}, r"meson: '--native-file=/tmp/x' sets what the build"),
    ({"meson": ["-Dcpp_args=-O0"]}, r"meson: '-Dcpp_args=-O0' sets what the build sets"),
    ({"meson": ["-Dlocalstatedir=var"]}, r"meson: '-Dlocalstatedir=var' sets what the build"),
    ({"libgit2_cmake": ["-DCMAKE_INSTALL_LIBDIR=lib64"]},
     r"libgit2_cmake: '-DCMAKE_INSTALL_LIBDIR=lib64' sets what the build sets"),
])
def test_a_malformed_recipe_is_named_before_anything_is_built(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, changes: dict[str, object],
        expected: str) -> None:
    with_entry(monkeypatch, **changes)
    with pytest.raises(deps.DepInputError, match=expected):
        host_nix.build_host_nix(tmp_path / "cache", lambda message: None)
    assert not (tmp_path / "cache").exists()


def test_a_missing_debian_package_is_named(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    entry, _ = host_nix.recipe()
    packages = [*entry["debian_packages"], "darling-nix-no-such-package"]  # type: ignore[misc]
    with_entry(monkeypatch, debian_packages=packages)
    with pytest.raises(deps.DepInputError,
                       match=r"needs the Debian packages .*darling-nix-no-such-package"):
        host_nix.build_key(*host_nix.recipe())


def test_a_held_package_counts_as_installed(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """dpkg-query's status: the first letter is what is wanted (h: held), the second what is
    there (i: installed)."""
    fake = tmp_path / "dpkg-query"
    fake.write_text("#!/bin/sh\nprintf 'zlib1g-dev:amd64\\thi \\t1:1.2.13\\n"
                    "libfoo-dev\\tun \\t\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert host_nix._installed_versions(["zlib1g-dev"]) == {"zlib1g-dev": "1:1.2.13"}
    with pytest.raises(deps.DepInputError, match="needs the Debian packages libfoo-dev"):
        host_nix._installed_versions(["zlib1g-dev", "libfoo-dev"])


def test_a_host_without_dpkg_is_told_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(deps.DepInputError, match="cannot ask dpkg-query"):
        host_nix._installed_versions(["libc6"])


@pytest.mark.parametrize("cache", ["/tmp/a b", "/tmp/x'y", "/tmp/$HOME", "/tmp/a\nb",
                                   "relative-cache"])
def test_a_cache_path_nix_cannot_carry_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                  cache: str) -> None:
    monkeypatch.setattr(host_nix, "build_key", lambda entry, source: "k" * 20)
    with pytest.raises(deps.DepInputError, match="would be compiled into Nix"):
        host_nix.build_host_nix(Path(cache), lambda message: None)
    assert not Path(cache).exists()


@pytest.mark.parametrize("root", ["/tmp/a?b", "/tmp/a&trusted=1", "/tmp/a#b", "/tmp/a%2Fb",
                                  "/tmp/a b", "/tmp/a;b", "/tmp/a\nb", "relative/store"])
def test_a_store_root_a_store_url_would_misread_is_refused(root: str) -> None:
    """`local?root=/tmp/a&trusted=1` would be a second setting, not a directory."""
    with pytest.raises(ValueError, match="not an absolute path a store URL can carry"):
        HostClient(Path("/usr/bin"), Path(root))


def test_build_trees_are_dropped_only_in_a_directory_of_the_caches_own(tmp_path: Path) -> None:
    """A build's tree's siblings named like a key go; anything else stays, and a link in the
    tree's place leads to somebody's files, so it is refused before anything goes."""
    builds = tmp_path / "cache" / "host-nix-build"
    for name in ("a" * 20, "b" * 20, "notes.txt", ".lock"):
        (builds / name).mkdir(parents=True)
    deps.drop_other_trees(builds / ("a" * 20))
    assert sorted(p.name for p in builds.iterdir()) == [".lock", "a" * 20, "notes.txt"]
    shared = tmp_path / "shared"
    (shared / ("c" * 20)).mkdir(parents=True)
    (shared / "thesis.tex").write_text("mine")
    linked = tmp_path / "cache2" / "host-nix-build"
    linked.parent.mkdir()
    linked.symlink_to(shared)
    with pytest.raises(deps.DepInputError, match="a symbolic link"):
        deps.drop_other_trees(linked / ("a" * 20))
    assert sorted(p.name for p in shared.iterdir()) == ["c" * 20, "thesis.tex"]


def test_a_store_root_that_is_not_a_directory_of_its_own_is_refused(tmp_path: Path) -> None:
    """`local?root=/` would open the host's own store, without its daemon."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    for root in (Path("/"), Path("/nix/.."), tmp_path / "link", tmp_path / "nowhere" / ".." / "x"):
        with pytest.raises(ValueError, match="not a directory of its own"):
            HostClient(Path("/usr/bin"), root)


def test_a_plain_store_root_goes_into_the_url_as_it_is(tmp_path: Path) -> None:
    assert HostClient(Path("/usr/bin"), tmp_path / "store").store_args() == (
        "--store", f"local?root={tmp_path / 'store'}")


def refused_before_building(monkeypatch: pytest.MonkeyPatch, cache: Path) -> str:
    """build_host_nix's refusal of CACHE, which must come before any build step."""
    monkeypatch.setattr(deps, "missing_tools", lambda entry, also: [])
    monkeypatch.setattr(host_nix, "_build", lambda *args: pytest.fail("it was built"))
    with pytest.raises(deps.DepInputError) as refused:
        host_nix.build_host_nix(cache, lambda message: None)
    return str(refused.value)


def test_a_build_that_would_end_by_crossing_filesystems_is_refused_first(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """<cache>/host-nix linked to another filesystem (here /dev/shm's tmpfs): the final rename
    out of host-nix-build used to fail with EXDEV after the whole build."""
    other = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        if other.stat().st_dev == tmp_path.stat().st_dev:
            pytest.skip("/dev/shm is on the same filesystem as the test's temporary directory")
        cache = tmp_path / "cache"
        cache.mkdir()
        (cache / "host-nix").symlink_to(other)
        assert "cannot be renamed into" in refused_before_building(monkeypatch, cache)
        assert not list(other.iterdir()) and not list((cache / "host-nix-build").iterdir())
    finally:
        shutil.rmtree(other)


def test_a_folder_mounted_from_the_same_filesystem_is_refused_first(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A bind mount keeps the device number, but a rename across it fails all the same."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a bind mount needs root and mount(8)")
    cache, elsewhere = tmp_path / "cache", tmp_path / "elsewhere"
    (cache / "host-nix").mkdir(parents=True)
    elsewhere.mkdir()
    subprocess.run(["mount", "--bind", str(elsewhere), str(cache / "host-nix")], check=True)
    try:
        assert "cannot be renamed into" in refused_before_building(monkeypatch, cache)
    finally:
        subprocess.run(["umount", str(cache / "host-nix")], check=True)


def test_a_cache_whose_folders_cannot_be_made_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused_before_building(monkeypatch, Path("/proc/no-cache-here"))
    assert "cannot make its folders in the cache /proc/no-cache-here" in message


def test_a_failed_build_leaves_nothing_that_looks_built(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """The compile fails: no manifest, no prefix; the build tree stays for a rerun."""
    monkeypatch.setattr(host_nix, "build_key", lambda entry, source: "f" * 20)
    monkeypatch.setattr(sources, "fetch", lambda source, cache: Path("/nonexistent.tar"))
    monkeypatch.setattr(host_nix, "_unpacked", lambda tarball, top, tree, log: top)
    monkeypatch.setattr(host_nix, "_libgit2", lambda *args: tmp_path / "libgit2")
    monkeypatch.setattr(host_nix, "_boost", lambda *args: tmp_path / "boost")
    ran: list[list[str]] = []

    def failing(argv: list[str], log: Path, **kwargs: object) -> None:
        ran.append(argv)
        if argv[0] == "ninja":
            raise deps.DepBuildFailed("ninja failed (exit 1)")

    monkeypatch.setattr(deps, "run", failing)
    cache = tmp_path / "cache"
    with pytest.raises(deps.DepBuildFailed):
        host_nix.build_host_nix(cache, lambda message: None)
    assert [argv[1] for argv in ran] == ["setup", "-C"]
    out = cache / "host-nix" / ("f" * 20)
    assert not out.exists()
    assert host_nix.read_manifest(out) is None


def test_the_callers_compilers_flags_and_destdir_do_not_reach_the_build(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """They would change the build unseen by its key: an inherited DESTDIR sent libgit2's
    install elsewhere, CFLAGS and CC changed what was compiled."""
    monkeypatch.setattr(host_nix, "build_key", lambda entry, source: "f" * 20)
    monkeypatch.setattr(sources, "fetch", lambda source, cache: Path("/nonexistent.tar"))
    monkeypatch.setattr(host_nix, "_unpacked", lambda tarball, top, tree, log: top)
    monkeypatch.setattr(host_nix, "_boost", lambda *args: tmp_path / "boost")
    monkeypatch.setattr(host_nix, "_libgit2", lambda *args: tmp_path / "libgit2")
    inherited = {"CC": "clang-99", "CFLAGS": "-O0", "DESTDIR": "/elsewhere",
                 "BOOST_ROOT": "/opt/boost", "PKG_CONFIG_LIBDIR": "/opt/pc", "CPATH": "/opt/inc"}
    for name, value in inherited.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", "/root/kept")
    seen: list[dict[str, str]] = []

    def stop_at_ninja(argv: list[str], log: Path, env: dict[str, str], **kwargs: object) -> None:
        seen.append(env)
        if argv[0] == "ninja":
            raise deps.DepBuildFailed("stopped here")

    monkeypatch.setattr(deps, "run", stop_at_ninja)
    with pytest.raises(deps.DepBuildFailed):
        host_nix.build_host_nix(tmp_path / "cache", lambda message: None)
    assert len(seen) == 2  # meson setup, ninja (libgit2's and boost's steps get the same)
    for env in seen:
        assert not {name for name in inherited if env.get(name) == inherited[name]}, env
        assert env["HOME"] == "/root/kept"
    assert seen[-1]["BOOST_ROOT"] == str(tmp_path / "boost")


def test_a_manifest_not_its_own_is_not_believed(tmp_path: Path) -> None:
    out = tmp_path / "host-nix" / ("a" * 20)
    (out / "nix" / "bin").mkdir(parents=True)
    (out / "nix" / "bin" / "nix").write_text("")
    record = {"version": "2.26.3", "prefix": str(out / "nix"), "key": "a" * 20, "seconds": 1.0}
    for changed, believed in [({}, True), ({"key": "b" * 20}, False),
                              ({"prefix": "/usr"}, False), ({"version": 3}, False),
                              ({"prefix": None}, False), ({"prefix": 5}, False),
                              ({"prefix": ["/x"]}, False)]:
        (out / "manifest.json").write_text(json.dumps({**record, **changed}))
        assert (host_nix.read_manifest(out) is not None) == believed, changed
    (out / "manifest.json").write_text("{not json")
    assert host_nix.read_manifest(out) is None
    (out / "manifest.json").write_text(json.dumps(record))
    (out / "nix" / "bin" / "nix").unlink()
    assert host_nix.read_manifest(out) is None


def test_the_cli_names_bad_input_with_exit_2(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("darling", "host-nix", "--cache", str(tmp_path / "a b"))
    assert result.returncode == 2
    assert "would be compiled into Nix" in result.stderr or "Debian packages" in result.stderr
    assert not (tmp_path / "a b").exists()


# The built Nix: the cache holds it after .ci/run's stage (or `darling-nix darling host-nix`).

@pytest.fixture(scope="module")
def built() -> host_nix.HostNix:
    try:
        found = host_nix.cached(default_cache())
    except deps.DepInputError as error:
        pytest.skip(f"the host's Nix 2.26 cannot be built here: {error}")
    if found is None:
        pytest.skip("no host Nix 2.26 in the cache: `darling-nix darling host-nix` builds it")
    return found


def host_store_state() -> tuple[int, int]:
    db = Path("/nix/var/nix/db/db.sqlite")
    return (db.stat().st_mtime_ns, db.stat().st_size) if db.exists() else (0, 0)


def test_it_is_nix_226_with_a_configuration_of_its_own(built: host_nix.HostNix) -> None:
    version = subprocess.run([str(built.bin / "nix"), "--version"], capture_output=True,
                             text=True, check=True).stdout
    assert version.strip() == "nix (Nix) 2.26.3"
    shown = subprocess.run([str(built.bin / "nix"), "config", "show"], capture_output=True,
                           text=True, check=True).stdout
    assert "store = daemon" in shown.splitlines()
    assert f"build-hook = {built.bin / 'nix'} __build-remote" in shown.splitlines()


def test_it_evaluates_into_a_store_of_its_own(built: host_nix.HostNix, tmp_path: Path) -> None:
    before = host_store_state()
    client = HostClient(built.bin, tmp_path / "store")
    path = subprocess.run([client.program("nix"), "eval", *client.store_args(), "--raw",
                           "--expr", 'builtins.toFile "darling-nix" "from 2.26"'],
                          capture_output=True, text=True, check=True).stdout
    assert client.on_disk(path).read_text() == "from 2.26"
    assert host_store_state() == before
    assert not Path(path).exists()


@pytest.fixture(scope="module")
def standin_builder() -> Iterator[loopback.LoopbackBuilder]:
    if not Path(SSHD).exists():
        pytest.skip(f"needs {SSHD} (openssh-server)")
    root = loopback.secure_tempdir("hostnix")
    try:
        builder = loopback.create(root, lambda line: None)
        with builder.sshd():
            yield builder
    finally:
        loopback.remove(root)


@pytest.mark.parametrize("protocol", ["ssh-ng", "ssh"])
def test_it_sends_a_build_to_the_builder(built: host_nix.HostNix,
                                         standin_builder: loopback.LoopbackBuilder,
                                         tmp_path: Path, protocol: str) -> None:
    """The stand-in builder (Debian's 2.8 in a namespace); the output lands in 2.26's store."""
    client = HostClient(built.bin, tmp_path / "store")
    nonce = str(time.time_ns())
    expression = write_probe_expression(tmp_path, "x86_64-darwin", nonce)
    result = remote_build(expression, standin_builder.with_protocol(protocol),
                          standin_builder.client.ssh_config, client=client, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"on '{protocol}://" in result.stderr
    out = client.on_disk(result.stdout.strip())
    assert out.read_text() == f"built for x86_64-darwin by darling-nix, probe {nonce}\n"
