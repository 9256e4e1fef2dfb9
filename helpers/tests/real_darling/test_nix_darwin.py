"""Nix itself inside the real Darling: the x86_64-darwin Nix that `darling-nix darling nix`
cross-builds here, installed by `install-nix` (its sha256, unchanged) into a loopback
builder whose runner is Darling, then used the way a Nix host uses a darwin builder.

The Nix build takes about 11 minutes on 2 cores (its dependencies included), so the tests
run when its tarball is already in the cache (key: the recipe, the patches, the toolchain
and every dependency: .ci/run builds it first) or when DARLING_NIX_BUILD_NIX=1 asks for it;
otherwise they are skipped, saying how to build it (in CI a skip fails the run). A pinned
dependency whose hash or recipe is wrong fails them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from darling_support import (
    CXX17_RUNTIME_CHECKS,
    HERE,
    REGRESS,
    darling_runner_settings,
)
from test_tools_darling import TOOLS, probe_results

from darling_nix import loopback, nixinstall
from darling_nix.darling import nix as nix_tarball
from darling_nix.darling.build import Installed
from darling_nix.hostnix import DEBIAN_NIX, HostClient, remote_build
from darling_nix.runner import DarlingRunner, path_inside
from darling_nix.sshd import SSHD

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def darwin_builder(darling_install: Installed, darwin_nix: nix_tarball.NixTarball,
                   nix_settings: dict[str, object] | None = None
                   ) -> Iterator[loopback.LoopbackBuilder]:
    """A loopback builder with the Darling runner, Nix installed from the darwin tarball,
    NIX_SETTINGS in its config's nix.settings."""
    if not Path(SSHD).exists():
        pytest.skip(f"needs {SSHD} (openssh-server)")
    root = loopback.secure_tempdir("nix-dw")  # short: ssh ControlPath length
    try:
        builder = loopback.create(root, lambda line: None,
                                  tarball=(Path(darwin_nix.tarball), darwin_nix.sha256),
                                  overrides={"runner": darling_runner_settings(darling_install),
                                             "nix": {"settings": nix_settings or {}}})
        with builder.sshd():
            yield builder
    finally:
        DarlingRunner(root / "state" / "prefix", darling_install.darling).stop()
        loopback.remove(root)


@pytest.fixture(scope="module")
def nix_builder(darling_install: Installed,
                builder_nix: nix_tarball.NixTarball) -> Iterator[loopback.LoopbackBuilder]:
    yield from darwin_builder(darling_install, builder_nix)


def in_prefix(builder: loopback.LoopbackBuilder, darling_install: Installed,
              *argv: str) -> subprocess.CompletedProcess[bytes]:
    runner = DarlingRunner(builder.config.prefix_path, darling_install.darling)
    return runner.run(list(argv), capture=True, timeout=300)


def answer(builder: loopback.LoopbackBuilder, darling_install: Installed, *argv: str) -> str:
    """ARGV's output inside the prefix, once it is known to have exited 0."""
    result = in_prefix(builder, darling_install, *argv)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode()


def test_install_nix_took_the_tarball_unchanged(nix_builder: loopback.LoopbackBuilder,
                                                builder_nix: nix_tarball.NixTarball) -> None:
    prefix = nix_builder.config.prefix_path
    marker = (prefix / nixinstall.MARKER).read_text()
    assert marker == f"{builder_nix.sha256} {builder_nix.store_path}\n"
    assert (prefix / builder_nix.store_path.lstrip("/") / "bin" / "nix-daemon").is_symlink()


@pytest.mark.parametrize(("argv", "expected"), [
    (["nix", "--version"], "nix (Nix) @VERSION@"),
    (["nix-instantiate", "--eval", "-E", "builtins.currentSystem"], '"x86_64-darwin"'),
    (["nix-instantiate", "--eval", "--strict", "-E", "map (x: x * x) [ 1 2 3 ]"], "[ 1 4 9 ]"),
])
def test_nix_answers_inside_darling(nix_builder: loopback.LoopbackBuilder, darling_install: Installed,
                                    builder_nix: nix_tarball.NixTarball, argv: list[str],
                                    expected: str) -> None:
    assert answer(nix_builder, darling_install, *argv).strip() == \
        expected.replace("@VERSION@", builder_nix.version)


