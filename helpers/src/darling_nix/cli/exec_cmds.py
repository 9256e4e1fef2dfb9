"""`darling-nix exec`: one command inside the prefix, as the builder's Nix sees it."""

from __future__ import annotations

from typing import Annotated

import typer

from ..runner import runner_for
from .common import DEFAULT_CONFIG, ConfigOption, fail, load


def exec_command(
    argv: Annotated[list[str], typer.Argument(help="The command and its arguments (after --).",
                                              show_default=False)],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Run a command inside the prefix with the prefix's Nix profile on PATH. stdin, stdout
    and stderr pass straight through, nothing is buffered, and its exit status is ours. With
    the Darling runner, SIGTERM ends the command and everything it started in the container
    (SIGKILL 3 s later if it ignores SIGTERM)."""
    runner = runner_for(load(config))
    try:
        runner.exec(argv)
    except OSError as error:
        fail(f"cannot start the runner ({runner.direct_command(argv)[0]}): {error.strerror}")
