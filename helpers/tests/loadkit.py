"""Support for the load, soak and fault tests: derivations that are new on every call,
builds started together, and the builder's processes as /proc shows them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from darling_nix.hostnix import remote_build, remote_build_command
from darling_nix.loopback import Client

T = TypeVar("T")


def darwin_derivation(name: str, script: str) -> str:
    """A Nix expression for one x86_64-darwin derivation running SCRIPT with /bin/sh."""
    return (f'derivation {{ name = "{name}"; system = "x86_64-darwin"; builder = "/bin/sh"; '
            f'args = [ "-c" "{script}" ]; }}')


def write_expression(directory: Path, expression: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "build.nix"
    path.write_text(expression)
    return path


def build(client: Client, directory: Path, expression: str, timeout: float = 300
          ) -> subprocess.CompletedProcess[str]:
    """`nix-build --max-jobs 0` of EXPRESSION through CLIENT's alias and machines file."""
    return remote_build(write_expression(directory, expression), client.machines,
                        client.ssh_config, timeout=timeout)


def start_build(client: Client, directory: Path, expression: str) -> subprocess.Popen[str]:
    """The same build, started in the background."""
    argv, env = remote_build_command(write_expression(directory, expression), client.machines,
                                     client.ssh_config)
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def together(actions: Sequence[Callable[[], T]]) -> list[T]:
    """Run the actions in threads released at the same instant; their results in order."""
    start = threading.Barrier(len(actions))
    results: list[T | None] = [None] * len(actions)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = actions[index]()
        except BaseException as error:  # re-raised below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [result for result in results if result is not None]


def close_shared_connection(client: Client) -> None:
    """End the client's ControlMaster, so the next builds start with none (the race)."""
    def control(command: str) -> int:
        return subprocess.run(["ssh", "-F", str(client.ssh_config), "-O", command,
                               client.alias], capture_output=True, check=False,
                              timeout=30).returncode

    control("exit")
    wait_for(lambda: control("check") != 0, 30, f"the shared connection of {client.alias} ends")


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    # the command name may hold spaces: the fields start after its ')'
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    return parents


def parent(pid: int) -> int:
    return _parents().get(pid, 0)


def process_tree(root: int) -> list[int]:
    """ROOT and every process below it."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def command_line(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return [part.decode(errors="replace") for part in cmdline.read().split(b"\0") if part]
    except OSError:
        return []


def open_fds(pids: Sequence[int]) -> int:
    count = 0
    for pid in pids:
        try:
            count += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return count


def stop_tree(root: int, grace: float = 5.0) -> None:
    """Stop ROOT and everything below it the way systemd stops a unit (KillMode=
    control-group): SIGTERM to all at once, SIGKILL to what is left after GRACE."""
    tree = process_tree(root)
    for pid in tree:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in tree):
        time.sleep(0.05)
    for pid in tree:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, number)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition: Callable[[], T], timeout: float, what: str) -> T:
    """Poll CONDITION until it returns something true; fail naming WHAT after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.02)


@dataclass(frozen=True)
class StoreFigures:
    entries: frozenset[str]
    size: int  # bytes of every file under the store, apparent size


def store_figures(store: Path) -> StoreFigures:
    size = 0
    for directory, _dirs, files in os.walk(store):
        for name in files:
            size += os.lstat(os.path.join(directory, name)).st_size
    return StoreFigures(frozenset(os.listdir(store)), size)
