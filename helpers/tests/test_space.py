"""The gate makes room in the prefix's store before a session when it is short of space."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from typing import Any

import pytest

from darling_nix.defaults import parse_size
from darling_nix.loopback import LoopbackBuilder
from darling_nix.models import ConfigError, NixConfig


@pytest.mark.parametrize(("text", "size"), [("0", 0), ("1073741824", 1024**3), ("1G", 1024**3),
                                            ("16m", 16 * 1024**2), ("2T", 2 * 1024**4)])
def test_sizes_in_nix_form(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "-1", "1.5G", "1GB", "lots", "\u00b2", "\u0661\u0662",
                                  "16777216T", "18446744073709551616"])
def test_other_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected a number of bytes"):
        parse_size(text)


@pytest.mark.parametrize("value", [True, ["1G"], "-5", "\u0661\u0662\u0663", "99999999999999999999G"])
def test_config_check_refuses_a_min_free_that_render_or_nix_would(write_config: Any, cli: Any,
                                                                  value: Any) -> None:
    """`config check` (what the NixOS module runs at build time) must refuse what the
    sshd_config renderer, the gate or Nix itself refuses later."""
    path = write_config({"nix": {"settings": {"min-free": value}}})
    result = cli("config", "check", str(path))
    assert result.returncode == 2, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nix.settings.min-free: expected a number of bytes" in result.stderr


def test_a_bad_min_free_names_its_key(write_config: Any, cli: Any) -> None:
    path = write_config({"nix": {"settings": {"min-free": "lots"}}})
    result = cli("render", "sshd-config", "--config", str(path))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nix.settings.min-free: expected a number of bytes" in result.stderr


def gate_with_min_free(builder: LoopbackBuilder, min_free: str
                       ) -> subprocess.CompletedProcess[bytes]:
    nix = dataclasses.replace(builder.config.nix, settings={"min-free": min_free})
    argv = dataclasses.replace(builder.config, nix=nix).gate_command.split()
    return subprocess.run(argv, env={"PATH": os.environ["PATH"],
                                     "SSH_ORIGINAL_COMMAND": "nix-store --version"},
                          capture_output=True, timeout=120, check=False)


@pytest.mark.integration
@pytest.mark.usefixtures("integration")
def test_short_of_space_the_gate_collects_garbage_first(builder: LoopbackBuilder) -> None:
    """With more min-free than the disk has, the gate collects garbage (an unregistered
    path left in the store, as a cut-off copy leaves one, is gone) and then serves the
    session with nothing but the command's bytes on stdout."""
    store = builder.config.prefix_path / "nix" / "store"
    partial = store / ("0" * 32 + "-cut-off-copy")
    partial.write_bytes(b"\0" * 4096)
    result = gate_with_min_free(builder, "1024T")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("nix-store (Nix) ")
    assert not partial.exists()
    log = (builder.config.state_path / "gate.log").read_text()
    assert "less than min-free 1125899906842624: collecting garbage" in log


@pytest.mark.integration
@pytest.mark.usefixtures("integration")
def test_with_room_enough_nothing_is_collected(builder: LoopbackBuilder) -> None:
    store = builder.config.prefix_path / "nix" / "store"
    unregistered = store / ("1" * 32 + "-not-yet-registered")
    unregistered.write_bytes(b"x")
    try:
        result = gate_with_min_free(builder, "0")
        assert result.returncode == 0, result.stderr
        assert unregistered.exists()
    finally:
        unregistered.unlink()


def test_min_free_defaults_to_ours() -> None:
    from darling_nix import defaults
    from darling_nix.models import BuilderConfig

    assert BuilderConfig().min_free == defaults.MIN_FREE
    broken = BuilderConfig(nix=NixConfig(settings={"min-free": "x"}))
    with pytest.raises(ConfigError, match=r"nix\.settings\.min-free"):
        _ = broken.min_free
