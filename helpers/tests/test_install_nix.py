"""install-nix with a stand-in tarball of the official layout, through the stand-in runner."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from darling_nix import loopback, prefix
from darling_nix.config import load_config
from darling_nix.runner import runner_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("integration")]


@pytest.fixture
def fresh(standin_tarball: tuple[Path, str]) -> Iterator[Path]:
    """A config file for an initialised prefix without Nix."""
    root = loopback.secure_tempdir("install")
    config_file = root / "config.json"
    config_file.write_text(json.dumps({
        "state_dir": str(root / "state"), "user": "root", "group": "root",
        "runner": {"kind": "namespace"},
        "nix": {"tarball": str(standin_tarball[0]), "tarball_sha256": standin_tarball[1]}}))
    config = load_config(config_file)
    prefix.init(config, runner_for(config), lambda line: None)
    yield config_file
    loopback.remove(root)


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def run_inside(config_file: Path, *argv: str) -> subprocess.CompletedProcess[bytes]:
    config = load_config(config_file)
    return runner_for(config).run(list(argv), capture=True)


def test_install_then_already_installed(fresh: Path, cli: Any) -> None:
    first = cli("install-nix", "--config", str(fresh))
    assert first.returncode == 0, first.stderr
    assert "registered" in first.stdout and "default profile ->" in first.stdout
    version = run_inside(fresh, "nix-store", "--version")
    assert version.returncode == 0 and b"nix-store (Nix)" in version.stdout
    verify = run_inside(fresh, "nix-store", "--verify", "--check-contents")
    assert verify.returncode == 0, verify.stderr
    second = cli("install-nix", "--config", str(fresh))
    assert second.returncode == 0
    assert second.stdout.startswith("already installed: /nix/store/")
    assert "unpacked" not in second.stdout


def test_nix_is_not_there_before_install(fresh: Path) -> None:
    """The stand-in's PATH is the prefix's profile only: nothing leaks from the host."""
    result = run_inside(fresh, "nix-store", "--version")
    assert result.returncode != 0


def test_sha256_mismatch_leaves_prefix_untouched(fresh: Path, cli: Any) -> None:
    config = load_config(fresh)
    before = tree(config.prefix_path)
    result = cli("install-nix", "--config", str(fresh), "--sha256", "0" * 64)
    assert result.returncode == 2
    assert "sha256 mismatch" in result.stderr and "not touched" in result.stderr
    assert tree(config.prefix_path) == before


@pytest.mark.parametrize(("member", "message"), [
    ("nix-1/store/../../escape", "escapes"),
    ("nix-1/README", "no nix-*/.reginfo"),
])
def test_bad_tarball_is_refused(fresh: Path, cli: Any, tmp_path: Path, member: str,
                                message: str) -> None:
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as archive:
        info = tarfile.TarInfo(member)
        archive.addfile(info)
    import hashlib
    digest = hashlib.sha256(bad.read_bytes()).hexdigest()
    config = load_config(fresh)
    before = tree(config.prefix_path / "nix" / "store")
    result = cli("install-nix", "--config", str(fresh), "--tarball", str(bad), "--sha256", digest)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert tree(config.prefix_path / "nix" / "store") == before


def test_killed_install_is_completed_by_the_next_run(fresh: Path, cli: Any) -> None:
    config = load_config(fresh)
    rng = random.Random(7)
    for _trial in range(6):
        process = subprocess.Popen([sys.executable, "-m", "darling_nix", "install-nix",
                                    "--config", str(fresh), "--force"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait()
    result = cli("install-nix", "--config", str(fresh))
    assert result.returncode == 0, result.stderr
    store = config.prefix_path / "nix" / "store"
    assert not list(store.glob(".darling-nix-unpack-*"))
    verify = run_inside(fresh, "nix-store", "--verify", "--check-contents")
    assert verify.returncode == 0, verify.stderr
    assert b"Nix" in run_inside(fresh, "nix-store", "--version").stdout
