"""Loading the builder config file into validated dataclasses.

JSON is tried first because the NixOS module writes JSON and the gate, which runs on
every SSH connection, should not pay for importing the YAML parser.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from .models import BuilderConfig, ConfigError, check_path

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


def _convert(key: str, tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected {_describe(tp)}, got {type(value).__name__}")
        return _build(tp, value, key)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(key, f"expected {_describe(tp)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(key, f"expected {_describe(tp)}, got {type(value).__name__}")
        (item_type,) = typing.get_args(tp)
        return [_convert(f"{key}[{i}]", item_type, item) for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a mapping, got {type(value).__name__}")
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        return value  # mixed values (nix settings) are checked by the field's own check
    # bool is a subclass of int: refuse `port: true` explicitly.
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(key, f"expected {_describe(tp)}, got {value!r}")
    return value


def _build(cls: type[Any], data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    for name in data:
        if name not in fields:
            where = f"{prefix}.{name}" if prefix else str(name)
            raise ConfigError(where, "unknown key; expected one of " + ", ".join(sorted(fields)))
    values: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        converted = _convert(key, hints[name], value)
        check = fields[name].metadata.get("check")
        if check is not None and not (converted == "" and fields[name].default == ""):
            check(key, converted)
        values[name] = converted
    return cls(**values)


def parse_config(text: str, source: str = "") -> BuilderConfig:
    """Parse and validate config text; raises ConfigError."""
    try:
        data = json.loads(text)
    except ValueError:
        import yaml  # only for hand-written YAML; the module writes JSON

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError("", f"not valid YAML or JSON: {error}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("", f"expected a mapping at the top level, got {type(data).__name__}")
    config: BuilderConfig = _build(BuilderConfig, data, "")
    if source:
        check_path("(config file path)", source)
        config = dataclasses.replace(config, source=source)
    return config


def load_config(path: str | Path) -> BuilderConfig:
    """Read and validate the config file at PATH; raises ConfigError."""
    resolved = Path(path).absolute()
    try:
        text = resolved.read_text()
    except OSError as error:
        raise ConfigError("", f"cannot read config file {resolved}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError("", f"config file {resolved} is not UTF-8 text") from None
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
