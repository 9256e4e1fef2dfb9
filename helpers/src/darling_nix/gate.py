"""`darling-nix gate`: the ForceCommand of the builder's sshd.

It runs on every SSH connection, so it imports only what it needs. The rendered
sshd_config starts it through gate_entry.py with its few settings on the command line,
taken from the config that was validated when sshd_config was rendered: no file is read.
Given `--config FILE` instead, a JSON config is read directly, checking just the keys the
gate uses; a YAML one goes through the full loader.
It never runs a shell: the requested command must equal one of a few fixed
strings, and the matching fixed argv is handed to the runner. The stand-in runner
replaces this process; with Darling it stays the parent of `darling shell`, to end the
session's container processes on SIGTERM (session.py). Either way the command gets
this process's stdio, so the protocol's bytes flow without a copy.
"""

from __future__ import annotations

import os
import sys
import syslog
import time

from . import defaults, gate_args
from .runner import Runner, make_runner
from .space import make_room

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs an import on every connection
    from collections.abc import Callable
    from typing import Any

# The exact commands Nix's remote stores send, and the one read-only probe `doctor` uses.
ALLOWED: dict[str, tuple[str, ...]] = {
    "nix-daemon --stdio": ("nix-daemon", "--stdio"),
    "nix-store --serve": ("nix-store", "--serve"),
    "nix-store --serve --write": ("nix-store", "--serve", "--write"),
    "nix-store --version": ("nix-store", "--version"),
}

EXIT_REFUSED = 1
EXIT_CONFIG = 2


class GateConfigError(ValueError):
    pass


class GateUsageError(GateConfigError):
    """Arguments that are not one of the two forms in USAGE."""


def _shown(value: object, limit: int = 60) -> str:
    """VALUE cut short for a message; imported only on the paths that refuse something."""
    from .oneline import shown

    return shown(value, limit)


