"""Shared fixtures. Integration fixtures need root, the real sshd and the real Nix;
without them those tests are skipped with the reason (scripts/setup installs them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# pytest runs with --import-mode=importlib: make sentinel.py importable by the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sentinel import Sentinel

from darling_nix import loopback
from darling_nix.sshd import SSHD

PYTHON = sys.executable


def integration_missing() -> str:
    if os.geteuid() != 0:
        return "needs root (sshd, mount namespaces)"
    for tool in ("nix-build", "nix-store", "ssh", "ssh-keygen", "unshare"):
        if shutil.which(tool) is None:
            return f"needs {tool} (scripts/setup installs it)"
    if not Path(SSHD).exists():
        return "needs sshd (openssh-server; scripts/setup installs it)"
    return ""


def require_integration() -> None:
    reason = integration_missing()
    if reason:
        pytest.skip(reason)


def _run_cli(*args: str, env: dict[str, str] | None = None, input: bytes | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real console entry point, in a child process."""
    return subprocess.run([PYTHON, "-m", "darling_nix", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, check=False,
                          input=input.decode() if input else None)


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def cli() -> CliRunner:
    """Runs `darling-nix ARGS...` and returns the completed process (text)."""
    return _run_cli


@pytest.fixture(scope="session")
def integration() -> None:
    require_integration()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[Any], Path]:
    def write(data: Any, name: str = "config.json") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path
    return write


@pytest.fixture(scope="session")
def standin_tarball() -> Iterator[tuple[Path, str]]:
    require_integration()
    from darling_nix.standin import make_standin_tarball

    root = loopback.secure_tempdir("tarball")
    yield make_standin_tarball(root)
    loopback.remove(root)


@pytest.fixture(scope="module")
def builder(standin_tarball: tuple[Path, str]) -> Iterator[loopback.LoopbackBuilder]:
    """A loopback builder (prefix with Nix installed, rendered files), sshd not started."""
    root = loopback.secure_tempdir("test")
    yield loopback.create(root, lambda line: None, tarball=standin_tarball)
    loopback.remove(root)


@pytest.fixture(scope="module")
def live_builder(builder: loopback.LoopbackBuilder) -> Iterator[loopback.LoopbackBuilder]:
    """The same builder with its sshd running."""
    with builder.sshd():
        yield builder


@pytest.fixture
def sentinel(tmp_path: Path) -> Sentinel:
    """A tree outside the prefix that hostile input aims at; `.assert_unchanged()` after."""
    return Sentinel.plant(tmp_path / "outside")


@pytest.fixture
def prefix_config(tmp_path: Path) -> Path:
    """A config file for a builder with its prefix at <tmp>/prefix, next to the sentinel's
    <tmp>/outside (the stand-in runner; nothing is made yet)."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({
        "state_dir": str(tmp_path / "state"), "prefix": str(tmp_path / "prefix"),
        "user": "root", "group": "root", "runner": {"kind": "namespace"}}))
    return config_file


@pytest.fixture
def initialised_config(prefix_config: Path) -> Path:
    """The same after `prefix init`: directories, accounts, nix.conf, shims; no Nix yet."""
    from darling_nix import prefix
    from darling_nix.config import load_config
    from darling_nix.runner import runner_for

    config = load_config(prefix_config)
    prefix.init(config, runner_for(config), lambda line: None)
    return prefix_config
