"""The command-line tools a builder script runs (file_cmds, text_cmds, awk, grep, patch,
diff, tar, gzip: our core-tools patch), inside a real Darling prefix: each is a Mach-O
program of the install, and each does its job under Darling's /bin/sh (tools_probe.sh,
which the host's own tools pass too, so a failure here is Darling's)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from darling_support import HERE, PROGRAM_DIRS

from darling_nix.darling.build import Installed
from darling_nix.runner import DarlingRunner, path_inside

PROBE = HERE / "tools_probe.sh"
# What a darwin derivation's builder script needs (issue: "each do their job").
TOOLS = ("mkdir", "cp", "mv", "rm", "ln", "chmod", "ls", "cat", "sed", "sort", "tr", "wc",
         "head", "tail", "cut", "awk", "grep", "tar", "gzip", "patch", "diff")
MACHO_64 = b"\xcf\xfa\xed\xfe"


def probe_results(output: str) -> dict[str, str]:
    """tool -> PASS or the FAIL line, from tools_probe.sh's output."""
    results = {}
    for line in output.splitlines():
        match = re.match(r"(PASS|FAIL) (\w+)", line)
        if match:
            results[match.group(2)] = "PASS" if match.group(1) == "PASS" else line
    return results


@pytest.mark.parametrize("tool", TOOLS)
def test_each_tool_is_a_macho_program_of_the_install(darling_install: Installed, tool: str) -> None:
    template = Path(darling_install.install) / "libexec" / "darling"
    found = [template / d / tool for d in PROGRAM_DIRS if (template / d / tool).exists()]
    assert found, f"{tool}: in none of {PROGRAM_DIRS} of {template}"
    program = found[0].resolve()
    assert program.read_bytes()[:4] == MACHO_64, f"{program} is not a 64-bit Mach-O program"


def test_the_probe_passes_with_the_hosts_tools(tmp_path: Path) -> None:
    """The control: the same checks hold for the host's GNU tools under dash."""
    shell = shutil.which("dash") or "/bin/sh"
    result = subprocess.run([shell, str(PROBE), str(tmp_path)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert probe_results(result.stdout) == dict.fromkeys(TOOLS, "PASS")


def test_each_tool_does_its_job_under_darling(darling_runner: DarlingRunner) -> None:
    # made inside: the host's writes into a running prefix are not seen there
    script = f"mkdir /private/tmp/tools-probe && /bin/sh {path_inside(PROBE)} /private/tmp/tools-probe"
    result = darling_runner.run(["/bin/sh", "-c", script], capture=True, timeout=300)
    output = result.stdout.decode(errors="replace")
    assert probe_results(output) == dict.fromkeys(TOOLS, "PASS"), \
        output + result.stderr.decode(errors="replace")
    assert "uname Darwin" in output.splitlines() and result.returncode == 0, output
