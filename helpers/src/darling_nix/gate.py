"""`darling-nix gate`: the ForceCommand of the builder's sshd.

It runs on every SSH connection, so it imports only the standard library and
the config loader (no typer, no jinja2, no YAML when the config is JSON).
It never runs a shell: the requested command must equal one of a few fixed
strings, and the matching fixed argv is handed to the runner, which replaces
this process so the protocol's bytes flow without a copy.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import syslog
import time

from .config import load_config
from .models import ConfigError
from .runner import runner_for

# The exact commands Nix's remote stores send, and the one read-only probe `doctor` uses.
ALLOWED: dict[str, tuple[str, ...]] = {
    "nix-daemon --stdio": ("nix-daemon", "--stdio"),
    "nix-store --serve": ("nix-store", "--serve"),
    "nix-store --serve --write": ("nix-store", "--serve", "--write"),
    "nix-store --version": ("nix-store", "--version"),
}

EXIT_REFUSED = 1
EXIT_CONFIG = 2


def client_key_fingerprint() -> str:
    """The SHA256 fingerprint of the key the client logged in with (sshd's ExposeAuthInfo)."""
    info_path = os.environ.get("SSH_USER_AUTH", "")
    if not info_path:
        return "unknown key"
    try:
        with open(info_path) as info:
            for line in info:
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "publickey":
                    digest = hashlib.sha256(base64.b64decode(parts[2])).digest()
                    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
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
    if command is None:
        return "an interactive session"
    shown = command if len(command) <= 80 else command[:77] + "..."
    return repr(shown)


def main(argv: list[str]) -> int:
    """argv: the arguments after `gate`. Returns only when the command is refused."""
    config_path = None
    if argv[:1] == ["--config"] and len(argv) == 2:
        config_path = argv[1]
    elif argv:
        sys.stderr.write("usage: darling-nix gate [--config FILE]\n")
        return EXIT_CONFIG
    try:
        config = load_config(config_path or "/etc/darling-builder/config.json")
    except ConfigError as error:
        sys.stderr.write(f"darling-nix gate: builder config is invalid: {error}\n")
        return EXIT_CONFIG

    command = os.environ.get("SSH_ORIGINAL_COMMAND")
    who = f"{client_key_fingerprint()} from {os.environ.get('SSH_CONNECTION', '?').split(' ')[0]}"
    inner = ALLOWED.get(command) if command is not None else None
    if inner is None:
        _log(config.state_dir, f"refused {describe_command(command)} for {who}")
        sys.stderr.write(
            f"darling-nix gate: refused {describe_command(command)}: this key may only run "
            "Nix remote builds (nix-daemon --stdio, nix-store --serve [--write])\n")
        return EXIT_REFUSED
    _log(config.state_dir, f"accepted {command!r} for {who}")
    runner_for(config).exec(inner)
