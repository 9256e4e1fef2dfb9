# Helpers shared by the testScripts that run Darling. Each vm-tests/<name>.nix that
# uses them sets `testScript = builtins.readFile ./common.py + builtins.readFile ./<name>.py`,
# and tests/vm checks the two files together, the way the driver sees them.
#
# Darling's server may keep the stdout of the command that started it; the driver
# reads a command's stdout to the end, so a held pipe would hang the test instead of
# failing it. Every command that may start Darling therefore writes into a file
# under a timeout, and the file is read afterwards.
import shlex

COMPLAINT = "Unimplemented syscall"


# The driver's execute() runs every command under its own `timeout` (900 s unless
# told otherwise); the inner one must be the one that fires, so that a slow step is
# reported with its own limit and its output.
DRIVER_SLACK = 60


def run_logged(node, command: str, timeout: int = 300, check: bool = True) -> str:
    """COMMAND (a shell line) on NODE, its stdout+stderr through a file; returns them.

    Fails the test when it exits non-zero (with CHECK), when it runs longer than
    TIMEOUT seconds, and when Darling complains about a syscall it does not implement."""
    status, _ = node.execute(
        f"timeout {timeout} sh -c {shlex.quote(command)} > /tmp/vm-test.out 2>&1 < /dev/null",
        timeout=timeout + DRIVER_SLACK)
    out = node.succeed("cat /tmp/vm-test.out")
    assert status != 124, f"timed out after {timeout}s: {command}\n{out}"
    if check:
        assert status == 0, f"exit {status}: {command}\n{out}"
    assert COMPLAINT not in out, f"Darling complained: {command}\n{out}"
    return out


def as_user(user: str, command: str) -> str:
    """COMMAND run as USER: Darling runs processes as the invoking user, and the
    builder's prefix belongs to the builder's user."""
    return f"runuser -u {shlex.quote(user)} -- sh -c {shlex.quote(command)}"
