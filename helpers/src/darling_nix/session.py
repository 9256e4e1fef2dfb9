"""One `darling shell` call and everything it starts inside the container, ended together.

`darling shell` hands its command to Darling's shellspawn, which runs it in the container,
outside the caller's process tree. Killing the client only makes shellspawn SIGKILL the
shell it started: what that shell started (a background job, nix-daemon's builders) runs
on. A client sent SIGTERM passes it on and then waits for ever if the program ignores it.
So each call carries a mark in its environment (Darling passes the caller's environment
into the container), and when the client ends, or GRACE_SECONDS after it was asked to stop,
every process of the session (members(): the marked ones, the rest of their Unix session in
the container, all their descendants) is stopped, then killed.

The container itself must be started by an unmarked call (DarlingRunner.start): its
darlingserver, launchd and shellspawn would otherwise carry the mark into every session.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

VARIABLE = "DARLING_NIX_SESSION"
# From SIGTERM to SIGKILL. Callers that SIGTERM a session wait longer than this (5 s).
GRACE_SECONDS = 3.0
# Signals that ask the session to stop (SIGINT: a `darling shell` without a terminal would
# turn it into SIGTERM anyway).
STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")


def new_mark() -> str:
    return os.urandom(12).hex()


def _processes() -> dict[int, tuple[int, int, bytes]]:
    """Every live process (not a zombie): pid -> (parent pid, session id, environment)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z":
                continue
            with open(f"/proc/{name}/environ", "rb") as environ:
                found[int(name)] = (int(fields[1]), int(fields[3]), environ.read())
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return found


def _in_a_container(pid: int) -> bool:
    """PID lives in another pid namespace than ours (Darling's container)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    except OSError:
        return False


def members(mark: str) -> set[int]:
    """The processes that carry MARK; inside the container, the others of their Unix
    session too (shellspawn starts each call in a session of its own, and a child that
    drops its environment stays in it after its parent is gone); and all their
    descendants. Never this process."""
    entry = f"{VARIABLE}={mark}".encode()
    processes = _processes()
    found = {pid for pid, (_, _, environ) in processes.items() if entry in environ.split(b"\0")}
    sessions = {processes[pid][1] for pid in found if _in_a_container(pid)}
    found |= {pid for pid, (_, sid, _) in processes.items() if sid in sessions}
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    pending = list(found)
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in found:
                found.add(child)
                pending.append(child)
    found.discard(os.getpid())
    return found


def _signal_all(pids: set[int], signum: int) -> None:
    for pid in pids:
        try:  # noqa: SIM105 (contextlib costs the gate ~10 ms)
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def end(mark: str) -> set[int]:
    """Stop every member of the session, until no new one appears (a stopped process
    cannot fork), then kill them all; returns the pids that were killed."""
    import signal

    stopped: set[int] = set()
    for _ in range(50):
        new = members(mark) - stopped
        if not new:
            break
        _signal_all(new, signal.SIGSTOP)
        stopped |= new
    _signal_all(stopped, signal.SIGKILL)
    return stopped


def supervise(argv: Sequence[str], env: dict[str, str]) -> int:
    """Run ARGV with a new session mark in its environment and wait for it, passing the
    stop signals on as SIGTERM, with SIGKILL GRACE_SECONDS later; then end the session.
    Returns the exit status, 128+N for a death by signal N, as a shell reports it."""
    import signal

    mark = new_mark()
    child = os.posix_spawn(argv[0], list(argv), {**env, VARIABLE: mark})

    def stop(signum: int, frame: FrameType | None) -> None:
        try:
            os.kill(child, signal.SIGTERM)
        except ProcessLookupError:
            return
        if signal.getitimer(signal.ITIMER_REAL)[0] == 0:
            signal.setitimer(signal.ITIMER_REAL, GRACE_SECONDS)

    def grace_over(signum: int, frame: FrameType | None) -> None:
        end(mark)  # the tree first, while it is whole: then the client

    previous = {name: signal.signal(getattr(signal, name), stop) for name in STOP_SIGNALS}
    previous["SIGALRM"] = signal.signal(signal.SIGALRM, grace_over)
    try:
        _, status = os.waitpid(child, 0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)
        end(mark)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
