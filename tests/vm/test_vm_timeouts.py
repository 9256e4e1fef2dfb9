"""Time limits in the VM test scripts. The nixos-test-driver runs every execute() under
`timeout 900` unless given another limit (Machine.execute(command, check_return=True,
check_output=True, timeout=900) in nixos/lib/test-driver/src/test_driver/machine/
__init__.py; succeed/fail pass theirs on, None by default): a step meant to get 1800 s
must say so to the driver, or it is cut at 900 s."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

VM_TESTS = Path(__file__).resolve().parents[2] / "vm-tests"
SCRIPTS = sorted(VM_TESTS.glob("*.py"))
DRIVER_DEFAULT = 900
# Commands that build, install or start Darling: a step that may take minutes.
LONG_STEP = ("nix-build", "doctor", "darling-nix exec", "darling shell", "prefix init",
             "install-nix", "nix-store --verify")
INNER = re.compile(r"^timeout (\d+) ")


class DriverNode:
    """A node as the driver's Machine takes commands: records the limits it would apply."""

    def __init__(self) -> None:
        self.limits: list[tuple[int | None, str]] = []

    def execute(self, command: str, check_return: bool = True, check_output: bool = True,
                timeout: int | None = DRIVER_DEFAULT) -> tuple[int, str]:
        self.limits.append((timeout, command))
        return 0, ""

    def succeed(self, *commands: str, timeout: int | None = None) -> str:
        for command in commands:
            self.execute(command, timeout=timeout)
        return ""


def common() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile((VM_TESTS / "common.py").read_text(), "common.py", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("requested", [60, 300, 900, 1800, 3600])
def test_run_logged_limit_is_its_own(requested: int) -> None:
    node = DriverNode()
    common()["run_logged"](node, "nix-build x.nix", requested)
    (driver, command), _read_back = node.limits
    inner = INNER.match(command)
    assert inner and int(inner.group(1)) == requested, command
    # the driver's own limit must not fire first
    assert driver is None or driver > requested, (driver, requested)


def command_text(node: ast.expr) -> str:
    """The literal parts of a command expression (strings, f-strings, calls building one)."""
    return " ".join(n.value for n in ast.walk(node)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str))


def machine_calls(path: Path) -> list[tuple[str, ast.Call]]:
    """(method, call) for every node.execute/succeed/fail(command, ...) in PATH."""
    return [(node.func.attr, node) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("execute", "succeed", "fail") and node.args]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_long_steps_give_the_driver_a_limit(script: Path) -> None:
    for method, call in machine_calls(script):
        text = command_text(call.args[0])
        if method == "execute" or any(marker in text for marker in LONG_STEP):
            keywords = {k.arg for k in call.keywords}
            assert "timeout" in keywords, f"{script.name}:{call.lineno}: {text!r}"


def test_the_check_sees_long_steps() -> None:
    """Positive control: the scripts do have long steps given straight to succeed()."""
    found = [call.lineno for _, call in machine_calls(VM_TESTS / "builder-standin.py")
             if "nix-build" in command_text(call.args[0])]
    assert len(found) == 2
