"""A temporary builder on loopback, with the stand-in runner unless told otherwise: the
demo's, the tests' and the benchmarks' builder. It goes through the same steps as the NixOS
module's units: keys, config file, `prefix init`, `install-nix`, rendered sshd_config, then
sshd."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import nixinstall, prefix
from .config import load_config
from .models import BuilderConfig
from .removal import remove_tree
from .render import render_known_hosts, render_machines, render_ssh_config, render_sshd_config
from .runner import Runner, runner_for
from .sshd import Sshd, free_port, generate_key
from .standin import make_standin_tarball

# sshd's StrictModes refuses key files below a world-writable directory such as /tmp.
SECURE_BASE = Path("/var/lib/darling-nix")


def secure_tempdir(label: str) -> Path:
    SECURE_BASE.mkdir(mode=0o755, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=SECURE_BASE))


@dataclass(frozen=True)
class Client:
    """How one host reaches the builder: its ssh_config alias and its machines file, and
    the builder config as that alias sees it."""
    alias: str
    ssh_config: Path
    machines: Path
    config: BuilderConfig


@dataclass(frozen=True)
class LoopbackBuilder:
    root: Path
    config: BuilderConfig
    config_file: Path
    sshd_config: Path
    ssh_config: Path
    machines: Path

    @property
    def client_key(self) -> Path:
        return self.config.client_identity_path

    def sshd(self) -> Sshd:
        return Sshd(self.sshd_config, "127.0.0.1", self.config.ssh.port,
                    self.root / "sshd.log")

    @property
    def client(self) -> Client:
        """The client the builder was made with (the module's local client)."""
        return Client(self.config.ssh.host_alias, self.ssh_config, self.machines, self.config)

    def another_client(self, name: str, **ssh: Any) -> Client:
        """Another alias of this builder, with its own control directory (so it shares no
        connection with the others) and the ssh settings given (client_identity: another
        host's key, which must be authorized; port and gate_command: another sshd)."""
        control_dir = self.root / f"ctl-{name}"
        control_dir.mkdir(mode=0o700, exist_ok=True)
        alias = f"{self.config.ssh.host_alias}-{name}"
        config = dataclasses.replace(self.config, ssh=dataclasses.replace(
            self.config.ssh, host_alias=alias, control_dir=str(control_dir), **ssh))
        ssh_config, machines = self.root / f"ssh_config.{name}", self.root / f"machines.{name}"
        ssh_config.write_text(render_ssh_config(config))
        machines.write_text(render_machines(config))
        with (self.config.ssh_dir / "known_hosts").open("a") as known_hosts:
            known_hosts.write(render_known_hosts(config))  # same host key, another alias
        return Client(alias, ssh_config, machines, config)

    def with_protocol(self, protocol: str) -> Path:
        """A machines file like ours with another store protocol."""
        other = self.root / f"machines.{protocol}"
        line = self.machines.read_text().split(" ", 1)[1]
        other.write_text(f"{protocol}://{self.config.ssh.host_alias} {line}")
        return other


# Puts a Nix into a prepared prefix; for prefixes where the Linux stand-in tarball cannot run.
NixInstaller = Callable[[BuilderConfig, Runner], None]


def create(root: Path, report: Callable[[str], None],
           tarball: tuple[Path, str] | None = None,
           overrides: dict[str, Any] | None = None,
           install_nix: NixInstaller | None = None) -> LoopbackBuilder:
    """Set up a builder under ROOT (a directory sshd's StrictModes accepts). Nix comes from
    TARBALL (default: the stand-in tarball, made here) unless INSTALL_NIX puts it in."""
    state = root / "state"
    ssh_dir = state / "ssh"
    generate_key(ssh_dir / "ssh_host_ed25519_key", "darling-nix-builder-host")
    generate_key(ssh_dir / "client_ed25519_key", "darling-nix-client")
    report("generated the builder's host key and a client key")
    if tarball is None and install_nix is None:
        tarball = make_standin_tarball(root)
        report(f"made a stand-in Nix tarball {tarball[0].name}")
    config_file = root / "config.json"
    settings: dict[str, Any] = {
        "state_dir": str(state),
        "user": "root",
        "group": "root",
        "runner": {"kind": "namespace"},
        "ssh": {
            "listen_addresses": ["127.0.0.1"],
            "port": free_port(),
            "authorized_keys": [(ssh_dir / "client_ed25519_key.pub").read_text().strip()],
            "host_alias": f"darling-builder-{os.getpid()}",
            "control_dir": str(root / "ctl"),
        },
    }
    if tarball is not None:
        settings["nix"] = {"tarball": str(tarball[0]), "tarball_sha256": tarball[1]}
    for section, values in (overrides or {}).items():
        if isinstance(values, dict):
            settings.setdefault(section, {}).update(values)
        else:
            settings[section] = values
    config_file.write_text(json.dumps(settings, indent=2))
    config = load_config(config_file)
    (root / "ctl").mkdir(mode=0o700, exist_ok=True)
    runner = runner_for(config)
    prefix.init(config, runner, lambda line: None)
    report(f"prepared the prefix {config.prefix_path}")
    if install_nix is None:
        nixinstall.install(config, runner, Path(config.nix.tarball), config.nix.tarball_sha256,
                           lambda line: None)
    else:
        install_nix(config, runner)
    report("installed Nix into the prefix")
    files = {
        "sshd_config": render_sshd_config(config),
        "ssh_config": render_ssh_config(config),
        "machines": render_machines(config),
    }
    for name, text in files.items():
        (root / name).write_text(text)
    return LoopbackBuilder(root, config, config_file, root / "sshd_config", root / "ssh_config",
                           root / "machines")


def remove(root: Path) -> None:
    remove_tree(root)
