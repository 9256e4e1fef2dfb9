"""`darling-nix render`, `prefix init|wipe` and `install-nix`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated

import typer

from .. import nixinstall, prefix
from ..accounts import AccountsError
from ..dirlock import LockTimeout
from ..fsutil import UnsafePath, atomic_write
from ..models import ConfigError, check_sha256
from ..render import RENDERERS, render
from ..runner import runner_for
from ..sshd import generate_key
from .common import DEFAULT_CONFIG, EXIT_FAILED, ConfigOption, fail, load

PREFIX_HELP = "Create, repair or wipe the Darling prefix."


def render_command(
    kind: Annotated[str, typer.Argument(help="One of: " + ", ".join(RENDERERS),
                                        show_default=False)],
    config: ConfigOption = DEFAULT_CONFIG,
    out: Annotated[Path | None, typer.Option(help="Write here (atomically) instead of "
                                             "stdout.")] = None,
) -> None:
    """Render one of the builder's files from the config."""
    if kind not in RENDERERS:
        fail(f"unknown kind {kind!r}; expected one of {', '.join(RENDERERS)}")
    try:
        text = render(kind, load(config))
    except ConfigError as error:
        fail(str(error))
    if out is None:
        typer.echo(text, nl=False)
    else:
        atomic_write(out, text.encode())
        typer.echo(f"wrote {out}", err=True)


def prefix_init(
    config: ConfigOption = DEFAULT_CONFIG,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan, change "
                                          "nothing.")] = False,
) -> None:
    """Create or repair the prefix: directories, accounts, nix.conf, shims, ssh files."""
    builder = load(config)
    runner = runner_for(builder)
    try:
        if dry_run:
            actions = prefix.plan(builder, runner)
            for action in actions:
                typer.echo(f"would {action.description}")
            count = len(actions)
        else:
            count = prefix.init(builder, runner, typer.echo)
    except (ConfigError, UnsafePath) as error:
        fail(str(error))
    except (AccountsError, LockTimeout, OSError, subprocess.CalledProcessError) as error:
        fail(f"prefix init stopped: {error}", EXIT_FAILED)
    if not count:
        typer.echo(f"{builder.prefix_path}: nothing to change")


def prefix_wipe(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Delete the prefix (ephemeral builders do this at every start)."""
    builder = load(config)
    try:
        removed = prefix.wipe(builder, runner_for(builder))
    except UnsafePath as error:
        fail(f"cannot remove {builder.prefix_path}: {error}")
    except OSError as error:
        fail(f"cannot remove {builder.prefix_path}: {error}", EXIT_FAILED)
    typer.echo(f"removed {builder.prefix_path}" if removed else "no prefix to remove")


def keys_command(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Generate the builder sshd's host key and the local client key (ed25519, mode 0600)
    where the config says; an existing key is never overwritten."""
    builder = load(config)
    for path, comment in ((builder.host_key_path, "darling-builder host key"),
                          (builder.client_identity_path, "darling-builder client")):
        try:
            made = generate_key(path, comment)
        except (OSError, subprocess.CalledProcessError) as error:
            fail(f"cannot make the key {path}: {error}", EXIT_FAILED)
        typer.echo(f"{'generated' if made else 'kept existing'} {path}")


def install_nix_command(
    config: ConfigOption = DEFAULT_CONFIG,
    tarball: Annotated[Path | None, typer.Option(help="Nix binary tarball (default: "
                                                 "nix.tarball from the config).")] = None,
    sha256: Annotated[str | None, typer.Option(help="Its sha256 in hex (default: "
                                               "nix.tarball_sha256).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Reinstall even if this tarball is "
                                        "installed.")] = False,
) -> None:
    """Install a Nix binary tarball into the prefix (offline, sha256-checked, idempotent)."""
    builder = load(config)
    path = tarball or (Path(builder.nix.tarball) if builder.nix.tarball else None)
    digest = sha256 or builder.nix.tarball_sha256
    if path is None or not digest:
        fail("no tarball: set nix.tarball and nix.tarball_sha256, or pass --tarball and "
             "--sha256")
    try:
        check_sha256("--sha256", digest)
        result = nixinstall.install(builder, runner_for(builder), path, digest,
                                    typer.echo, force=force)
    except ConfigError as error:
        fail(str(error))
    except nixinstall.StepFailed as error:
        fail(str(error), EXIT_FAILED)
    except nixinstall.InstallError as error:
        fail(str(error))
    except OSError as error:
        fail(f"install-nix stopped: {error}", EXIT_FAILED)
    if result.already_installed:
        typer.echo(f"already installed: {result.nix_path}")
    else:
        typer.echo(f"installed {result.nix_path}")
