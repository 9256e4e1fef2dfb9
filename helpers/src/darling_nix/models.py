"""The builder configuration as typed dataclasses, and every rule a value must meet.

The NixOS module writes one file (JSON, which is YAML) and every subcommand reads it.
config.py applies these rules to what it parses, and the renderers apply them again to
the model they are handed: no string anywhere in the config may hold a control
character, and every value that ends up in a rendered file (sshd_config, ssh_config,
nix.conf, known_hosts, authorized_keys, /etc/nix/machines) is checked so that it cannot
smuggle in a second directive, and so that Nix, OpenSSH and the file system take it as
it is.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import defaults
from .oneline import control_class, shown

ConfigValue = str | int | bool | list[str]


class ConfigError(ValueError):
    """A config value is wrong; the message names the key path and the expected form."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


Check = Callable[[str, Any], None]

_NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}\Z")
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\Z")
# An IPv6 scope (fe80::1%eth0): an interface name (at most 15 characters) or number.
_SCOPE_RE = re.compile(r"[A-Za-z0-9_.-]{1,15}\Z")
# Nix setting names are lowercase words joined by '-'.
_SETTING_RE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")
_FEATURE_RE = re.compile(r"[A-Za-z0-9_.+-]+\Z")
_SYSTEM_RE = re.compile(r"[a-z0-9_]+-[a-z0-9_]+\Z")
_SHA256_RE = re.compile(r"[0-9a-f]{64}\Z")
_PUBKEY_RE = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
                        r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [ -~]*)?\Z")
_PUBKEY_MAX = 16384  # far above a 16384-bit RSA key's line
_CONTROL_RE = re.compile(f"[{control_class()}]")
# Characters that would end a directive or start a comment in any of the files we render.
_UNSAFE_RE = re.compile(r"[\"'\\#]")
# Paths: nothing that ssh or sshd expand (%-tokens, ${VAR}), quote or split on.
_PATH_RE = re.compile(r"/[A-Za-z0-9._+,=@:~/-]*\Z")
PATH_MAX = 4096  # bytes, with the terminating NUL (Linux)
NAME_MAX = 255
# A path leaves room for one more component below it (a key's .pub, the prefix's files).
_PATH_LIMIT = PATH_MAX - 1 - (NAME_MAX + 1)
# Directories no path in the config may name: the builder creates, chowns and wipes its own.
SYSTEM_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/etc/nix", "/etc/ssh", "/home", "/lib", "/lib32",
    "/lib64", "/libx32", "/media", "/mnt", "/nix", "/nix/store", "/nix/var", "/nix/var/nix",
    "/opt", "/proc", "/root", "/run", "/run/current-system", "/run/wrappers",
    "/run/wrappers/bin", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib",
    "/usr/lib64", "/usr/libexec", "/usr/local", "/usr/sbin", "/usr/share", "/var",
    "/var/cache", "/var/empty", "/var/lib", "/var/log", "/var/run", "/var/spool", "/var/tmp",
})
_COUNT_MAX = 2**31 - 1  # Nix reads max-jobs, cores and speed factors as C ints
_NIX_INT = range(-2**63, 2**63)


def key_path(prefix: str, name: object) -> str:
    """PREFIX.NAME, with NAME shown as a repr when it is not a short printable string."""
    part = name if isinstance(name, str) and name.isprintable() and len(name) <= 64 \
        else shown(name, 40)
    return f"{prefix}.{part}" if prefix else part


def check_no_control(key: str, value: str) -> None:
    """The rule for every string in the config, whatever else checks it."""
    bad = _CONTROL_RE.search(value)
    if bad:
        raise ConfigError(key, f"must not contain control characters (found U+{ord(bad.group()):04X}): "
                               "it would end a line of a rendered file")