def test_the_store_verifies_inside_darling(nix_builder: loopback.LoopbackBuilder,
                                           darling_install: Installed,
                                           builder_nix: nix_tarball.NixTarball) -> None:
    answer(nix_builder, darling_install, "nix-store", "--verify", "--check-contents")
    listed = answer(nix_builder, darling_install, "nix-store", "--query", "--requisites",
                    builder_nix.store_path)
    assert listed.split() == [builder_nix.store_path]


UNAME_EXPRESSION = """derivation {
  name = "darling-nix-uname";
  system = "x86_64-darwin";
  builder = "/bin/sh";
  args = [ "-c" "echo \\"uname $(/usr/bin/uname -s) nonce @NONCE@\\" > $out" ];
}
"""


def build(builder: loopback.LoopbackBuilder, tmp_path: Path, text: str,
          protocol: str = "ssh-ng", timeout: float = 180,
          client: HostClient = DEBIAN_NIX) -> Path:
    """CLIENT's nix-build --max-jobs 0 of the expression TEXT on BUILDER; where its output is
    on the host's disk."""
    expression = tmp_path / f"{uuid.uuid4().hex}.nix"
    expression.write_text(text)
    try:
        result = remote_build(expression, builder.with_protocol(protocol),
                              builder.client.ssh_config, timeout=timeout, client=client)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the {protocol} build did not end within {timeout:.0f} s")
    assert result.returncode == 0, result.stderr[-3000:]
    return client.on_disk(result.stdout.strip())


# ssh: `nix-store --serve` cancels and joins a thread polling its stdin after each build,
# which hung before patches/xnu/0010 (Darling's pthread_cancel woke nothing)
@pytest.mark.parametrize("protocol", ["ssh-ng", "ssh"])
def test_a_darwin_build_from_the_host_runs_inside_darling(nix_builder: loopback.LoopbackBuilder,
                                                          tmp_path: Path, protocol: str,
                                                          host_client: HostClient) -> None:
    """Stage 4, the interop matrix (host Nix x builder Nix x protocol): host nix-build
    --max-jobs 0 of a darwin derivation; the build says itself that it ran on Darwin, its
    output is in the prefix's store and copied back into the host client's store."""
    nonce = uuid.uuid4().hex
    out = build(nix_builder, tmp_path, UNAME_EXPRESSION.replace("@NONCE@", nonce), protocol,
                client=host_client)
    assert out.read_text() == f"uname Darwin nonce {nonce}\n"
    assert (nix_builder.config.prefix_path / "nix" / "store" / out.name).is_file()


TOOLS_EXPRESSION = """derivation {
  name = "darling-nix-tools";
  system = "x86_64-darwin";
  builder = "/bin/sh";
  # A darwin stdenv puts the macOS tools on PATH; Nix sets PATH=/path-not-set.
  args = [ "-c" ''
    export PATH=/usr/bin:/bin
    mkdir $out
    /bin/sh ${./tools_probe.sh} "$TMPDIR" > $out/report
    status=$?
    cat $out/report
    exit $status
  '' ];
  nonce = "@NONCE@";
}
"""


def test_a_darwin_build_runs_the_command_line_tools(nix_builder: loopback.LoopbackBuilder,
                                                    tmp_path: Path) -> None:
    """A derivation whose builder runs mkdir, cp, sed, awk, grep, tar, patch, diff ... (every
    tool of tools_probe.sh), sent by the host over ssh-ng and built inside Darling: the build
    says itself that it ran on Darwin."""
    shutil.copy(HERE / "tools_probe.sh", tmp_path / "tools_probe.sh")
    out = build(nix_builder, tmp_path, TOOLS_EXPRESSION.replace("@NONCE@", uuid.uuid4().hex),
                timeout=300)
    report = (out / "report").read_text()
    assert probe_results(report) == dict.fromkeys(TOOLS, "PASS"), report
    assert "uname Darwin" in report.splitlines(), report


