"""The runner interface: argv in, bytes through, exit status out."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from darling_nix.loopback import LoopbackBuilder
from darling_nix.runner import MACOS_PATH, SESSION_ENTRY, DarlingRunner, NamespaceRunner, runner_for


@pytest.mark.integration
@pytest.mark.usefixtures("integration")
def test_namespace_runner_is_binary_safe_and_returns_status(builder: LoopbackBuilder) -> None:
    runner = runner_for(builder.config)
    assert isinstance(runner, NamespaceRunner)
    payload = os.urandom(1 << 20) + b"\x00\n\r\xff"
    result = runner.run(["/bin/cat"], input=payload, capture=True)
    assert result.returncode == 0 and result.stdout == payload
    assert runner.run(["/bin/sh", "-c", "exit 42"]).returncode == 42
    # /nix inside is the prefix's: the stand-in Nix is there, the host's store is not.
    listing = runner.run(["/bin/ls", "-A", "/nix/store"], capture=True).stdout.decode().split()
    prefix_store = sorted(p.name for p in (builder.config.prefix_path / "nix/store").iterdir())
    assert sorted(listing) == prefix_store


def test_darling_runner_passes_argv_as_separate_words() -> None:
    runner = DarlingRunner(Path("/srv/prefix"), "/run/wrappers/bin/darling")
    argv = ["nix-store", "--query", "a b", "$(id)", "'"]
    command = runner.direct_command(argv)
    assert command[:3] == ["/run/wrappers/bin/darling", "shell", "/usr/bin/env"]
    assert command[3] == f"PATH={MACOS_PATH}"
    assert command[4:] == argv  # darling shell quotes each word itself
    assert runner.environment()["DPREFIX"] == "/srv/prefix"
    # What `darling shell` hands to `bash -c` keeps each word whole:
    assert shlex.split(" ".join(shlex.quote(a) for a in command[2:]))[2:] == argv


def test_darling_runner_calls_go_through_the_session_entry() -> None:
    """Every host call of the Darling runner is supervised (session.py), with the prefix
    and the darling command as its first words and the argv after them untouched."""
    runner = DarlingRunner(Path("/srv/prefix"), "/run/wrappers/bin/darling")
    argv = ["nix-store", "--serve", "a b"]
    command = runner.command(argv)
    assert command[1:4] == ["-I", "-S", SESSION_ENTRY]
    assert command[4:] == ["/run/wrappers/bin/darling", "/srv/prefix", *argv]
    assert Path(SESSION_ENTRY).is_file()
