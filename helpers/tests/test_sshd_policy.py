"""What the builder's sshd lets a client do: nothing but the allowed Nix commands."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from hostile import REFUSED_TEMPLATES, attack, short_id

from darling_nix.loopback import LoopbackBuilder
from darling_nix.sshd import generate_key

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("integration")]


def ssh(builder: LoopbackBuilder, *args: str, key: Path | None = None,
        options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """ssh through the rendered alias; with KEY, the alias's own key is left out."""
    config = builder.ssh_config
    if key:
        config = key.with_suffix(".ssh_config")
        config.write_text(builder.ssh_config.read_text().replace(
            str(builder.client_key), str(key)))
    return subprocess.run(["ssh", "-F", str(config), *options,
                           "-o", "BatchMode=yes", "-o", "ControlMaster=no",
                           builder.config.ssh.host_alias, *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture
def transport(live_builder: LoopbackBuilder) -> Iterator[paramiko.Transport]:
    t = paramiko.Transport(("127.0.0.1", live_builder.config.ssh.port))
    t.start_client(timeout=10)
    t.auth_publickey("root", paramiko.PKey.from_path(live_builder.client_key))
    yield t
    t.close()


def test_unknown_key_is_refused(live_builder: LoopbackBuilder, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    generate_key(stranger)
    result = ssh(live_builder, "nix-store --version", key=stranger)
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr


def test_only_publickey_is_offered(live_builder: LoopbackBuilder) -> None:
    t = paramiko.Transport(("127.0.0.1", live_builder.config.ssh.port))
    t.start_client(timeout=10)
    try:
        with pytest.raises(paramiko.BadAuthenticationType) as caught:
            t.auth_password("root", "any password")
        assert caught.value.allowed_types == ["publickey"]
        with pytest.raises(paramiko.BadAuthenticationType):
            t.auth_interactive("root", lambda *a: ["x"])
    finally:
        t.close()


def test_password_login_is_impossible_with_openssh(live_builder: LoopbackBuilder) -> None:
    result = ssh(live_builder, "nix-store --version", options=(
        "-o", "PubkeyAuthentication=no",
        "-o", "PreferredAuthentications=password,keyboard-interactive"))
    assert result.returncode == 255 and "Permission denied (publickey)" in result.stderr


@pytest.mark.parametrize("template", REFUSED_TEMPLATES, ids=short_id)
def test_commands_outside_the_allowlist_run_nothing(live_builder: LoopbackBuilder,
                                                    tmp_path: Path, template: str) -> None:
    marker = tmp_path / "ran"
    result = ssh(live_builder, attack(template, str(marker)))
    assert result.returncode == 1
    assert "darling-nix gate: refused" in result.stderr
    assert not marker.exists()


def test_refusal_is_logged_with_the_client_key(live_builder: LoopbackBuilder) -> None:
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", f"{live_builder.client_key}.pub"],
                                 capture_output=True, text=True, check=True).stdout.split()[1]
    ssh(live_builder, "id")
    last = (live_builder.config.state_path / "gate.log").read_text().splitlines()[-1]
    assert "refused 'id'" in last and fingerprint in last and "from 127.0.0.1" in last


def test_empty_command_and_shell_are_refused(transport: paramiko.Transport) -> None:
    channel = transport.open_session()
    channel.exec_command(b"")
    assert channel.recv_exit_status() == 1
    assert b"refused" in channel.makefile_stderr("rb").read()
    shell = transport.open_session()
    shell.invoke_shell()
    assert shell.recv_exit_status() == 1


def test_nul_byte_drops_the_connection_and_runs_nothing(transport: paramiko.Transport,
                                                       tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    channel = transport.open_session()
    # sshd itself disconnects a client whose command holds a NUL byte.
    with pytest.raises((EOFError, paramiko.SSHException)):
        channel.exec_command(b"nix-store --version\x00; touch " + str(marker).encode())
        channel.recv_exit_status()
        transport.open_session()
    assert not marker.exists()


def _request(channel: paramiko.Channel, kind: str) -> None:
    """A channel request with want-reply, so a refusal raises."""
    message = paramiko.Message()
    message.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string(kind)
    message.add_boolean(True)
    channel._event_pending()
    channel.transport._send_user_message(message)
    channel._wait_for_event()


def test_tty_is_refused(live_builder: LoopbackBuilder, transport: paramiko.Transport) -> None:
    with pytest.raises(paramiko.SSHException):
        transport.open_session().get_pty()
    result = ssh(live_builder, "nix-store --version", options=("-tt",))
    assert "PTY allocation request failed" in result.stderr


def test_agent_forwarding_is_refused(transport: paramiko.Transport) -> None:
    with pytest.raises(paramiko.SSHException):
        _request(transport.open_session(), "auth-agent-req@openssh.com")


def test_tcp_forwarding_is_refused(live_builder: LoopbackBuilder,
                                   transport: paramiko.Transport) -> None:
    with pytest.raises(paramiko.ChannelException):
        transport.open_channel("direct-tcpip", ("127.0.0.1", live_builder.config.ssh.port),
                               ("127.0.0.1", 40000))
    with pytest.raises(paramiko.SSHException):
        transport.request_port_forward("127.0.0.1", 0)
