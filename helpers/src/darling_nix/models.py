"""The builder configuration as typed, validated dataclasses.

The NixOS module writes one file (JSON, which is YAML) and every subcommand
reads it. Every string that ends up in a rendered config file (sshd_config,
ssh_config, nix.conf, /etc/nix/machines) is checked here, so the renderers
never see a value that could smuggle in a second directive.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import defaults

ConfigValue = str | int | bool | list[str]


class ConfigError(ValueError):
    """A config value is wrong; the message names the key path and the expected form."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


Check = Callable[[str, Any], None]

_NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}\Z")
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\Z")
_SETTING_RE = re.compile(r"[a-z][a-z0-9-]*\Z")
_FEATURE_RE = re.compile(r"[A-Za-z0-9_.+-]+\Z")
_SYSTEM_RE = re.compile(r"[a-z0-9_]+-[a-z0-9_]+\Z")
_SHA256_RE = re.compile(r"[0-9a-f]{64}\Z")
_PUBKEY_RE = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
                        r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [ -~]*)?\Z")
# Characters that would end a directive or start a comment in any of the files we render.
_UNSAFE_RE = re.compile(r"[\x00-\x1f\x7f#\"'\\]")


def check_safe_text(key: str, value: str) -> None:
    """Text with no control characters, quotes, backslashes or '#'."""
    bad = _UNSAFE_RE.search(value)
    if bad:
        raise ConfigError(key, f"must not contain {bad.group()!r} (control characters, quotes, "
                               "backslashes and '#' would break the rendered files)")


def check_path(key: str, value: str) -> None:
    check_safe_text(key, value)
    if not value.startswith("/") or " " in value:
        raise ConfigError(key, f"expected an absolute path without spaces, got {value!r}")


def check_name(key: str, value: str) -> None:
    if not _NAME_RE.match(value):
        raise ConfigError(key, f"expected a user or group name like 'darling-builder' "
                               f"([a-z_][a-z0-9_-]*, at most 32 characters), got {value!r}")


def check_address(key: str, value: str) -> None:
    import ipaddress  # only when an address is configured: keeps the gate's start-up short

    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME_RE.match(value):
            raise ConfigError(key, f"expected an IP address or host name, got {value!r}") from None


def check_host_alias(key: str, value: str) -> None:
    if not _HOSTNAME_RE.match(value):
        raise ConfigError(key, f"expected a host alias of letters, digits, '.' and '-', got {value!r}")


def check_port(key: str, value: int) -> None:
    if not 1 <= value <= 65535:
        raise ConfigError(key, f"expected a TCP port between 1 and 65535, got {value}")


def check_positive(key: str, value: int) -> None:
    if value < 1:
        raise ConfigError(key, f"expected a whole number of at least 1, got {value}")


def check_non_negative(key: str, value: int) -> None:
    if value < 0:
        raise ConfigError(key, f"expected a whole number of at least 0, got {value}")


def check_sha256(key: str, value: str) -> None:
    if not _SHA256_RE.match(value):
        raise ConfigError(key, "expected a sha256 as 64 lowercase hexadecimal digits")


def check_pubkey(key: str, value: str) -> None:
    if not _PUBKEY_RE.match(value):
        raise ConfigError(key, "expected one OpenSSH public key line such as "
                               "'ssh-ed25519 AAAA... comment', with no options and no newline")


def _each(check: Check) -> Check:
    def run(key: str, values: list[Any]) -> None:
        for index, value in enumerate(values):
            check(f"{key}[{index}]", value)
    return run


def _matching(pattern: re.Pattern[str], form: str) -> Check:
    def run(key: str, value: str) -> None:
        if not pattern.match(value):
            raise ConfigError(key, f"expected {form}, got {value!r}")
    return run


def _non_empty(check: Check) -> Check:
    def run(key: str, values: list[Any]) -> None:
        if not values:
            raise ConfigError(key, "expected a non-empty list")
        check(key, values)
    return run


