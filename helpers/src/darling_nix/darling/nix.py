"""`darling-nix darling nix`: Nix for x86_64-darwin, cross-built here and packed like the
official binary tarball, so that `darling-nix install-nix` takes it unchanged.

Nix is Debian's pinned source: 2.8 (data/darwin-deps.json, "nix"), patched with
data/nix-patches/*.patch, configured for the darwin host against the sysroot of
`darling deps` and built with the toolchain of `darling toolchain` (through ccache); or
2.26 ("nix-2.26", `--nix 2.26`), built with meson and the C++20 toolchain of cxx20.py
(meson_build.py).
Its prefix is one store path, /nix/store/HASH-nix-VERSION, HASH made from the build's
key as a derivation's output hash is made from the derivation: the binaries know their
own path, so it must be chosen before configure. The tarball holds what install-nix
reads: `nix-VERSION-x86_64-darwin/store/<that path>` and `.reginfo` (path, NAR hash, NAR
size, no deriver, references: only itself, for everything is linked statically but the
system's own libraries). Results live in <cache>/nix/KEY (tarball, manifest.json); the
build tree <cache>/nix-build/KEY stays after a failure, so a rerun resumes, and goes
after a success.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import compat
from ..removal import remove_tree
from . import cxx20, deps, meson_build, recipes, sources
from .cache import Layout, content_key, locked, read_record, sha256_file, write_record
from .compiler import DarwinCompiler
from .toolchain import CrossToolchain

FORMAT = 1
SYSTEM = "x86_64-darwin"
# .reginfo's NAR hash and size come from the host's Nix (not in the recipe: that would
# change every build key)
PACK_TOOLS = ("nix-hash", "nix-store")
NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"
# `darling nix --nix WHICH`: each a recipe of data/darwin-deps.json
NIX_ENTRIES = {"2.8": "nix", "2.26": "nix-2.26"}
# What a current client expects (a Lix host refuses a daemon older than Nix 2.15; 2.8 ignores
# unsafeDiscardReferences); every builder test and the interop matrix pass on it.
DEFAULT = "2.26"


@dataclass(frozen=True)
class NixTarball:
    version: str
    system: str
    store_path: str
    tarball: str
    sha256: str
    key: str
    seconds: float
    built_now: bool


def nix_base32(data: bytes) -> str:
    """Nix's base-32 (its own alphabet, least significant bits first), as in store paths."""
    length = (len(data) * 8 - 1) // 5 + 1
    digits = []
    for n in reversed(range(length)):
        byte, bit = divmod(n * 5, 8)
        value = data[byte] >> bit
        if byte + 1 < len(data):
            value |= data[byte + 1] << (8 - bit)
        digits.append(NIX_BASE32[value & 0x1F])
    return "".join(digits)


def store_path_for(key: str, version: str) -> str:
    """The prefix: a sha256 folded to 20 bytes, in base 32, as Nix makes output paths."""
    digest = hashlib.sha256(f"darling-nix:{SYSTEM}:nix-{version}:{key}".encode()).digest()
    folded = bytearray(20)
    for index, byte in enumerate(digest):
        folded[index % 20] ^= byte
    return f"/nix/store/{nix_base32(bytes(folded))}-nix-{version}"


def recipe(which: str = DEFAULT) -> dict[str, object]:
    """The entry of data/darwin-deps.json for Nix WHICH (NIX_ENTRIES), once it is known to be
    well formed."""
    if which not in NIX_ENTRIES:
        raise deps.DepInputError(f"no darwin Nix {which!r} (known: {', '.join(NIX_ENTRIES)})")
    name = NIX_ENTRIES[which]
    entry = sources.darwin_deps().get(name)
    problem = next(recipes.nix_problems(entry, sources.pinned(), name), None)
    if problem is not None or not isinstance(entry, dict):
        raise deps.DepInputError(f"data/darwin-deps.json: {problem}")
    return entry


