"""The gate without sshd: what it accepts, what it refuses, what it logs, what it imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import REFUSED_TEMPLATES, attack, short_id

from darling_nix.loopback import LoopbackBuilder

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("integration")]


def gate(builder: LoopbackBuilder, command: str | None, stdin: bytes = b""
         ) -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": os.environ["PATH"], "SSH_CONNECTION": "127.0.0.9 5555 127.0.0.1 22"}
    if command is not None:
        env["SSH_ORIGINAL_COMMAND"] = command
    return subprocess.run([sys.executable, "-m", "darling_nix", "gate", "--config",
                           str(builder.config_file)], env=env, input=stdin,
                          capture_output=True, timeout=60)


@pytest.mark.parametrize("template", [None, *REFUSED_TEMPLATES], ids=short_id)
def test_refused_with_one_line_and_logged(builder: LoopbackBuilder, template: str | None,
                                          tmp_path: Path) -> None:
    log = builder.config.state_path / "gate.log"
    before = log.read_text() if log.exists() else ""
    marker = tmp_path / "ran"
    result = gate(builder, None if template is None else attack(template, str(marker)))
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("darling-nix gate: refused")
    assert result.stdout == b""
    assert not marker.exists()
    new = log.read_text()[len(before):].splitlines()
    assert len(new) == 1 and "refused" in new[0] and "127.0.0.9" in new[0]


def test_accepted_command_runs_inside_the_prefix(builder: LoopbackBuilder) -> None:
    result = gate(builder, "nix-store --version")
    assert result.returncode == 0
    assert result.stdout.decode().startswith("nix-store (Nix) ")
    assert "accepted 'nix-store --version'" in (builder.config.state_path / "gate.log").read_text()


def test_serve_protocol_bytes_pass_untouched(builder: LoopbackBuilder) -> None:
    """stdout carries the protocol and nothing else: magic 2, then the version."""
    import struct
    hello = struct.pack("<QQ", 0x390C9DEB, 0x205)
    result = gate(builder, "nix-store --serve", hello)
    assert result.stdout[:8] == struct.pack("<Q", 0x5452EECB)
    assert len(result.stdout) == 16


def test_rendered_force_command_runs_the_gate_without_reading_a_file(
        builder: LoopbackBuilder) -> None:
    """The ForceCommand the sshd_config carries: gate_entry.py with the settings inline."""
    argv = builder.config.gate_command.split()
    result = subprocess.run(argv, env={"PATH": "/usr/bin:/bin",
                                       "SSH_ORIGINAL_COMMAND": "nix-store --version"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("nix-store (Nix) ")
    assert "--config" not in argv
    traced = subprocess.run([argv[0], "-X", "importtime", *argv[1:]],
                            env={"PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": "bash"},
                            capture_output=True, text=True, timeout=60)
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in traced.stderr.splitlines() if line.startswith("import time:")}
    assert "darling_nix" in imported
    # not even json or re: they are half of the start-up time
    assert not imported & {"json", "re", "typer", "click", "jinja2", "yaml", "paramiko"}


def test_an_accepted_session_logs_the_key_s_fingerprint_without_slow_imports(
        builder: LoopbackBuilder, tmp_path: Path) -> None:
    """What sshd gives every session (ExposeAuthInfo's SSH_USER_AUTH): the gate logs the
    key's SHA256 fingerprint as ssh-keygen prints it, without importing base64 (re) or
    hashlib (enum, OpenSSL), which doubled the gate's cost per connection."""
    public = Path(f"{builder.client_key}.pub").read_text().split()
    auth = tmp_path / "auth-info"
    auth.write_text(f"publickey {public[0]} {public[1]}\n")
    argv = builder.config.gate_command.split()
    traced = subprocess.run([argv[0], "-X", "importtime", *argv[1:]],
                            env={"PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": "nix-store --version",
                                 "SSH_USER_AUTH": str(auth), "SSH_CONNECTION": "192.0.2.7 1 2 3"},
                            capture_output=True, text=True, timeout=60)
    assert traced.returncode == 0, traced.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in traced.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"re", "base64", "hashlib", "enum", "json"}, imported
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", f"{builder.client_key}.pub"],
                                 capture_output=True, text=True, check=True).stdout.split()[1]
    last = (builder.config.state_path / "gate.log").read_text().splitlines()[-1]
    assert f"accepted 'nix-store --version' for {fingerprint} from 192.0.2.7" in last, last


def test_gate_path_imports_no_cli_libraries(builder: LoopbackBuilder) -> None:
    """The real gate process, through the console entry point, under -X importtime."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c",
         "import sys; from darling_nix.entry import main; main()",
         "gate", "--config", str(builder.config_file)],
        env={"PATH": os.environ["PATH"], "SSH_ORIGINAL_COMMAND": "bash"},
        capture_output=True, text=True)
    assert result.returncode == 1
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "darling_nix" in imported
    assert not imported & {"typer", "click", "jinja2", "yaml", "paramiko", "rich"}
