"""Console entry point: the gate is dispatched before the full CLI is imported."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["gate"]:
        # Runs on every SSH connection: keep typer and jinja2 off this path.
        from .gate import main as gate_main

        sys.exit(gate_main(sys.argv[2:]))
    from .cli import app

    app()