def patches(nix: dict[str, object]) -> list[tuple[str, bytes]]:
    return sorted((item.name, item.read_bytes())
                  for item in recipes.patch_files(str(nix.get("patches", "nix-patches"))))


def build_key(nix: dict[str, object], toolchain: CrossToolchain, built: list[deps.Built],
              cxx20_key: str | None = None) -> str:
    identity: dict[str, object] = {
        "format": FORMAT, "recipe": nix, "toolchain": toolchain.key,
        "deps": {b.name: b.recipe for b in built},
        "patches": {name: hashlib.sha256(body).hexdigest() for name, body in patches(nix)}}
    if cxx20_key is not None:  # absent for Nix 2.8: its key is what it always was
        identity["cxx20"] = cxx20_key
    return content_key(identity)


def build_inputs(nix: dict[str, object], toolchain: CrossToolchain, cache: Path, say: deps.Say,
                 compilers: DarwinCompiler | None = None,
                 download: compat.Download = compat.registry_download
                 ) -> tuple[list[deps.Built], CrossToolchain | None]:
    """NIX's dependencies, each built unless its sysroot has it, and the C++20 toolchain
    (cxx20.py) when NIX is built with meson; then build_key knows every input."""
    built = [deps.build_dep(name, toolchain, cache, say) for name in deps.strings(nix, "needs")]
    if "meson" not in nix:
        return built, None
    if compilers is None:
        raise deps.DepInputError(f"nix {nix['version']}: needs the Darling install's SDK")
    cxx = cxx20.in_cache(cache, toolchain, compilers, download)
    built += [deps.build_dep(name, cxx, cache, say) for name in deps.strings(nix, "cxx20_needs")]
    return built, cxx


def build_nix(toolchain: CrossToolchain, cache: Path, say: deps.Say, which: str = DEFAULT,
              compilers: DarwinCompiler | None = None) -> NixTarball:
    """The darwin Nix tarball of WHICH's recipe, built unless <cache>/nix/KEY has it already."""
    nix = recipe(which)
    found, _, _ = _inputs_and_found(nix, toolchain, cache, say, compilers)
    if found is not None:
        return found
    missing = missing_tools(nix)
    if missing:
        raise deps.DepInputError(f"nix: its build needs {' '.join(missing)} on the build machine")
    with locked(Layout(cache).steps_lock):
        # again: while this run waited, another may have rebuilt an input or this Nix
        found, key, cxx = _inputs_and_found(nix, toolchain, cache, say, compilers)
        return found or _build_nix(nix, key, toolchain, cxx, cache, say)


def _inputs_and_found(nix: dict[str, object], toolchain: CrossToolchain, cache: Path,
                      say: deps.Say, compilers: DarwinCompiler | None
                      ) -> tuple[NixTarball | None, str, CrossToolchain | None]:
    """NIX's inputs, built if missing; the tarball of their key if the cache has it, the key,
    and the C++20 toolchain (meson builds)."""
    built, cxx = build_inputs(nix, toolchain, cache, say, compilers)
    key = build_key(nix, toolchain, built, cxx.key if cxx else None)
    return read_manifest(_out(cache, key)), key, cxx


