"""Compiling macOS (Mach-O x86_64) programs on the Linux host for a Darling install.

The host's clang compiles for x86_64-apple-darwin20 against the SDK headers of a
Darling install (<install>/sdk, made by pkgs/darling/copy-sdk.sh); its Darwin driver links
with the build's own cctools ld64 (--ld-path: -fuse-ld=PATH warns, failing -Werror links)
against the libSystem of the install's prefix template (-isysroot libexec/darling becomes
ld's -syslibroot). Without -DPLATFORM_MacOSX the headers ask
for `$UNIX2003` symbols that Darling's libSystem does not have. C++ uses the headers
of the libc++ that Darling builds (LLVM 13; the SDK's xctoolchain copy is LLVM 5, too
old for C++17's <filesystem>), and -stdlib=libc++ because Debian's clang would link
libstdc++ otherwise. -Qunused-arguments: the one flag list serves compiling, linking
and both at once, so a link does not warn (or fail under -Werror) about -nostdinc.
-Wl,-sdk_version: as Darling's own CMake links (use_ld64.cmake). Without it ld64 takes the
SDK version from the last run of digits in the -syslibroot path, here the install's key:
a key such as ...ad4767051 failed every link ("malformed 32-bit x.y.z version number"),
and the others gave programs an SDK version of 10.6 or whatever digits the key ended in.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .build import Installed

TARGET = "x86_64-apple-darwin20"
MACOS_MIN = "11.0"


class CompileError(RuntimeError):
    pass


@dataclass(frozen=True)
class DarwinCompiler:
    """The host's clang, driven to compile and link Mach-O programs for one Darling install
    (its flags are the one place the cross flags are kept)."""

    sdk: Path  # <install>/sdk/Developer/.../MacOSX.sdk (copy-sdk.sh's copy)
    ld: Path  # <install>/sdk/bin/x86_64-apple-darwin20-ld (cctools' ld64 from the build)
    syslibroot: Path  # <install>/libexec/darling
    clang: str = "clang"

    @classmethod
    def for_install(cls, installed: Installed) -> DarwinCompiler:
        return cls(Path(installed.sdk), Path(installed.ld),
                   Path(installed.install) / "libexec" / "darling")

    @property
    def sdk_root(self) -> Path:
        # <install>/sdk: Developer/Platforms/MacOSX.platform/Developer/SDKs/MacOSX.sdk, libcxx/
        return self.sdk.parents[5]

    def resource_dir(self) -> str:
        return subprocess.run([self.clang, "-print-resource-dir"], capture_output=True,
                              text=True, check=True).stdout.strip()

    @property
    def libcxx_source(self) -> Path:
        """Darling's libc++ (include/ and src/), the one its libc++.1.dylib is built from."""
        return self.sdk_root / "libcxx"

    def flags(self, cxx: bool) -> list[str]:
        """Every flag the compiler driver needs, whether it compiles, links, or both."""
        flags = [f"--target={TARGET}", f"-mmacosx-version-min={MACOS_MIN}", "-DPLATFORM_MacOSX",
                 "-nostdinc", "-isystem", str(self.sdk / "usr" / "include"),
                 "-isystem", f"{self.resource_dir()}/include",
                 f"--ld-path={self.ld}", "-isysroot", str(self.syslibroot),
                 f"-Wl,-sdk_version,{MACOS_MIN}", "-Qunused-arguments"]
        if cxx:
            flags[4:4] = ["-stdlib=libc++", "-nostdinc++",
                          "-isystem", str(self.libcxx_source / "include")]
        return flags

    def build(self, sources: Sequence[Path], output: Path, *, cxx: bool = False,
              cflags: Sequence[str] = (), libs: Sequence[str] = ()) -> Path:
        """Compile SOURCES and link them into the Mach-O executable OUTPUT."""
        compiler = f"{self.clang}++" if cxx else self.clang
        self._run([compiler, *self.flags(cxx), *cflags, *map(str, sources), "-o", str(output),
                   *libs])
        return output

    @staticmethod
    def _run(argv: list[str]) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise CompileError(f"{' '.join(argv)}\n{result.stdout}{result.stderr}")
