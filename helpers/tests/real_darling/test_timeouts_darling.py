"""A darwin build that spins, sent by the host over ssh-ng into the real Darling, ends by
the builder's own limit (nix.settings.timeout in its nix.conf: the host's never reach it
over ssh-ng), and nothing of it is left running: not in the container, not on the host."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from leftovers import (
    abandoned_build,
    gone_within,
    running_with,
    spin_expression,
    wait_for,
    watched_build,
)
from test_nix_darwin import darwin_builder

from darling_nix import loopback
from darling_nix.darling import nix as nix_tarball
from darling_nix.darling.build import Installed
from darling_nix.hostnix import remote_build_command


@pytest.fixture(scope="module")
def limited_builder(darling_install: Installed, builder_nix: nix_tarball.NixTarball
                    ) -> Iterator[loopback.LoopbackBuilder]:
    yield from darwin_builder(darling_install, builder_nix, {"timeout": 10})


def test_a_spinning_darwin_build_ends_and_leaves_nothing(limited_builder: loopback.LoopbackBuilder,
                                                         tmp_path: Path) -> None:
    marker = f"darling-nix-spin-{uuid.uuid4().hex}"
    expression = tmp_path / "spin.nix"
    expression.write_text(spin_expression(marker, "/usr/bin/uname -s; "))
    argv, env = remote_build_command(expression, limited_builder.with_protocol("ssh-ng"),
                                     limited_builder.client.ssh_config)
    status, stderr, seconds = watched_build(argv, env, marker)
    assert status != 0, stderr[-2000:]
    assert "Darwin" in stderr.splitlines(), stderr[-2000:]  # it did run inside Darling
    assert "timed out after 10 seconds" in stderr, stderr[-2000:]
    assert seconds < 120, seconds
    assert gone_within(marker, 15) == []


@pytest.fixture(scope="module")
def unlimited_builder(darling_install: Installed, builder_nix: nix_tarball.NixTarball
                      ) -> Iterator[loopback.LoopbackBuilder]:
    yield from darwin_builder(darling_install, builder_nix, {"timeout": 0, "max-silent-time": 0})


def test_a_darwin_build_whose_client_is_gone_leaves_nothing(
        unlimited_builder: loopback.LoopbackBuilder, tmp_path: Path) -> None:
    """The host's nix-build and ssh are killed while a darwin build spins inside Darling
    with no time limit: the end of the SSH session ends it, in the container too."""
    marker = f"darling-nix-spin-{uuid.uuid4().hex}"
    expression = tmp_path / "spin.nix"
    expression.write_text(spin_expression(marker))
    argv, env = remote_build_command(expression, unlimited_builder.with_protocol("ssh-ng"),
                                     unlimited_builder.client.ssh_config)
    abandoned_build(argv, env, marker)
    assert gone_within(marker, 20) == []


def gate_processes(builder: loopback.LoopbackBuilder) -> list[int]:
    """The builder's gates now running (one per SSH session)."""
    return [int(line.split(":", 1)[0]) for line in running_with("gate_entry.py")
            if str(builder.config.prefix_path) in line]


def test_sigterm_to_the_gate_ends_its_darwin_build(
        unlimited_builder: loopback.LoopbackBuilder, tmp_path: Path) -> None:
    """What `systemctl stop` of the builder's sshd does to a session: SIGTERM to its gate,
    which stays the parent of `darling shell` to end the session's container processes."""
    marker = f"darling-nix-spin-{uuid.uuid4().hex}"
    expression = tmp_path / "spin.nix"
    expression.write_text(spin_expression(marker))
    argv, env = remote_build_command(expression, unlimited_builder.with_protocol("ssh-ng"),
                                     unlimited_builder.client.ssh_config)
    build = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    try:
        wait_for(marker, 1, seconds=60)
        gates = gate_processes(unlimited_builder)
        assert len(gates) == 1, running_with("gate_entry.py")
        os.kill(gates[0], signal.SIGTERM)
        _, stderr = build.communicate(timeout=60)
    finally:
        build.kill()
        build.wait()
    assert build.returncode != 0, stderr[-2000:]
    assert gone_within(marker, 20) == []
    assert gate_processes(unlimited_builder) == []
