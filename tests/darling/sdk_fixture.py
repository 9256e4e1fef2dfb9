"""A small built Darling tree for pkgs/darling/copy-sdk.sh: a Developer/ with every kind
of link the real one has (25afbc76: ~2,600 links; into src/ for headers, into build/
for dylibs, between its own parts, one absolute to /usr/bin/git) and a build directory
with the cctools the sdk output takes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SDK = "Developer/Platforms/MacOSX.platform/Developer/SDKs/MacOSX.sdk"
TOOLS = ("ld64/src/x86_64-apple-darwin20-ld", "ar/x86_64-apple-darwin20-ar",
         "ar/x86_64-apple-darwin20-ranlib")


@dataclass(frozen=True)
class BuiltTree:
    src: Path  # the source root
    build: Path  # src/build, as the cmake setup hook and the host build make it
    outside: Path  # a file outside both trees that an absolute link names


def _file(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def _link(link: Path, target: Path | str, relative: bool = True) -> None:
    """LINK -> TARGET, written relative to LINK's directory (as Darling's are) unless not."""
    link.parent.mkdir(parents=True, exist_ok=True)
    text = os.path.relpath(target, link.parent) if relative else str(target)
    link.symlink_to(text)


def make_built_tree(root: Path) -> BuiltTree:
    src, outside = root / "darling", _file(root / "elsewhere" / "git", "host tool\n", 0o755)
    build = src / "build"
    sdk = src / SDK
    # headers in the source tree, the dylib in the build tree
    stdio = _file(src / "src/libc/include/stdio.h", "/* stdio */\n")
    iokit = src / "src/IOKitUser/include/IOKit"
    _file(iokit / "IOKitLib.h", "/* IOKitLib */\n")
    _link(iokit / "IOReturn.h", iokit / "IOKitLib.h")  # a link inside a linked directory
    _link(iokit / "IOMissing.h", iokit / "never-generated.h")  # dangles in there
    dylib = _file(build / "src/libsystem/libSystem.B.dylib", "Mach-O\n")
    # what the build generates into build/Developer (MIG headers): not the SDK
    _file(build / SDK / "usr/include/mach/mach_vm.h", "/* generated */\n")
    for tool in TOOLS:
        _file(build / "src/external/cctools-port/cctools" / tool, f"#!/bin/sh\n# {tool}\n", 0o755)

    _file(src / "Developer/symlinks.sh", "echo links\n", 0o755)
    _file(sdk / "usr/include/local.h", "/* a header of the SDK itself */\n")
    _link(sdk / "usr/include/stdio.h", stdio)
    _link(sdk / "usr/include/IOKit", iokit)
    _link(sdk / "usr/include/alias.h", sdk / "usr/include/local.h")
    _link(sdk / "usr/lib/libSystem.dylib", dylib)
    _link(sdk / "usr/lib/libNotBuilt.dylib", build / "src/notbuilt/libNotBuilt.dylib")
    _link(sdk.parent / "MacOSX10.13.sdk", sdk)
    _link(src / "Developer/usr/bin/git", outside, relative=False)
    _link(src / "Developer/usr/bin/symlinks", src / "Developer/symlinks.sh", relative=False)
    return BuiltTree(src=src, build=build, outside=outside)
