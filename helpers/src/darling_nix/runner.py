"""Running a command inside the macOS prefix.

A runner only turns an argv meant for the prefix into the host argv and
environment that run it there. Executing, piping and waiting are shared, so the
stand-in runner that tests use goes through the same code as the Darling one.
"""

from __future__ import annotations

import os
import sys

# typing and pathlib stay out of this module: the gate imports it on every connection.
TYPE_CHECKING = False

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Sequence
    from typing import IO, Any, NoReturn

    from .models import BuilderConfig

    Prefix = str | os.PathLike[str]

# Inside a Darling prefix the host's root is mounted here.
SYSTEM_ROOT = "/Volumes/SystemRoot"
# How long a command sent SIGTERM is given to end, its session's grace time included.
STOP_WAIT_SECONDS = 10.0
# Runs `DarlingRunner(PREFIX, DARLING).exec(ARGV)` from its command line (see command()).
SESSION_ENTRY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "session_entry.py")
# Inside the prefix Nix lives in the default profile, as the official installer leaves it.
PROFILE_BIN = "/nix/var/nix/profiles/default/bin"
MACOS_PATH = f"{PROFILE_BIN}:/usr/bin:/bin:/usr/sbin:/sbin"


class Runner:
    """Runs argv inside a prefix; stdin, stdout and stderr pass straight through."""

    name = "abstract"

    def __init__(self, prefix: Prefix) -> None:
        self.prefix = os.fspath(prefix)

    def direct_command(self, argv: Sequence[str]) -> list[str]:
        """The host argv that runs ARGV inside the prefix, with nothing of ours around it."""
        raise NotImplementedError

    def command(self, argv: Sequence[str]) -> list[str]:
        """The host argv that runs ARGV inside the prefix."""
        return self.direct_command(argv)

    def environment(self) -> dict[str, str]:
        """The host environment for that argv."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop whatever keeps the prefix busy, so the host may write into it."""

    def start(self) -> None:
        """Start whatever the prefix needs running before a command, detached from our stdio."""

    def running(self) -> bool:
        """Whether something keeps the prefix busy (the host must not write into it then)."""
        return False

    def create_prefix(self) -> None:
        """Create an empty prefix the way its runtime expects to find it."""
        os.makedirs(self.prefix, exist_ok=True)

    def exec(self, argv: Sequence[str]) -> NoReturn:
        """Replace this process by ARGV inside the prefix: no copy, no buffering."""
        host_argv = self.command(argv)
        self.start()
        os.execve(host_argv[0], host_argv, self.environment())

    def run(self, argv: Sequence[str], *, input: bytes | None = None,
            stdin: IO[Any] | int | None = None, capture: bool = False,
            timeout: float | None = None, check: bool = False
            ) -> subprocess.CompletedProcess[bytes]:
        """Run ARGV inside the prefix and wait; stdout/stderr are captured when asked."""
        import subprocess  # not at the top: the gate only execs, and starts on every connection

        self.start()
        if input is not None:
            stdin = subprocess.PIPE
        output = subprocess.PIPE if capture else None
        host_argv = self.command(argv)
        with subprocess.Popen(host_argv, env=self.environment(), stdin=stdin, stdout=output,
                              stderr=output) as process:
            try:
                stdout, stderr = process.communicate(input, timeout)
            except subprocess.TimeoutExpired:
                # SIGTERM, not subprocess.run's SIGKILL: a Darling session ends its container
                # processes on SIGTERM (session.py), which a SIGKILL would leave running.
                process.terminate()
                try:
                    process.communicate(timeout=STOP_WAIT_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                raise
        result = subprocess.CompletedProcess(host_argv, process.returncode, stdout, stderr)
        if check:
            result.check_returncode()
        return result


class DarlingRunner(Runner):
    """`darling shell` with DPREFIX set.

    `darling shell ARGS` quotes each argument and runs them with `/bin/bash --login -c`
    inside the prefix, so any argv is safe. `darling exec` is not used: it resolves the
    program with realpath() on the host, which breaks multi-call binaries reached through
    symlinks (nix-daemon -> nix) and the profile symlinks. A command killed by signal N
    reports 128 + N (our darling/0008-shellspawn-signal-status; upstream's reports 0, so
    callers that must tell success from a crash check for the command's output as well).
    """

    name = "darling"

    def __init__(self, prefix: Prefix, darling: str) -> None:
        super().__init__(prefix)
        self.darling = darling

    def direct_command(self, argv: Sequence[str]) -> list[str]:
        return [self.darling, "shell", "/usr/bin/env", f"PATH={MACOS_PATH}", *argv]

    def command(self, argv: Sequence[str]) -> list[str]:
        # Through session_entry.py, which is exec() below in a process of its own: what the
        # call starts inside the container ends with it (session.py says why it would not).
        return [sys.executable, "-I", "-S", SESSION_ENTRY, self.darling, self.prefix, *argv]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "DPREFIX": self.prefix}

    def exec(self, argv: Sequence[str]) -> NoReturn:
        """Run ARGV as one session (session.py) and exit with its status. This process
        stays its parent, to end it all on SIGTERM; stdio is passed on, never copied."""
        from .session import supervise

        self.start()
        raise SystemExit(supervise(self.direct_command(argv), self.environment()))

    def create_prefix(self) -> None:
        # Darling lays out a prefix itself on first use; one made by hand would lack its tree.
        # It makes only the last directory of the path ("Cannot create ...: No such file").
        os.makedirs(os.path.dirname(os.path.abspath(self.prefix)), exist_ok=True)
        self.run(["/usr/bin/true"], check=True)
        self.stop()
        # Darling's /etc/profile copies a Library template into a home without one, with cp,
        # which a core-only Darling lacks: every command's stderr would start with "cp: command
        # not found". The home inside is /Users/NAME; it gets its (empty) Library up front.
        import pwd
        from pathlib import Path, PurePosixPath

        from .fsutil import open_beneath

        home = PurePosixPath("Users") / pwd.getpwuid(os.geteuid()).pw_name
        with open_beneath(Path(self.prefix), home / "Library", create=True):
            pass

    def server_pid(self) -> int | None:
        """The prefix's live darlingserver, by darling's own test (<prefix>/.init.pid names
        a process called darlingserver) plus one darling lacks: a zombie is not alive."""
        try:
            with open(self._pid_file) as pid_file:
                pid = int(pid_file.read().strip())
            with open(f"/proc/{pid}/comm") as comm:
                return pid if comm.read().strip() == "darlingserver" and _alive(pid) else None
        except (OSError, ValueError):
            return None

    @property
    def _pid_file(self) -> str:
        return f"{self.prefix}/.init.pid"

    def _forget_dead_server(self) -> None:
        # darling trusts a pid file whose process still answers kill(pid, 0): a server killed
        # but never reaped (a zombie, under an init that does not reap, as in some containers)
        # would make it join namespaces that are gone ("Cannot open mnt namespace file").
        # (no contextlib.suppress: importing contextlib costs the gate ~10 ms)
        try:  # noqa: SIM105
            os.unlink(self._pid_file)
        except FileNotFoundError:
            pass

    def running(self) -> bool:
        return self.server_pid() is not None  # a live darlingserver

    def start(self) -> None:
        # darlingserver inherits the stdio of the `darling` call that starts the container and
        # keeps it open for its whole life: a caller reading our stdout through a pipe (sshd,
        # a test) would wait forever. So the container is started by a call with no stdio.
        if not self.running():
            import subprocess

            self._forget_dead_server()
            # An environment of its own: the container's launchd and shellspawn keep the one
            # they start with and hand it to every later session (session.py needs that
            # to carry no session mark; no caller's SSH_* variables belong in it either).
            subprocess.run([self.darling, "shell", "/usr/bin/true"], env=self._start_environment(),
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)

    def _start_environment(self) -> dict[str, str]:
        # darling needs HOME ("Cannot determine your home directory") to set up a prefix.
        return {"DPREFIX": self.prefix, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": os.environ.get("HOME", "/")}

    def stop(self, timeout: float = 30.0) -> None:
        """`darling shutdown`, then wait until darlingserver is gone: shutdown only sends
        SIGKILL, and a `darling` call that finds the dying server tries to join its
        namespaces ("Cannot open mnt namespace file")."""
        import subprocess
        import time

        pid = self.server_pid()
        subprocess.run([self.darling, "shutdown"], env=self.environment(), check=False,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while pid is not None and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.running():
            self._forget_dead_server()


def path_inside(path: Prefix) -> str:
    """PATH on the host as a program inside a Darling prefix names it."""
    return SYSTEM_ROOT + os.path.realpath(path)


def _alive(pid: int) -> bool:
    """PID exists and is not a zombie (a killed server may wait to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# Fixed script; mount, the prefix and the argv arrive as positional parameters, never as code.
_STANDIN_SCRIPT = '"$1" --bind "$2/nix" /nix || exit 125; shift 2; exec "$@"'
# Where to look for unshare and mount besides PATH: Debian's and NixOS's locations.
_SYSTEM_BIN = ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/run/current-system/sw/bin")


def find_program(name: str) -> str:
    """NAME's absolute path from PATH or the usual system directories (no shutil: lean)."""
    for directory in (*os.environ.get("PATH", "").split(os.pathsep), *_SYSTEM_BIN):
        candidate = os.path.join(directory, name)
        if directory.startswith("/") and os.access(candidate, os.X_OK):
            return candidate
    return f"/usr/bin/{name}"  # fails visibly at exec, naming the program


class NamespaceRunner(Runner):
    """The stand-in for Darling: a private mount namespace with <prefix>/nix on /nix.

    Nix inside sees only the prefix's store, reads the prefix's nix.conf and finds its
    binaries in the prefix's default profile, as it would inside Darling. Non-root
    users get a user namespace that maps them to root, so the bind mount is allowed.
    """

    name = "namespace"

    def __init__(self, prefix: Prefix) -> None:
        super().__init__(prefix)
        self.unshare = find_program("unshare")
        self.mount = find_program("mount")

    def direct_command(self, argv: Sequence[str]) -> list[str]:
        namespaces = ["--mount"] if os.geteuid() == 0 else ["--user", "--map-root-user", "--mount"]
        return [self.unshare, *namespaces, "--propagation", "private", "/bin/sh", "-c",
                _STANDIN_SCRIPT, "darling-nix-standin", self.mount, self.prefix, *argv]

    def environment(self) -> dict[str, str]:
        home = f"{self.prefix}/private/var/root"
        return {
            "PATH": PROFILE_BIN,
            "HOME": home,
            "NIX_CONF_DIR": f"{self.prefix}/private/etc/nix",
            "XDG_CONFIG_HOME": f"{home}/.config",
            "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        }


def make_runner(kind: str, prefix: Prefix, darling_command: str) -> Runner:
    if kind == "namespace":
        return NamespaceRunner(prefix)
    return DarlingRunner(prefix, darling_command)


def runner_for(config: BuilderConfig) -> Runner:
    return make_runner(config.runner.kind, config.prefix_path, config.runner.darling_command)
