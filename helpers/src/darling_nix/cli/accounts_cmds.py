"""`darling-nix accounts`: users and groups inside the prefix."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from ..accounts import Accounts, AccountsError, Group, User
from ..dirlock import LockTimeout
from ..prefix import etc_dir
from ..runner import Runner, runner_for
from .common import DEFAULT_CONFIG, EXIT_FAILED, EXIT_USAGE, JsonOption, fail, load, print_json

HELP = ("List and edit the prefix's users and groups (passwd, master.passwd, group under "
        "<prefix>/private/etc).")


@dataclass
class _Selected:
    accounts: Accounts
    runner: Runner | None  # the config's runner; None with --etc (the caller's business)


opener: dict[str, Callable[[], _Selected]] = {}
T = TypeVar("T")


def select(
    config: Annotated[Path, typer.Option("--config", "-c", help="Builder config; its prefix "
                                         "is used.")] = DEFAULT_CONFIG,
    etc: Annotated[Path | None, typer.Option(help="Work on this etc directory instead "
                                             "(a prefix's private/etc).")] = None,
) -> None:
    # The config is read when a subcommand runs, not here: `add-user --help` must work on
    # a machine that has no config.
    @functools.cache  # once per command, however often asked
    def open_selected() -> _Selected:
        if etc:
            return _Selected(Accounts(etc), None)
        builder = load(config)
        return _Selected(Accounts(etc_dir(builder.prefix_path)), runner_for(builder))

    opener["selected"] = open_selected


def _selected() -> _Selected:
    return opener["selected"]()


def _accounts() -> Accounts:
    return _selected().accounts


def _apply(change: bool, done: str, nothing: str) -> None:
    typer.echo(done if change else nothing)


def _run(operation: str, call: Callable[[], T], *, writes: bool = True) -> T:
    runner = _selected().runner
    if writes and runner is not None and runner.running():
        # Measured: a file replaced in the prefix (the overlay's upperdir) under a running
        # container is not what programs inside read; it is seen only after a restart.
        fail(f"{operation}: the prefix's Darling container is running and would not see the "
             "change; stop the builder first, or make it inside the prefix with "
             "`darling-nix exec -- dscl ...`", EXIT_FAILED)
    try:
        return call()
    except (AccountsError, LockTimeout) as error:
        fail(f"{operation}: {error}", EXIT_USAGE)


def list_(json: JsonOption = False) -> None:
    """List users and groups."""
    accounts = _accounts()
    users, groups = _run("list", lambda: (accounts.users(), accounts.groups()), writes=False)
    if json:
        print_json({"users": [asdict(u) for u in users],
                    "groups": [{**asdict(g), "members": list(g.members)} for g in groups]})
        return
    for u in users:
        typer.echo(f"user  {u.name:20} uid={u.uid} gid={u.gid} home={u.home} shell={u.shell}")
    for g in groups:
        typer.echo(f"group {g.name:20} gid={g.gid} members={','.join(g.members)}")


def add_user(
    name: str,
    uid: Annotated[int, typer.Option(help="User id.")],
    gid: Annotated[int, typer.Option(help="Primary group id.")],
    home: Annotated[str, typer.Option(help="Home directory.")] = "/var/empty",
    shell: Annotated[str, typer.Option(help="Login shell.")] = "/usr/bin/false",
    real_name: Annotated[str, typer.Option(help="Full name (gecos).")] = "",
) -> None:
    """Add a user (no change when the same entry exists)."""
    user = User(name, uid, gid, gecos=real_name, home=home, shell=shell)
    changed = _run(f"add user {name}", lambda: _accounts().add_user(user))
    _apply(changed, f"added user {name}", f"user {name} already present")


def remove_user(name: str) -> None:
    """Remove a user and its group memberships (no change when absent)."""
    changed = _run(f"remove user {name}", lambda: _accounts().remove_user(name))
    _apply(changed, f"removed user {name}", f"no user {name}")


def add_group(name: str, gid: Annotated[int, typer.Option(help="Group id.")]) -> None:
    """Add a group (no change when the same entry exists)."""
    changed = _run(f"add group {name}", lambda: _accounts().add_group(Group(name, gid)))
    _apply(changed, f"added group {name}", f"group {name} already present")


def remove_group(name: str) -> None:
    """Remove a group (no change when absent)."""
    changed = _run(f"remove group {name}", lambda: _accounts().remove_group(name))
    _apply(changed, f"removed group {name}", f"no group {name}")


def add_member(group: str, user: str) -> None:
    """Make USER a member of GROUP."""
    changed = _run(f"add {user} to {group}",
                   lambda: _accounts().set_membership(group, user, True))
    _apply(changed, f"added {user} to {group}", f"{user} already in {group}")


def remove_member(group: str, user: str) -> None:
    """Remove USER from GROUP."""
    changed = _run(f"remove {user} from {group}",
                   lambda: _accounts().set_membership(group, user, False))
    _apply(changed, f"removed {user} from {group}", f"{user} not in {group}")
