"""What an allowed key can do beyond a build (docs/darwin-builder.md, security model).

`nix-daemon --stdio` trusts its client, so any setting the client sends in the worker
protocol's SetOptions takes effect in the builder's Nix, post-build-hook included: a
program of the client's choosing runs in the prefix, as the builder user, outside any
build. The stock remote-store clients send none: ssh-ng skips SetOptions and the serve
protocol has no such message. A worker-protocol client of one's own does send them; the
host's Nix becomes one here when its unix:// store is bridged to the gate over ssh.
(Refusals of shells and other commands: test_sshd_policy.py; builds: test_remote_builds.py.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from darling_nix.hostnix import remote_build
from darling_nix.loopback import LoopbackBuilder

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("integration")]


def hook(directory: Path) -> tuple[Path, Path]:
    """A post-build-hook that appends the mount namespace it ran in to a marker file."""
    marker, script = directory / "hook-ran", directory / "hook.sh"
    script.write_text(f"#!/bin/sh\n/usr/bin/readlink /proc/self/ns/mnt >> {marker}\n")
    script.chmod(0o755)
    return marker, script


def namespaces(marker: Path) -> list[str]:
    return marker.read_text().split() if marker.exists() else []


HOST = os.readlink("/proc/self/ns/mnt")


def expression(directory: Path, name: str, command: str = "") -> Path:
    """A new x86_64-darwin derivation that runs COMMAND, then writes its output."""
    path = directory / "build.nix"
    path.write_text(f'derivation {{ name = "{name}"; system = "x86_64-darwin"; '
                    f'builder = "/bin/sh"; args = [ "-c" "{command} echo {time.time_ns()} > $out" ]; }}\n')
    return path


@contextmanager
def daemon_socket(builder: LoopbackBuilder, directory: Path) -> Iterator[Path]:
    """A unix socket whose every connection is `nix-daemon --stdio` through the gate, over
    ssh with the builder's allowed client key."""
    path = directory / "daemon.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    server.settimeout(0.2)
    stop, children = threading.Event(), []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                children.append(subprocess.Popen(
                    ["ssh", "-F", str(builder.ssh_config), "-o", "BatchMode=yes",
                     "-o", "ControlMaster=no", "-o", "ControlPath=none",
                     builder.config.ssh.host_alias, "nix-daemon --stdio"],
                    stdin=connection, stdout=connection, stderr=subprocess.DEVNULL))

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join()
        server.close()
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def test_a_setting_sent_over_the_worker_protocol_takes_effect_in_the_prefix(
        live_builder: LoopbackBuilder, tmp_path: Path) -> None:
    marker, script = hook(tmp_path)
    (tmp_path / "conf").mkdir()  # the client's own nix.conf: empty, so it sends only the hook
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "NIX_CONF_DIR":
           str(tmp_path / "conf"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    with daemon_socket(live_builder, tmp_path) as sock:
        result = subprocess.run(
            ["nix-build", str(expression(tmp_path, "client-hook")), "--no-out-link",
             "--store", f"unix://{sock}", "--option", "post-build-hook", str(script)],
            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    ran = namespaces(marker)
    # It ran once, in the builder's mount namespace (the prefix's /nix), not on the host.
    assert len(ran) == 1 and ran[0] != HOST, (ran, HOST)


def test_a_build_already_runs_any_program_as_the_builder_user(
        live_builder: LoopbackBuilder, tmp_path: Path) -> None:
    """What the hook does, a build does too: no sandbox, the host's file system in view."""
    marker, script = hook(tmp_path)
    result = remote_build(expression(tmp_path, "runs-a-program", f"{script};"),
                          live_builder.machines, live_builder.ssh_config)
    assert result.returncode == 0, result.stderr
    ran = namespaces(marker)
    assert len(ran) == 1 and ran[0] != HOST, (ran, HOST)


@pytest.mark.parametrize("protocol", ["ssh-ng", "ssh"])
def test_stock_remote_stores_send_no_setting(live_builder: LoopbackBuilder, tmp_path: Path,
                                             protocol: str) -> None:
    marker, script = hook(tmp_path)
    machines = live_builder.machines if protocol == "ssh-ng" else \
        live_builder.with_protocol(protocol)
    result = remote_build(expression(tmp_path, f"stock-{protocol}"), machines,
                          live_builder.ssh_config,
                          extra_args=("--option", "post-build-hook", str(script)))
    assert result.returncode == 0, result.stderr
    # The host's own Nix runs its hook after the remote build; the builder runs none.
    assert namespaces(marker) == [HOST]
