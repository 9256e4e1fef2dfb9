"""A darwin build that spins, sent by the host over ssh-ng into the real Darling, ends by
the builder's own limit (nix.settings.timeout in its nix.conf: the host's never reach it
over ssh-ng), and nothing of it is left running: not in the container, not on the host."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from leftovers import gone_within, spin_expression, watched_build
from test_nix_darwin import darwin_builder

from darling_nix import loopback, nixdarwin
from darling_nix.darlingbuild import Installed
from darling_nix.hostnix import remote_build_command


@pytest.fixture(scope="module")
def limited_builder(darling_install: Installed, darwin_nix: nixdarwin.NixTarball
                    ) -> Iterator[loopback.LoopbackBuilder]:
    yield from darwin_builder(darling_install, darwin_nix, {"timeout": 10})


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
