"""The gate through the real sshd into the real Darling: a loopback builder whose config
has runner.kind darling, with a Mach-O stand-in for `nix-store` (serve_standin.c) in the
prefix's default profile, since the x86_64-darwin Nix tarball cannot be had here.
`darling-nix doctor` passes every check; hostile commands run nothing inside the prefix."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest
from darling_support import build_probe, darling_runner_settings
from hostile import REFUSED_TEMPLATES, attack, short_id

from darling_nix import loopback
from darling_nix.darling.build import Installed
from darling_nix.darling.compiler import DarwinCompiler
from darling_nix.models import BuilderConfig
from darling_nix.runner import DarlingRunner, Runner, path_inside
from darling_nix.sshd import SSHD

CliRunner = Callable[..., subprocess.CompletedProcess[str]]

# A store path name of the right shape (32 base-32 characters, then the name).
STANDIN_PACKAGE = "/nix/store/" + "0" * 32 + "-darling-nix-serve-standin"
# Where serve_standin.c appends the argv of every call, relative to the prefix.
CALLS_LOG = "nix/var/darling-nix/standin-calls.log"
SERVE_HELLO = struct.pack("<QQ", 0x390C9DEB, 0x205)
SERVE_REPLY = struct.pack("<QQ", 0x5452EECB, (2 << 8) | 7)


def install_serve_standin(program: Path) -> loopback.NixInstaller:
    """Puts PROGRAM into the prefix as the default profile's nix-store, the way the official
    tarball's profile looks (default -> a store path), while the container is stopped."""
    def install(config: BuilderConfig, runner: Runner) -> None:
        runner.stop()
        package = config.prefix_path / STANDIN_PACKAGE.lstrip("/")
        (package / "bin").mkdir(parents=True)
        shutil.copy2(program, package / "bin" / "nix-store")
        profile = config.prefix_path / "nix" / "var" / "nix" / "profiles" / "default"
        profile.symlink_to(STANDIN_PACKAGE)
    return install


@pytest.fixture(scope="module")
def darling_builder(darling_install: Installed, darwin_cc: DarwinCompiler,
                    darwin_bin: Path) -> Iterator[loopback.LoopbackBuilder]:
    """A loopback builder with the Darling runner and its sshd running."""
    for program in (SSHD, shutil.which("ssh-keygen")):
        if program is None or not Path(program).exists():
            pytest.skip(f"needs {program or 'ssh-keygen'} (openssh-server, openssh-client)")
    standin = build_probe(darwin_cc, "serve_standin", darwin_bin)
    root = loopback.secure_tempdir("darling-gate")
    try:
        builder = loopback.create(root, lambda line: None,
                                  overrides={"runner": darling_runner_settings(darling_install)},
                                  install_nix=install_serve_standin(standin))
        with builder.sshd():
            yield builder
    finally:
        DarlingRunner(root / "state" / "prefix", darling_install.darling).stop()
        loopback.remove(root)


@pytest.fixture(scope="module")
def transport(darling_builder: loopback.LoopbackBuilder) -> Iterator[paramiko.Transport]:
    connection = paramiko.Transport(("127.0.0.1", darling_builder.config.ssh.port))
    connection.start_client(timeout=10)
    connection.auth_publickey("root", paramiko.PKey.from_path(darling_builder.client_key))
    yield connection
    connection.close()


def calls(builder: loopback.LoopbackBuilder) -> list[str]:
    """The stand-in's calls so far (read only: the container may be running)."""
    log = builder.config.prefix_path / CALLS_LOG
    return log.read_text().splitlines() if log.exists() else []


def exec_command(transport: paramiko.Transport, command: str,
                 stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    channel = transport.open_session(timeout=30)
    channel.settimeout(60)
    channel.exec_command(command)
    channel.sendall(stdin)
    channel.shutdown_write()
    stdout = channel.makefile("rb").read()
    stderr = channel.makefile_stderr("rb").read()
    return channel.recv_exit_status(), stdout, stderr


def test_doctor_passes_every_check_with_the_darling_runner(
        darling_builder: loopback.LoopbackBuilder, cli: CliRunner) -> None:
    assert darling_builder.config.runner.kind == "darling"
    before = len(calls(darling_builder))
    result = cli("doctor", "--config", str(darling_builder.config_file), "--json")
    checks = {check["name"]: check for check in json.loads(result.stdout)}
    assert result.returncode == 0, checks
    assert list(checks) == ["tcp reachable", "host key pinned", "key accepted",
                            "gate refuses a shell", "serve handshake", "nix inside the prefix"]
    assert all(check["status"] == "pass" for check in checks.values()), checks
    # The answers came from the Mach-O stand-in, run by Darling's kernel emulation.
    assert checks["nix inside the prefix"]["detail"].endswith("on Darwin 20.6.0"), checks
    assert calls(darling_builder)[before:] == ["--serve", "--version"]


def test_serve_stdout_carries_only_the_protocol(darling_builder: loopback.LoopbackBuilder,
                                                transport: paramiko.Transport) -> None:
    """Nothing from Darling's login shell or the container start reaches the client."""
    status, stdout, stderr = exec_command(transport, "nix-store --serve --write", SERVE_HELLO)
    assert (status, stdout) == (0, SERVE_REPLY), stderr
    assert calls(darling_builder)[-1] == "--serve --write"


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """A file that a payload run inside the prefix would create on the host."""
    return tmp_path / "ran"


def test_the_payload_leaves_the_marker_when_run(darling_builder: loopback.LoopbackBuilder,
                                                darling_install: Installed,
                                                marker: Path) -> None:
    """The control: the hostile payload, run inside the prefix, does create the marker."""
    runner = DarlingRunner(darling_builder.config.prefix_path, darling_install.darling)
    result = runner.run(["/bin/sh", "-c", attack("{run}", path_inside(marker))], capture=True)
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "ran\n"


@pytest.mark.parametrize("template", REFUSED_TEMPLATES, ids=short_id)
def test_hostile_commands_run_nothing_inside_the_prefix(
        darling_builder: loopback.LoopbackBuilder, transport: paramiko.Transport,
        marker: Path, template: str) -> None:
    before = calls(darling_builder)
    status, stdout, stderr = exec_command(transport, attack(template, path_inside(marker)))
    assert status == 1 and stdout == b"", stderr
    assert stderr.decode().startswith("darling-nix gate: refused"), stderr
    assert not marker.exists()
    assert calls(darling_builder) == before


def test_interactive_shell_is_refused(darling_builder: loopback.LoopbackBuilder,
                                      transport: paramiko.Transport) -> None:
    before = calls(darling_builder)
    shell = transport.open_session(timeout=30)
    shell.invoke_shell()
    shell.sendall(b"nix-store --version\n")
    assert shell.recv_exit_status() == 1
    assert calls(darling_builder) == before
