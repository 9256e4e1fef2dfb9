"""`darling-nix triage`: Darling's unimplemented syscalls and stubs in logs or a command's output."""

from __future__ import annotations

import json
import shlex
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import typer

from .. import procstream, triage
from ..runner import runner_for
from .common import fail, load


class Format(StrEnum):
    md = "md"
    json = "json"


def _render(findings: list[triage.Finding], form: Format) -> str:
    if form is Format.json:
        return json.dumps(triage.as_json(findings), indent=2) + "\n"
    return triage.markdown(findings)


def _scan_logs(paths: list[Path]) -> list[triage.Finding]:
    # Read every file before reporting, so a bad one gives an error and no report.
    texts = []
    for path in paths:
        try:
            texts.append((path, path.read_bytes().decode(errors="replace")))
        except OSError as error:
            fail(f"cannot read the log {path}: {error.strerror}")
    scanner = triage.Triage()
    for path, text in texts:
        scanner.feed_file(text.splitlines(), str(path))
    return scanner.findings()


def _tee(scanner: triage.Triage, where: str, out: IO[bytes],
         lock: threading.Lock) -> procstream.LineSink:
    def sink(line: bytes) -> None:
        out.write(line)
        out.flush()
        with lock:
            scanner.feed(line.decode(errors="replace"), where)
    return sink


def _scan_run(argv: list[str], config: Path | None) -> tuple[int, list[triage.Finding]]:
    host_argv, env = argv, None
    if config is not None:
        runner = runner_for(load(config))
        host_argv, env = runner.command(argv), runner.environment()
    scanner, lock, where = triage.Triage(), threading.Lock(), shlex.join(argv)
    try:
        outcome = procstream.stream(host_argv, env, stdin=sys.stdin.buffer,
                                    on_stdout=_tee(scanner, where, sys.stdout.buffer, lock),
                                    on_stderr=_tee(scanner, where, sys.stderr.buffer, lock))
    except OSError as error:
        fail(f"cannot run {host_argv[0]}: {error.strerror}")
    return outcome.returncode, scanner.findings()


def triage_command(
    items: Annotated[list[str], typer.Argument(help="Log files; with --run, the command "
                                               "(after --).", show_default=False)],
    run: Annotated[bool, typer.Option("--run", help="Run the command, passing its output "
                                      "through, then report on it.")] = False,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="With --run: run the command inside this builder's prefix "
        "(through its runner) instead of on the host.", show_default=False)] = None,
    form: Annotated[Format, typer.Option("--format", help="Markdown table or JSON.")
                    ] = Format.md,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report "
                                                "here instead of stdout (--run: stderr).",
                                                show_default=False)] = None,
) -> None:
    """Count Darling's 'Unimplemented syscall (N)' (named from xnu's table), stub and 'not
    implemented' lines, with where each was first seen. Logs: exit 0 or 2 for an unreadable
    log. --run: the command's own exit status."""
    if run:
        code, findings = _scan_run(items, config)
    else:
        if config is not None:
            fail("--config only goes with --run")
        code, findings = 0, _scan_logs([Path(item) for item in items])
    text = _render(findings, form)
    if output is not None:
        output.write_text(text)
    else:
        typer.echo(text, nl=False, err=run)
    raise typer.Exit(code)
