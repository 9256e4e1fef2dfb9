"""exec: a command inside the prefix, bytes and exit status passed through."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from darling_nix import loopback

pytestmark = pytest.mark.integration


def test_binary_stdin_and_stdout_pass_through(builder: loopback.LoopbackBuilder) -> None:
    data = os.urandom(256 * 1024)
    result = subprocess.run([sys.executable, "-m", "darling_nix", "exec", "--config",
                             str(builder.config_file), "--", "/bin/cat"], input=data,
                            capture_output=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == data


def test_exit_status_propagates(cli: Any, builder: loopback.LoopbackBuilder) -> None:
    result = cli("exec", "--config", str(builder.config_file), "--", "/bin/sh", "-c",
                     "echo to-stderr >&2; exit 42")
    assert result.returncode == 42
    assert result.stderr == "to-stderr\n"


def test_nix_is_the_prefix_profile(cli: Any, builder: loopback.LoopbackBuilder) -> None:
    result = cli("exec", "--config", str(builder.config_file), "--", "/bin/sh", "-c",
                     "command -v nix-store; nix-store --version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["/nix/var/nix/profiles/default/bin/nix-store",
                                          result.stdout.splitlines()[1]]
    assert result.stdout.splitlines()[1].startswith("nix-store (Nix) ")
    # The profile is the prefix's: its closure is the stand-in Nix in the prefix's store.
    closure = cli("exec", "--config", str(builder.config_file), "--", "nix-store",
                      "--query", "--requisites", "/nix/var/nix/profiles/default")
    assert closure.returncode == 0, closure.stderr
    assert any(path.endswith("-nix-standin") for path in closure.stdout.split())


def test_a_missing_command_inside_fails(cli: Any, builder: loopback.LoopbackBuilder) -> None:
    result = cli("exec", "--config", str(builder.config_file), "--", "no-such-command")
    assert result.returncode == 127
