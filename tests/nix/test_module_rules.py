"""The NixOS modules restate no rule of the helpers. What a value in the config
file must look like is decided in helpers/src/darling_nix/models.py alone and
applied when the system is built (`darling-nix config check` in the checkPhase of
the config file, test_module_config_check.py). A regex in a module is how such a
rule would come back and drift, so every regex a module uses must be listed in
ALLOWED with the NixOS-side reason it is there. Needs no Nix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The Nix functions that take a regex: builtins.match/split (also as lib.match,
# lib.strings.match, ... or inherited bare) and the option type strMatching.
REGEX_USE = re.compile(r"\b(?:builtins|lib|strings)\.(?:strings\.)?(?:match|split)\b"
                       r"|\bstrMatching\b"
                       r"|\binherit\b[^;]*\b(?:match|split)\b")

# (module, line of code) -> why the rule needs NixOS and is not the helpers'.
ALLOWED = {
    ("modules/darling-builder/options.nix", 'type = types.nullOr (types.strMatching "[ -~]*");'):
        "publicHostKey never reaches the config file: the module base64-encodes it for "
        "nix.buildMachines, and lib.strings.charToInt knows printable ASCII only "
        "(whether it is a key line is the helpers' check, at build time)",
}


def regex_uses(text: str) -> list[str]:
    """The lines of Nix code (whole-line comments left out) that use a regex."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if not line.startswith("#") and REGEX_USE.search(line)]


@pytest.mark.parametrize("line", [
    "matches = regex: s: builtins.match regex s != null;",
    'type = types.strMatching "[a-z_][a-z0-9_-]{0,30}";',
    'type = lib.types.strMatching "[0-9a-f]{64}";',
    'ok = lib.strings.match "[a-z]+" name != null;',
    'ok = lib.match "[a-z]+" name != null;',
    'parts = builtins.split "," text;',
    "inherit (builtins) match;",
])
def test_a_regex_use_is_found(line: str) -> None:
    assert regex_uses(f"{{\n  {line}\n}}\n") == [line]


@pytest.mark.parametrize("line", [
    'fields = lib.take 2 (lib.splitString " " key);',
    "# a comment about builtins.match",
    'description = "Must match the key on the other machine.";',
])
def test_other_code_is_not_a_regex_use(line: str) -> None:
    assert regex_uses(line) == []


def test_the_modules_use_no_regex_but_the_allowed_ones() -> None:
    found = {(path.relative_to(REPO).as_posix(), line)
             for path in sorted((REPO / "modules").rglob("*.nix"))
             for line in regex_uses(path.read_text())}
    assert found - ALLOWED.keys() == set(), (
        "a module restates a rule with a regex; leave the rule to the helpers (models.py) "
        "or, if it needs NixOS, add it to ALLOWED with the reason")
    assert ALLOWED.keys() - found == set(), "ALLOWED lists a regex no module uses any more"
