"""`darling-nix darling compat`: the compatibility suite of real macOS programs
(data/compat.json, docs/compat.md) under the Darling build in the cache."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from .. import compat
from ..darling.cache import CacheLockError, default_cache
from .common import EXIT_FAILED, JsonOption, fail, print_json
from .darling_cmds import CacheOption, InstallOption, say_step, selected_install

EXIT_FETCH = 3  # a registry could not be reached, or a download has another hash


def compat_command(
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Run only this program (repeatable; a name in data/compat.json). "
                       "Default: all.", show_default=False)] = None,
    timeout: Annotated[float, typer.Option(
        help="Seconds each program's check may take; one that takes longer fails, and the "
             "container is stopped.", min=1)] = 180,
    fetch_only: Annotated[bool, typer.Option(
        "--fetch-only", help="Download and check the programs into the cache; run nothing "
                             "(no Darling needed).")] = False,
    install: InstallOption = None,
    cache: CacheOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run real macOS programs nobody here compiled (PyPI's and npm's macOS x86_64 builds,
    pinned by sha256 and fetched into <cache>/compat) under Darling, each made to do real
    work with its output checked. Prints a table (program, version, what it did, PASS/FAIL,
    first error, the library that could not load and what would provide it, triage). Exit
    0 when all pass, 1 when some fail, 2 on bad input, 3 when a download fails."""
    try:
        suite = compat.load()
        programs = compat.select(suite, only)
    except compat.CompatInputError as error:
        fail(str(error))
    store = cache or default_cache()
    executables: dict[str, Path] = {}
    try:
        for program in programs:
            say_step(f"{program.name}: {program.file}")
            executables[program.name] = compat.unpack(program, compat.fetch(program, store))
    except compat.FetchError as error:
        fail(str(error), EXIT_FETCH)
    except CacheLockError as error:
        fail(str(error))
    if fetch_only:
        return
    _, installed, _ = selected_install(install, store)
    results = compat.run_suite(programs, executables, installed.darling, suite.providers, timeout,
                               say_step)
    if as_json:
        print_json([asdict(result) for result in results])
    else:
        for line in compat.table(results):
            typer.echo(line)
    if any(result.status != "PASS" for result in results):
        raise typer.Exit(EXIT_FAILED)
