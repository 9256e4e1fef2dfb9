"""`darling-nix demo`: the main job end to end on loopback, with the stand-in runner."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from .. import doctor, loopback
from ..hostnix import remote_build, write_probe_expression
from ..sshd import SSHD
from .common import EXIT_FAILED, fail, report_checks


def _step(text: str) -> None:
    typer.secho(f"==> {text}", bold=True)


def demo_command(
    keep: Annotated[bool, typer.Option("--keep", help="Leave the temporary builder's files "
                                       "in place for a look.")] = False,
) -> None:
    """Set up a temporary darwin builder on 127.0.0.1 (stand-in for Darling), check it with
    doctor, build an x86_64-darwin derivation through it with the host's Nix, print the
    result, and clean up."""
    if os.geteuid() != 0:
        fail("the demo needs root: it starts an sshd and mounts the prefix's store on /nix "
             "in a private mount namespace")
    for tool in ("nix-build", "nix-store", "ssh", "ssh-keygen", "unshare", SSHD):
        if shutil.which(tool) is None:
            fail(f"{tool} is missing; install Debian's nix-bin, openssh-server and "
                 "openssh-client (scripts/setup does)")
    root = loopback.secure_tempdir("demo")
    try:
        builder = loopback.create(root, _step)
        with builder.sshd():
            _step(f"started the builder's sshd on 127.0.0.1:{builder.config.ssh.port} "
                  "(ForceCommand: darling-nix gate)")
            checks = doctor.Doctor(doctor.Target.from_config(builder.config)).run()
            report_checks(checks, as_json=False, indent="    ")
            _step("building an x86_64-darwin derivation on the host with --max-jobs 0, "
                  f"offloaded over {builder.config.nix.protocol}")
            with tempfile.TemporaryDirectory() as work:
                expression = write_probe_expression(Path(work), "x86_64-darwin",
                                                    str(time.time_ns()))
                started = time.monotonic()
                result = remote_build(expression, builder.machines, builder.ssh_config)
                elapsed = time.monotonic() - started
            if result.returncode != 0:
                typer.echo(result.stderr, err=True)
                fail("the remote build failed", EXIT_FAILED)
            output = Path(result.stdout.strip().splitlines()[-1])
            in_prefix = builder.config.prefix_path / "nix" / "store" / output.name
            typer.echo(f"    output       {output}")
            typer.echo(f"    content      {output.read_text().strip()}")
            typer.echo(f"    in prefix    {in_prefix.exists()} ({in_prefix})")
            typer.echo(f"    took         {elapsed:.2f} s")
            if not in_prefix.exists():
                fail("the output is not in the prefix's store: it was not built there",
                     EXIT_FAILED)
        _step("done: the darwin-labelled derivation was built inside the prefix and "
              "copied back to the host store")
    finally:
        if keep:
            typer.echo(f"kept {root}")
        else:
            loopback.remove(root)