def _build_nix(nix: dict[str, object], key: str, toolchain: CrossToolchain,
               cxx: CrossToolchain | None, cache: Path, say: deps.Say) -> NixTarball:
    """build_nix's build of KEY, with the steps lock held."""
    out = _out(cache, key)
    version = str(nix["version"])
    store_path = store_path_for(key, version)
    source = sources.source_from("nix", nix)
    started = time.monotonic()
    tree = Layout(cache).nix_build / key
    log = Layout(cache).step_log(f"nix-{version}")
    say(f"nix {version}: building {store_path} for {SYSTEM} (log: {log})")
    top = _prepared_tree(sources.fetch(source, cache), tree, log, nix)
    stage = tree / "stage"
    if cxx is None:
        _autotools_build(nix, top, stage, store_path, toolchain, cache, log, say)
    else:
        meson_build.build(nix, top, tree, stage, store_path, deps.sysroot(cache, toolchain),
                          cxx, deps.sysroot(cache, cxx), log, say)
    installed = Path(f"{stage}{store_path}")
    _strip(installed, toolchain, log)
    out.mkdir(parents=True, exist_ok=True)
    tarball = out / f"nix-{version}-{SYSTEM}.tar.xz"
    say(f"nix {version}: packing {tarball.name}")
    pack(installed, store_path, tarball, f"nix-{version}-{SYSTEM}")
    result = NixTarball(version=version, system=SYSTEM, store_path=store_path,
                        tarball=str(tarball), sha256=sha256_file(tarball), key=key,
                        seconds=round(time.monotonic() - started, 1), built_now=True)
    write_manifest(out, result)
    remove_tree(tree)
    return result


def _autotools_build(nix: dict[str, object], top: Path, stage: Path, store_path: str,
                     toolchain: CrossToolchain, cache: Path, log: Path, say: deps.Say) -> None:
    """Nix 2.8: configure and make, installed into STAGE."""
    sysroot = deps.sysroot(cache, toolchain)
    env = _environment(toolchain, sysroot, cache)
    _configure(nix, top, store_path, toolchain, sysroot, env, log)
    say(f"nix {nix['version']}: compiling (about 10 minutes cold on 2 cores, dependencies "
        "included)")
    # LD: static libraries are partial links (patches/0003), by ld64, not the host's ld
    make = ["make", "OPTIMIZE=0", f"LD={toolchain.ld}"]
    deps.run([*make, f"-j{os.cpu_count() or 1}"], log, cwd=top, env=env)
    if stage.exists():
        remove_tree(stage)
    deps.run([*make, "install", f"DESTDIR={stage}"], log, cwd=top, env=env)


def cached(nix: dict[str, object], toolchain: CrossToolchain, built: list[deps.Built],
           cache: Path, cxx20_key: str | None = None) -> NixTarball | None:
    """The darwin Nix of these inputs if the cache holds it whole (read_manifest); else None."""
    return read_manifest(_out(cache, build_key(nix, toolchain, built, cxx20_key)))


def _out(cache: Path, key: str) -> Path:
    return Layout(cache).nix / key


def missing_tools(nix: dict[str, object]) -> list[str]:
    """What the build and its packing run on the build machine and it lacks, checked before
    a half-hour build rather than at its end."""
    return deps.missing_tools(nix, PACK_TOOLS)


def write_manifest(out: Path, result: NixTarball) -> None:
    write_record(out / "manifest.json", result)


def read_manifest(out: Path) -> NixTarball | None:
    """OUT's record if it is OUT's own (its key, the store path of that key) and its tarball
    is in OUT with that hash; else None (then it is built)."""
    found = read_record(NixTarball, out / "manifest.json")
    if found is None:
        return None
    own = found.key == out.name and found.store_path == store_path_for(found.key, found.version)
    tarball = Path(found.tarball)
    if not own or tarball.parent != out or not tarball.is_file() \
            or sha256_file(tarball) != found.sha256:
        return None
    return found


def _prepared_tree(source: Path, tree: Path, log: Path, nix: dict[str, object]) -> Path:
    """The source unpacked, patched and bootstrapped (autoreconf, for an autotools build) in
    TREE, once per key; another key's tree (left by a failed build of older inputs) goes."""
    deps.drop_other_trees(tree)
    top = tree / "src"
    done = tree / ".prepared"
    if done.is_file():
        return top
    if tree.exists():
        remove_tree(tree)
    deps.unpack(source, top, log)
    for name, body in patches(nix):
        with log.open("ab") as sink:
            sink.write(f"\n$ patch -p1 < {name}\n".encode())
            applied = subprocess.run(["patch", "-p1", "--forward", "--batch"], cwd=top, input=body,
                                     stdout=sink, stderr=subprocess.STDOUT, check=False)
        if applied.returncode != 0:
            raise deps.DepBuildFailed(f"nix: patch {name} does not apply; log: {log}")
    if "configure" in nix:
        deps.run(["autoreconf", "-vfi"], log, cwd=top)
    done.write_text("")
    return top


