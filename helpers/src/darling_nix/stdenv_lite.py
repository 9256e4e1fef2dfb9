"""The lite darwin stdenv (data/stdenv-lite/): its inputs on this machine, and what a build
with it reports.

Every input comes from a file the project already has, never from the network at build
time: zig from the compatibility suite's cache (PyPI's macOS wheel, `darling compat
--fetch-only`), GNU make cross-built by `darling deps --only make`, hello's tarball from
Debian's archive (pinned in stdenv-lite/pins.json). The expression takes their paths and
puts each into the store with builtins.path, checking hello's sha256 again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import compat
from .darling import deps, sources
from .darling.toolchain import CrossToolchain

DIRECTORY = Path(__file__).parent / "data" / "stdenv-lite"
EXPRESSION = DIRECTORY / "default.nix"
PHASES = ("unpack", "patch", "configure", "build", "check", "install")
ZIG = "zig-cc"  # its entry in data/compat.json


@dataclass(frozen=True)
class Inputs:
    zig: Path  # the wheel's ziglang/: zig and its lib/
    make: Path  # make, a Mach-O x86_64 executable
    hello_source: Path

    def nix_args(self, nonce: str = "") -> tuple[str, ...]:
        """nix-build's arguments for EXPRESSION; a new NONCE makes a new derivation."""
        return ("--argstr", "zig", str(self.zig), "--argstr", "make", str(self.make),
                "--argstr", "helloSource", str(self.hello_source), "--argstr", "nonce", nonce)


@dataclass(frozen=True)
class Report:
    """$out/nix-support/build-report, written by the build itself (builder.sh)."""
    uname: str
    phases: dict[str, float] = field(default_factory=dict)  # seconds
    cc_retries: int = 0


def hello_source() -> sources.Source:
    pin = json.loads((DIRECTORY / "pins.json").read_text())["hello"]
    return sources.Source("hello", pin["debian"], pin["file"], pin["sha256"])


def gather(toolchain: CrossToolchain, cache: Path, say: deps.Say,
           download: compat.Download = compat.registry_download) -> Inputs:
    """The three inputs, each fetched or built when the cache lacks it."""
    program = compat.load().programs[ZIG]
    zig = compat.unpack(program, compat.fetch(program, cache, download))
    make = deps.build_dep("make", toolchain, cache, say)
    return Inputs(zig=zig.parent, make=Path(make.sysroot) / "bin" / "make",
                  hello_source=sources.fetch(hello_source(), cache))


def read_report(out: Path) -> Report:
    """The build report of the output OUT; ValueError names a line that is not one."""
    uname, phases, retries = "", {}, 0
    for line in (out / "nix-support" / "build-report").read_text().splitlines():
        words = line.split()
        if words[:1] == ["uname"] and len(words) == 2:
            uname = words[1]
        elif words[:1] == ["phase"] and len(words) == 3 and words[1] in PHASES:
            phases[words[1]] = int(words[2]) / 1e9
        elif words[:2] == ["cc", "retries"] and len(words) == 3:
            retries = int(words[2])
        else:
            raise ValueError(f"{out}: build-report: unexpected line {line!r}")
    return Report(uname=uname, phases=phases, cc_retries=retries)
