"""Helpers for the shim tests: run a shim under a given shell, seed a prefix,
and read the account files the way the shared contract (docs/shims.md) says.

The parsing functions here are a small reference reader of the contract; the
cross-tests against darling_nix.accounts can compare against them.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIMS = REPO / "shims"
SHELLS = ("dash", "bash")
ACCOUNT_SHIMS = ("dscl", "dseditgroup", "sysadminctl")
ALL_SHIMS = (*ACCOUNT_SHIMS, "diskutil", "sandbox-exec")
# The programs the shims run besides shell builtins (docs/shims.md): a prefix needs all of
# them (test_shim_tools.py runs the shims with nothing else on PATH).
TOOLS = ("awk", "cat", "chmod", "df", "head", "id", "ls", "mkdir", "mktemp", "mv", "rm", "rmdir", "sleep",
         "sort", "tr", "wc")

# What Darling's first run writes: root and the invoking user; wheel and the
# user's group (DESIGN.md), plus a comment and macOS's nobody, whose id -2 makes
# it a line that is kept as it is but is no entry.
SEED = {
    "master.passwd": (
        "# darling prefix accounts\n"
        "root:*:0:0::0:0:System Administrator:/var/root:/bin/sh\n"
        "nobody:*:-2:-2::0:0:Unprivileged User:/var/empty:/usr/bin/false\n"
        "me:*:1000:1000::0:0:Me Myself:/Users/me:/bin/bash\n"
    ),
    "passwd": (
        "root:*:0:0:System Administrator:/var/root:/bin/sh\n"
        "me:*:1000:1000:Me Myself:/Users/me:/bin/bash\n"
    ),
    "group": "wheel:*:0:root\n\nme:*:1000:\n",
}
MODES = {"master.passwd": 0o600, "passwd": 0o644, "group": 0o644}


@dataclass
class Prefix:
    root: Path
    shell: str

    @property
    def etc(self) -> Path:
        return self.root / "private" / "etc"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DARLING_")}
        env["DARLING_SHIM_ROOT"] = str(self.root)
        env.update(extra)
        return env

    def run(
        self, shim: str, *args: str, check: bool = False, timeout: float = 30, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.shell, str(SHIMS / shim), *args],
            capture_output=True,
            text=True,
            # bash's getopts reports an invalid option byte by byte: "-é" gives half a
            # UTF-8 character on stderr
            errors="replace",
            env=self.env(**extra),
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{shim} {args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def popen(self, shim: str, *args: str, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [self.shell, str(SHIMS / shim), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(**extra),
            stdin=subprocess.DEVNULL,
        )

    def snapshot(self) -> dict[str, bytes]:
        """Every file under etc, by name (the lock dir must be gone too)."""
        return {p.name: p.read_bytes() for p in sorted(self.etc.iterdir()) if p.is_file()} | {
            p.name + "/": b"" for p in self.etc.iterdir() if p.is_dir()
        }

    def read(self, name: str) -> str:
        return (self.etc / name).read_text()

    def users(self) -> dict[str, list[str]]:
        return entries(self.read("master.passwd"), 10, (2, 3))

    def passwd(self) -> dict[str, list[str]]:
        return entries(self.read("passwd"), 7, (2, 3))

    def groups(self) -> dict[str, list[str]]:
        return entries(self.read("group"), 4, (2,))


def seed_prefix(root: Path, shell: str) -> Prefix:
    etc = root / "private" / "etc"
    etc.mkdir(parents=True)
    for name, text in SEED.items():
        path = etc / name
        path.write_text(text)
        path.chmod(MODES[name])
    return Prefix(root, shell)


_DIGITS = re.compile(r"[0-9]+\Z")


def entries(text: str, nf: int, id_fields: tuple[int, ...]) -> dict[str, list[str]]:
    """The entries of one account file, first entry of a name wins."""
    out: dict[str, list[str]] = {}
    for line in text.split("\n"):
        fields = line.split(":")
        if len(fields) != nf or not fields[0] or fields[0].startswith("#"):
            continue
        if not all(_DIGITS.match(fields[i]) for i in id_fields):
            continue
        out.setdefault(fields[0], fields)
    return out