def check_nix_settings(key: str, settings: dict[str, Any]) -> None:
    for name, value in settings.items():
        if not isinstance(name, str) or not _SETTING_RE.match(name):
            raise ConfigError(f"{key}.{name}", "expected a Nix setting name such as 'max-silent-time'")
        where = f"{key}.{name}"
        if isinstance(value, bool | int):
            continue
        if isinstance(value, str):
            check_safe_text(where, value)
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            for index, item in enumerate(value):
                check_safe_text(f"{where}[{index}]", item)
                if not item or any(c.isspace() for c in item):
                    raise ConfigError(f"{where}[{index}]", "list items must be non-empty and "
                                                           "contain no white space")
        else:
            raise ConfigError(where, "expected a string, a whole number, true/false "
                                     "or a list of strings")


def spec(check: Check | None = None, doc: str = "", **kwargs: Any) -> Any:
    """A dataclass field with a validator and a line of documentation."""
    return field(metadata={"check": check, "doc": doc}, **kwargs)


@dataclass(frozen=True)
class RunnerConfig:
    kind: Literal["darling", "namespace"] = spec(
        doc="'darling' runs commands with `darling shell`; 'namespace' is the stand-in "
            "(a private mount namespace with the prefix's nix on /nix) for tests and the demo",
        default=defaults.RUNNER_KIND)
    darling_command: str = spec(check_path, "the setuid darling wrapper",
                                default=defaults.DARLING_COMMAND)


@dataclass(frozen=True)
class SshConfig:
    listen_addresses: list[str] = spec(_non_empty(_each(check_address)),
                                       "addresses the builder's sshd listens on",
                                       default_factory=lambda: ["127.0.0.1"])
    port: int = spec(check_port, "port of the builder's sshd", default=31122)
    host_key: str = spec(check_path, "private host key of the builder's sshd "
                                     "(default: <state_dir>/ssh/ssh_host_ed25519_key)", default="")
    authorized_keys: list[str] = spec(_each(check_pubkey), "public keys allowed to build here",
                                      default_factory=list)
    authorized_keys_files: list[str] = spec(_each(check_path),
                                            "files of public keys allowed to build here",
                                            default_factory=list)
    client_identity: str = spec(check_path, "private key the local Nix uses to reach the builder "
                                            "(default: <state_dir>/ssh/client_ed25519_key)",
                                default="")
    host_alias: str = spec(check_host_alias, "ssh_config Host alias used in /etc/nix/machines",
                           default="darling-builder")
    connect_address: str = spec(check_address, "address clients connect to (default: the first "
                                               "listen address)", default="")
    control_dir: str = spec(check_path, "directory for the client's shared ssh connections "
                                        "(ControlPath); only the Nix daemon's user may enter it",
                            default="/run/darling-builder-ssh")
    max_startups: int = spec(check_non_negative, "unauthenticated connections sshd takes at "
                                                 "once before it starts refusing some "
                                                 "(MaxStartups' first number; refused all past "
                                                 "twice that); 0: nix.max_jobs x the number "
                                                 "of authorized keys + 10", default=0)
    max_sessions: int = spec(check_non_negative, "sessions one connection may carry (sshd's "
                                                 "MaxSessions; every build sharing a client's "
                                                 "connection is one); 0: nix.max_jobs + 10",
                             default=0)
    gate_command: str = spec(check_safe_text, "ForceCommand of the builder's sshd, taken as is "
                                              "(default: the gate, started by this Python "
                                              "with its settings on the command line)",
                             default="")


