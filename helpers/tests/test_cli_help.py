"""`--help` of every command and subcommand works on a machine with no builder config.
The commands are found by walking the typer app, so a new one is covered without a
change here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from darling_nix.cli import app


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from command_paths(sub, (*path, name))


def takes_config(command: Any) -> bool:
    return any("--config" in getattr(param, "opts", ()) for param in command.params)


ROOT = typer.main.get_command(app)
PATHS = list(command_paths(ROOT))


def command_at(path: tuple[str, ...]) -> Any:
    command = ROOT
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


def test_the_walk_finds_nested_commands() -> None:
    assert ("accounts", "add-user") in PATHS and ("prefix", "wipe") in PATHS
    assert ("gate",) in PATHS and () in PATHS


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "darling-nix" for p in PATHS])
def test_help_needs_no_config(path: tuple[str, ...], tmp_path: Path) -> None:
    absent = str(tmp_path / "absent.json")
    calls = [[*path, "--help"]]
    # A group that takes --config (accounts) must not read it before its subcommand's --help.
    calls += [[*path[:i], "--config", absent, *path[i:], "--help"]
              for i in range(1, len(path)) if takes_config(command_at(path[:i]))]
    for args in calls:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        assert "Usage:" in result.output or "usage:" in result.output, (args, result.output)
