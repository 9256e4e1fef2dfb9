"""The darling-builder template: its README builds with the nixpkgs the template pins."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "templates" / "darling-builder"
# `nix build ... nixpkgs#...` as the user guide and the template's README show it
BUILD = re.compile(r"nix build [^`\n]*nixpkgs#[^\s`]+")


def build_commands(path: Path) -> list[str]:
    return BUILD.findall(path.read_text())


def test_nixpkgs_is_the_flakes_input_not_the_registrys() -> None:
    """A bare `nixpkgs#` is resolved through the flake registry (nixpkgs-unstable by
    default), which no longer evaluates x86_64-darwin; `--inputs-from .` takes the
    template's own input instead, following 'follows' (NixOS/nix, src/libcmd:
    the inputs-from flag resolves each root input with lockFile.findInput)."""
    commands = build_commands(TEMPLATE / "README.md") + \
        build_commands(REPO / "docs" / "darwin-builder.md")
    assert len(commands) == 2
    for command in commands:
        assert "--inputs-from . " in command, command


def test_the_templates_nixpkgs_follows_darling_nix() -> None:
    flake = (TEMPLATE / "flake.nix").read_text()
    assert re.search(r'nixpkgs\.follows = "darling-nix/nixpkgs";', flake)
    assert 'inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";' in \
        (REPO / "flake.nix").read_text()
