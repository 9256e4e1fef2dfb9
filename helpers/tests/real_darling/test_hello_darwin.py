"""GNU hello 2.10 from Debian's tarball, built for x86_64-darwin with the lite darwin stdenv
(data/stdenv-lite: zig behind cc, GNU make cross-built here) by the host's nix-build with
--max-jobs 0: over ssh-ng to the builder's sshd, the gate, the real Darling, the darwin Nix
(configure, make, make check, make install), and the output copied back. Then a second,
fresh builder gets the same hello from a signed file:// binary cache instead of building it,
and a builder refuses a cache that is unsigned or signed with a key it does not trust.

The build takes 3 to 4 minutes on 2 cores (configure alone starts some 2,000 processes
under Darling); it runs once per module."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from darling_support import no_download
from test_nix_darwin import MACHO_64, darwin_builder

from darling_nix import loopback, stdenv_lite
from darling_nix.darling import deps, sources
from darling_nix.darling import nix as nix_tarball
from darling_nix.darling.build import Installed
from darling_nix.darling.cache import Layout, default_cache
from darling_nix.darling.toolchain import CrossToolchain
from darling_nix.hostnix import remote_build
from darling_nix.runner import DarlingRunner, path_inside

BUILD_SECONDS = 2400
CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class Built:
    out: Path
    drv: str
    nonce: str
    builder: loopback.LoopbackBuilder


@pytest.fixture(scope="module")
def inputs(cross_toolchain: CrossToolchain, zig: Path) -> stdenv_lite.Inputs:
    """zig from the compat cache (the `zig` fixture skips when it is not fetched), make
    cross-built here (about 20 s when missing), hello's tarball: the sources come from the
    cache only (`darling-nix darling stdenv` fetches them, a stage of .ci/run)."""
    kept = Layout(default_cache()).sources
    for file in (stdenv_lite.hello_source().file, sources.source_of("make").file):
        if not (kept / file).is_file():
            pytest.skip(f"{file} is not in {kept}: `darling-nix darling stdenv` fetches it")
    try:
        return stdenv_lite.gather(cross_toolchain, default_cache(), lambda message: None,
                                  download=no_download)
    except (sources.SourceHashMismatch, deps.DepInputError) as error:
        pytest.fail(f"the lite stdenv's inputs are pinned wrong: {error}")
    except sources.SourceUnavailable as error:
        pytest.skip(f"hello's or make's source cannot be fetched here: {error}")


@pytest.fixture(scope="module")
def hello(darling_install: Installed, builder_nix: nix_tarball.NixTarball,
          inputs: stdenv_lite.Inputs) -> Iterator[Built]:
    """GNU hello built by each darwin Nix (builder_nix)."""
    # cores 2: the build phase runs make -j2, which hung before patches/xnu/0008
    for builder in darwin_builder(darling_install, builder_nix, {"cores": 2}):
        nonce = uuid.uuid4().hex
        result = remote_build(stdenv_lite.EXPRESSION, builder.with_protocol("ssh-ng"),
                              builder.client.ssh_config, extra_args=inputs.nix_args(nonce),
                              timeout=BUILD_SECONDS)
        assert result.returncode == 0, result.stderr[-4000:]
        drv = subprocess.run(["nix-instantiate", str(stdenv_lite.EXPRESSION), *inputs.nix_args(nonce)],
                             capture_output=True, text=True, check=True).stdout.strip()
        yield Built(Path(result.stdout.strip()), drv, nonce, builder)


def build_logs(prefix: Path, drv: str) -> list[Path]:
    """The logs Nix in PREFIX kept of building DRV (drvs/XX/REST.bz2, XX its name's start)."""
    name = Path(drv).name
    return list((prefix / "nix" / "var" / "log" / "nix" / "drvs" / name[:2]).glob(f"{name[2:]}*"))


def in_prefix(builder: loopback.LoopbackBuilder, darling_install: Installed,
              *argv: str) -> subprocess.CompletedProcess[str]:
    runner = DarlingRunner(builder.config.prefix_path, darling_install.darling)
    result = runner.run(list(argv), capture=True, timeout=600)
    return subprocess.CompletedProcess(result.args, result.returncode,
                                       result.stdout.decode(errors="replace"),
                                       result.stderr.decode(errors="replace"))


def test_hello_was_built_inside_darling_through_every_phase(hello: Built) -> None:
    report = stdenv_lite.read_report(hello.out)
    assert report.uname == "Darwin"
    assert list(report.phases) == list(stdenv_lite.PHASES)
    # the build really ran there: its output and its log are in the builder's store
    prefix = hello.builder.config.prefix_path
    assert (prefix / str(hello.out).lstrip("/") / "bin" / "hello").is_file()
    assert build_logs(prefix, hello.drv), f"no build log of {hello.drv} in {prefix}"


def test_hello_is_mach_o_and_greets_under_darling(hello: Built, darling_install: Installed) -> None:
    program = hello.out / "bin" / "hello"
    assert program.read_bytes()[:4] == MACHO_64
    greeted = in_prefix(hello.builder, darling_install, str(program))
    assert (greeted.returncode, greeted.stdout) == (0, "Hello, world!\n"), greeted.stderr
    told = in_prefix(hello.builder, darling_install, str(program), "--greeting=from darwin")
    assert told.stdout == "from darwin\n", told.stderr


def test_make_runs_jobs_in_parallel_under_darling(inputs: stdenv_lite.Inputs,
                                                 darling_runner: DarlingRunner,
                                                 tmp_path: Path) -> None:
    """The cross-built make, -j2 on four jobs that each take 0.3 s: it sees each end (it
    waits in pselect, patches/xnu/0008) and finishes; unpatched it hung for ever."""
    (tmp_path / "Makefile").write_text("all: a b c d\na b c d:\n\t/bin/sleep 0.3; echo $@ > $@\n")
    try:
        result = darling_runner.run(["/bin/sh", "-c", f"cd {path_inside(tmp_path)} && "
                                     f"{path_inside(inputs.make)} -j2"], capture=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("make -j2 did not finish within 60 s")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Makefile", "a", "b", "c", "d"]


def test_make_check_ran_hello_s_own_tests(hello: Built) -> None:
    """hello's `make check` runs its tests/ scripts; the phase is there and took time."""
    report = stdenv_lite.read_report(hello.out)
    assert report.phases["check"] > 0


def _signing_key(directory: Path, name: str) -> tuple[Path, str]:
    secret, public = directory / f"{name}.sec", directory / f"{name}.pub"
    subprocess.run(["nix-store", "--generate-binary-cache-key", name, str(secret), str(public)],
                   check=True)
    return secret, public.read_text().strip()


def _binary_cache(directory: Path, out: Path, secret: Path | None) -> str:
    """OUT (and its closure) copied from the host's store into a file:// cache at DIRECTORY,
    signed with SECRET when given. Returns its URL as the builder sees it inside Darling."""
    url = f"file://{directory}" + (f"?secret-key={secret}" if secret else "")
    subprocess.run(["nix", "--extra-experimental-features", "nix-command", "copy", "--to", url,
                    str(out)], check=True, capture_output=True)
    return f"file://{path_inside(directory)}"


@pytest.mark.parametrize(("signed_by", "taken"), [
    ("the trusted key", True), ("nobody", False), ("an untrusted key", False)])
def test_a_builder_takes_only_a_copy_signed_with_a_key_it_trusts(
        hello: Built, darling_install: Installed, tmp_path: Path, signed_by: str,
        taken: bool) -> None:
    """Inside the prefix, hello's output asked for by substitution only, into an empty store
    (`--store local?root=`, so the builder's own copy cannot answer): taken from the cache
    when signed with the key trusted-public-keys names, refused unsigned or signed by another."""
    trusted_secret, trusted = _signing_key(tmp_path, "darling-nix-trusted")
    other, _ = _signing_key(tmp_path, "darling-nix-other")
    secret = {"the trusted key": trusted_secret, "nobody": None, "an untrusted key": other}[signed_by]
    cache = _binary_cache(tmp_path / "cache", hello.out, secret)
    root = f"/private/tmp/substitute-{uuid.uuid4().hex}"
    result = in_prefix(hello.builder, darling_install, "nix-store", "--store", f"local?root={root}",
                       "--realise", str(hello.out), "--option", "substituters", cache,
                       "--option", "trusted-public-keys", trusted)
    copied = hello.builder.config.prefix_path / root.lstrip("/") / str(hello.out).lstrip("/")
    if taken:
        assert result.returncode == 0, result.stderr
        assert (copied / "bin" / "hello").read_bytes() == (hello.out / "bin" / "hello").read_bytes()
    else:
        assert result.returncode != 0, result.stdout
        assert "signed" in result.stderr, result.stderr
        assert not copied.exists()


def test_a_fresh_builder_substitutes_hello_from_a_signed_binary_cache(
        hello: Built, inputs: stdenv_lite.Inputs, darling_install: Installed,
        darwin_nix: nix_tarball.NixTarball, tmp_path: Path) -> None:
    secret, public = _signing_key(tmp_path, "darling-nix-test-1")
    cache = _binary_cache(tmp_path / "cache", hello.out, secret)
    # the host forgets hello, so that it asks the builder for it again
    subprocess.run(["nix-store", "--delete", str(hello.out)], check=True, capture_output=True)
    settings = {"substituters": cache, "trusted-public-keys": public}
    for builder in darwin_builder(darling_install, darwin_nix, settings):
        result = remote_build(stdenv_lite.EXPRESSION, builder.with_protocol("ssh-ng"),
                              builder.client.ssh_config, extra_args=inputs.nix_args(hello.nonce),
                              timeout=BUILD_SECONDS)
        assert result.returncode == 0, result.stderr[-4000:]
        assert Path(result.stdout.strip()) == hello.out
        assert stdenv_lite.read_report(hello.out).uname == "Darwin"
        prefix = builder.config.prefix_path
        assert (prefix / str(hello.out).lstrip("/") / "bin" / "hello").is_file()
        assert build_logs(prefix, hello.drv) == [], "the second builder built hello instead"


def test_the_real_path_demo_builds_and_runs_hello(inputs: stdenv_lite.Inputs,
                                                  default_darwin_nix: nix_tarball.NixTarball,
                                                  cli: CliRunner) -> None:
    """`darling-nix demo --darling`, the README's next step: everything it needs is cached
    (the fixtures saw to it), so it goes straight to the builder and hello, and cleans up."""
    before = set(loopback.SECURE_BASE.glob("demo-*"))
    result = cli("demo", "--darling", timeout=BUILD_SECONDS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("PASS") == 6, result.stdout
    for phase in stdenv_lite.PHASES:
        assert f"==> {phase}" in result.stdout, result.stdout
    assert "built on     Darwin (uname -s, asked by the build itself)" in result.stdout
    assert re.search(r"^    in prefix    True ", result.stdout, re.M), result.stdout
    assert re.search(r"^    runs         /nix/store/\S+-hello-2.10/bin/hello under Darling: "
                     r"Hello, world!$", result.stdout, re.M), result.stdout
    assert set(loopback.SECURE_BASE.glob("demo-*")) == before
