"""`darling-nix verify`."""

from __future__ import annotations

from typing import Annotated

import typer

from ..runner import runner_for
from ..verify import Verifier
from .common import DEFAULT_CONFIG, ConfigOption, JsonOption, load, report_checks


def verify_command(
    config: ConfigOption = DEFAULT_CONFIG,
    check_contents: Annotated[bool, typer.Option("--check-contents", help="Also hash every "
                                                 "store path's contents (slow).")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds per command run inside.")] = 300,
    json: JsonOption = False,
) -> None:
    """Check the Nix inside the prefix: binaries, version, nix.conf, system, store, database,
    a trivial build, and Darling's complaints in all of that output. Exit 0 only when every
    check passes."""
    builder = load(config)
    checks = Verifier(builder, runner_for(builder), check_contents=check_contents,
                      timeout=timeout).run()
    report_checks(checks, json)