def _absolute(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "\n" in value:
        raise GateConfigError(f"{key}: expected an absolute path, got {_shown(value)}")
    return value


# What each setting is called in the config file (on the ForceCommand line: gate_args).
_CONFIG_KEYS = {"kind": "runner.kind", "darling": "runner.darling_command",
                "state_dir": "state_dir", "prefix": "prefix", "min_free": "nix.settings.min-free"}

Settings = tuple[Runner, str, int]  # the runner, the state directory, min-free in bytes


def _settings(values: dict[str, object], names: dict[str, str]) -> Settings:
    """The runner, state directory and min-free from VALUES (missing ones take the
    defaults), each checked; NAMES says how to call a setting in an error."""
    kind = values.get("kind", defaults.RUNNER_KIND)
    if kind not in ("darling", "namespace"):
        raise GateConfigError(f"{names['kind']}: expected 'darling' or 'namespace', "
                              f"got {_shown(kind)}")
    state_dir = _absolute(names["state_dir"], values.get("state_dir", defaults.STATE_DIR))
    prefix = _absolute(names["prefix"],
                       values.get("prefix", defaults.prefix_of(state_dir)))
    darling = _absolute(names["darling"], values.get("darling", defaults.DARLING_COMMAND))
    try:
        min_free = defaults.parse_size(str(values.get("min_free", defaults.MIN_FREE)))
    except ValueError as error:
        raise GateConfigError(f"{names['min_free']}: {error}") from None
    return make_runner(kind, prefix, darling), state_dir, min_free


def read_settings(path: str) -> Settings:
    """The runner, the state directory and min-free from the config file at PATH."""
    from .smallfile import SmallFileError, read_text

    try:
        text = read_text(path)
    except SmallFileError as error:
        raise GateConfigError(f"cannot read config file {_shown(path, 80)}: {error}") from None
    import json  # only on this path: json pulls in re, which costs more than all the rest

    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # YAML, or something the full loader explains
        from .config import parse_config
        from .models import ConfigError
        from .runner import runner_for

        try:
            config = parse_config(text, path)
        except ConfigError as error:
            raise GateConfigError(str(error)) from None
        return runner_for(config), config.state_dir, config.min_free
    runner = data.get("runner", {}) if isinstance(data, dict) else None
    nix = data.get("nix", {}) if isinstance(data, dict) else None
    nix_settings = nix.get("settings", {}) if isinstance(nix, dict) else None
    if not isinstance(runner, dict) or not isinstance(nix_settings, dict):
        raise GateConfigError("expected a mapping at the top level, under 'runner' and "
                              "under 'nix.settings'")
    values = {key: section[name] for key, section, name in (
        ("kind", runner, "kind"), ("darling", runner, "darling_command"),
        ("state_dir", data, "state_dir"), ("prefix", data, "prefix"),
        ("min_free", nix_settings, "min-free")) if name in section}
    if not values.get("prefix"):  # "" means <state_dir>/prefix, as in the schema
        values.pop("prefix", None)
    return _settings(values, _CONFIG_KEYS)


def _sha256() -> Callable[[bytes], Any]:
    """CPython's own SHA-256 module: hashlib imports enum and OpenSSL, which with base64's re
    cost about 8 ms on every connection, as much as the rest of the gate's start
    (bench/remote_build.py)."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]  # CPython 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found]  # 3.12 and later
        except ImportError:  # a Python built without them
            from hashlib import sha256
    return sha256  # type: ignore[no-any-return]


def client_key_fingerprint() -> str:
    """The SHA256 fingerprint of the key the client logged in with (sshd's ExposeAuthInfo)."""
    info_path = os.environ.get("SSH_USER_AUTH", "")
    if not info_path:
        return "unknown key"
    import binascii  # not base64: it imports re

    sha256 = _sha256()
    try:
        with open(info_path) as info:
            for line in info:
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "publickey":
                    digest = sha256(binascii.a2b_base64(parts[2])).digest()
                    encoded = binascii.b2a_base64(digest, newline=False).decode()
                    return "SHA256:" + encoded.rstrip("=")
    except (OSError, ValueError):
        pass
    return "unknown key"


def _log(state_dir: str, message: str) -> None:
    syslog.openlog("darling-nix-gate", syslog.LOG_PID, syslog.LOG_AUTH)
    syslog.syslog(syslog.LOG_NOTICE, message)
    try:
        fd = os.open(os.path.join(state_dir, "gate.log"),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    except OSError:
        return  # the state directory is not ours to write; syslog has the line
    try:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        os.write(fd, f"{stamp} {message}\n".encode())
    finally:
        os.close(fd)


def describe_command(command: str | None) -> str:
    return "an interactive session" if command is None else _shown(command, 80)


USAGE = ("usage: darling-nix gate [--config FILE]\n"
         "       darling-nix gate --runner KIND --prefix DIR --state-dir DIR [--darling PATH]"
         " [--min-free BYTES]\n")


def settings_from_argv(argv: list[str]) -> Settings:
    """The gate's settings from `--config FILE`, or from the settings that the
    sshd_config renderer put on the ForceCommand line (then no file is read at all)."""
    if argv[:1] == ["--config"] and len(argv) == 2:
        return read_settings(argv[1])
    if not argv:
        return read_settings(defaults.CONFIG_FILE)
    values = gate_args.read(argv)
    if values is None:
        raise GateUsageError(f"unexpected arguments {argv!r}")
    return _settings(dict(values), gate_args.FLAGS)


def main(argv: list[str]) -> int:
    """argv: the arguments after `gate`. Returns only when the command is refused."""
    if argv[:1] in (["--help"], ["-h"]):
        sys.stdout.write(USAGE + "The builder sshd's ForceCommand: runs SSH_ORIGINAL_COMMAND "
                         "in the prefix if it is one of:\n  " + "\n  ".join(ALLOWED) + "\n")
        return 0
    try:
        runner, state_dir, min_free = settings_from_argv(argv)
    except GateUsageError:
        sys.stderr.write(USAGE)
        return EXIT_CONFIG
    except GateConfigError as error:
        sys.stderr.write(f"darling-nix gate: builder config is invalid: {error}\n")
        return EXIT_CONFIG

    command = os.environ.get("SSH_ORIGINAL_COMMAND")
    who = f"{client_key_fingerprint()} from {os.environ.get('SSH_CONNECTION', '?').split(' ')[0]}"
    inner = ALLOWED.get(command) if command is not None else None
    if inner is None:
        _log(state_dir, f"refused {describe_command(command)} for {who}")
        sys.stderr.write(
            f"darling-nix gate: refused {describe_command(command)}: this key may only run "
            "Nix remote builds (nix-daemon --stdio, nix-store --serve [--write])\n")
        return EXIT_REFUSED
    _log(state_dir, f"accepted {command!r} for {who}")
    make_room(runner, min_free, lambda message: _log(state_dir, message))
    try:
        runner.exec(inner)
    except OSError as error:
        _log(state_dir, f"cannot start the runner for {command!r}: {error}")
        sys.stderr.write(f"darling-nix gate: cannot start the {runner.name} runner: "
                         f"{error.strerror}: {error.filename}\n")
        return EXIT_CONFIG
