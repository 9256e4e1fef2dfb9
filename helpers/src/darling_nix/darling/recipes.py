"""The recipes of data/darwin-deps.json, checked before anything is fetched or built.

A maintainer's typo (a misspelt key, a string where a list belongs, a `$PLACEHOLDER` the
commands do not know, an `after` that names nothing or goes round in a cycle) is named as
"DEPENDENCY: KEY: what is wrong", instead of surfacing as a traceback halfway through a
build. The `debian`, `suite` and `file` values end up in apt-get's argv and in cache paths,
so they are held to the forms Debian gives them.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TypeGuard

from .sources import SUITES

# What every recipe has, may have, and what each build kind adds (deps._BUILDERS).
REQUIRED = ("debian", "version", "file", "sha256", "build")
OPTIONAL = ("suite", "after", "host_tools", "libs", "toolchain")
# Which toolchain builds a dependency: Darling's (toolchain.py), or the C++20 one (cxx20.py)
TOOLCHAINS = ("darling", "cxx20")
KINDS = {"autotools": ("configure", "autoreconf", "prepare"), "cmake": ("cmake",),
         "commands": ("commands",)}
STRING_LISTS = ("after", "host_tools", "libs", "configure", "cmake")
ARGV_LISTS = ("prepare", "commands")
# The `nix` entries (darling/nix.py, NIX_ENTRIES): one source each, built with autotools
# ("configure") or meson ("meson").
NIX_REQUIRED = ("debian", "version", "file", "sha256")
NIX_STRING_LISTS = ("needs", "cxx20_needs", "configure", "meson", "host_tools")
NIX_OPTIONAL = ("comment", "suite", "patches")
# What deps._run_commands puts in for $NAME in "prepare", "commands" and "cmake".
PLACEHOLDERS = ("PREFIX", "STAGE", "JOBS", "CC", "CXX", "AR", "RANLIB", "SDK", "SYSLIBROOT")

_DEBIAN_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")  # Debian policy 5.6.1
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FOLDER = re.compile(r"[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)*")  # no "..", no leading dot
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+~]*")  # it names a store path and a log file


def problems(recipes: Mapping[str, object]) -> Iterator[str]:
    """"NAME: KEY: what is wrong", for every recipe of RECIPES that is not well formed."""
    for name, recipe in recipes.items():
        if not isinstance(recipe, dict):
            yield f"{name}: not a JSON object"
            continue
        for problem in _recipe_problems(recipe, recipes):
            yield f"{name}: {problem}"
    for name in recipes:
        cycle = _cycle([name], recipes)
        if cycle:
            yield f"{name}: after: a cycle, {' -> '.join(cycle)}"


def _recipe_problems(recipe: dict[str, object], recipes: Mapping[str, object]) -> Iterator[str]:
    for key in REQUIRED:
        if not isinstance(recipe.get(key), str):
            yield f"{key}: missing, or not a string"
    kind = recipe.get("build")
    if isinstance(kind, str) and kind not in KINDS:
        yield f"build: {kind!r} is none of {', '.join(KINDS)}"
    known = (*REQUIRED, *OPTIONAL, *KINDS.get(str(kind), ()))
    yield from (f"{key}: not a key of a {kind} recipe" for key in recipe if key not in known)
    if recipe.get("toolchain", "darling") not in TOOLCHAINS:
        yield f"toolchain: {recipe['toolchain']!r} is none of {', '.join(TOOLCHAINS)}"
    yield from _source_problems(recipe)
    if not isinstance(recipe.get("autoreconf", False), bool):
        yield "autoreconf: not true or false"
    for key in STRING_LISTS:
        if not _strings(recipe.get(key, [])):
            yield f"{key}: not a list of strings"
    for key in ARGV_LISTS:
        yield from _argv_problems(key, recipe.get(key, []))
    if _strings(recipe.get("cmake", [])):
        yield from _argv_problems("cmake", [recipe["cmake"]] if recipe.get("cmake") else [])
    after = recipe.get("after", [])
    if _strings(after):
        yield from (f"after: {dep!r} is not a dependency" for dep in after if dep not in recipes)


def nix_problems(entry: object, recipes: Mapping[str, object], name: str = "nix"
                 ) -> Iterator[str]:
    """"NAME: KEY: what is wrong", if the Nix entry NAME (darling/nix.py's recipe) is not well
    formed."""
    if not isinstance(entry, dict):
        yield f"{name}: missing, or not a JSON object"
        return
    for problem in _nix_entry_problems(entry, recipes):
        yield f"{name}: {problem}"


def _nix_entry_problems(entry: dict[str, object], recipes: Mapping[str, object]) -> Iterator[str]:
    for key in NIX_REQUIRED:
        if not isinstance(entry.get(key), str):
            yield f"{key}: missing, or not a string"
    yield from (f"{key}: not a key of the nix recipe" for key in entry
                if key not in (*NIX_REQUIRED, *NIX_STRING_LISTS, *NIX_OPTIONAL))
    yield from _source_problems(entry)
    for key in NIX_STRING_LISTS:
        if not _strings(entry.get(key, [])):
            yield f"{key}: not a list of strings"
    if ("configure" in entry) == ("meson" in entry):
        yield "configure or meson: exactly one of them says how it is built"
    patches = entry.get("patches", "nix-patches")
    if not isinstance(patches, str) or not _FOLDER.fullmatch(patches):
        yield f"patches: {patches!r} is not the name of a folder of data/"
    elif not patch_files(patches):
        yield f"patches: data/{patches} has no .patch file"
    if "cxx20_needs" in entry and "meson" not in entry:
        yield "cxx20_needs: only a meson build uses the C++20 toolchain"
    if not _VERSION.fullmatch(str(entry.get("version"))):
        yield f"version: {entry.get('version')!r} is not an upstream version"
    for key, kind in (("needs", "darling"), ("cxx20_needs", "cxx20")):
        needs = entry.get(key, [])
        if _strings(needs):
            yield from (f"{key}: {dep!r} is not a dependency" for dep in needs if dep not in recipes)
            yield from (f"{key}: {dep!r} is not built by the {kind} toolchain" for dep in needs
                        if _toolchain_of(recipes.get(dep)) not in (kind, None))


def patch_files(folder: str) -> list[Traversable]:
    """The .patch files of data/FOLDER (none if it is no folder)."""
    found = resources.files("darling_nix").joinpath("data", folder)
    return [item for item in found.iterdir() if item.name.endswith(".patch")] \
        if found.is_dir() else []


def _toolchain_of(recipe: object) -> object:
    """A recipe's toolchain (recipes.TOOLCHAINS), None for something that is no recipe."""
    return recipe.get("toolchain", "darling") if isinstance(recipe, dict) else None


def _source_problems(recipe: dict[str, object]) -> Iterator[str]:
    """The values that end up in apt-get's argv and in cache paths."""
    if "suite" in recipe and recipe["suite"] not in SUITES:
        yield f"suite: {recipe['suite']!r} is none of {', '.join(SUITES)}"
    if not _DEBIAN_NAME.fullmatch(str(recipe.get("debian"))):
        yield "debian: not a Debian source package name"
    file = str(recipe.get("file"))
    if "/" in file or file.startswith("."):
        yield f"file: {file!r} is not a plain file name"
    if not _SHA256.fullmatch(str(recipe.get("sha256"))):
        yield "sha256: not 64 lowercase hex digits"


def _argv_problems(key: str, commands: object) -> Iterator[str]:
    if not isinstance(commands, list) or not all(_strings(c) and c for c in commands):
        yield f"{key}: not a list of commands (each a non-empty list of strings)"
        return
    for i, command in enumerate(commands):
        for j, word in enumerate(command):
            template = string.Template(word)
            unknown = sorted(set(template.get_identifiers()) - set(PLACEHOLDERS))
            if not template.is_valid() or unknown:
                yield (f"{key}[{i}][{j}]: {word!r} has a $ that is none of "
                       f"{', '.join('$' + p for p in PLACEHOLDERS)} (a literal $ is $$)")


def _strings(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _cycle(path: list[str], recipes: Mapping[str, object]) -> list[str]:
    """PATH continued along `after` until it comes back to a name on it ([] if it never does)."""
    recipe = recipes.get(path[-1])
    after = recipe.get("after", []) if isinstance(recipe, dict) else []
    for dep in after if _strings(after) else []:
        if dep in path:
            return [*path, dep] if dep == path[0] else []
        found = _cycle([*path, dep], recipes)
        if found:
            return found
    return []
