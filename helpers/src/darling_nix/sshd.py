"""Key generation and a foreground sshd for the demo, tests and benchmarks.

In production the NixOS module runs sshd itself; this is the same binary with the
same rendered config, started on demand.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def find_sshd() -> str:
    """sshd's absolute path (it re-executes itself and insists on one): Debian keeps it in
    /usr/sbin, which is not always on PATH; NixOS has it on PATH."""
    found = shutil.which("sshd") or shutil.which("sshd", path="/usr/sbin:/usr/local/sbin")
    return found or "/usr/sbin/sshd"


SSHD = find_sshd()


def generate_key(path: Path, comment: str = "darling-nix") -> bool:
    """An ed25519 key pair at PATH (mode 0600); never overwrites. True if it was made."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True, stdin=subprocess.DEVNULL)
    path.chmod(0o600)
    return True


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def check_config(config_file: Path, sshd: str = SSHD) -> str:
    """`sshd -t`; returns its complaint, empty when the file is accepted."""
    result = subprocess.run([sshd, "-t", "-f", str(config_file)], capture_output=True,
                            text=True, check=False)
    return "" if result.returncode == 0 else result.stderr.strip()


def wait_for_port(address: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {address}:{port} after {timeout:.0f} s"
                                   ) from None
            time.sleep(0.05)


class Sshd:
    """sshd -D in the foreground of a child process, stopped on exit."""

    def __init__(self, config_file: Path, address: str, port: int, log: Path) -> None:
        self.config_file, self.address, self.port, self.log = config_file, address, port, log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sshd:
        # Debian's sshd wants its privilege separation directory, made by its unit normally.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        problem = check_config(self.config_file)
        if problem:
            raise RuntimeError(f"sshd rejects {self.config_file}: {problem}")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config_file)],
                                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            wait_for_port(self.address, self.port)
        except TimeoutError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
