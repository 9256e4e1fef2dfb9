"""Running nix-instantiate on this repository's evaluation files (tests/nix/*.nix),
shared by the conftests of tests/nix and tests/darling."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def nix_lib_dir() -> Path | None:
    """nixpkgs' lib: $NIXPKGS_LIB (a directory with lib's default.nix) or $NIXPKGS/lib."""
    if os.environ.get("NIXPKGS_LIB"):
        return Path(os.environ["NIXPKGS_LIB"])
    if os.environ.get("NIXPKGS"):
        return Path(os.environ["NIXPKGS"]) / "lib"
    return None


def instantiate(expression_file: Path, args: dict[str, str], attr: str | None = None
                ) -> subprocess.CompletedProcess[str]:
    """`nix-instantiate --eval --strict --json --readonly-mode FILE --arg NAME VALUE...`."""
    command = ["nix-instantiate", "--eval", "--strict", "--json", "--readonly-mode",
               str(expression_file)]
    for name, value in args.items():
        command += ["--arg", name, value]
    if attr:
        command += ["-A", attr]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120,
                          cwd=REPO)
