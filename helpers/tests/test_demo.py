"""The README's first command: the demo runs the main job end to end and cleans up."""

from __future__ import annotations

from typing import Any

import pytest

from darling_nix.loopback import SECURE_BASE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("integration")]


def test_demo_builds_in_the_prefix_and_cleans_up(cli: Any) -> None:
    before = set(SECURE_BASE.glob("demo-*"))
    result = cli("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in prefix    True" in result.stdout
    assert "content      built for x86_64-darwin by darling-nix" in result.stdout
    assert result.stdout.count("PASS") == 6
    assert set(SECURE_BASE.glob("demo-*")) == before
