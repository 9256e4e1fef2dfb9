"""`darling nix`'s packing, checked against the real (host) Nix: store path names in Nix's
base 32, and a tarball whose .reginfo Nix loads and verifies. (The build itself runs
under the real Darling: real_darling/test_nix_darwin.py.)"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
from test_deps_recipes import fake_toolchain
from typer.testing import CliRunner

from darling_nix import nixinstall
from darling_nix.cli import app
from darling_nix.darling import deps, sources
from darling_nix.darling import nix as nix_tarball
from darling_nix.fsutil import Directory


@pytest.mark.parametrize("size", [1, 5, 16, 20, 32])
def test_nix_base32_matches_nix_hash(size: int) -> None:
    data = hashlib.sha512(str(size).encode()).digest()[:size]
    expected = subprocess.run(["nix-hash", "--type", "sha1" if size == 20 else "sha256",
                               "--to-base32", data.hex().ljust(40 if size == 20 else 64, "0")],
                              capture_output=True, text=True, check=True).stdout.strip()
    padded = data.ljust(20 if size == 20 else 32, b"\0")
    assert nix_tarball.nix_base32(padded) == expected


def test_store_path_is_a_valid_name_and_follows_the_key() -> None:
    one = nix_tarball.store_path_for("a" * 20, "2.8.0")
    assert re.fullmatch(r"/nix/store/[0-9a-df-np-sv-z]{32}-nix-2\.8\.0", one), one
    assert one == nix_tarball.store_path_for("a" * 20, "2.8.0")
    assert one != nix_tarball.store_path_for("b" * 20, "2.8.0")


@pytest.mark.parametrize("which", list(nix_tarball.NIX_ENTRIES))
def test_the_recipe_needs_only_pinned_dependencies_and_its_patches_are_named(which: str) -> None:
    recipe = nix_tarball.recipe(which)
    needs = deps.strings(recipe, "needs") + deps.strings(recipe, "cxx20_needs")
    assert set(needs) <= set(sources.pinned())
    patches = nix_tarball.patches(recipe)
    assert patches and [name for name, _ in patches] == sorted(name for name, _ in patches)
    for name, body in patches:
        assert re.search(rb"^--- a/\S+\n\+\+\+ b/\S+\n", body, re.M), name


def fake_install(store_path: str, root: Path) -> Path:
    installed = root / "stage" / store_path.lstrip("/")
    (installed / "bin").mkdir(parents=True)
    program = installed / "bin" / "nix-store"
    program.write_text(f"#!/bin/sh\n# refers to itself: {store_path}/bin/nix\n")
    program.chmod(0o555)
    (installed / "bin" / "nix").symlink_to("nix-store")
    return installed


def test_packed_tarball_loads_and_verifies_in_a_real_nix_store(tmp_path: Path) -> None:
    store_path = nix_tarball.store_path_for("c" * 20, "2.8.0")
    installed = fake_install(store_path, tmp_path)
    tarball = tmp_path / "nix-2.8.0-x86_64-darwin.tar.xz"
    nix_tarball.pack(installed, store_path, tarball, "nix-2.8.0-x86_64-darwin")
    assert not list(tmp_path.glob(".*partial"))

    root = tmp_path / "root"
    (root / "nix" / "store").mkdir(parents=True)
    with open(tarball, "rb") as stream, Directory.open(root / "nix" / "store") as store:
        names, reginfo = nixinstall.unpack(stream, str(tarball), store, None)
    assert names == [Path(store_path).name]
    assert reginfo.splitlines()[0].decode() == store_path
    env = {**os.environ, "NIX_REMOTE": ""}
    store = ["--store", f"local?root={root}"]
    subprocess.run(["nix-store", *store, "--load-db"], input=reginfo, env=env, check=True)
    verified = subprocess.run(["nix-store", *store, "--verify", "--check-contents"], env=env,
                              capture_output=True, text=True)
    assert verified.returncode == 0 and "modified" not in verified.stderr, verified.stderr
    refs = subprocess.run(["nix-store", *store, "--query", "--references", store_path], env=env,
                          capture_output=True, text=True, check=True).stdout.split()
    assert refs == [store_path]


def test_a_tarball_changed_after_packing_is_not_taken_from_the_cache(tmp_path: Path) -> None:
    out = tmp_path / "nix" / "KEY"
    out.mkdir(parents=True)
    tarball = out / "nix-2.8.0-x86_64-darwin.tar.xz"
    tarball.write_bytes(b"packed")
    record = nix_tarball.NixTarball(version="2.8.0", system="x86_64-darwin",
                                  store_path=nix_tarball.store_path_for("KEY", "2.8.0"),
                                  tarball=str(tarball), sha256=hashlib.sha256(b"packed").hexdigest(),
                                  key="KEY", seconds=1.0, built_now=True)
    nix_tarball.write_manifest(out, record)
    assert nix_tarball.read_manifest(out) is not None
    # a manifest vouches only for its own key, and for the store path of that key
    for other in ({"key": "OTHER"}, {"store_path": "/nix/store/" + "0" * 32 + "-nix-2.8.0"},
                  {"version": "2.9.0"}):
        nix_tarball.write_manifest(out, nix_tarball.NixTarball(**{**record.__dict__, **other}))
        assert nix_tarball.read_manifest(out) is None, other
    nix_tarball.write_manifest(out, record)
    tarball.write_bytes(b"changed")
    assert nix_tarball.read_manifest(out) is None
    elsewhere = tmp_path / "elsewhere.tar.xz"
    elsewhere.write_bytes(b"packed")
    nix_tarball.write_manifest(out, nix_tarball.NixTarball(**{**record.__dict__, "tarball": str(elsewhere)}))
    assert nix_tarball.read_manifest(out) is None  # a manifest names only its own directory's tarball


def test_packing_is_written_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pack that fails midway leaves no tarball under the final name."""
    store_path = nix_tarball.store_path_for("d" * 20, "2.8.0")
    installed = fake_install(store_path, tmp_path)
    tarball = tmp_path / "out.tar.xz"

    def broken_add(self: tarfile.TarFile, *args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(tarfile.TarFile, "add", broken_add)
    with pytest.raises(OSError):
        nix_tarball.pack(installed, store_path, tarball, "nix-2.8.0-x86_64-darwin")
    assert not tarball.exists()


def with_nix_entry(**changes: object) -> dict[str, object]:
    """data/darwin-deps.json with its `nix` entry (Nix 2.8's) changed (a value of None drops
    the key)."""
    document = sources.darwin_deps()
    entry = {**nix_tarball.recipe("2.8"), **changes}
    document["nix"] = {key: value for key, value in entry.items() if value is not None}
    return document


@pytest.mark.parametrize(("document", "expected"), [
    ({"deps": sources.pinned()}, "nix: missing, or not a JSON object"),
    (with_nix_entry(needs="curl"), "nix: needs: not a list of strings"),
    (with_nix_entry(version=None), "nix: version: missing, or not a string"),
    (with_nix_entry(configure=[1]), "nix: configure: not a list of strings"),
    (with_nix_entry(needs=["curll"]), "nix: needs: 'curll' is not a dependency"),
    (with_nix_entry(file="../x.tar.xz"), "nix: file: '../x.tar.xz' is not a plain file name"),
    (with_nix_entry(confgure=[]), "nix: confgure: not a key of the nix recipe"),
])
def test_a_malformed_nix_recipe_is_one_line_before_anything_is_built(
        monkeypatch: pytest.MonkeyPatch, document: dict[str, object], expected: str) -> None:
    monkeypatch.setattr(sources, "darwin_deps", lambda: document)
    result = CliRunner().invoke(app, ["darling", "nix", "--nix", "2.8", "--cache", "/nonexistent"])
    assert result.exit_code == 2, result.output
    assert result.output == f"darling-nix: data/darwin-deps.json: {expected}\n"


def test_a_build_machine_without_nix_is_told_before_the_build(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """.reginfo needs the host's nix-hash: its absence is named before half an hour of
    compiling, not as a traceback at the end."""
    def no_fetch(source: sources.Source, cache: Path) -> Path:
        raise AssertionError("nothing is fetched when a tool is missing")
    built = deps.Built(name="x", version="1", sysroot="", libs=[], recipe="r", seconds=0.0,
                       built_now=False)
    monkeypatch.setattr(nix_tarball.deps, "build_dep", lambda *args: built)
    monkeypatch.setattr(nix_tarball.sources, "fetch", no_fetch)
    real_which = nix_tarball.shutil.which
    monkeypatch.setattr(nix_tarball.shutil, "which",
                        lambda tool: None if tool == "nix-hash" else real_which(tool))
    with pytest.raises(deps.DepInputError, match=r"needs .*nix-hash on the build machine"):
        nix_tarball.build_nix(fake_toolchain(tmp_path), tmp_path, lambda message: None, "2.8")
    assert not (tmp_path / "nix").exists()


def test_a_failing_nix_hash_is_a_failed_step_and_leaves_no_tarball(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    store_path = nix_tarball.store_path_for("e" * 20, "2.8.0")
    installed = fake_install(store_path, tmp_path)
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    (bin_dir / "nix-hash").write_text("#!/bin/sh\necho 'nix-hash: out of memory' >&2\nexit 1\n")
    (bin_dir / "nix-hash").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    tarball = tmp_path / "out.tar.xz"
    with pytest.raises(deps.DepBuildFailed, match=r"nix-hash .* failed \(exit 1\): nix-hash: out of memory"):
        nix_tarball.pack(installed, store_path, tarball, "nix-2.8.0-x86_64-darwin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fakebin", "stage"]


def test_an_install_without_nix_in_the_prefix_is_a_failed_step(tmp_path: Path) -> None:
    """`make install` with a prefix other than the store path chosen (say, a DESTDIR the
    Makefile ignores) is named, not a traceback from listing a missing bin/."""
    with pytest.raises(deps.DepBuildFailed, match="left no bin/nix in"):
        nix_tarball._strip(tmp_path / "stage" / "nix", fake_toolchain(tmp_path), tmp_path / "log")
