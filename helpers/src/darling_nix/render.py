"""Rendering the files the builder needs from the validated config.

Values were checked when the config was loaded (models.py); every renderer checks the
whole model again (it may have been built directly), and the few inputs that come from
elsewhere (public key files) are checked here before use.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from pathlib import Path

import jinja2

from . import defaults, smallfile
from .config import validate
from .limits import sshd_limits
from .models import BuilderConfig, ConfigError, ConfigValue, check_pubkey
from .oneline import shorten

Renderer = Callable[[BuilderConfig], str]

KINDS = ("nix-conf", "sshd-config", "ssh-config", "known-hosts", "machines", "authorized-keys")

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("darling_nix", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # config files, not HTML
)


def nix_value(value: ConfigValue) -> str:
    """A value the way nix.conf writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(value)
    return str(value)


def nix_settings(config: BuilderConfig) -> dict[str, str]:
    """The prefix's nix.conf as name -> value: our defaults, then the user's settings."""
    nix = config.nix
    settings: dict[str, ConfigValue] = {
        # Single-user: Darling has no build users and cannot switch uids.
        "build-users-group": "",
        # Darling has no sandbox_init that Nix could rely on.
        "sandbox": False,
        "system": nix.systems[0],
        "max-jobs": nix.max_jobs,
        "cores": nix.cores,
        # Offline by default; the host sends whatever the build needs.
        "substituters": [],
        # Garbage-collect the prefix's store when it runs short of space: every path in it
        # came from a client or went back to one. A copy cut short by a full disk leaves a
        # partial, unregistered path behind, and without this every later build fails too.
        "min-free": defaults.MIN_FREE,
        "max-free": defaults.MAX_FREE,
        # A stuck build ends: the host's own limits do not reach us over ssh-ng (defaults.py).
        "timeout": defaults.BUILD_TIMEOUT,
        "max-silent-time": defaults.MAX_SILENT_TIME,
    }
    if nix.systems[1:]:
        settings["extra-platforms"] = nix.systems[1:]
    features = list(dict.fromkeys(nix.supported_features + nix.mandatory_features))
    if features:
        settings["system-features"] = features
    settings.update(nix.settings)
    return {name: nix_value(value) for name, value in settings.items()}


def host_public_key(config: BuilderConfig) -> str:
    """The builder sshd's public host key line ('TYPE BASE64'), checked."""
    path = Path(f"{config.host_key_path}.pub")
    try:
        text = smallfile.read_text(path).strip()
    except smallfile.SmallFileError as error:
        raise ConfigError("ssh.host_key", f"cannot read the public host key {shorten(str(path))}: "
                                          f"{error}; generate the key pair first "
                                          f"(ssh-keygen -t ed25519 -N '' -f "
                                          f"{shorten(str(config.host_key_path))})") from None
    check_pubkey(f"{path}", text)
    return " ".join(text.split()[:2])


def authorized_key_lines(config: BuilderConfig) -> list[str]:
    """Inline keys, then the keys from each file, each checked."""
    keys = list(config.ssh.authorized_keys)
    for file_index, name in enumerate(config.ssh.authorized_keys_files):
        try:
            # sshd ends a line at '\n' only: split there, so that a U+2028 or NEL inside
            # a line is refused with it rather than read as a second key.
            lines = smallfile.read_text(name).split("\n")
        except smallfile.SmallFileError as error:
            raise ConfigError(f"ssh.authorized_keys_files[{file_index}]",
                              f"cannot read {shorten(name)}: {error}") from None
        for number, line in enumerate(lines, 1):
            line = line.strip(" \t\r")
            if line and not line.startswith("#"):
                check_pubkey(f"{shorten(name)}:{number}", line)
                keys.append(line)
    return keys


def authorized_client_count(config: BuilderConfig) -> int:
    """How many keys may log in, for sizing sshd's limits. A key file that cannot be read
    yet (sshd-config rendered before the keys exist) counts as one key: refusing it is
    the job of authorized-keys rendering, which writes the file sshd reads."""
    try:
        return len(authorized_key_lines(config))
    except ConfigError:
        return len(config.ssh.authorized_keys) + len(config.ssh.authorized_keys_files)


def _header(config: BuilderConfig) -> str:
    return config.source or "the builder config"


def _validated(render: Renderer) -> Renderer:
    """RENDER, preceded by every rule of the schema on the model it is handed."""
    @functools.wraps(render)
    def checked(config: BuilderConfig) -> str:
        validate(config)
        return render(config)
    return checked


@_validated
def render_nix_conf(config: BuilderConfig) -> str:
    return _env.get_template("nix.conf.j2").render(source=_header(config),
                                                   settings=nix_settings(config))


@_validated
def render_sshd_config(config: BuilderConfig) -> str:
    return _env.get_template("sshd_config.j2").render(
        source=_header(config),
        port=config.ssh.port,
        listen_addresses=config.ssh.listen_addresses,
        host_key=config.host_key_path,
        authorized_keys=config.authorized_keys_path,
        user=config.user,
        gate_command=config.gate_command,
        limits=sshd_limits(config, clients=authorized_client_count(config)),
    )


@_validated
def render_ssh_config(config: BuilderConfig) -> str:
    return _env.get_template("ssh_config.j2").render(
        alias=config.ssh.host_alias,
        # ssh expands %-tokens in HostName: an IPv6 scope (fe80::1%eth0) goes in as %%.
        address=config.connect_address.replace("%", "%%"),
        port=config.ssh.port,
        user=config.user,
        identity=config.client_identity_path,
        known_hosts=config.ssh_dir / "known_hosts",
        control_dir=config.ssh.control_dir,
    )


@_validated
def render_known_hosts(config: BuilderConfig) -> str:
    return f"{config.ssh.host_alias} {host_public_key(config)}\n"


@_validated
def render_machines(config: BuilderConfig) -> str:
    nix = config.nix
    host_key = base64.b64encode(host_public_key(config).encode()).decode()
    fields = [
        f"{nix.protocol}://{config.ssh.host_alias}",
        ",".join(nix.systems),
        str(config.client_identity_path),
        str(max(nix.max_jobs, 1)),
        str(nix.speed_factor),
        ",".join(nix.supported_features + nix.mandatory_features) or "-",
        ",".join(nix.mandatory_features) or "-",
        host_key,
    ]
    return " ".join(fields) + "\n"


@_validated
def render_authorized_keys(config: BuilderConfig) -> str:
    # `restrict` turns off forwarding and ttys per key as well, in case sshd_config drifts.
    return "".join(f"restrict {key}\n" for key in authorized_key_lines(config))


RENDERERS: dict[str, Renderer] = {
    "nix-conf": render_nix_conf,
    "sshd-config": render_sshd_config,
    "ssh-config": render_ssh_config,
    "known-hosts": render_known_hosts,
    "machines": render_machines,
    "authorized-keys": render_authorized_keys,
}


def render(kind: str, config: BuilderConfig) -> str:
    return RENDERERS[kind](config)
