from __future__ import annotations

import pytest
from shim_support import Prefix

USAGE = (
    "Usage: sandbox-exec [options] command [args]\n"
    "Options:\n"
    "  -f profile-file     Read profile from file.\n"
    "  -n profile-name     Use pre-defined profile.\n"
    "  -p profile-string   Specify a profile on the command line.\n"
    "  -D key=value        Define a profile parameter.\n"
    "Exactly one of -f, -n, -p must be specified.\n"
)


def test_runs_command_with_args(prefix: Prefix, tmp_path) -> None:
    profile = tmp_path / "p.sb"
    profile.write_text("(this is not even parsed")
    proc = prefix.run(
        "sandbox-exec", "-f", str(profile), "-D", "_GLOBAL_TMP_DIR=/tmp", "-D", "A=b=c",
        "sh", "-c", 'printf "%s|" "$@"; exit 7', "x", "a b", "-p",
    )
    assert proc.returncode == 7
    assert proc.stdout == "a b|-p|"
    assert proc.stderr == ""


@pytest.mark.parametrize("opt", [["-p", "(version 1)(allow default)"], ["-n", "no-network"]])
def test_other_profile_forms(prefix: Prefix, opt: list[str]) -> None:
    proc = prefix.run("sandbox-exec", *opt, "echo", "ok")
    assert (proc.returncode, proc.stdout) == (0, "ok\n")


@pytest.mark.parametrize(
    "args, first_line",
    [
        ([], None),
        (["true"], None),
        (["-p", "x"], None),
        (["-p", "x", "-n", "y", "true"], None),
        (["-h"], "sandbox-exec: illegal option -- h\n"),
        (["-f"], "sandbox-exec: option requires an argument -- f\n"),
        (["-p", "x", "-D", "novalue", "true"], None),
    ],
)
def test_usage_errors(prefix: Prefix, args: list[str], first_line: str | None) -> None:
    proc = prefix.run("sandbox-exec", *args)
    assert proc.returncode == 64
    assert proc.stderr == (first_line or "") + USAGE
    assert proc.stdout == ""


def test_missing_profile_file(prefix: Prefix, tmp_path) -> None:
    proc = prefix.run("sandbox-exec", "-f", str(tmp_path / "nope.sb"), "echo", "ran")
    assert proc.returncode == 65
    assert proc.stderr == f"sandbox-exec: {tmp_path / 'nope.sb'}: No such file or directory\n"
    assert proc.stdout == ""


def test_missing_command(prefix: Prefix) -> None:
    proc = prefix.run("sandbox-exec", "-n", "x", "no-such-command-xyz")
    assert proc.returncode == 71
    assert "no-such-command-xyz" in proc.stderr
