"""Loading the builder config file into validated dataclasses.

The file is read bounded (smallfile.py) and parsed without YAML aliases (configtext.py);
then every rule of models.py applies. JSON is tried first because the NixOS module
writes JSON and the gate, which runs on every SSH connection, should not pay for
importing the YAML parser.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from . import configtext, smallfile
from .models import (
    BuilderConfig,
    ConfigError,
    check_no_control,
    check_relations,
    check_strings,
    key_path,
)
from .oneline import shorten, shown

_TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false"}


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return "a list of " + _describe(typing.get_args(tp)[0]).removeprefix("a ") + "s"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return _TYPE_NAMES.get(tp, str(tp))


def _mapping(key: str, value: Any) -> dict[Any, Any]:
    """VALUE as a mapping that names each key once."""
    if not isinstance(value, dict):
        raise ConfigError(key, f"expected a mapping{'' if key else ' at the top level'}, got "
                               f"{type(value).__name__}")
    duplicates = getattr(value, "duplicates", ())
    if duplicates:
        raise ConfigError(key_path(key, duplicates[0]), "given more than once in the same "
                                                        "mapping (the last would silently win)")
    return value


def _convert(key: str, tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, _mapping(key, value), key)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(key, f"expected {_describe(tp)}, got {shown(value)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(key, f"expected {_describe(tp)}, got {type(value).__name__}")
        (item_type,) = typing.get_args(tp)
        return [_convert(f"{key}[{i}]", item_type, item) for i, item in enumerate(value)]
    if origin is dict:
        return dict(_mapping(key, value))
    if origin in (typing.Union, types.UnionType):
        return value  # mixed values (nix settings) are checked by the field's own check
    # bool is a subclass of int: refuse `port: true` explicitly.
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(key, f"expected {_describe(tp)}, got {shown(value)}")
    return value


def _build(cls: type[Any], data: dict[Any, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    for name in data:
        if name not in fields:
            raise ConfigError(key_path(prefix, name),
                              "unknown key; expected one of " + ", ".join(sorted(fields)))
    values: dict[str, Any] = {}
    for name, value in data.items():
        key = key_path(prefix, name)
        converted = _convert(key, hints[name], value)
        check = fields[name].metadata.get("check")
        if check is not None and not (converted == "" and fields[name].default == ""):
            check(key, converted)
        values[name] = converted
    return cls(**values)


def _validated(data: Any, source: str) -> BuilderConfig:
    """The config in DATA (parsed from the file at SOURCE), every rule applied."""
    mapping = _mapping("", data)
    check_strings(mapping)  # before the keys' own checks: a control character is named as such
    config: BuilderConfig = _build(BuilderConfig, mapping, "")
    check_relations(config)
    if source:
        check_no_control("(config file path)", source)
        config = dataclasses.replace(config, source=source)
    return config


def parse_config(text: str, source: str = "") -> BuilderConfig:
    """Parse and validate config text; raises ConfigError."""
    try:
        data = configtext.parse(text)
    except configtext.TextError as error:
        raise ConfigError("", str(error)) from None
    return _validated({} if data is None else data, source)


def validate(config: BuilderConfig) -> None:
    """Every rule of parse_config, again, on a model that may have been built directly:
    the renderers call this before any value reaches a file."""
    data = dataclasses.asdict(config)
    _validated(data, data.pop("source"))


def load_config(path: str | Path) -> BuilderConfig:
    """Read and validate the config file at PATH; raises ConfigError."""
    resolved = Path(path).absolute()
    try:
        text = smallfile.read_text(resolved)
    except smallfile.SmallFileError as error:
        raise ConfigError("", f"cannot read config file {shorten(str(resolved))}: {error}"
                          ) from None
    return parse_config(text, str(resolved))


def config_to_dict(config: BuilderConfig) -> dict[str, Any]:
    """The effective config, defaults and derived paths filled in."""
    data = dataclasses.asdict(config)
    del data["source"]
    data["prefix"] = str(config.prefix_path)
    data["ssh"]["host_key"] = str(config.host_key_path)
    data["ssh"]["client_identity"] = str(config.client_identity_path)
    data["ssh"]["connect_address"] = config.connect_address
    data["ssh"]["gate_command"] = config.gate_command
    return data
