"""The pinned Darling tree for the package-layer tests, and what they share:
facts recorded from submodules the 58-submodule tree lacks, a reader of CMake
install rules, and a stand-in for nixpkgs' patchShebangs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from darling_nix.cli.darling_cmds import shared_source

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "pkgs" / "darling"

# What the package-layer tests read from the pinned tree (paths relative to the
# Darling root); fnmatch-style, as tar --wildcards takes them.
TREE_FILES = (
    "*CMakeLists.txt",
    "*.cmake",
    "src/external/bootstrap_cmds/migcom.tproj/mig.sh",
    "src/external/darlingserver/scripts/*",
    "src/external/darlingserver/src/darlingserver.cpp",
    "src/CoreAudio/AudioToolbox/AudioConverterImpl.cpp",
)


@dataclass(frozen=True)
class RecordedFile:
    text: str
    mode: int
    source: str  # where the fact was read


# Files of submodules that the 58-submodule tree does not have, as far as the tests
# need them: facts read from the public repositories at the commits darling 25afbc76
# pins (`git ls-tree 25afbc76 src/external/<name>`), recorded here as data.
RECORDED = {
    # darlinghq/darling-basic_cmds @ b1ed4f0f6a981590542071d8b36535cf3e441be0,
    # CMakeLists.txt: the install rule of `write` (basic_cmds-55), the only rule
    # there with a special permission bit.
    "src/external/basic_cmds/CMakeLists.txt": RecordedFile(
        text=(
            "install(TARGETS write\n"
            "\tPERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE"
            " SETGID WORLD_READ WORLD_EXECUTE\n"
            "\tDESTINATION libexec/darling/usr/bin)\n"),
        mode=0o644,
        source="darlinghq/darling-basic_cmds@b1ed4f0f CMakeLists.txt"),
    # darlinghq/darling-openssl_certificates @ cca4f47e3ca18b58961157ef0ec6a6fc135b8cd2:
    # scripts/generate-ca-bundle.py is mode 100755 and starts with this line; its
    # CMakeLists.txt runs it directly: COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/scripts/
    # generate-ca-bundle.py" "${HASH_DIRECTORY}" (add_custom_command of Certificates.bundle).
    "src/external/openssl_certificates/scripts/generate-ca-bundle.py": RecordedFile(
        text="#!/usr/bin/env python3\n",
        mode=0o755,
        source="darlinghq/darling-openssl_certificates@cca4f47e scripts/generate-ca-bundle.py"),
}

# The scripts the build executes directly (not through an interpreter named on the
# command line), with the CMake file that runs them: their shebangs must point into
# the store, as the sandbox has neither /bin/bash nor /usr/bin/env.
BUILD_SCRIPTS = {
    # build-mig is generated from mig.sh by awk (keeping its first line) and then run
    "src/external/bootstrap_cmds/migcom.tproj/mig.sh": "src/external/bootstrap_cmds/CMakeLists.txt",
    "src/external/darlingserver/scripts/generate-rpc-wrappers.py":
        "src/external/darlingserver/CMakeLists.txt",
    "src/external/openssl_certificates/scripts/generate-ca-bundle.py":
        "src/external/openssl_certificates/CMakeLists.txt",
}


def is_darling_tree(path: Path) -> bool:
    return (path / "CMakeLists.txt").is_file() and \
        (path / "src" / "external" / "darlingserver" / "CMakeLists.txt").is_file()


def find_pinned_tree(scratch: Path) -> Path | str:
    """The pinned tree (DARLING_SRC, used read-only), or the files TREE_FILES names
    unpacked from the source tarball into SCRATCH; else why there is none."""
    if os.environ.get("DARLING_SRC"):
        tree = Path(os.environ["DARLING_SRC"])
        return tree if is_darling_tree(tree) else \
            f"DARLING_SRC={tree} is not a Darling source tree (no src/external/darlingserver)"
    tarball = Path(os.environ["DARLING_SRC_TARBALL"]) if os.environ.get("DARLING_SRC_TARBALL") \
        else shared_source()
    if tarball is None or not tarball.is_file():
        return ("no pinned Darling tree: set DARLING_SRC to an unpacked darling 25afbc76, or "
                "DARLING_SRC_TARBALL to its source tarball (default: "
                "../shared/darling/darling-*-src.tar.xz beside the checkout)")
    # The tarball holds the Darling root as its single top directory, src/.
    patterns = [f"src/{pattern}" for pattern in TREE_FILES]
    subprocess.run(["tar", "-xJf", str(tarball), "-C", str(scratch), "--wildcards", *patterns],
                   check=True, capture_output=True, timeout=600)
    tree = scratch / "src"
    return tree if is_darling_tree(tree) else f"{tarball}: not the Darling source tarball"


def upstream_patch(local_name: str) -> Path | None:
    """An upstream patch of patches/series.json, as the host build keeps it beside the
    tarball (../shared/darling/upstream/<localName>)."""
    tarball = shared_source()
    candidates = [Path(os.environ["DARLING_UPSTREAM_PATCHES"])] \
        if os.environ.get("DARLING_UPSTREAM_PATCHES") else []
    if tarball is not None:
        candidates.append(tarball.parent / "upstream")
    found = [d / local_name for d in candidates if (d / local_name).is_file()]
    return found[0] if found else None


def cmake_files(tree: Path) -> list[Path]:
    """Every CMakeLists.txt and *.cmake file of TREE, relative to it; no build directory."""
    found = []
    for directory, subdirs, files in os.walk(tree):
        if Path(directory) == tree and "build" in subdirs:
            subdirs.remove("build")
        found += [Path(directory, f).relative_to(tree) for f in files
                  if f == "CMakeLists.txt" or f.endswith(".cmake")]
    return sorted(found)


def copy_files(tree: Path, dest: Path, paths: list[Path]) -> None:
    """PATHS (relative) from TREE to DEST, keeping their modes; files absent from the
    tree come from RECORDED when it has them."""
    for rel in paths:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tree / rel
        if source.is_file():
            shutil.copy2(source, target)
        else:
            recorded = RECORDED[str(rel)]
            target.write_text(recorded.text)
            target.chmod(recorded.mode)


def tree_copy(tree: Path, dest: Path) -> Path:
    """A writable copy of what the source preparation touches: every CMake file, the
    build scripts (RECORDED ones where the tree lacks them), darlingserver.cpp."""
    paths = set(cmake_files(tree)) | {Path(p) for p in BUILD_SCRIPTS} | {Path(p) for p in RECORDED}
    paths.add(Path("src/external/darlingserver/src/darlingserver.cpp"))
    scripts = tree / "src" / "external" / "darlingserver" / "scripts"
    paths |= {p.relative_to(tree) for p in scripts.iterdir()}
    copy_files(tree, dest, sorted(paths))
    return dest


# --- CMake install rules ---------------------------------------------------

_CALL = re.compile(r"\b(install|file)\s*\(", re.IGNORECASE)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s()"]+')
_COMMENT = re.compile(r'"(?:[^"\\]|\\.)*"|#[^\n]*')


def _without_comments(text: str) -> str:
    return _COMMENT.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)


def install_rules(text: str) -> list[list[str]]:
    """The argument tokens of every install(...) and file(INSTALL ...) call in TEXT."""
    text = _without_comments(text)
    rules = []
    for match in _CALL.finditer(text):
        depth, end = 1, match.end()
        while depth and end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        tokens = _TOKEN.findall(text[match.end():end - 1])
        if match.group(1).lower() == "install" or tokens[:1] == ["INSTALL"]:
            rules.append(tokens)
    return rules


def setid_rules(tree: Path) -> dict[str, list[list[str]]]:
    """CMake file -> its install rules that set SETUID or SETGID."""
    found = {}
    for rel in cmake_files(tree):
        rules = [r for r in install_rules((tree / rel).read_text(errors="replace"))
                 if {"SETUID", "SETGID"} & set(r)]
        if rules:
            found[str(rel)] = rules
    return found


# --- running phases ----------------------------------------------------------

# Interpreters the patchShebangs stand-in points scripts to.
STUB_BIN = "/nix/store/00000000000000000000000000000000-stub-build-inputs/bin"

# nixpkgs' patchShebangs (pkgs/build-support/setup-hooks/patch-shebangs.sh), as far as
# the phases here rely on it: it visits the regular files that are executable
# (`find PATH... -type f -perm -0100`; a PATH that does not exist only makes find
# complain), and rewrites a `#!` line to the interpreter found on PATH, the program
# after /usr/bin/env included. Every call is logged to $PATCH_SHEBANGS_LOG. And
# substituteInPlace with --replace-fail / --replace-warn.
PATCH_SHEBANGS = r"""
patchShebangs() {
  case $1 in --build|--host) shift ;; esac
  printf '%s\n' "$@" >> "$PATCH_SHEBANGS_LOG"
  local f line interpreter arg0 rest name
  while IFS= read -r -d '' f; do
    IFS= read -r line < "$f" || [ -n "$line" ]
    case $line in '#!'*) ;; *) continue ;; esac
    read -r interpreter arg0 rest <<< "${line:2}"
    if [[ $interpreter == */env ]]; then name=$arg0; arg0=; else name=${interpreter##*/}; fi
    sed -i "1s|.*|#!@STUB_BIN@/$name${arg0:+ $arg0}${rest:+ $rest}|" "$f"
  done < <(find "$@" -type f -perm -0100 -print0)
}
substituteInPlace() {  # FILE (--replace-fail|--replace-warn OLD NEW)...
  local file=$1 content mode old new
  shift
  content=$(cat "$file"; printf x)
  content=${content%x}
  while [ $# -gt 0 ]; do
    mode=$1 old=$2 new=$3
    shift 3
    if [[ $content != *"$old"* ]]; then
      echo "substituteInPlace: pattern not found in $file: $old" >&2
      [ "$mode" = --replace-fail ] && return 1
    fi
    content=${content//"$old"/"$new"}
  done
  printf %s "$content" > "$file"
}
""".replace("@STUB_BIN@", STUB_BIN)


def run_phase(text: str, scripts: dict[str, str], cwd: Path, env: dict[str, str]
              ) -> subprocess.CompletedProcess[str]:
    """A phase's shell text, run by bash (stdenv's shell) as the builder runs it, with
    this checkout's files in place of the store paths they get (SCRIPTS)."""
    for store_path, path in scripts.items():
        text = text.replace(store_path, path)
    program = "set -eu -o pipefail\n" + PATCH_SHEBANGS + text
    return subprocess.run(["bash", "-c", program], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300, check=False)
