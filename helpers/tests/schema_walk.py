"""The schema's string fields, found by walking models.py (a new field is covered without
a change here), and a hostile value of the right shape for each."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from typing import Any

from darling_nix.models import BuilderConfig

# One of each kind the rule covers: C0 (line ends, tab, NUL, escape), DEL, C1 (NEL, CSI),
# the Unicode line and paragraph separators, and a lone surrogate.
CONTROL_SAMPLES = ["\n", "\r", "\t", "\x00", "\x0b", "\x1b", "\x7f", "\x85", "\x9b",
                   "\u2028", "\u2029", "\ud800"]

FieldPath = tuple[str, ...]


def string_fields(cls: type[Any] = BuilderConfig, prefix: FieldPath = ()
                  ) -> Iterator[tuple[FieldPath, Any]]:
    """(path, type) of every field that holds strings, internal ones included."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        tp = hints[field.name]
        if dataclasses.is_dataclass(tp):
            yield from string_fields(tp, (*prefix, field.name))
        elif tp not in (int, bool):
            yield (*prefix, field.name), tp


def hostile_value(tp: Any, char: str) -> tuple[Any, str]:
    """A value of type TP that carries CHAR and a directive after it, and the key suffix
    (list index, setting name) an error names."""
    text = f"x{char}ForceCommand bash"
    origin = typing.get_origin(tp)
    if origin is list:
        return [text], "[0]"
    if origin is dict:
        return {"max-silent-time": text}, ".max-silent-time"
    return text, ""


def hostile_config(path: FieldPath, tp: Any, char: str) -> tuple[dict[str, Any], str]:
    """Config data with only PATH set, to a hostile value; and the key path to expect."""
    value, suffix = hostile_value(tp, char)
    data: dict[str, Any] = {}
    inner = data
    for name in path[:-1]:
        inner = inner.setdefault(name, {})
    inner[path[-1]] = value
    return data, ".".join(path) + suffix