@dataclass(frozen=True)
class NixConfig:
    tarball: str = spec(check_path, "Nix binary tarball to install into the prefix", default="")
    tarball_sha256: str = spec(check_sha256, "its sha256 (hex)", default="")
    settings: dict[str, ConfigValue] = spec(check_nix_settings, "extra lines for the prefix's "
                                                                "nix.conf", default_factory=dict)
    max_jobs: int = spec(check_non_negative, "max-jobs in the prefix and in /etc/nix/machines",
                         default=1)
    cores: int = spec(check_non_negative, "cores in the prefix's nix.conf (0 = all)", default=0)
    systems: list[str] = spec(_non_empty(_each(_matching(_SYSTEM_RE, "a system like "
                                                                     "'x86_64-darwin'"))),
                              "systems the builder builds for", default_factory=lambda: [
                                  "x86_64-darwin"])
    supported_features: list[str] = spec(_each(_matching(_FEATURE_RE, "a feature name")),
                                         "system features the builder offers",
                                         default_factory=list)
    mandatory_features: list[str] = spec(_each(_matching(_FEATURE_RE, "a feature name")),
                                         "features a derivation must require to use this builder",
                                         default_factory=list)
    speed_factor: int = spec(check_positive, "speed factor in /etc/nix/machines", default=1)
    protocol: Literal["ssh-ng", "ssh"] = spec(doc="store protocol clients use", default="ssh-ng")


@dataclass(frozen=True)
class BuilderConfig:
    state_dir: str = spec(check_path, "state directory of the builder",
                          default=defaults.STATE_DIR)
    prefix: str = spec(check_path, "the Darling prefix (default: <state_dir>/prefix)", default="")
    user: str = spec(check_name, "user that owns the prefix and logs in over ssh",
                     default="darling-builder")
    group: str = spec(check_name, "group of that user", default="darling-builder")
    ephemeral: bool = spec(doc="wipe the prefix at every start", default=False)
    runner: RunnerConfig = spec(doc="how commands run inside the prefix",
                                default_factory=RunnerConfig)
    ssh: SshConfig = spec(doc="the builder's own sshd", default_factory=SshConfig)
    nix: NixConfig = spec(doc="Nix inside the prefix and how clients see the builder",
                          default_factory=NixConfig)
    source: str = field(default="", compare=False, metadata={"internal": True})

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)

    @property
    def prefix_path(self) -> Path:
        return Path(self.prefix or defaults.prefix_of(self.state_dir))

    @property
    def ssh_dir(self) -> Path:
        return self.state_path / "ssh"

    @property
    def host_key_path(self) -> Path:
        return Path(self.ssh.host_key) if self.ssh.host_key else self.ssh_dir / "ssh_host_ed25519_key"

    @property
    def client_identity_path(self) -> Path:
        return (Path(self.ssh.client_identity) if self.ssh.client_identity
                else self.ssh_dir / "client_ed25519_key")

    @property
    def authorized_keys_path(self) -> Path:
        return self.ssh_dir / "authorized_keys"

    @property
    def connect_address(self) -> str:
        return self.ssh.connect_address or self.ssh.listen_addresses[0]

    @property
    def min_free(self) -> int:
        """nix.settings' min-free in bytes (ours by default): the gate collects garbage
        before a session when the prefix has less free (space.py)."""
        from .space import parse_size

        value = self.nix.settings.get("min-free", defaults.MIN_FREE)
        try:
            return parse_size(str(value))
        except ValueError as error:
            raise ConfigError("nix.settings.min-free", str(error)) from None

    @property
    def gate_command(self) -> str:
        """ssh.gate_command, or the gate started the fast way (gate_entry.py, see there)."""
        if self.ssh.gate_command:
            return self.ssh.gate_command
        entry = Path(__file__).with_name("gate_entry.py")
        check_path("(this Python)", sys.executable)
        check_path("(the gate's entry)", str(entry))
        settings = f"--runner {self.runner.kind} --prefix {self.prefix_path} " \
                   f"--state-dir {self.state_dir} --min-free {self.min_free}"
        if self.runner.kind == "darling":
            settings += f" --darling {self.runner.darling_command}"
        return f"{sys.executable} -I -S {entry} {settings}"
