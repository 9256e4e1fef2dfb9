"""`darling toolchain`, `darling deps`, `darling nix` and `darling stdenv` on bad input: one
line naming what is wrong, exit 2, nothing written. (What they make is tested under the real
Darling: real_darling/test_toolchain.py.)"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from darling_nix.darling import sources

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize("command", ["toolchain", "deps", "nix", "stdenv"])
def test_a_missing_install_is_named(cli: CliRunner, tmp_path: Path, command: str) -> None:
    result = cli("darling", command, "--install", str(tmp_path / "nothing"),
                 "--cache", str(tmp_path / "cache"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"darling-nix: {tmp_path / 'nothing'}: not a Darling install")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "cache" / "toolchains").exists()


def test_every_pinned_source_names_its_debian_package_and_hash() -> None:
    for name, entry in sources.pinned().items():
        source = sources.source_of(name)
        assert source.debian and source.file.startswith(f"{source.debian}_{entry['version']}"), name
        assert len(source.sha256) == 64 and int(source.sha256, 16) >= 0, name
        assert entry["build"] in {"autotools", "cmake", "commands"}, name
        assert source.suite in sources.SUITES, name
        assert set(entry.get("after", [])) <= set(sources.pinned()) - {name}, name


def test_debian_mirror_is_the_hosts_own(tmp_path: Path) -> None:
    """The sources come from the Debian archive the host's apt already uses (one-line or
    deb822 entries), never -security nor another vendor's archive."""
    from darling_nix.darling.sources import SourceUnavailable, debian_mirror

    listed = tmp_path / "sources.list"
    listed.write_text("# a comment\ndeb [arch=amd64] http://mirror.example/other stable main\n"
                      "deb http://security.example/debian-security bookworm-security main\n")
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (parts / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\n# a comment\nURIs: http://archive.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n")
    assert debian_mirror((listed, parts)) == "http://archive.example/debian"
    (parts / "debian.sources").unlink()
    listed.write_text(listed.read_text() + "deb http://other.example/debian bookworm main\n")
    assert debian_mirror((listed, parts)) == "http://other.example/debian"
    listed.write_text("deb http://trixie.example/debian trixie main\n")  # Debian 13
    assert debian_mirror((listed, parts)) == "http://trixie.example/debian"
    listed.write_text("deb http://security.example/debian-security trixie-security main\n")
    with pytest.raises(SourceUnavailable, match="no Debian archive"):
        debian_mirror((listed, parts))


def test_a_build_step_that_cannot_start_is_a_failed_step(tmp_path: Path) -> None:
    """A tarball without the configure its recipe expects: the step fails, naming the program."""
    from darling_nix.darling import deps

    with pytest.raises(deps.DepBuildFailed, match=r"cannot run \./configure: No such file"):
        deps.run(["./configure"], tmp_path / "log", cwd=tmp_path)


def test_a_host_without_apt_get_is_a_source_unavailable(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(sources.SourceUnavailable, match="cannot run apt-get: No such file"):
        sources._apt(["update"], [], tmp_path)


def test_a_tarball_with_another_hash_is_a_hash_mismatch(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """What apt hands over with another hash than the pin is SourceHashMismatch (the tests
    fail on it; a host without the archive only skips them), and it is not kept."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "apt-get"
    # apt-get source --download-only NAME=VERSION: the pinned file name, other bytes
    fake.write_text('#!/bin/sh\n'
                    'case " $* " in *" source "*) echo not-the-pinned-bytes > "$FILE";; esac\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    source = sources.Source("hello", "hello", "hello_2.10.orig.tar.gz", "0" * 64)
    monkeypatch.setenv("FILE", source.file)
    monkeypatch.setattr(sources, "debian_mirror", lambda: "http://archive.example/debian")
    with pytest.raises(sources.SourceHashMismatch, match=r"has sha256 .*, pinned 0{64}"):
        sources.fetch(source, tmp_path / "cache")
    assert not (tmp_path / "cache" / "sources" / source.file).exists()
