"""Defence in depth: every renderer checks the model it is handed, so a model built
directly (never through the loader) still cannot put a control character, or any other
value the loader refuses, into a rendered file. And the loader refuses every control
character in every string field, not just the one the CLI cases try."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from schema_walk import CONTROL_SAMPLES, FieldPath, hostile_config, hostile_value, string_fields

from darling_nix.config import parse_config
from darling_nix.models import ConfigError
from darling_nix.render import RENDERERS

FIELDS = list(string_fields())
IDS = [".".join(path) for path, _ in FIELDS]


def replaced(model: Any, path: FieldPath, value: Any) -> Any:
    """MODEL with the field at PATH set to VALUE, no check run (dataclasses.replace)."""
    inner = value if len(path) == 1 else replaced(getattr(model, path[0]), path[1:], value)
    return dataclasses.replace(model, **{path[0]: inner})


def expected_key(path: FieldPath, suffix: str) -> str:
    return "(config file path)" if path == ("source",) else ".".join(path) + suffix


@pytest.mark.parametrize(("path", "tp"), FIELDS, ids=IDS)
def test_every_renderer_refuses_a_control_character_in_a_model_built_directly(
        path: FieldPath, tp: Any) -> None:
    model = parse_config("{}", "/etc/darling-builder/config.json")
    for char in CONTROL_SAMPLES:
        value, suffix = hostile_value(tp, char)
        hostile = replaced(model, path, value)
        for kind, render in RENDERERS.items():
            with pytest.raises(ConfigError, match="control characters") as caught:
                render(hostile)
            assert caught.value.key == expected_key(path, suffix), (kind, repr(char))


@pytest.mark.parametrize(("path", "tp"), [f for f in FIELDS if f[0] != ("source",)],
                         ids=[i for i in IDS if i != "source"])
def test_loader_refuses_every_control_character(path: FieldPath, tp: Any) -> None:
    for char in CONTROL_SAMPLES:
        data, key = hostile_config(path, tp, char)
        with pytest.raises(ConfigError, match="control characters") as caught:
            parse_config(json.dumps(data))
        assert caught.value.key == key, repr(char)


@pytest.mark.parametrize(("path", "value", "words"), [
    (("prefix",), "/var/lib/darling-builder/../../..", "'..'"),
    (("state_dir",), "/", "system directory"),
    (("ssh", "listen_addresses"), ["fe80::1%lo ForceCommand bash"], "interface name"),
    (("ssh", "port"), "22\nForceCommand bash", "control characters"),
    (("nix", "settings"), {"include": "/etc/shadow"}, "setting name"),
    (("nix", "max_jobs"), "1", "a whole number"),
], ids=["dot-dot", "root", "scope", "port-as-text", "include", "wrong-type"])
def test_every_renderer_applies_the_whole_schema(path: FieldPath, value: Any,
                                                 words: str) -> None:
    hostile = replaced(parse_config("{}"), path, value)
    for render in RENDERERS.values():
        with pytest.raises(ConfigError, match=re.escape(words)):
            render(hostile)
