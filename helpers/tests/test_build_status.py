"""How `build` and `matrix` read a realisation's outcome, without Nix: under Darling a
command killed by a signal exits 0, so a build counts as passed only with output paths."""

from __future__ import annotations

import os
from collections.abc import Sequence

from darling_nix.localbuild import realise
from darling_nix.runner import Runner


class ScriptRunner(Runner):
    """Runs a fixed shell script in place of `nix-store --realise`."""

    def __init__(self, script: str) -> None:
        super().__init__("/nonexistent-prefix")
        self.script = script

    def command(self, argv: Sequence[str]) -> list[str]:
        return ["/bin/sh", "-c", self.script]

    def environment(self) -> dict[str, str]:
        return dict(os.environ)


def test_exit_0_without_outputs_is_a_failure() -> None:
    result = realise(ScriptRunner("echo killed >&2; exit 0"), "/nix/store/x.drv", lambda _: None)
    assert result.status == "fail" and result.outputs == []


def test_exit_0_with_outputs_passes() -> None:
    result = realise(ScriptRunner("echo /nix/store/abc-out"), "/nix/store/x.drv", lambda _: None)
    assert result.status == "pass" and result.outputs == ["/nix/store/abc-out"]


def test_non_zero_exit_fails_and_keeps_the_log_tail() -> None:
    lines: list[str] = []
    result = realise(ScriptRunner("echo boom >&2; exit 1"), "/nix/store/x.drv", lines.append)
    assert result.status == "fail" and result.log_tail == ["boom"] and lines == ["boom"]
