"""`darling-nix prefix init`: create or repair the prefix and the builder's host-side files.

Work is planned first (reading only) as a list of actions, so `--dry-run` shows the
exact plan and a second run finds nothing to do. Host-side writes into the prefix
happen while Darling's container is stopped (DESIGN: the prefix is an overlay's upperdir),
through directories opened without following links (the prefix is the builder's).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .accounts import Accounts, Group, User
from .fsutil import Directory, UnsafePath, open_beneath
from .models import BuilderConfig, ConfigError
from .removal import remove_tree
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


NIX_CONF = PurePosixPath("private/etc/nix/nix.conf")


def nix_conf_path(prefix: Path) -> Path:
    return prefix / NIX_CONF


def shims_dir() -> Path | None:
    """Where the shims are: $DARLING_NIX_SHIMS (the package sets it), or this checkout's."""
    configured = os.environ.get("DARLING_NIX_SHIMS")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parents[3] / "shims"
    return checkout if (checkout / "MANIFEST").is_file() else None


def _write_if_changed(root: Path, relative: PurePosixPath, content: bytes,
                      mode: int) -> Action | None:
    """Plan writing ROOT/RELATIVE. Below ROOT's parent no link is followed (the prefix
    and the state directory belong to the builder): a link on the way is refused, and a
    link or odd file at the name itself is replaced, never written through."""
    try:
        with open_beneath(root, relative.parent) as directory:
            verb = _change_verb(directory, relative.name, content, mode)
    except FileNotFoundError:
        verb = "write"
    if verb is None:
        return None
    return Action(f"{verb} {root / relative}",
                  lambda: _write_beneath(root, relative, content, mode))


def _change_verb(directory: Directory, name: str, content: bytes, mode: int) -> str | None:
    current = directory.lstat(name)
    if current is None:
        return "write"
    if not stat.S_ISREG(current.st_mode):
        return "replace"
    if (stat.S_IMODE(current.st_mode) == mode and current.st_size == len(content)
            and directory.read_regular(name, len(content)) == content):
        return None
    return "update"


def _write_beneath(root: Path, relative: PurePosixPath, content: bytes, mode: int) -> None:
    with open_beneath(root, relative.parent, create=True) as directory:
        directory.write_atomic(relative.name, content, mode)


def _is_directory_beneath(root: Path, relative: PurePosixPath) -> bool:
    """Whether ROOT/RELATIVE is a directory; a link on the way is refused (UnsafePath)."""
    try:
        open_beneath(root, relative).close()
    except FileNotFoundError:
        return False
    return True


def _mkdir_action(root: Path, relative: PurePosixPath) -> Action:
    return Action(f"create directory {root / relative}",
                  lambda: open_beneath(root, relative, create=True).close())


def _plan_directories(config: BuilderConfig) -> list[Action]:
    prefix = config.prefix_path
    actions = [_mkdir_action(prefix, PurePosixPath(d)) for d in PREFIX_DIRS
               if not _is_directory_beneath(prefix, PurePosixPath(d))]
    if not config.ssh_dir.is_dir():
        actions.append(Action(f"create directory {config.ssh_dir}",
                              lambda: config.ssh_dir.mkdir(parents=True, exist_ok=True)))
    etc_link = prefix / "etc"
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


def _is_mach_o(prefix: Path, relative: PurePosixPath) -> bool:
    try:
        with open_beneath(prefix, relative.parent) as directory:
            stream = directory.open_regular(relative.name)
            if stream is None:
                return False
            with stream:
                return stream.read(4) in MACH_O_MAGICS
    except (OSError, UnsafePath):
        return False


def _rename_action(prefix: Path, relative: PurePosixPath, new_name: str) -> Action:
    def rename() -> None:
        with open_beneath(prefix, relative.parent) as directory:
            os.rename(relative.name, new_name, src_dir_fd=directory.fd,
                      dst_dir_fd=directory.fd)

    return Action(f"keep Darling's {prefix / relative} as {new_name}", rename)


def _plan_shims(config: BuilderConfig) -> list[Action]:
    source = shims_dir()
    if source is None:
        return []
    prefix = config.prefix_path
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
        target = PurePosixPath(destination) / Path(name).name
        if not _is_directory_beneath(prefix, target.parent):
            actions.append(_mkdir_action(prefix, target.parent))
        original = f"{target.name}.darling"
        if _is_mach_o(prefix, target) and not os.path.lexists(prefix / target.parent / original):
            # Darling's own binary (diskutil knows `eject`): the shim hands that verb to it.
            actions.append(_rename_action(prefix, target, original))
        action = _write_if_changed(prefix, target, (source / name).read_bytes(), mode)
        if action:
            actions.append(action)
    return actions


def _plan_ssh_files(config: BuilderConfig) -> list[Action]:
    wanted = [(config.authorized_keys_path, render_authorized_keys(config).encode(), 0o600)]
    if Path(f"{config.host_key_path}.pub").exists():
        wanted.append((config.ssh_dir / "known_hosts", render_known_hosts(config).encode(),
                       0o644))
    return [a for a in (_write_if_changed(p.parent, PurePosixPath(p.name), c, m)
                        for p, c, m in wanted) if a]


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
        *(a for a in [_write_if_changed(config.prefix_path, NIX_CONF,
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
    """Remove the prefix (for ephemeral builders); True if there was one. A prefix that is
    a symbolic link is refused (UnsafePath), and no link inside it is followed."""
    if not os.path.lexists(config.prefix_path):
        return False
    runner.stop()
    remove_tree(config.prefix_path)
    return True
