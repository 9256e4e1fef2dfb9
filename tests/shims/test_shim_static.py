"""Static checks: every shim parses under dash and bash, uses none of the
constructs that break on macOS (bash 3.2, BSD sed, BWK awk), and the MANIFEST
names every shim with the directory it lives in on macOS."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from shim_support import ALL_SHIMS, SHIMS

SCRIPTS = [*ALL_SHIMS, "lib/accounts.sh"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_parses(shell: str, script: str) -> None:
    proc = subprocess.run([shell, "-n", str(SHIMS / script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_parse_check_is_not_vacuous(shell: str, tmp_path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("if then fi\n")
    assert subprocess.run([shell, "-n", str(bad)], capture_output=True).returncode != 0


# Constructs that bash 3.2, dash, BSD sed or BWK awk reject or treat differently.
FORBIDDEN = {
    r"\[\[": "[[ ]]",
    r"<<<": "here-strings",
    r"\bsed\s+(-[a-zA-Z]*\s+)*-i": "sed -i",
    r"\becho\s+-e\b": "echo -e",
    # mktemp is in GNU coreutils and macOS (shell_cmds), but only with a template
    # (where it is run as a command, not where a word list names it).
    r"(?m)(?:^|[;&|(]|\$\()\s*mktemp\b(?!\s+\"[^\"]*XXXXXXXX\")": "mktemp without a template",
    r"\bdeclare\b|\btypeset\b|\bmapfile\b|\breadarray\b": "bash-only builtins",
    r"\$\{[A-Za-z_]+(,,|\^\^)": "case conversion expansions",
    r"\bgensub\(|\bstrftime\(|\basort\(": "gawk-only functions",
    r"\bfunction\s+[a-z_]+\s*\(\)": "ksh function syntax",
    r"\bgrep\s+(-[a-zA-Z]*\s+)*-P": "grep -P",
}


@pytest.mark.parametrize("script", SCRIPTS)
def test_no_nonportable_constructs(script: str) -> None:
    text = (SHIMS / script).read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    found = [what for pattern, what in FORBIDDEN.items() if re.search(pattern, code)]
    assert not found, f"{script} uses {found}"


@pytest.mark.skipif(shutil.which("checkbashisms") is None, reason="checkbashisms not installed")
@pytest.mark.parametrize("script", SCRIPTS)
def test_checkbashisms(script: str) -> None:
    proc = subprocess.run(
        ["checkbashisms", "--force", "--posix", str(SHIMS / script)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout


@pytest.mark.parametrize("script", ALL_SHIMS)
def test_shebang_and_mode(script: str) -> None:
    path = SHIMS / script
    assert path.read_text().startswith("#!/bin/sh\n")
    assert path.stat().st_mode & 0o111, f"{script} is not executable"


MACOS_DIRS = {
    "dscl": "usr/bin",
    "dseditgroup": "usr/sbin",
    "sysadminctl": "usr/sbin",
    "diskutil": "usr/sbin",
    "sandbox-exec": "usr/bin",
}


def test_manifest() -> None:
    rows = [line.split() for line in (SHIMS / "MANIFEST").read_text().splitlines() if line.strip()]
    assert all(len(row) == 3 for row in rows), rows
    listed = {src: (dest, mode) for src, dest, mode in rows}
    assert len(listed) == len(rows), "duplicate sources"
    for src, (dest, mode) in listed.items():
        assert (SHIMS / src).is_file(), src
        assert re.fullmatch(r"0[0-7]{3}", mode), mode
        assert not dest.startswith("/") and ".." not in dest.split("/")
    for shim, dest in MACOS_DIRS.items():
        assert listed[shim] == (dest, "0755")
    assert listed["lib/accounts.sh"] == ("usr/libexec/darling-nix", "0644")


def test_installed_layout_finds_the_library(tmp_path, shell: str) -> None:
    """Installed as MANIFEST says, a shim in usr/sbin finds
    usr/libexec/darling-nix/accounts.sh without DARLING_SHIM_LIB."""
    for line in (SHIMS / "MANIFEST").read_text().splitlines():
        src, dest, mode = line.split()
        target = tmp_path / dest / src.split("/")[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHIMS / src, target)
        target.chmod(int(mode, 8))
    etc = tmp_path / "private" / "etc"
    etc.mkdir(parents=True)
    (etc / "group").write_text("staff:*:20:me\n")
    proc = subprocess.run(
        [shell, str(tmp_path / "usr/sbin/dseditgroup"), "-o", "checkmember", "-m", "me", "staff"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DARLING_SHIM_ROOT": str(tmp_path)},
    )
    # "me" is in no passwd file: the library was found and answered.
    assert proc.returncode == 1 and "Unable to find the user record" in proc.stderr, proc.stderr
