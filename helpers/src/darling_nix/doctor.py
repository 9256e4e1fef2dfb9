"""`darling-nix doctor`: is the builder reachable and sound, as a client sees it?

Checks run in order; a check whose prerequisite failed is skipped with that reason.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from .checks import Check, CheckFailed, Checklist
from .hostnix import HostNixError, remote_build, write_probe_expression
from .models import BuilderConfig
from .render import host_public_key

SERVE_MAGIC_1 = 0x390C9DEB
SERVE_MAGIC_2 = 0x5452EECB
SERVE_CLIENT_VERSION = 0x205
SHELL_PROBE = "sh -c 'echo darling-nix-shell-probe'"


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    user: str
    key: Path
    pinned_host_key: str  # "TYPE BASE64"
    system: str = "x86_64-darwin"

    @classmethod
    def from_config(cls, config: BuilderConfig) -> Target:
        """The builder as its own config describes it; raises ConfigError without a host key."""
        return cls(config.connect_address, config.ssh.port, config.user,
                   config.client_identity_path, host_public_key(config), config.nix.systems[0])


@dataclass(frozen=True)
class BuildFiles:
    machines: Path
    ssh_config: Path


def _exec(transport: paramiko.Transport, command: str, stdin: bytes = b"",
          timeout: float = 30) -> tuple[int, bytes, bytes]:
    channel = transport.open_session(timeout=timeout)
    channel.settimeout(timeout)
    channel.exec_command(command)
    if stdin:
        channel.sendall(stdin)
    channel.shutdown_write()
    stdout = channel.makefile("rb").read()
    stderr = channel.makefile_stderr("rb").read()
    return channel.recv_exit_status(), stdout, stderr


def _serve_handshake(transport: paramiko.Transport, timeout: float) -> int:
    channel = transport.open_session(timeout=timeout)
    channel.settimeout(timeout)
    channel.exec_command("nix-store --serve")
    channel.sendall(struct.pack("<QQ", SERVE_MAGIC_1, SERVE_CLIENT_VERSION))
    reply = b""
    while len(reply) < 16:
        chunk = channel.recv(16 - len(reply))
        if not chunk:
            break
        reply += chunk
    channel.close()
    if len(reply) < 16:
        raise CheckFailed(f"the serve protocol answered {len(reply)} bytes instead of 16",
                      "something in the prefix's login files prints to stdout, or Nix "
                      "is not installed in the prefix (darling-nix install-nix)")
    magic, version = struct.unpack("<QQ", reply)
    if magic != SERVE_MAGIC_2:
        raise CheckFailed(f"bad serve magic {magic:#x} (stdout carries more than the protocol)",
                      "make the prefix's login files silent")
    return int(version)


class Doctor(Checklist):
    """Each check needs every earlier one: they follow the connection step by step."""

    def __init__(self, target: Target, timeout: float = 10) -> None:
        super().__init__((OSError, paramiko.SSHException, EOFError))
        self.target, self.timeout = target, timeout

    def run(self, build: BuildFiles | None = None) -> list[Check]:
        t = self.target
        with contextlib.ExitStack() as stack:
            holder: dict[str, paramiko.Transport] = {}

            def tcp() -> str:
                start = time.monotonic()
                sock = socket.create_connection((t.host, t.port), timeout=self.timeout)
                transport = paramiko.Transport(sock)
                stack.callback(transport.close)
                holder["transport"] = transport
                return f"{t.host}:{t.port} answered in {1000 * (time.monotonic() - start):.0f} ms"

            def host_key() -> str:
                transport = holder["transport"]
                transport.start_client(timeout=self.timeout)
                key = transport.get_remote_server_key()
                offered = f"{key.get_name()} {key.get_base64()}"
                pinned = " ".join(t.pinned_host_key.split()[:2])
                if offered != pinned:
                    raise CheckFailed(f"the builder offered {offered[:60]}..., pinned is "
                                  f"{pinned[:60]}...",
                                  "wrong host or a regenerated host key: re-pin the key from "
                                  "<state_dir>/ssh/ssh_host_ed25519_key.pub (never disable "
                                  "host key checking)")
                return f"{key.get_name()} {key.fingerprint}"

            def key_auth() -> str:
                transport = holder["transport"]
                private_key = paramiko.PKey.from_path(t.key)
                try:
                    transport.auth_publickey(t.user, private_key)
                except paramiko.AuthenticationException:
                    raise CheckFailed(f"{t.user}@{t.host} refused the key {t.key}",
                                  "add its public half to services.darling-builder."
                                  "authorizedKeys (ssh.authorized_keys)") from None
                return f"{t.user} logged in with {private_key.fingerprint}"

            def gate_refuses_shell() -> str:
                status, stdout, stderr = _exec(holder["transport"], SHELL_PROBE)
                if b"darling-nix-shell-probe" in stdout or status == 0:
                    raise CheckFailed("a shell command ran on the builder",
                                  "sshd's ForceCommand must be `darling-nix gate`")
                return f"refused with exit {status}: {stderr.decode(errors='replace').strip()}"

            def serve() -> str:
                version = _serve_handshake(holder["transport"], self.timeout)
                return f"serve protocol {version >> 8}.{version & 0xFF}"

            def nix_version() -> str:
                status, stdout, stderr = _exec(holder["transport"], "nix-store --version")
                text = stdout.decode(errors="replace").strip()
                if status != 0 or "Nix" not in text:
                    raise CheckFailed(f"exit {status}: {stderr.decode(errors='replace').strip()}",
                                  "run `darling-nix install-nix` on the builder")
                return text

            self.record("tcp reachable", tcp, "is the builder's sshd running and listening "
                         "there? (systemctl status darling-builder-sshd; firewall)")
            self.record("host key pinned", host_key, "the sshd handshake failed")
            self.record("key accepted", key_auth, "check the key file and the user name")
            self.record("gate refuses a shell", gate_refuses_shell, "")
            self.record("serve handshake", serve, "")
            self.record("nix inside the prefix", nix_version, "")
        if build is not None:
            self.record("darwin build", lambda: self._build(build),
                         "see the build log above")
        return self.checks

    def _build(self, files: BuildFiles) -> str:
        with tempfile.TemporaryDirectory() as work:
            expression = write_probe_expression(Path(work), self.target.system,
                                                str(time.time_ns()))
            try:
                result = remote_build(expression, files.machines, files.ssh_config)
            except HostNixError as error:
                raise CheckFailed(str(error), "set TMPDIR to a directory whose path has no "
                                  "whitespace, '#' or ';'") from None
        if result.returncode != 0:
            raise CheckFailed(f"nix-build failed: {result.stderr.strip()[-300:]}",
                          "run `darling-nix verify` on the builder")
        output = result.stdout.strip().splitlines()[-1]
        return f"{output}: {Path(output).read_text().strip()}"

