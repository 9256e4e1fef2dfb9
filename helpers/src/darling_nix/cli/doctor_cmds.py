"""`darling-nix doctor`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from .. import doctor
from ..models import ConfigError
from ..render import render_machines, render_ssh_config
from ..smallfile import SmallFileError, read_text
from .common import JsonOption, fail, load, report_checks


def _pinned(value: str) -> str:
    """A key line, or a file holding one (a .pub file or a known_hosts line)."""
    path = Path(value)
    if value.startswith("/") or path.exists():
        try:
            value = read_text(path).strip().splitlines()[0]
        except SmallFileError as error:
            fail(f"--host-key: cannot read {path}: {error}")
        except IndexError:
            fail(f"--host-key: {path} is empty")
    fields = value.split()
    # known_hosts lines start with the host pattern; key lines with the key type.
    if len(fields) >= 3 and not fields[0].startswith(("ssh-", "ecdsa-", "sk-")):
        fields = fields[1:]
    if len(fields) < 2:
        fail("--host-key: expected 'TYPE BASE64' or a file with such a line")
    return " ".join(fields[:2])


def doctor_command(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Take everything "
                                                "from this builder config.")] = None,
    host: Annotated[str | None, typer.Option(help="Builder host.")] = None,
    port: Annotated[int, typer.Option(help="Builder sshd port.")] = 31122,
    user: Annotated[str, typer.Option(help="Login user.")] = "darling-builder",
    key: Annotated[Path | None, typer.Option(help="Private key to log in with.")] = None,
    host_key: Annotated[str | None, typer.Option("--host-key", help="The pinned host key: "
                                                 "'TYPE BASE64' or a file holding it.")] = None,
    build: Annotated[bool, typer.Option("--build", help="Also build a trivial darwin "
                                        "derivation through the host's Nix (needs "
                                        "--config).")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds per network step.")] = 10,
    json: JsonOption = False,
) -> None:
    """Check the builder from a client's side; exit 0 only when every check passes."""
    with tempfile.TemporaryDirectory() as work:
        build_files = None
        if config is not None:
            builder = load(config)
            try:
                target = doctor.Target.from_config(builder)
            except ConfigError as error:
                fail(str(error))
            if build:
                build_files = doctor.BuildFiles(Path(work) / "machines",
                                                Path(work) / "ssh_config")
                build_files.machines.write_text(render_machines(builder))
                build_files.ssh_config.write_text(render_ssh_config(builder))
        elif host and key and host_key:
            if build:
                fail("--build needs --config (it uses the rendered machines line and alias)")
            target = doctor.Target(host, port, user, key, _pinned(host_key))
        else:
            fail("give --config, or --host, --key and --host-key")
        checks = doctor.Doctor(target, timeout).run(build_files)
    report_checks(checks, json)
