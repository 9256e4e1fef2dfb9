"""The main job through a real sshd (our rendered config), the gate, the stand-in runner and
the real Nix: the host's nix-build offloads x86_64-darwin derivations to the prefix."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from darling_nix.hostnix import remote_build
from darling_nix.loopback import LoopbackBuilder

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("integration")]

MB50 = 50 * 1024 * 1024


def nonce() -> str:
    return str(time.time_ns())


def build(builder: LoopbackBuilder, tmp_path: Path, expression: str, protocol: str = "ssh-ng"):
    path = tmp_path / "build.nix"
    path.write_text(expression)
    machines = builder.machines if protocol == "ssh-ng" else builder.with_protocol(protocol)
    return remote_build(path, machines, builder.ssh_config)


def in_prefix(builder: LoopbackBuilder, output: str) -> Path:
    return builder.config.prefix_path / "nix" / "store" / Path(output).name


@pytest.mark.parametrize("protocol", ["ssh-ng", "ssh"])
def test_darwin_derivation_is_built_in_the_prefix_and_copied_back(
        live_builder: LoopbackBuilder, tmp_path: Path, protocol: str) -> None:
    tag = nonce()
    result = build(live_builder, tmp_path, f'''
      derivation {{
        name = "hello-{protocol}"; system = "x86_64-darwin"; builder = "/bin/sh";
        args = [ "-c" "echo hello {tag} > $out" ];
      }}''', protocol)
    assert result.returncode == 0, result.stderr
    output = result.stdout.strip()
    assert Path(output).read_text() == f"hello {tag}\n"  # copied back to the host store
    assert in_prefix(live_builder, output).read_text() == f"hello {tag}\n"  # built there


def test_chain_and_a_50mb_output(live_builder: LoopbackBuilder, tmp_path: Path) -> None:
    tag = nonce()
    result = build(live_builder, tmp_path, f'''
      let
        first = derivation {{
          name = "first"; system = "x86_64-darwin"; builder = "/bin/sh";
          args = [ "-c" "echo first-{tag} > $out" ];
        }};
        second = derivation {{
          name = "second"; system = "x86_64-darwin"; builder = "/bin/sh";
          args = [ "-c" "read x < ${{first}}; echo $x-second > $out" ];
        }};
        big = derivation {{
          name = "big"; system = "x86_64-darwin"; builder = "/bin/sh";
          args = [ "-c" "echo {tag} > $out; /bin/dd if=/dev/zero bs=1048576 count=50 >> $out" ];
        }};
      in [ second big ]''')
    assert result.returncode == 0, result.stderr
    second, big = result.stdout.split()
    assert Path(second).read_text() == f"first-{tag}-second\n"
    data = Path(big).read_bytes()
    assert len(data) == len(f"{tag}\n") + MB50
    assert hashlib.sha256(data).digest() == \
        hashlib.sha256(in_prefix(live_builder, big).read_bytes()).digest()


def test_failing_build_shows_builder_log_and_fails(live_builder: LoopbackBuilder,
                                                   tmp_path: Path) -> None:
    tag = nonce()
    result = build(live_builder, tmp_path, f'''
      derivation {{
        name = "fails"; system = "x86_64-darwin"; builder = "/bin/sh";
        args = [ "-c" "echo builder-says-{tag} >&2; exit 3" ];
      }}''')
    assert result.returncode != 0
    assert f"builder-says-{tag}" in result.stderr