ZIG_EXPRESSION = """derivation {
  name = "darling-nix-zig";
  system = "x86_64-darwin";
  builder = "/bin/sh";
  # zig comes from the host through Darling's mount of its root (a darwin stdenv would take it
  # as a store input); its caches go to the build's TMPDIR.
  args = [ "-c" ''
    export PATH=/usr/bin:/bin ZIG_GLOBAL_CACHE_DIR=$TMPDIR/zig-global ZIG_LOCAL_CACHE_DIR=$TMPDIR/zig-local
    set -e
    mkdir -p $out/bin
    cd $TMPDIR
    echo "uname $(uname -s)" > $out/report
    # zig dies of SIGSEGV in about a third of its runs on a cold cache under Darling
    # (docs/compat.md); a new attempt resumes from its cache. The report counts the crashes.
    crashes=0
    zig() {
      until @ZIG@ "$@"; do
        crashes=$((crashes + 1))
        [ $crashes -lt 6 ] || exit 1
      done
    }
    zig cc ${./src}/zig_hello.c -o $out/bin/zig-hello
    $out/bin/zig-hello >> $out/report
    zig c++ -std=c++17 -I${./src} ${./src}/cxx17_runtime.cpp -o $out/bin/zig-cxx17
    $out/bin/zig-cxx17 >> $out/report
    echo "zig crashes: $crashes" >> $out/report
  '' ];
  nonce = "@NONCE@";
}
"""
MACHO_64 = b"\xcf\xfa\xed\xfe"


def test_zig_cc_builds_c_and_cxx17_programs_in_a_darwin_build(
        nix_builder: loopback.LoopbackBuilder, zig: Path, tmp_path: Path) -> None:
    """A derivation whose builder compiles a C program with `zig cc` and a C++17 one
    (exceptions, threads, std::filesystem) with `zig c++` and runs both, sent by the host
    over ssh-ng and built inside Darling: zig is a compiler nobody here built (PyPI's macOS
    wheel), the programs are Mach-O, and the build says itself that it ran on Darwin."""
    sources = tmp_path / "src"
    sources.mkdir()
    for source in (HERE / "zig_hello.c", HERE / "cxx17_runtime.cpp", REGRESS / "regress.h"):
        shutil.copy(source, sources / source.name)
    out = build(nix_builder, tmp_path, ZIG_EXPRESSION.replace("@NONCE@", uuid.uuid4().hex)
                .replace("@ZIG@", path_inside(zig)), timeout=900)
    report = (out / "report").read_text()
    assert report.splitlines()[:2] == ["uname Darwin", "zig cc: written by zig cc"], report
    assert re.search(r"^zig crashes: [0-5]$", report, re.M), report
    assert "FAIL" not in report and report.count("PASS: ") == CXX17_RUNTIME_CHECKS, report
    for program in ("zig-hello", "zig-cxx17"):
        assert (out / "bin" / program).read_bytes()[:4] == MACHO_64, program


def test_doctor_builds_and_verify_passes(nix_builder: loopback.LoopbackBuilder, cli: CliRunner,
                                        builder_nix: nix_tarball.NixTarball) -> None:
    doctor = cli("doctor", "--config", str(nix_builder.config_file), "--build", "--json",
                 "--timeout", "120")
    checks = {check["name"]: check for check in json.loads(doctor.stdout)}
    assert doctor.returncode == 0 and all(c["status"] == "pass" for c in checks.values()), checks
    assert checks["nix inside the prefix"]["detail"].startswith(
        f"nix-store (Nix) {builder_nix.version}"), checks
    verify = cli("verify", "--config", str(nix_builder.config_file), "--check-contents", "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr
