"""`darling-nix config check|show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from ..config import config_to_dict
from .common import JsonOption, load, print_json

HELP = "Check or show the builder config."
FileArgument = Annotated[Path, typer.Argument(help="The builder config file.")]


def check(file: FileArgument) -> None:
    """Validate FILE; exit 2 with the key path and the expected form when it is wrong."""
    load(file)
    typer.echo(f"{file}: ok")


def show(file: FileArgument, json: JsonOption = False) -> None:
    """Print the effective config: FILE with every default and derived path filled in."""
    data = config_to_dict(load(file))
    if json:
        print_json(data)
    else:
        typer.echo(yaml.safe_dump(data, sort_keys=False), nl=False)
