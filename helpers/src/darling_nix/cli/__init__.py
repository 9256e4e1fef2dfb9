"""The `darling-nix` command line (typer). The gate is not here: see entry.py."""

from __future__ import annotations

import typer

from . import accounts_cmds, config_cmds, darling_cmds
from . import compat_cmds as compat_cmds  # registers `darling compat` on darling_cmds.app
from .builder_cmds import install_nix_command, keys_command, prefix_app, render_command
from .demo import demo_command
from .doctor_cmds import doctor_command
from .operate_cmds import register as register_operating_commands

app = typer.Typer(
    name="darling-nix",
    help="Run an x86_64-darwin Nix builder inside Darling. Exit codes: 0 ok, 1 a check or "
         "step failed, 2 bad input (config, arguments, hash).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(config_cmds.app, name="config")
app.add_typer(accounts_cmds.app, name="accounts")
app.add_typer(prefix_app, name="prefix")
app.add_typer(darling_cmds.app, name="darling")
app.command("render")(render_command)
app.command("keys")(keys_command)
app.command("install-nix")(install_nix_command)
app.command("doctor")(doctor_command)
app.command("demo")(demo_command)
register_operating_commands(app)


@app.command("gate", context_settings={"allow_extra_args": True,
                                        "ignore_unknown_options": True})
def gate_command(context: typer.Context) -> None:
    """sshd's ForceCommand: run an allowed Nix command inside the prefix. The console
    entry point hands `gate` to the gate before this CLI is even imported; this entry
    lists it here and serves callers of the typer app itself."""
    from ..gate import main

    raise typer.Exit(main(context.args))
