"""The gate's own argument and config errors: no root, sshd or Nix needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(("args", "message"), [
    (["--runner", "docker", "--state-dir", "/x"], "--runner: expected"),
    (["--state-dir", "relative"], "--state-dir: expected an absolute path"),
    (["--prefix"], "usage:"),
    (["--shell", "/bin/sh"], "usage:"),
    (["--runner", "darling", "--runner", "namespace"], "usage:"),
])
def test_bad_gate_arguments_are_exit_2(args: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "darling_nix", "gate", *args],
                            env={"SSH_ORIGINAL_COMMAND": "nix-daemon --stdio",
                                 "PATH": os.environ["PATH"]}, capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr


def test_broken_config_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text('{"runner": {"kind": "docker"}}')
    result = subprocess.run([sys.executable, "-m", "darling_nix", "gate", "--config", str(bad)],
                            env={"SSH_ORIGINAL_COMMAND": "nix-daemon --stdio",
                                 "PATH": os.environ["PATH"]}, capture_output=True, text=True)
    assert result.returncode == 2 and "runner.kind" in result.stderr




def test_missing_runner_program_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "darling_nix", "gate", "--runner", "darling", "--state-dir",
         str(tmp_path), "--darling", str(tmp_path / "no-such-darling")],
        env={"SSH_ORIGINAL_COMMAND": "nix-daemon --stdio", "PATH": os.environ["PATH"]},
        capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"darling-nix gate: cannot start the darling runner: No such file or directory: "
        f"{tmp_path / 'no-such-darling'}"]
    assert "cannot start the runner" in (tmp_path / "gate.log").read_text()


def test_help_lists_the_allowed_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "darling_nix", "gate", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0
    assert "nix-daemon --stdio" in result.stdout and "usage:" in result.stdout
