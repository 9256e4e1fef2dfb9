"""The config file /etc links to is built by `pkgs.writeTextFile` with a checkPhase
that runs the helpers' own validation, so a value they refuse fails the system's
build with their message; the module restates none of their rules.

Each test evaluates the module (tests/nix/eval.nix), then runs that build the way
nixpkgs' writeTextFile does: the generated text written to $target (= $out), then
checkPhase under stdenv's `set -eu -o pipefail`. The package's store path in
checkPhase is mapped to this checkout's real `darling-nix`, so what runs is the
module's build command with the real CLI on the real generated file.

Skipped, saying why, without NIXPKGS_LIB / NIXPKGS (see conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ENABLE = "services.darling-builder.enable = true;"
PUBLIC_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKnownKnownKnownKnownKnownKnownKnownKnownK host"

# Settings the helpers refuse, the module no longer: (setting, what their message says).
REFUSED = {
    "no systems": ("services.darling-builder.systems = [ ];",
                   "nix.systems: expected a non-empty list"),
    "malformed system": ('services.darling-builder.systems = [ "darwin" ];',
                         "nix.systems[0]: expected a system like 'x86_64-darwin', got 'darwin'"),
    "no listen address": ("services.darling-builder.listenAddresses = [ ];",
                          "ssh.listen_addresses: expected a non-empty list"),
    "bad sha256": ('services.darling-builder.nix.tarballSha256 = "abc";',
                   "nix.tarball_sha256: expected a sha256 as 64 lowercase hexadecimal digits"),
    "key with options": ("services.darling-builder.authorizedKeys.keys = [ "
                         "''command=\"sh\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x'' ];",
                         "ssh.authorized_keys[0]: expected one OpenSSH public key line"),
    "bad setting name": ("services.darling-builder.nix.settings.Max_Jobs = 2;",
                         "nix.settings.Max_Jobs: expected a Nix setting name"),
    "bad user name": ('services.darling-builder.user = "Bad User";',
                      "user: expected a user or group name like 'darling-builder'"),
    "bad group name": ('services.darling-builder.group = "wheel:x";',
                       "group: expected a user or group name like 'darling-builder'"),
    "bad host alias": ('services.darling-builder.hostAlias = "mac builder";',
                       "ssh.host_alias: expected a host alias of letters, digits"),
}


def module(setting: str = "") -> str:
    return "{ " + ENABLE + " " + setting + " }"


def build_config_file(summary: dict[str, Any], directory: Path
                      ) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the build of the checked config file; return its result and $out."""
    package = directory / "package"
    (package / "bin").mkdir(parents=True)
    cli = package / "bin" / "darling-nix"
    cli.write_text(f'#!/bin/sh\nexec {sys.executable} -m darling_nix "$@"\n')
    cli.chmod(0o755)
    out = directory / "out"
    out.write_text(summary["configText"])
    build = directory / "build"
    build.mkdir()
    script = summary["configCheck"].replace(summary["builderPackage"], str(package))
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=build,
                            env={"PATH": "/usr/bin:/bin", "out": str(out), "target": str(out)},
                            capture_output=True, text=True, check=False, timeout=60)
    return result, out


@pytest.fixture(scope="module")
def sound(evaluate: Any) -> dict[str, dict[str, Any]]:
    names = ("default", "with publicHostKey")
    summaries = evaluate([module(), module(f'services.darling-builder.publicHostKey = '
                                           f'"{PUBLIC_HOST_KEY}";')])
    return dict(zip(names, summaries, strict=True))


@pytest.fixture(scope="module")
def refused(evaluate: Any) -> dict[str, dict[str, Any]]:
    summaries = evaluate([module(setting) for setting, _ in REFUSED.values()])
    return dict(zip(REFUSED, summaries, strict=True))


def test_the_build_runs_config_check_on_the_generated_file(sound: dict[str, Any]) -> None:
    summary = sound["default"]
    cli = f"{summary['builderPackage']}/bin/darling-nix"
    assert summary["configCheck"].splitlines() == [f'{cli} config check "$target"']


@pytest.mark.parametrize("which", ["default", "with publicHostKey"])
def test_a_sound_config_builds_unchanged(which: str, sound: dict[str, Any],
                                         tmp_path: Path) -> None:
    summary = sound[which]
    result, out = build_config_file(summary, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{out}: ok\n"
    assert out.read_text() == summary["configText"]


@pytest.mark.parametrize("case", REFUSED)
def test_a_helper_rule_fails_the_build_with_the_helpers_message(
        case: str, refused: dict[str, Any], tmp_path: Path, darling_nix: Any) -> None:
    summary = refused[case]
    assert summary["failedAssertions"] == []  # not the module's rule any more
    result, out = build_config_file(summary, tmp_path)
    assert result.returncode == 2
    # The very message `darling-nix config check` gives for that file, naming the key.
    direct = darling_nix("config", "check", out, check=False)
    assert direct.returncode == 2
    assert result.stderr == direct.stderr
    assert result.stderr.startswith(f"darling-nix: {out}: {REFUSED[case][1]}")
    assert result.stderr.count("\n") == 1  # one line, no traceback


def test_a_public_host_key_that_is_no_key_fails_the_build(evaluate: Any,
                                                          tmp_path: Path) -> None:
    """publicHostKey is not in the config file: the build hands it to the helpers'
    check of a public host key file (`render known-hosts`)."""
    (summary,) = evaluate([module('services.darling-builder.publicHostKey = "AAAA";')])
    assert summary["failedAssertions"] == []
    result, _ = build_config_file(summary, tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"darling-nix: {tmp_path}/build/publicHostKey.pub: expected one OpenSSH public key "
        "line such as 'ssh-ed25519 AAAA... comment', with no options and no newline\n")
