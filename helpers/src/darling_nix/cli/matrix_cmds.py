"""`darling-nix matrix`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .. import matrix
from ..fsutil import atomic_write
from ..runner import runner_for
from ..smallfile import SmallFileError, read_text
from .common import DEFAULT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_USAGE, ConfigOption, fail, load


def _tiers(path: Path | None) -> tuple[list[matrix.Package], str]:
    if path is None:
        return matrix.parse_tiers(matrix.default_tiers(), "data/matrix.yaml"), "data/matrix.yaml"
    try:
        text = read_text(path)
    except SmallFileError as error:
        fail(f"cannot read the tier file {path}: {error}")
    return matrix.parse_tiers(text, str(path)), str(path)


def _show_changes(title: str, changes: list[matrix.Change]) -> None:
    typer.echo(f"{title} ({len(changes)}):")
    for change in changes:
        typer.echo(f"  tier {change.tier} {change.name}: {change.before} -> {change.after}")


def matrix_command(
    config: ConfigOption = DEFAULT_CONFIG,
    tiers: Annotated[Path | None, typer.Option("--tiers", help="Tier file (YAML); default: "
                                               "the packaged data/matrix.yaml.",
                                               show_default=False)] = None,
    tier: Annotated[int | None, typer.Option("--tier", min=1, max=4, help="Build tiers 1 "
                                             "to N only.", show_default=False)] = None,
    only: Annotated[str | None, typer.Option("--only", help="Build only this package.",
                                             show_default=False)] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where the JSON report "
                                         "goes (written whole or not at all).")
                      ] = Path("matrix-report.json"),
    previous: Annotated[Path | None, typer.Option("--compare", help="An earlier report: list "
                                                  "regressions and fixes; exit 2 on a tier-1 "
                                                  "regression.", show_default=False)] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per package.")] = 3600,
) -> None:
    """Build the tiered package matrix in the prefix (no SSH) and write a JSON report.
    Exit 0 when every tier-1 package passed, 1 when one did not, 2 on bad input or a
    tier-1 regression against --compare."""
    builder = load(config)
    try:
        packages, source = _tiers(tiers)
        chosen = matrix.select(packages, tier, only)
        earlier = matrix.load_report(previous) if previous is not None else None
    except matrix.MatrixInputError as error:
        fail(str(error))
    if not output.absolute().parent.is_dir():
        fail(f"the report's directory {output.absolute().parent} does not exist")
    system = builder.nix.systems[0]
    results = matrix.run(runner_for(builder), chosen, system, timeout,
                         lambda line: typer.echo(line, err=True))
    report = matrix.report(results, system, source)
    atomic_write(output, (json.dumps(report, indent=2) + "\n").encode())
    typer.echo(matrix.summary_table(results))
    typer.echo(f"report: {output}")
    code = EXIT_OK if all(r.status == "pass" for r in results if r.tier == 1) else EXIT_FAILED
    if earlier is not None:
        regressions, fixes = matrix.compare(earlier, report)
        _show_changes("regressions", regressions)
        _show_changes("fixes", fixes)
        if any(change.tier == 1 for change in regressions):
            code = EXIT_USAGE
    raise typer.Exit(code)
