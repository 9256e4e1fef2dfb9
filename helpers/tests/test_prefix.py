"""prefix init: creates, repairs, is idempotent, and --dry-run touches nothing."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from darling_nix import prefix
from darling_nix.config import load_config
from darling_nix.removal import remove_tree
from darling_nix.runner import NamespaceRunner
from darling_nix.sshd import generate_key


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    generate_key(tmp_path / "state" / "ssh" / "ssh_host_ed25519_key")
    path = tmp_path / "config.json"
    path.write_text(json.dumps({
        "state_dir": str(tmp_path / "state"), "user": "nobody", "group": "nogroup",
        "runner": {"kind": "namespace"},
        "ssh": {"authorized_keys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBRfhVv0N9ZcXAbtPn2hKyzVdWiEg4E4p5F3X1s6+0Vd a"]},
    }))
    return path


def snapshot(root: Path) -> dict[str, bytes | str]:
    result: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        result[key] = (f"-> {os.readlink(path)}" if path.is_symlink()
                       else path.read_bytes() if path.is_file() else "dir")
    return result


def test_dry_run_then_init_then_nothing(config_file: Path, tmp_path: Path, cli: Any) -> None:
    state = tmp_path / "state"
    before = snapshot(state)
    plan = cli("prefix", "init", "--config", str(config_file), "--dry-run")
    assert plan.returncode == 0
    assert "would create the prefix" in plan.stdout
    assert "would add user nobody (uid 65534)" in plan.stdout
    assert snapshot(state) == before
    first = cli("prefix", "init", "--config", str(config_file))
    assert first.returncode == 0, first.stderr
    assert [f"would {line}" for line in first.stdout.splitlines()] == plan.stdout.splitlines()
    prefix = state / "prefix"
    assert (prefix / "etc").readlink() == Path("private/etc")
    assert "build-users-group =" in (prefix / "private/etc/nix/nix.conf").read_text()
    assert (state / "ssh/authorized_keys").read_text().startswith("restrict ssh-ed25519 ")
    assert (state / "ssh/known_hosts").read_text().startswith("darling-builder ssh-ed25519 ")
    passwd = (prefix / "private/etc/master.passwd").read_text()
    assert "root:*:0:0:" in passwd
    assert "nobody:*:65534:65534::0:0:darwin builder:/Users/nobody:/bin/bash" in passwd
    after_first = snapshot(state)
    second = cli("prefix", "init", "--config", str(config_file))
    assert second.stdout.strip() == f"{prefix}: nothing to change"
    assert snapshot(state) == after_first


def test_init_repairs_what_was_removed(config_file: Path, tmp_path: Path, cli: Any) -> None:
    cli("prefix", "init", "--config", str(config_file))
    conf = tmp_path / "state/prefix/private/etc/nix/nix.conf"
    conf.write_text("sandbox = true\n")
    (tmp_path / "state/prefix/nix/var/nix/db").rmdir()
    repaired = cli("prefix", "init", "--config", str(config_file))
    assert f"update {conf}" in repaired.stdout
    assert "create directory" in repaired.stdout
    assert "sandbox = false" in conf.read_text()


def test_shims_are_installed_from_the_manifest(config_file: Path, tmp_path: Path, cli: Any) -> None:
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "dscl").write_text("#!/bin/sh\necho dscl\n")
    (shims / "MANIFEST").write_text("# name dir mode\ndscl usr/bin 0755\n")
    result = cli("prefix", "init", "--config", str(config_file),
                 env={"DARLING_NIX_SHIMS": str(shims)})
    assert result.returncode == 0
    installed = tmp_path / "state/prefix/usr/bin/dscl"
    assert installed.read_text() == "#!/bin/sh\necho dscl\n"
    assert installed.stat().st_mode & 0o777 == 0o755
    (shims / "MANIFEST").write_text("dscl usr/bin\n")
    broken = cli("prefix", "init", "--config", str(config_file),
                 env={"DARLING_NIX_SHIMS": str(shims)})
    assert broken.returncode == 2 and "MANIFEST:1" in broken.stderr


def test_wipe(config_file: Path, tmp_path: Path, cli: Any) -> None:
    cli("prefix", "init", "--config", str(config_file))
    assert cli("prefix", "wipe", "--config", str(config_file)).stdout.startswith("removed")
    assert not (tmp_path / "state/prefix").exists()
    assert cli("prefix", "wipe", "--config", str(config_file)).stdout.strip() == \
        "no prefix to remove"


def test_darlings_own_binary_is_kept_beside_the_shim(config_file: Path, tmp_path: Path,
                                                     cli: Any) -> None:
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "diskutil").write_text("#!/bin/sh\necho shim\n")
    (shims / "MANIFEST").write_text("diskutil usr/sbin 0755\n")
    cli("prefix", "init", "--config", str(config_file))
    sbin = tmp_path / "state/prefix/usr/sbin"
    sbin.mkdir(parents=True, exist_ok=True)
    (sbin / "diskutil").write_bytes(b"\xcf\xfa\xed\xfe darling's mach-o")
    env = {"DARLING_NIX_SHIMS": str(shims)}
    assert cli("prefix", "init", "--config", str(config_file), env=env).returncode == 0
    assert (sbin / "diskutil.darling").read_bytes().startswith(b"\xcf\xfa\xed\xfe")
    assert (sbin / "diskutil").read_text() == "#!/bin/sh\necho shim\n"
    again = cli("prefix", "init", "--config", str(config_file), env=env)
    assert "nothing to change" in again.stdout


class DarlingLikeRunner(NamespaceRunner):
    """Lays out a new prefix the way Darling's first run does (DESIGN.md): the etc link and
    accounts for root and the invoking user, before `prefix init` plans its own work."""

    def create_prefix(self) -> None:
        etc = Path(self.prefix) / "private" / "etc"
        etc.mkdir(parents=True)
        (Path(self.prefix) / "etc").symlink_to("private/etc")
        (etc / "master.passwd").write_text(
            "root:*:0:0::0:0:System Administrator:/var/root:/bin/sh\n")
        (etc / "group").write_text("wheel:*:0:root\n")


def test_init_plans_after_the_runtime_made_the_prefix(config_file: Path, tmp_path: Path) -> None:
    config = load_config(config_file)
    lines: list[str] = []
    count = prefix.init(config, DarlingLikeRunner(config.prefix_path), lines.append)
    assert count == len(lines) and lines[0].startswith("create the prefix")
    assert not any("link" in line or "user root" in line or "group wheel" in line
                   for line in lines)  # Darling made those; nothing is made twice
    assert "add user nobody (uid 65534) to the prefix accounts" in lines
    assert prefix.plan(config, DarlingLikeRunner(config.prefix_path)) == []


def test_remove_tree_works_for_a_non_root_owner() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the tree to another user")
    # pytest's tmp_path is root's alone; the other user must reach the tree
    base = Path(tempfile.mkdtemp(prefix="darling-nix-wipe-"))
    base.chmod(0o777)
    tree = base / "prefix"
    store_path = tree / "nix" / "store" / "abc-x" / "bin"
    store_path.mkdir(parents=True)
    (store_path / "tool").write_text("x")
    for path in [tree, *tree.rglob("*")]:
        os.chown(path, 65534, 65534)
    for directory in (store_path, store_path.parent):
        directory.chmod(0o555)  # as Nix leaves store paths
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            remove_tree(tree)
            code = 0
        finally:
            os._exit(code)
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    base_left = tree.exists()
    remove_tree(base)
    assert status == 0 and not base_left
