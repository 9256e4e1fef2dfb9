"""Config text to plain data (mappings, lists, scalars): JSON first, then YAML.

Whatever the text, parsing stays cheap and every error is one line. YAML anchors and
aliases are refused (nine levels of nine aliases expand to 387 million nodes), and a
mapping that names a key twice is marked, so the schema can refuse it with its key path
instead of letting the last one silently win.
"""

from __future__ import annotations

import functools
import json
from typing import Any


class TextError(ValueError):
    """The text is not JSON or YAML that darling-nix reads; the message is one line."""


class ParsedMapping(dict[Any, Any]):
    """A mapping from the file; `duplicates` holds the keys it names more than once."""

    duplicates: tuple[Any, ...] = ()


def _mapping(pairs: list[tuple[Any, Any]]) -> ParsedMapping:
    mapping = ParsedMapping(pairs)
    if len(mapping) < len(pairs):
        seen: list[Any] = []
        for name, _ in pairs:
            if name in seen:
                mapping.duplicates += (name,)
            seen.append(name)
    return mapping


def load_yaml(text: str) -> Any:
    """YAML without anchors or aliases, mappings as ParsedMapping; TextError otherwise."""
    import yaml  # only for hand-written YAML: the module writes JSON, the gate reads JSON

    try:
        return yaml.load(text, Loader=_yaml_loader())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise TextError(f"not valid YAML: {error.problem or error.context}{where}") from None
    except yaml.YAMLError as error:
        raise TextError(f"not valid YAML: {type(error).__name__}") from None
    except RecursionError:
        raise TextError("nested too deeply") from None
    except ValueError as error:  # an integer of more digits than Python converts, say
        raise TextError(f"not valid YAML or JSON: {str(error).splitlines()[0][:120]}") from None


def parse(text: str) -> Any:
    """The data in TEXT, JSON or YAML; TextError when it is neither or too deep."""
    try:
        return json.loads(text, object_pairs_hook=_mapping)
    except RecursionError:
        raise TextError("nested too deeply") from None
    except ValueError:
        return load_yaml(text)


@functools.cache
def _yaml_loader() -> type[Any]:
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise yaml.composer.ComposerError(
                    None, None, "YAML anchors and aliases are not accepted", event.start_mark)
            return super().compose_node(parent, index)

        def construct_yaml_map(self, node: Any) -> Any:
            data = ParsedMapping()
            yield data
            self.flatten_mapping(node)
            pairs = [(self.construct_object(key, deep=True), self.construct_object(value,
                                                                                   deep=True))
                     for key, value in node.value]
            try:
                parsed = _mapping(pairs)
            except TypeError:  # an unhashable key, such as a list
                raise yaml.constructor.ConstructorError(
                    None, None, "found an unhashable key", node.start_mark) from None
            data.update(parsed)
            data.duplicates = parsed.duplicates

    Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_yaml_map)
    return Loader
