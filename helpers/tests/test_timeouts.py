"""A build that spins ends on the builder, over both protocols, and leaves nothing running
(real sshd, the gate, the stand-in runner, real Nix): over ssh-ng by the builder's own
limits (nix.settings timeout / max-silent-time, defaults in every nix.conf), since Nix
2.8's ssh-ng client never sends the host's; over legacy ssh by the host's --timeout."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from leftovers import abandoned_build, gone_within, spin_expression, watched_build

from darling_nix import loopback
from darling_nix.hostnix import remote_build_command

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("integration")]



def standin_builder(settings: dict[str, object]) -> Iterator[loopback.LoopbackBuilder]:
    """A stand-in builder whose nix.conf carries SETTINGS, behind its sshd."""
    root = loopback.secure_tempdir("nix-to")
    try:
        builder = loopback.create(root, lambda line: None,
                                  overrides={"nix": {"settings": settings}})
        with builder.sshd():
            yield builder
    finally:
        loopback.remove(root)


@pytest.fixture(scope="module")
def limited_builder() -> Iterator[loopback.LoopbackBuilder]:
    """A stand-in builder whose nix.conf says timeout = 5."""
    yield from standin_builder({"timeout": 5})


@pytest.fixture(scope="module")
def unlimited_builder() -> Iterator[loopback.LoopbackBuilder]:
    """A stand-in builder with no time limit: only the end of its session can stop a build."""
    yield from standin_builder({"timeout": 0, "max-silent-time": 0})


def spin(builder: loopback.LoopbackBuilder, tmp_path: Path, protocol: str,
         host_options: tuple[str, ...] = ()) -> tuple[str, float, str]:
    marker = f"darling-nix-spin-{uuid.uuid4().hex}"
    expression = tmp_path / "spin.nix"
    expression.write_text(spin_expression(marker))
    argv, env = remote_build_command(expression, builder.with_protocol(protocol),
                                     builder.client.ssh_config, host_options)
    status, stderr, seconds = watched_build(argv, env, marker, timeout=120)
    assert status != 0, stderr[-2000:]
    return marker, seconds, stderr


def test_the_builders_timeout_ends_a_spinning_ssh_ng_build(
        limited_builder: loopback.LoopbackBuilder, tmp_path: Path) -> None:
    marker, seconds, stderr = spin(limited_builder, tmp_path, "ssh-ng")
    assert "timed out after 5 seconds" in stderr, stderr[-2000:]
    assert seconds < 60, seconds
    assert gone_within(marker, 10) == []


def test_the_hosts_timeout_ends_a_spinning_legacy_ssh_build(
        limited_builder: loopback.LoopbackBuilder, tmp_path: Path) -> None:
    """The builder's limit is 5 s; the host asks for 3 over ssh://, which sends it."""
    marker, seconds, stderr = spin(limited_builder, tmp_path, "ssh",
                                   ("--option", "timeout", "3"))
    assert seconds < 60, seconds
    assert "timed out after 3 seconds" in stderr, stderr[-2000:]
    assert gone_within(marker, 10) == []


@pytest.mark.parametrize("protocol", ["ssh-ng", "ssh"])
def test_a_build_whose_client_is_gone_leaves_nothing(unlimited_builder: loopback.LoopbackBuilder,
                                                     tmp_path: Path, protocol: str) -> None:
    """The host's nix-build and ssh are killed mid-build; the builder has no time limit, so
    only the end of the SSH session can end the spinning builder."""
    marker = f"darling-nix-spin-{uuid.uuid4().hex}"
    expression = tmp_path / "spin.nix"
    expression.write_text(spin_expression(marker))
    argv, env = remote_build_command(expression, unlimited_builder.with_protocol(protocol),
                                     unlimited_builder.client.ssh_config)
    abandoned_build(argv, env, marker)
    assert gone_within(marker, 15) == []
