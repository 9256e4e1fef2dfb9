"""Compiling macOS (Mach-O x86_64) programs on the Linux host for a Darling install.

The host's clang compiles for x86_64-apple-darwin20 against the SDK headers of
Darling's source tree; the build's own cctools ld64 links against the libSystem
of the install's prefix template (libexec/darling). Without -DPLATFORM_MacOSX the
headers ask for `$UNIX2003` symbols that Darling's libSystem does not have.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .darlingbuild import Installed

TARGET = "x86_64-apple-darwin20"
MACOS_MIN = "11.0"
LIBCXX_HEADERS = "Developer/Toolchains/XcodeDefault.xctoolchain/usr/include/c++/v1"


class CompileError(RuntimeError):
    pass


@dataclass(frozen=True)
class DarwinToolchain:
    sdk: Path  # <install>/sdk/Developer/.../MacOSX.sdk (copy-sdk.sh's copy)
    ld: Path  # <install>/sdk/bin/x86_64-apple-darwin20-ld (cctools' ld64 from the build)
    syslibroot: Path  # <install>/libexec/darling
    clang: str = "clang"

    @classmethod
    def for_install(cls, installed: Installed) -> DarwinToolchain:
        return cls(Path(installed.sdk), Path(installed.ld),
                   Path(installed.install) / "libexec" / "darling")

    @property
    def developer_root(self) -> Path:
        # the SDK lives at <root>/Developer/Platforms/MacOSX.platform/Developer/SDKs/MacOSX.sdk
        return self.sdk.parents[5]

    def resource_dir(self) -> str:
        return subprocess.run([self.clang, "-print-resource-dir"], capture_output=True,
                              text=True, check=True).stdout.strip()

    def compile_flags(self, cxx: bool) -> list[str]:
        flags = [f"--target={TARGET}", f"-mmacosx-version-min={MACOS_MIN}", "-DPLATFORM_MacOSX",
                 "-nostdinc", "-isystem", str(self.sdk / "usr" / "include"),
                 "-isystem", f"{self.resource_dir()}/include"]
        if cxx:
            flags[4:4] = ["-nostdinc++", "-isystem", str(self.developer_root / LIBCXX_HEADERS)]
        return flags

    def link_flags(self, cxx: bool) -> list[str]:
        return ["-arch", "x86_64", "-macosx_version_min", MACOS_MIN, "-syslibroot",
                str(self.syslibroot), *(["-lc++"] if cxx else []), "-lSystem"]

    def build(self, sources: Sequence[Path], output: Path, *, cxx: bool = False,
              cflags: Sequence[str] = ()) -> Path:
        """Compile SOURCES and link them into the Mach-O executable OUTPUT."""
        compiler = f"{self.clang}++" if cxx else self.clang
        with tempfile.TemporaryDirectory(prefix="darwincc-") as scratch:
            objects = []
            for index, source in enumerate(sources):
                obj = Path(scratch) / f"{index}-{source.stem}.o"
                self._run([compiler, *self.compile_flags(cxx), *cflags, "-c", str(source),
                           "-o", str(obj)])
                objects.append(str(obj))
            self._run([str(self.ld), *objects, *self.link_flags(cxx), "-o", str(output)])
        return output

    @staticmethod
    def _run(argv: list[str]) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise CompileError(f"{' '.join(argv)}\n{result.stdout}{result.stderr}")
