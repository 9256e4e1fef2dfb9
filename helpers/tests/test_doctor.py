"""doctor against the live builder: all pass; a wrong pinned key; a stopped sshd."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from darling_nix.loopback import LoopbackBuilder
from darling_nix.sshd import free_port, generate_key

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("integration")]


def doctor(cli: Any, builder: LoopbackBuilder, *extra: str, port: int | None = None,
           host_key: str | None = None) -> Any:
    return cli("doctor", "--host", "127.0.0.1", "--port", str(port or builder.config.ssh.port),
               "--user", "root", "--key", str(builder.client_key), "--host-key",
               host_key or f"{builder.config.host_key_path}.pub", *extra)


def test_all_checks_pass_with_config_and_build(live_builder: LoopbackBuilder, cli: Any) -> None:
    result = cli("doctor", "--config", str(live_builder.config_file), "--build", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = json.loads(result.stdout)
    assert [c["name"] for c in checks] == [
        "tcp reachable", "host key pinned", "key accepted", "gate refuses a shell",
        "serve handshake", "nix inside the prefix", "darwin build"]
    assert all(c["status"] == "pass" for c in checks)
    assert "built for x86_64-darwin" in checks[-1]["detail"]


@pytest.mark.parametrize("name", ["a b", "a#b", "a;b"])
def test_a_temporary_directory_nix_cannot_be_given_is_named(
        live_builder: LoopbackBuilder, cli: Any, tmp_path: Path, name: str) -> None:
    """NIX_SSHOPTS is split at whitespace and --builders cut at '#' and ';': the build check
    used to fail with whatever ssh or Nix made of the cut path."""
    (tmp_path / name).mkdir()
    result = cli("doctor", "--config", str(live_builder.config_file), "--build", "--json",
                 env={"TMPDIR": str(tmp_path / name)})
    assert result.returncode == 1, result.stdout + result.stderr
    build = json.loads(result.stdout)[-1]
    assert build["status"] == "fail" and "Nix cannot be given this path" in build["detail"]
    assert name in build["detail"] and "TMPDIR" in build["hint"]


def test_table_output(live_builder: LoopbackBuilder, cli: Any) -> None:
    result = doctor(cli, live_builder)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 6 and all(line.startswith("PASS") for line in lines)


def test_wrong_pinned_host_key(live_builder: LoopbackBuilder, cli: Any, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate_key(other)
    result = doctor(cli, live_builder, "--json", host_key=f"{other}.pub")
    assert result.returncode == 1
    status = {c["name"]: c for c in json.loads(result.stdout)}
    assert status["tcp reachable"]["status"] == "pass"
    assert status["host key pinned"]["status"] == "fail"
    assert "re-pin" in status["host key pinned"]["hint"]
    assert status["key accepted"]["status"] == "skip"


def test_stopped_sshd(live_builder: LoopbackBuilder, cli: Any) -> None:
    result = doctor(cli, live_builder, port=free_port())
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith("FAIL  tcp reachable") and "ConnectionRefusedError" in first
    assert "hint: is the builder's sshd running" in result.stdout


def test_unusable_arguments_are_exit_2(cli: Any) -> None:
    result = cli("doctor", "--host", "127.0.0.1")
    assert result.returncode == 2 and "--config, or --host, --key and --host-key" in result.stderr