def _environment(toolchain: CrossToolchain, sysroot: Path, cache: Path) -> dict[str, str]:
    env = deps.environment(toolchain, sysroot)
    ccache = shutil.which("ccache")
    if ccache:
        env.update(CC=f"{ccache} {toolchain.cc}", CXX=f"{ccache} {toolchain.cxx}",
                   CCACHE_DIR=str(Layout(cache).ccache), CCACHE_NOHASHDIR="1")
    return env


def _configure(nix: dict[str, object], top: Path, store_path: str, toolchain: CrossToolchain,
               sysroot: Path, env: dict[str, str], log: Path) -> None:
    done = top / ".configured"
    if done.is_file():
        return
    deps.run(["./configure", f"--host={toolchain.target}", f"--build={deps.BUILD_MACHINE}",
              f"--prefix={store_path}", f"--with-boost={sysroot}",
              *(arg.replace("$SYSROOT", str(sysroot)) for arg in deps.strings(nix, "configure")),
              # -O1, no -g: about half the compile time of Nix's -O3 -g, and a tenth the size
              "CXXFLAGS=-O1 -g0", "CFLAGS=-O1 -g0",
              # macOS's libedit stands in for editline, as Nix's READLINE build allows
              "EDITLINE_CFLAGS=-DREADLINE", "EDITLINE_LIBS=-ledit"],
             log, cwd=top, env=env)
    done.write_text("")


def _strip(installed: Path, toolchain: CrossToolchain, log: Path) -> None:
    if not (installed / "bin" / "nix").is_file():
        raise deps.DepBuildFailed(f"nix: `make install` left no bin/nix in {installed}; log: {log}")
    for program in sorted((installed / "bin").iterdir()):
        if program.is_file() and not program.is_symlink():
            deps.run([toolchain.strip, "-S", str(program)], log)


def pack(installed: Path, store_path: str, tarball: Path, top: str) -> None:
    """INSTALLED as STORE_PATH in the official layout, with its .reginfo; written whole."""
    name = Path(store_path).name
    reginfo = (f"{store_path}\n{_nix_hash(installed)}\n{_nar_size(installed)}\n\n"
               f"1\n{store_path}\n").encode()
    partial = tarball.with_name(f".{tarball.name}.partial")
    try:
        with tarfile.open(partial, "w:xz") as archive:
            archive.add(installed, arcname=f"{top}/store/{name}")
            info = tarfile.TarInfo(f"{top}/.reginfo")
            info.size = len(reginfo)
            info.mode = 0o444
            archive.addfile(info, io.BytesIO(reginfo))
        os.replace(partial, tarball)
    finally:
        partial.unlink(missing_ok=True)


def _nar_size(path: Path) -> int:
    size = 0
    with subprocess.Popen(["nix-store", "--dump", str(path)], stdout=subprocess.PIPE) as dump:
        assert dump.stdout is not None
        while chunk := dump.stdout.read(1 << 20):
            size += len(chunk)
    if dump.returncode != 0:
        raise deps.DepBuildFailed(f"nix-store --dump {path} failed (exit {dump.returncode})")
    return size


def _nix_hash(path: Path) -> str:
    hashed = subprocess.run(["nix-hash", "--type", "sha256", str(path)], capture_output=True,
                            text=True, check=False)
    if hashed.returncode != 0:
        raise deps.DepBuildFailed(f"nix-hash {path} failed (exit {hashed.returncode}): "
                                  f"{hashed.stderr.strip()}")
    return hashed.stdout.strip()