def check_strings(data: object, key: str = "") -> None:
    """check_no_control on every string in DATA, mapping keys included, at any depth."""
    pending = [(key, data)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            check_no_control(where, value)
        elif isinstance(value, dict):
            for name, item in reversed(list(value.items())):
                inner = key_path(where, name)
                if isinstance(name, str):
                    check_no_control(inner, name)
                pending.append((inner, item))
        elif isinstance(value, list | tuple):
            pending.extend((f"{where}[{index}]", item)
                           for index, item in reversed(list(enumerate(value))))


def check_safe_text(key: str, value: str) -> None:
    """Text with no control characters, quotes, backslashes or '#'."""
    check_no_control(key, value)
    bad = _UNSAFE_RE.search(value)
    if bad:
        raise ConfigError(key, f"must not contain {bad.group()!r} (quotes, backslashes and '#' "
                               "would break the rendered files)")


def _normal(path: str) -> str:
    """PATH without repeated or trailing slashes (it has no '.' or '..' components)."""
    return "/" + "/".join(part for part in path.split("/") if part)


def check_path(key: str, value: str) -> None:
    check_no_control(key, value)
    if not _PATH_RE.match(value):
        raise ConfigError(key, "expected an absolute path of letters, digits and '/._+,=@:~-' "
                               f"only, got {shown(value)}")
    parts = value.split("/")
    if "." in parts or ".." in parts:
        raise ConfigError(key, f"must not have '.' or '..' components, got {shown(value)}")
    if len(value) > _PATH_LIMIT:
        raise ConfigError(key, f"is {len(value)} characters long; a path may have at most "
                               f"{_PATH_LIMIT} (PATH_MAX is {PATH_MAX}, with room for a file "
                               "below it)")
    if max(len(part) for part in parts) > NAME_MAX:
        raise ConfigError(key, f"has a component longer than {NAME_MAX} characters (NAME_MAX)")
    normal = _normal(value)
    if normal in SYSTEM_DIRS:
        raise ConfigError(key, f"is {normal}, a system directory; expected a path of the "
                               "builder's own")


def check_name(key: str, value: str) -> None:
    if not _NAME_RE.match(value):
        raise ConfigError(key, f"expected a user or group name like 'darling-builder' "
                               f"([a-z_][a-z0-9_-]*, at most 32 characters), got {shown(value)}")


def check_address(key: str, value: str) -> None:
    import ipaddress  # only when an address is configured: keeps the gate's start-up short

    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME_RE.match(value):
            raise ConfigError(key, f"expected an IP address or host name, got {shown(value)}"
                              ) from None
        return
    # ipaddress takes anything after '%' as an IPv6 scope, newlines included.
    scope = getattr(address, "scope_id", None)
    if scope is not None and not _SCOPE_RE.match(scope):
        raise ConfigError(key, "expected an interface name or number after '%', got "
                               f"{shown(value)}")


def check_host_alias(key: str, value: str) -> None:
    if not _HOSTNAME_RE.match(value):
        raise ConfigError(key, "expected a host alias of letters, digits, '.' and '-', got "
                               f"{shown(value)}")


def check_port(key: str, value: int) -> None:
    if not 1 <= value <= 65535:
        raise ConfigError(key, f"expected a TCP port between 1 and 65535, got {shown(value)}")


def check_positive(key: str, value: int) -> None:
    if not 1 <= value <= _COUNT_MAX:
        raise ConfigError(key, f"expected a whole number from 1 to {_COUNT_MAX}, got "
                               f"{shown(value)}")


def check_non_negative(key: str, value: int) -> None:
    if not 0 <= value <= _COUNT_MAX:
        raise ConfigError(key, f"expected a whole number from 0 to {_COUNT_MAX}, got "
                               f"{shown(value)}")


def check_sha256(key: str, value: str) -> None:
    if not _SHA256_RE.match(value):
        raise ConfigError(key, "expected a sha256 as 64 lowercase hexadecimal digits")


def check_pubkey(key: str, value: str) -> None:
    if len(value) > _PUBKEY_MAX or not _PUBKEY_RE.match(value):
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
            raise ConfigError(key, f"expected {form}, got {shown(value)}")
    return run


def _non_empty(check: Check) -> Check:
    def run(key: str, values: list[Any]) -> None:
        if not values:
            raise ConfigError(key, "expected a non-empty list")
        check(key, values)
    return run


def _check_nix_word(key: str, value: str) -> None:
    """A string nix.conf carries as it is: Nix splits a value at white space and joins
    the words with one space, and '#' starts a comment."""
    check_safe_text(key, value)
    if value.strip(" ") != value or "  " in value:
        raise ConfigError(key, "white space at either end or twice in a row would not survive "
                               "nix.conf (Nix splits values at white space)")


def check_nix_settings(key: str, settings: dict[str, Any]) -> None:
    for name, value in settings.items():
        where = key_path(key, name)
        if not isinstance(name, str) or len(name) > 64 or not _SETTING_RE.match(name) \
                or name == "include":
            raise ConfigError(where, "expected a Nix setting name such as 'max-silent-time' "
                                     "(lowercase words joined by '-'; not 'include', which "
                                     "nix.conf reads as a directive)")
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            if value not in _NIX_INT:
                raise ConfigError(where, "expected a whole number that fits in 64 bits")
        elif isinstance(value, str):
            _check_nix_word(where, value)
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            for index, item in enumerate(value):
                _check_nix_word(f"{where}[{index}]", item)
                if not item or " " in item:
                    raise ConfigError(f"{where}[{index}]", "list items must be non-empty and "
                                                           "contain no white space")
        else:
            raise ConfigError(where, "expected a string, a whole number, true/false "
                                     "or a list of strings")
    for name in ("timeout", "max-silent-time"):  # seconds; 0 is no limit, as in Nix
        value = settings.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(key_path(key, name), "expected a whole number of seconds "
                                                   "(0: no limit)")
    if "min-free" in settings:  # the gate reads it as well: refuse it here, not there
        from .defaults import parse_size

        try:
            parse_size(str(settings["min-free"]))
        except ValueError as error:
            raise ConfigError(key_path(key, "min-free"), str(error)) from None


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
        from .defaults import parse_size

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
        from .gate_args import written

        values: dict[str, object] = {"kind": self.runner.kind, "prefix": self.prefix_path,
                                     "state_dir": self.state_dir, "min_free": self.min_free}
        if self.runner.kind == "darling":
            values["darling"] = self.runner.darling_command
        return f"{sys.executable} -I -S {entry} {written(values)}"


def check_relations(config: BuilderConfig) -> None:
    """Rules between keys: the prefix, which `prefix wipe` deletes, holds no state."""
    prefix, state = _normal(str(config.prefix_path)), _normal(config.state_dir)
    if state == prefix or state.startswith(prefix + "/"):
        raise ConfigError("prefix", f"{shown(prefix)} holds the state directory "
                                    f"{shown(state)}; `prefix wipe` would delete the "
                                    "builder's keys")
