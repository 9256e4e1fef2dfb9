"""`darling-nix prefix init`: create or repair the prefix and the builder's host-side files.

Work is planned first (reading only) as a list of actions, so `--dry-run` shows the
exact plan and a second run finds nothing to do. Host-side writes into the prefix
happen while Darling's container is stopped (DESIGN: the prefix is an overlay's upperdir).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .accounts import Accounts, Group, User
from .fsutil import atomic_write, remove_tree
from .models import BuilderConfig, ConfigError
from .render import render_authorized_keys, render_known_hosts, render_nix_conf
from .runner import Runner

PREFIX_DIRS = ("private/etc/nix", "private/var/root", "private/tmp", "nix/store",
               "nix/var/nix/db", "nix/var/nix/profiles", "nix/var/nix/gcroots",
               "nix/var/darling-nix")


@dataclass(frozen=True)
class Action:
    description: str
    apply: Callable[[], object]


def etc_dir(prefix: Path) -> Path:
    return prefix / "private" / "etc"


def nix_conf_path(prefix: Path) -> Path:
    return etc_dir(prefix) / "nix" / "nix.conf"


def shims_dir() -> Path | None:
    """Where the shims are: $DARLING_NIX_SHIMS (the package sets it), or this checkout's."""
    configured = os.environ.get("DARLING_NIX_SHIMS")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parents[3] / "shims"
    return checkout if (checkout / "MANIFEST").is_file() else None


def _write_if_changed(path: Path, content: bytes, mode: int) -> Action | None:
    try:
        if path.read_bytes() == content and path.stat().st_mode & 0o7777 == mode:
            return None
        verb = "update"
    except FileNotFoundError:
        verb = "write"
    return Action(f"{verb} {path}", lambda: atomic_write(path, content, mode))


def _mkdir_action(directory: Path) -> Action:
    return Action(f"create directory {directory}",
                  lambda: directory.mkdir(parents=True, exist_ok=True))


def _plan_directories(config: BuilderConfig) -> list[Action]:
    wanted = [config.prefix_path / d for d in PREFIX_DIRS] + [config.ssh_dir]
    actions = [_mkdir_action(d) for d in wanted if not d.is_dir()]
    etc_link = config.prefix_path / "etc"
    if not etc_link.exists() and not etc_link.is_symlink():
        actions.append(Action(f"link {etc_link} -> private/etc",
                              lambda: etc_link.symlink_to("private/etc")))
    return actions


def _builder_identity(config: BuilderConfig) -> tuple[int, int]:
    """The builder's uid and gid on the host: Darling runs processes as the invoking user."""
    try:
        entry = pwd.getpwnam(config.user)
        uid, gid = entry.pw_uid, entry.pw_gid
    except KeyError:
        uid, gid = os.getuid(), os.getgid()
    with contextlib.suppress(KeyError):
        gid = grp.getgrnam(config.group).gr_gid
    return uid, gid


def _plan_accounts(config: BuilderConfig) -> list[Action]:
    accounts = Accounts(etc_dir(config.prefix_path))
    uid, gid = _builder_identity(config)
    actions = []
    if not any(u.name == "root" for u in accounts.users()):
        root = User("root", 0, 0, gecos="System Administrator", home="/var/root",
                    shell="/bin/sh")
        actions.append(Action("add user root to the prefix accounts",
                              lambda: accounts.add_user(root)))
    if not any(g.name == "wheel" for g in accounts.groups()):
        actions.append(Action("add group wheel to the prefix accounts",
                              lambda: accounts.add_group(Group("wheel", 0, ("root",)))))
    if uid != 0 and not any(u.name == config.user for u in accounts.users()):
        user = User(config.user, uid, gid, gecos="darwin builder",
                    home=f"/Users/{config.user}", shell="/bin/bash")
        actions.append(Action(f"add user {config.user} (uid {uid}) to the prefix accounts",
                              lambda: accounts.add_user(user)))
    if gid != 0 and not any(g.name == config.group for g in accounts.groups()):
        group = Group(config.group, gid, (config.user,))
        actions.append(Action(f"add group {config.group} (gid {gid}) to the prefix accounts",
                              lambda: accounts.add_group(group)))
    return actions


MACH_O_MAGICS = {bytes.fromhex(m) for m in ("cffaedfe", "cefaedfe", "cafebabe", "feedfacf")}


def _is_mach_o(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return stream.read(4) in MACH_O_MAGICS
    except OSError:
        return False


def _rename_action(source: Path, target: Path) -> Action:
    return Action(f"keep Darling's {source} as {target.name}", lambda: source.rename(target))


def _plan_shims(config: BuilderConfig) -> list[Action]:
    source = shims_dir()
    if source is None:
        return []
    actions = []
    for number, line in enumerate((source / "MANIFEST").read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            name, destination, mode_text = line.split()
            mode = int(mode_text, 8)
        except ValueError:
            raise ConfigError("", f"{source / 'MANIFEST'}:{number}: expected "
                                  f"'FILE DIRECTORY MODE', got {line!r}") from None
        target = config.prefix_path / destination / Path(name).name
        directory = target.parent
        if not directory.is_dir():
            actions.append(_mkdir_action(directory))
        original = target.with_name(f"{target.name}.darling")
        if _is_mach_o(target) and not original.exists():
            # Darling's own binary (diskutil knows `eject`): the shim hands that verb to it.
            actions.append(_rename_action(target, original))
        action = _write_if_changed(target, (source / name).read_bytes(), mode)
        if action:
            actions.append(action)
    return actions


def _plan_ssh_files(config: BuilderConfig) -> list[Action]:
    wanted = [(config.authorized_keys_path, render_authorized_keys(config).encode(), 0o600)]
    if Path(f"{config.host_key_path}.pub").exists():
        wanted.append((config.ssh_dir / "known_hosts", render_known_hosts(config).encode(),
                       0o644))
    return [a for a in (_write_if_changed(p, c, m) for p, c, m in wanted) if a]


def _creation(config: BuilderConfig, runner: Runner) -> Action:
    return Action(f"create the prefix {config.prefix_path} ({runner.name} runner)",
                  runner.create_prefix)


def plan(config: BuilderConfig, runner: Runner) -> list[Action]:
    """Everything `prefix init` would do, in order; empty when the prefix is as configured."""
    created = [] if config.prefix_path.exists() else [_creation(config, runner)]
    return [
        *created,
        *_plan_directories(config),
        *_plan_accounts(config),
        *(a for a in [_write_if_changed(nix_conf_path(config.prefix_path),
                                        render_nix_conf(config).encode(), 0o644)] if a),
        *_plan_shims(config),
        *_plan_ssh_files(config),
    ]


def init(config: BuilderConfig, runner: Runner, report: Callable[[str], None]) -> int:
    """Apply the plan; returns how many actions ran. A new prefix is created before the rest
    is planned: Darling lays out part of it itself (the etc link, the first accounts)."""
    # Render first what comes from the config and the key files: bad input is refused
    # before anything is created, not halfway through.
    render_nix_conf(config)
    render_authorized_keys(config)
    created = 0
    if not config.prefix_path.exists():
        creation = _creation(config, runner)
        creation.apply()
        report(creation.description)
        created = 1
    actions = plan(config, runner)
    if actions:
        runner.stop()
    for action in actions:
        action.apply()
        report(action.description)
    return created + len(actions)


def wipe(config: BuilderConfig, runner: Runner) -> bool:
    """Remove the prefix (for ephemeral builders); True if there was one."""
    if not config.prefix_path.exists():
        return False
    runner.stop()
    remove_tree(config.prefix_path)
    return True
