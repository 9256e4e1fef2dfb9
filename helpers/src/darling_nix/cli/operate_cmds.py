"""Registration of the commands for operating a builder (docs/operating.md)."""

from __future__ import annotations

import typer

from .build_cmds import build_command
from .exec_cmds import exec_command
from .matrix_cmds import matrix_command
from .triage_cmds import triage_command
from .verify_cmds import verify_command


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)
    app.command("build")(build_command)
    app.command("exec")(exec_command)
    app.command("matrix")(matrix_command)
    app.command("triage")(triage_command)
