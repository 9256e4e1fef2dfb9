"""`darling-nix gate`, as the typer app lists it (the console entry point hands `gate` to
the gate before this CLI is even imported: entry.py)."""

from __future__ import annotations

import typer


def gate_command(context: typer.Context) -> None:
    """sshd's ForceCommand: run an allowed Nix command inside the prefix. The console
    entry point hands `gate` to the gate before this CLI is even imported; this entry
    lists it here and serves callers of the typer app itself."""
    from ..gate import main

    raise typer.Exit(main(context.args))
