"""The regression programs of pkgs/darling/regress, compiled here as Mach-O and run under
the real Darling: every check passes with our patches; without our darling-xnu patches
(the negative control) the three syscall programs fail the way upstream Darling does."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from darling_support import REGRESS, inside

from darling_nix.darwincc import DarwinToolchain
from darling_nix.runner import DarlingRunner

CliRunner = Callable[..., subprocess.CompletedProcess[str]]

# program -> its number of checks (each prints one PASS or FAIL line)
CHECKS = {"renameatx_np": 9, "setattrlist_flags": 17, "clonefile": 4, "sandbox_init": 6,
          "ulock_wait2": 7}


@pytest.fixture(scope="session")
def regress_programs(darwin_cc: DarwinToolchain, darwin_bin: Path) -> dict[str, Path]:
    return {name: darwin_cc.build([REGRESS / f"{name}.c"], darwin_bin / name, cflags=[
        f"-I{REGRESS}", "-Wall", "-Werror", "-Wno-nullability-completeness", "-Wno-availability"])
        for name in CHECKS}


def run(runner: DarlingRunner, program: Path) -> tuple[int, str]:
    result = runner.run([inside(program)], capture=True, timeout=120)
    return result.returncode, result.stdout.decode() + result.stderr.decode()


@pytest.mark.parametrize("name", CHECKS)
def test_regress_passes_with_our_patches(name: str, regress_programs: dict[str, Path],
                                         darling_runner: DarlingRunner) -> None:
    status, output = run(darling_runner, regress_programs[name])
    passes = re.findall(r"^PASS: ", output, re.M)
    assert "FAIL" not in output and status == 0, output
    assert len(passes) == CHECKS[name], output


# What upstream Darling 25afbc76 does without our darling-xnu patches (DESIGN.md, measured).
CONTROL_FAILURES = {
    "renameatx_np": ("ENOSYS", "Function not implemented"),
    "setattrlist_flags": ("EINVAL", "Invalid argument"),
    "clonefile": ("ENOSYS", "Function not implemented"),
    "ulock_wait2": ("ENOSYS", "Function not implemented"),
}


@pytest.mark.parametrize("name", CONTROL_FAILURES)
def test_regress_fails_without_our_xnu_patches(name: str, regress_programs: dict[str, Path],
                                               control_runner: DarlingRunner) -> None:
    status, output = run(control_runner, regress_programs[name])
    fails = re.findall(r"^FAIL: .*$", output, re.M)
    assert status != 0 and fails, output
    assert any(CONTROL_FAILURES[name][1] in line for line in fails), output


def test_control_keeps_the_sandbox_fix(regress_programs: dict[str, Path],
                                       control_runner: DarlingRunner) -> None:
    # the sandbox_init patch is in the darling tree, not darling-xnu: the control keeps it
    status, output = run(control_runner, regress_programs["sandbox_init"])
    assert status == 0 and "FAIL" not in output, output


@pytest.mark.parametrize(("name", "number"), [("renameatx_np", 488), ("ulock_wait2", 544)])
def test_triage_names_the_missing_syscall(regress_programs: dict[str, Path],
                                          control_runner: DarlingRunner, tmp_path: Path,
                                          cli: CliRunner, name: str, number: int) -> None:
    _, output = run(control_runner, regress_programs[name])
    assert f"Unimplemented syscall ({number})" in output, output
    log = tmp_path / "control.log"
    log.write_text(output)
    result = cli("triage", str(log), "--format", "json")
    findings = json.loads(result.stdout)
    assert {"kind": "syscall", "what": f"{name} ({number})"}.items() <= findings[0].items(), findings
