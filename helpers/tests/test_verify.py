"""verify: all checks pass on a fresh loopback builder; each breakage fails its check."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from darling_nix import loopback
from darling_nix.prefix import nix_conf_path
from darling_nix.verify import database_path, parse_settings

CHECKS = ["nix binaries", "nix version", "nix.conf values", "current system", "store paths",
          "store database", "trivial build", "darling messages"]


def verify(cli: Any, builder: loopback.LoopbackBuilder) -> tuple[int, dict[str, dict[str, str]]]:
    result = cli("verify", "--config", str(builder.config_file), "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    return result.returncode, checks


@pytest.fixture
def restore(builder: loopback.LoopbackBuilder) -> Iterator[Callable[[Path], None]]:
    """Saves files (and their directory's mode) before a test breaks them; puts them back."""
    saved: list[tuple[Path, bytes, int, int]] = []

    def save(path: Path) -> None:
        saved.append((path, path.read_bytes(), path.stat().st_mode,
                      path.parent.stat().st_mode))
        path.parent.chmod(0o755)

    yield save
    for path, data, mode, parent_mode in reversed(saved):
        path.parent.chmod(0o755)
        path.unlink(missing_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
        path.parent.chmod(parent_mode)


@pytest.mark.integration
def test_all_checks_pass(cli: Any, builder: loopback.LoopbackBuilder) -> None:
    code, checks = verify(cli, builder)
    assert code == 0, checks
    assert list(checks) == CHECKS
    assert all(c["status"] == "pass" for c in checks.values())
    assert checks["current system"]["detail"] == "x86_64-darwin"
    assert "system = x86_64-darwin" in checks["nix.conf values"]["detail"]
    assert "built for x86_64-darwin" in checks["trivial build"]["detail"]


@pytest.mark.integration
def test_table_output_and_check_contents(cli: Any, builder: loopback.LoopbackBuilder) -> None:
    result = cli("verify", "--config", str(builder.config_file), "--check-contents")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  store paths       contents match their hashes" in result.stdout


def _nix_bin(builder: loopback.LoopbackBuilder) -> Path:
    store = builder.config.prefix_path / "nix" / "store"
    return next(p for p in store.glob("*-nix-standin") if p.is_dir()) / "bin"


@pytest.mark.integration
def test_missing_binary_fails(cli: Any, builder: loopback.LoopbackBuilder,
                              restore: Callable[[Path], None]) -> None:
    daemon = _nix_bin(builder) / "nix-daemon"
    restore(daemon)
    daemon.unlink()
    code, checks = verify(cli, builder)
    assert code == 1
    assert checks["nix binaries"]["status"] == "fail"
    assert "lacks nix-daemon" in checks["nix binaries"]["detail"]
    assert checks["nix version"]["status"] == "skip"
    assert checks["trivial build"]["detail"] == "needs 'nix version' to pass"
    assert checks["store database"]["status"] == "pass"


@pytest.mark.integration
def test_corrupt_database_fails(cli: Any, builder: loopback.LoopbackBuilder,
                                restore: Callable[[Path], None]) -> None:
    db = database_path(builder.config.prefix_path)
    # Nix leaves recent pages in the write-ahead log, where they hide the main file's.
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    restore(db)
    with db.open("r+b") as stream:
        stream.seek(4096)  # the second page: the root of ValidPaths' b-tree
        stream.write(b"\xff" * 4096)
    code, checks = verify(cli, builder)
    assert code == 1, checks
    assert checks["store database"]["status"] == "fail"
    assert "malformed" in checks["store database"]["detail"]


@pytest.mark.integration
def test_wrong_system_fails(cli: Any, builder: loopback.LoopbackBuilder,
                            restore: Callable[[Path], None]) -> None:
    conf = nix_conf_path(builder.config.prefix_path)
    restore(conf)
    conf.write_text(conf.read_text().replace("system = x86_64-darwin", "system = x86_64-linux"))
    code, checks = verify(cli, builder)
    assert code == 1
    assert checks["current system"]["status"] == "fail"
    assert "'x86_64-linux', expected 'x86_64-darwin'" in checks["current system"]["detail"]
    assert "system is 'x86_64-linux'" in checks["nix.conf values"]["detail"]
    assert checks["trivial build"]["status"] == "skip"


@pytest.mark.integration
def test_darling_complaints_fail(cli: Any, builder: loopback.LoopbackBuilder,
                                 restore: Callable[[Path], None]) -> None:
    # A Nix that prints what Darling prints for a missing syscall, and still works.
    wrapper = _nix_bin(builder) / "nix-instantiate"
    restore(wrapper)
    wrapper.write_text("#!/bin/sh\necho 'Unimplemented syscall (488)' >&2\n"
                       'exec /usr/bin/nix-instantiate "$@"\n')
    code, checks = verify(cli, builder)
    assert code == 1
    detail = checks["darling messages"]["detail"]
    assert checks["darling messages"]["status"] == "fail"
    assert "syscall renameatx_np (488)" in detail
    assert "nix-instantiate --eval -E builtins.currentSystem" in detail


def test_parse_settings() -> None:
    assert parse_settings("a = 1\nbuild-users-group = \nnot a setting\n") == {
        "a": "1", "build-users-group": ""}


def test_bad_config_is_bad_input(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text('{"nix": {"systems": []}}')
    result = cli("verify", "--config", str(config))
    assert result.returncode == 2
    assert "nix.systems" in result.stderr


@pytest.mark.integration
@pytest.mark.usefixtures("integration")
def test_no_prefix_fails_cleanly(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                                  "runner": {"kind": "namespace"}}))
    code_and_checks = cli("verify", "--config", str(config), "--json")
    checks = {c["name"]: c for c in json.loads(code_and_checks.stdout)}
    assert code_and_checks.returncode == 1
    assert checks["nix binaries"]["status"] == "fail"
    assert checks["store database"]["status"] == "fail"
