"""`darling-nix build`: build one derivation in the prefix, no SSH, outputs back on the host."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import localbuild
from ..runner import runner_for
from .common import DEFAULT_CONFIG, EXIT_FAILED, ConfigOption, fail, load


def build_command(
    drv: Annotated[str | None, typer.Argument(help="A .drv path in the host store.",
                                              show_default=False)] = None,
    expr: Annotated[str | None, typer.Option("--expr", "-E", help="A Nix expression to "
                                             "instantiate on the host and build.",
                                             show_default=False)] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    timeout: Annotated[float | None, typer.Option(help="Give up the build after this many "
                                                  "seconds.", show_default=False)] = None,
) -> None:
    """Copy DRV's closure into the prefix, build it there (log on stderr), copy the outputs
    back into the host store and print their paths. Needs no sshd and no builders setting."""
    if (drv is None) == (expr is None):
        fail("give either a .drv path or --expr EXPRESSION")
    builder = load(config)
    runner = runner_for(builder)
    try:
        path = localbuild.instantiate(expr) if expr is not None else \
            localbuild.check_derivation(str(drv))
        result = localbuild.build(runner, path, lambda line: typer.echo(line, err=True),
                                  timeout)
    except localbuild.BuildInputError as error:
        fail(str(error))
    except localbuild.BuildStepFailed as error:
        fail(str(error), EXIT_FAILED)
    if result.status != "pass":
        reason = "timed out" if result.status == "timeout" else \
            f"failed (exit {result.returncode})"
        fail(f"building {path} in the prefix {reason}", EXIT_FAILED)
    for output in result.outputs:
        typer.echo(output)
