"""Calls to the host's Nix."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path


class HostNixError(RuntimeError):
    pass


def nix_store(*args: str) -> str:
    result = subprocess.run(["nix-store", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HostNixError(f"nix-store {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def host_nix_version() -> str:
    match = re.search(r"(\d+\.\d+(\.\d+)?)", nix_store("--version"))
    if not match:
        raise HostNixError("cannot read the host Nix version from nix-store --version")
    return match.group(1)


def remote_build_command(expression: Path, machines: Path, ssh_config: Path,
                         extra_args: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of nix-build EXPRESSION on the builders in MACHINES only
    (max-jobs 0), reaching them through the ssh_config alias in SSH_CONFIG."""
    env = {**os.environ, "NIX_SSHOPTS": f"-F {ssh_config}"}
    argv = ["nix-build", str(expression), "--no-out-link", "--max-jobs", "0",
            "--builders", f"@{machines}", "--option", "builders-use-substitutes", "false",
            # Only the builder: no substituter may answer for it.
            "--option", "substituters", "",
            *extra_args]
    return argv, env


def remote_build(expression: Path, machines: Path, ssh_config: Path, *,
                 extra_args: tuple[str, ...] = (), timeout: float = 600
                 ) -> subprocess.CompletedProcess[str]:
    """Run that nix-build and wait. Output paths are on stdout."""
    argv, env = remote_build_command(expression, machines, ssh_config, extra_args)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def write_probe_expression(directory: Path, system: str, nonce: str) -> Path:
    """A trivial derivation for SYSTEM; NONCE makes it new, so it really gets built."""
    expression = directory / "darling-nix-probe.nix"
    expression.write_text(
        "derivation {\n"
        '  name = "darling-nix-probe";\n'
        f'  system = "{system}";\n'
        '  builder = "/bin/sh";\n'
        f'  args = [ "-c" "echo built for {system} by darling-nix, probe {nonce} > $out" ];\n'
        "}\n")
    return expression
