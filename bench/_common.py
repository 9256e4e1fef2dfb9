"""Shared set-up for the benchmarks: a loopback builder (stand-in runner), a scratch
directory, the Darling installs to compare, and timing."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from darling_nix import loopback
from darling_nix.darling.build import Installed
from darling_nix.darling.cache import default_cache
from darling_nix.removal import remove_tree
from darling_nix.render import render_sshd_config
from darling_nix.runner import runner_for
from darling_nix.sshd import Sshd, free_port


def require_root() -> None:
    if os.geteuid() != 0:
        sys.exit("benchmarks need root (sshd, mount namespaces); run scripts/setup first")


@contextmanager
def scratch() -> Iterator[Path]:
    """A work directory under /var/tmp (Darling prefixes and their programs), removed
    afterwards; stop the Darling containers in it before leaving."""
    work = Path(tempfile.mkdtemp(prefix="darling-bench-", dir="/var/tmp"))
    try:
        yield work
    finally:
        remove_tree(work)


def installs(names: list[str]) -> list[Installed]:
    """The cached Darling installs NAMES (directory names under the cache's installs/: a
    key, `patched`, `control`); none given, `patched`."""
    return [Installed.read(default_cache() / "installs" / name) for name in names or ["patched"]]


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def alternate(runs: int, **actions: Callable[[], float]) -> dict[str, list[float]]:
    """Run the actions in turn RUNS times, so drift on a noisy machine hits all alike.
    Each action returns the seconds it measured (see timed), so set-up can stay untimed."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            times[name].append(action())
    return times


def median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


@contextmanager
def builder(overrides: dict[str, Any] | None = None,
            tarball: tuple[Path, str] | None = None) -> Iterator[loopback.LoopbackBuilder]:
    """A loopback builder (Nix from TARBALL, default the stand-in), removed afterwards."""
    root = loopback.secure_tempdir("bench")
    made: list[loopback.LoopbackBuilder] = []
    try:
        made.append(loopback.create(root, lambda line: print(f"  setup: {line}", file=sys.stderr),
                                    tarball=tarball, overrides=overrides))
        yield made[0]
    finally:
        for b in made:
            runner_for(b.config).stop()  # a Darling container would outlive its prefix
        loopback.remove(root)


def ungated_command(b: loopback.LoopbackBuilder) -> str:
    """A ForceCommand that runs the client's command through the same runner, in plain sh:
    the same path as the gate minus the gate itself."""
    runner = runner_for(b.config)
    script = b.root / "ungated.sh"
    env = " ".join(f"{k}={v}" for k, v in runner.environment().items())
    inner = " ".join(f"'{word}'" for word in runner.direct_command(["/bin/sh", "-c"]))
    script.write_text(f'#!/bin/sh\nexec env -i {env} PATH=/nix/var/nix/profiles/default/bin:'
                      f'/usr/bin:/bin {inner} "$SSH_ORIGINAL_COMMAND"\n')
    script.chmod(0o755)
    return str(script)


@contextmanager
def other_sshd(b: loopback.LoopbackBuilder, name: str,
               edit: Callable[[str], str] = lambda text: text,
               **ssh: Any) -> Iterator[loopback.Client]:
    """Another sshd of the builder, same keys, on a port of its own, with the ssh settings
    given (and its rendered sshd_config passed through EDIT); yields the alias reaching it."""
    client = b.another_client(name, port=free_port(), **ssh)
    sshd_config = b.root / f"sshd_config.{name}"
    sshd_config.write_text(edit(render_sshd_config(client.config)))
    with Sshd(sshd_config, "127.0.0.1", client.config.ssh.port, b.root / f"sshd-{name}.log"):
        yield client


def ungated_sshd(b: loopback.LoopbackBuilder) -> AbstractContextManager[loopback.Client]:
    """A second sshd whose ForceCommand is the ungated one."""
    return other_sshd(b, "ungated", gate_command=ungated_command(b))


def verdict(name: str, value: float, goal: str, met: bool) -> None:
    print(f"{name}: {value:.3f} (goal {goal}) -> {'MET' if met else 'NOT MET'}")
