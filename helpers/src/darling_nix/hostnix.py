"""Calls to the host's Nix."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
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


_URL_SPECIAL = re.compile(r"[?&#%;\s\x00-\x1f\x7f]")
# Nix splits NIX_SSHOPTS at whitespace and cuts a --builders line at ';', '#' and newlines
_OPTION_SPECIAL = re.compile(r"[#;\s\x00-\x1f\x7f]")


@dataclass(frozen=True)
class HostClient:
    """The Nix on the host that sends a build: Debian's, on PATH, into the host's store (the
    default); or the one in BIN (`darling host-nix`) with a store of its own at STORE_ROOT
    (`--store local?root=...`), so that it never opens the host's store."""

    bin: Path | None = None
    store_root: Path | None = None

    def __post_init__(self) -> None:
        # it goes into a store URL's query unescaped: these would end or change the value
        root = self.store_root
        if root is None:
            return
        if not root.is_absolute() or _URL_SPECIAL.search(str(root)):
            raise ValueError(f"store root {str(root)!r}: not an absolute path a store URL can "
                             "carry (no ?, &, #, %, ;, spaces or control characters)")
        # Nix takes the root as it resolves (and refuses links): / would be the host's store
        if root.resolve() != root or root == Path("/"):
            raise ValueError(f"store root {str(root)!r}: not a directory of its own (the "
                             "filesystem's root, a link, or a path with .. in it)")

    def program(self, name: str) -> str:
        return name if self.bin is None else str(self.bin / name)

    def store_args(self) -> tuple[str, ...]:
        return () if self.store_root is None else ("--store", f"local?root={self.store_root}")

    def on_disk(self, store_path: str) -> Path:
        """Where STORE_PATH, a path of this client's store, is on the host's disk."""
        if self.store_root is None:
            return Path(store_path)
        return self.store_root / store_path.lstrip("/")


DEBIAN_NIX = HostClient()


def remote_build_command(expression: Path, machines: Path, ssh_config: Path,
                         extra_args: tuple[str, ...] = (), client: HostClient = DEBIAN_NIX
                         ) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of CLIENT's nix-build EXPRESSION on the builders in MACHINES
    only (max-jobs 0), reaching them through the ssh_config alias in SSH_CONFIG.
    HostNixError if a path is one Nix would cut short."""
    for what, path in (("machines file", machines), ("ssh_config", ssh_config)):
        if _OPTION_SPECIAL.search(str(path)):
            raise HostNixError(f"{what} {str(path)!r}: Nix cannot be given this path (it splits "
                               "NIX_SSHOPTS at whitespace and --builders at '#' and ';')")
    env = {**os.environ, "NIX_SSHOPTS": f"-F {ssh_config}"}
    argv = [client.program("nix-build"), str(expression), *client.store_args(), "--no-out-link",
            "--max-jobs", "0",
            "--builders", f"@{machines}", "--option", "builders-use-substitutes", "false",
            # Only the builder: no substituter may answer for it.
            "--option", "substituters", "",
            *extra_args]
    return argv, env


def remote_build(expression: Path, machines: Path, ssh_config: Path, *,
                 extra_args: tuple[str, ...] = (), timeout: float = 600,
                 client: HostClient = DEBIAN_NIX) -> subprocess.CompletedProcess[str]:
    """Run that nix-build and wait. Output paths (of CLIENT's store) are on stdout."""
    argv, env = remote_build_command(expression, machines, ssh_config, extra_args, client)
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
