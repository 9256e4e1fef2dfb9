"""What every subcommand shares: loading the config, exit codes, output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from .. import checks as checklist
from ..checks import Check
from ..config import load_config
from ..models import BuilderConfig, ConfigError
from ..oneline import shorten

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found a problem (a failed check, a refused request)
EXIT_USAGE = 2  # bad input: a malformed config, a wrong hash, a bad argument

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The builder config file "
                                            "(YAML or JSON).", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

DEFAULT_CONFIG = Path("/etc/darling-builder/config.json")


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """MESSAGE as one short line on stderr (whatever paths or values it quotes), then exit."""
    typer.echo(f"darling-nix: {shorten(message, 360)}", err=True)
    raise typer.Exit(code)


def load(path: Path) -> BuilderConfig:
    try:
        return load_config(path)
    except ConfigError as error:
        fail(f"{shorten(str(path))}: {error}")


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def report_checks(checks: list[Check], as_json: bool, indent: str = "") -> None:
    """The table (or JSON) of CHECKS; exit 1 unless every one passed."""
    if as_json:
        print_json(checklist.as_json(checks))
    else:
        for line in checklist.table(checks):
            typer.echo(indent + line)
    if not checklist.passed(checks):
        raise typer.Exit(EXIT_FAILED)
