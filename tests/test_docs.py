"""The docs match the code: every config key is documented, every command has its section."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path

from darling_nix.models import BuilderConfig

REPO = Path(__file__).resolve().parents[1]


def key_paths(cls: type, prefix: str = "") -> Iterator[str]:
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.metadata.get("internal"):
            continue
        if dataclasses.is_dataclass(hints[field.name]):
            yield from key_paths(hints[field.name], f"{prefix}{field.name}.")
        else:
            yield prefix + field.name


def test_every_config_key_is_in_docs_config_md() -> None:
    text = (REPO / "docs" / "config.md").read_text()
    missing = [key for key in key_paths(BuilderConfig) if f"| `{key}` |" not in text]
    assert missing == []


def test_readme_starts_with_the_two_commands() -> None:
    lines = (REPO / "README.md").read_text().splitlines()
    commands = [line.strip() for line in lines[:20] if line.startswith("    ")]
    assert commands[0].startswith("scripts/setup && .venv/bin/darling-nix demo")
    assert commands[1].startswith("scripts/setup && .venv/bin/python -m pytest")
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1].split("#")[0].strip() in ci


def test_example_configs_pass_config_check() -> None:
    examples = sorted((REPO / "docs" / "examples").glob("*.yaml"))
    assert examples
    for example in examples:
        result = subprocess.run([sys.executable, "-m", "darling_nix", "config", "check", str(example)],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, (example, result.stderr)
