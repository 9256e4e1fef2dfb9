"""`darling-nix darling host-nix`: Nix 2.26 for this Linux host, built natively (meson, the
host's g++ and Debian's libraries) from the pinned source the darwin 2.26 is built from
(data/darwin-deps.json, "nix-2.26"), so that tests can send builds from a current client to
the builder (the interop matrix, docs/darwin-nix.md). Debian's Nix 2.8 stays the host's Nix.

The recipe is data/darwin-deps.json's "host-nix": the meson options and the Debian packages
whose libraries it links (scripts/setup installs them), and libgit2: Nix 2.26 calls
git_mempack_write_thin_pack, new in libgit2 1.9 (bookworm has 1.5.1), so the darwin
build's pinned libgit2 1.9.0 source is built first, static, with the recipe's
"libgit2_cmake" options, into the build tree; and boost: Nix passes boost's small_vector
where it takes a std::span, which bookworm's boost 1.74 does not allow, so the darwin build's
pinned boost 1.83 gives its headers and its context, coroutine and container libraries,
compiled by _BOOST_STEPS. It is installed as
<cache>/host-nix/KEY/nix, KEY made from the recipe, the source's sha256, the compiler's and
meson's versions and those packages' versions: another compiler or a library upgrade builds
it again. It is built in <cache>/host-nix-build/KEY and moved into place only once installed
whole; the manifest, written last, says it is there. Its configuration is its own
(<prefix>/etc/nix/nix.conf, not /etc/nix): `store = daemon`, so a call without --store never
opens the host's 2.8 store by itself; tests give it a store of its own (--store
local?root=DIR).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..removal import remove_tree
from . import deps, meson_build, sources
from .cache import Layout, build_environment, content_key, locked, read_record, write_record

FORMAT = 2  # bump when what build_host_nix does beyond its recipe changes
ENTRY = "host-nix"
NIX_CONF = "store = daemon\nexperimental-features = nix-command\n"
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")  # Debian policy 5.6.1
_OPTION = re.compile(r"-D[a-z0-9_:-]+=[A-Za-z0-9_.-]*|--[a-z-]+=[A-Za-z0-9_./-]+")
# A prefix the build compiles into Nix's binaries (their own bin/, etc/): meson's options and
# C string literals must carry it as it is.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9_./+-]*")
# boost 1.83's three compiled libraries, as the darwin recipe (deps "boost1.83") builds them,
# with the ELF assembly: (the library, the sources under libs/, their defines).
_BOOST_STEPS = (
    ("context", ("context/src/asm/jump_x86_64_sysv_elf_gas.S",
                 "context/src/asm/make_x86_64_sysv_elf_gas.S",
                 "context/src/asm/ontop_x86_64_sysv_elf_gas.S",
                 "context/src/posix/stack_traits.cpp"),
     ("-DBOOST_CONTEXT_SOURCE", "-DBOOST_CONTEXT_STATIC_LINK")),
    ("coroutine", ("coroutine/src/exceptions.cpp", "coroutine/src/detail/coroutine_context.cpp",
                   "coroutine/src/posix/stack_traits.cpp"),
     ("-DBOOST_COROUTINES_SOURCE", "-DBOOST_COROUTINES_STATIC_LINK")),
    ("container", ("container/src/alloc_lib.c", "container/src/dlmalloc.cpp",
                   "container/src/global_resource.cpp",
                   "container/src/monotonic_buffer_resource.cpp",
                   "container/src/pool_resource.cpp",
                   "container/src/synchronized_pool_resource.cpp",
                   "container/src/unsynchronized_pool_resource.cpp"),
     ("-DBOOST_CONTAINER_SOURCE", "-DBOOST_CONTAINER_STATIC_LINK")),
)
_KEYS = ("comment", "source", "meson", "libgit2_cmake", "debian_packages", "host_tools")
_CMAKE_OPTION = re.compile(r"-D[A-Z0-9_]+=[A-Za-z0-9_.-]+")
# What build_host_nix sets itself: a recipe option would come after it and win (the Nix
# would read /etc/nix/nix.conf with --sysconfdir=/etc; libgit2 would install elsewhere).
_OWN_MESON = re.compile(r"(--|-D)(prefix|sysconfdir|localstatedir|bindir|libdir|cpp_args"
                        r"|native-file|cross-file)=.*")
_OWN_CMAKE = re.compile(r"-DCMAKE_(INSTALL_|PREFIX_PATH|TOOLCHAIN_FILE|C_COMPILER"
                        r"|CXX_COMPILER).*")


@dataclass(frozen=True)
class HostNix:
    version: str
    prefix: str  # bin/nix, bin/nix-build, ... and etc/nix/nix.conf
    key: str
    seconds: float
    built_now: bool

    @property
    def bin(self) -> Path:
        return Path(self.prefix) / "bin"


def _strings(entry: dict[str, object], key: str) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise deps.DepInputError(f"data/darwin-deps.json: {ENTRY}: {key}: not a list of strings")
    return value


def recipe() -> tuple[dict[str, object], dict[str, object]]:
    """The host-nix entry, checked, and the Nix entry whose source it builds."""
    document = sources.darwin_deps()
    entry = document.get(ENTRY)
    if not isinstance(entry, dict):
        raise deps.DepInputError(f"data/darwin-deps.json: {ENTRY}: missing, or not an object")
    where = f"data/darwin-deps.json: {ENTRY}"
    unknown = sorted(set(entry) - set(_KEYS))
    if unknown:
        raise deps.DepInputError(f"{where}: {unknown[0]}: not a key of the host-nix recipe")
    source = document.get(str(entry.get("source")))
    if not isinstance(source, dict) or "meson" not in source:
        raise deps.DepInputError(f"{where}: source: {entry.get('source')!r} is not a meson-built "
                                 "Nix entry")
    for option in _strings(entry, "meson"):
        if not _OPTION.fullmatch(option):
            raise deps.DepInputError(f"{where}: meson: {option!r} is not -Dname=value or "
                                     "--name=value")
        if _OWN_MESON.fullmatch(option):
            raise deps.DepInputError(f"{where}: meson: {option!r} sets what the build sets "
                                     "itself")
    for option in _strings(entry, "libgit2_cmake"):
        if not _CMAKE_OPTION.fullmatch(option):
            raise deps.DepInputError(f"{where}: libgit2_cmake: {option!r} is not -DNAME=value")
        if _OWN_CMAKE.fullmatch(option):
            raise deps.DepInputError(f"{where}: libgit2_cmake: {option!r} sets what the build "
                                     "sets itself")
    for name in _strings(entry, "debian_packages"):
        if not _PACKAGE.fullmatch(name):
            raise deps.DepInputError(f"{where}: debian_packages: {name!r} is not a package name")
    _strings(entry, "host_tools")
    return entry, source


def _installed_versions(packages: list[str]) -> dict[str, str]:
    """Each Debian package's installed version; a missing one is named (exit 2)."""
    try:
        result = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\t"
                                 "${Version}\n", *packages], capture_output=True, text=True,
                                check=False)
    except OSError as error:
        raise deps.DepInputError(f"host-nix: cannot ask dpkg-query which Debian packages are "
                                 f"installed (its build is for Debian hosts): {error}") from None
    versions = {}
    for line in result.stdout.splitlines():
        name, status, version = [*line.split("\t", 2), "", ""][:3]
        if status[1:2] == "i":  # installed (wanted, held or not), not only known
            versions[name.split(":")[0]] = version
    missing = [name for name in packages if name not in versions]
    if missing:
        raise deps.DepInputError(f"host-nix: its build needs the Debian packages "
                                 f"{' '.join(missing)} (scripts/setup installs them)")
    return versions


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise deps.DepInputError(f"host-nix: cannot run {argv[0]}: {error}") from None
    return done.stdout.partition("\n")[0].strip()


def build_key(entry: dict[str, object], source: dict[str, object]) -> str:
    meson = meson_build.meson_program()
    return content_key({
        "format": FORMAT, "recipe": entry, "source": source["sha256"],
        "libgit2": sources.source_of("libgit2").sha256,
        "boost": sources.source_of("boost1.83").sha256,
        "compiler": _first_line(["c++", "--version"]),
        "meson": _first_line([meson, "--version"]),
        "packages": _installed_versions(_strings(entry, "debian_packages"))})


def _out(cache: Path, key: str) -> Path:
    return Layout(cache).host_nix / key


def read_manifest(out: Path) -> HostNix | None:
    """OUT's record if it is OUT's own and its nix is there; else None (then it is built)."""
    found = read_record(HostNix, out / "manifest.json")
    if found is None or found.key != out.name or Path(found.prefix) != out / "nix":
        return None
    return found if (found.bin / "nix").is_file() else None


def cached(cache: Path) -> HostNix | None:
    entry, source = recipe()
    return read_manifest(_out(cache, build_key(entry, source)))


def build_host_nix(cache: Path, say: deps.Say) -> HostNix:
    """The host's Nix 2.26, built unless <cache>/host-nix/KEY has it already."""
    entry, source = recipe()
    key = build_key(entry, source)
    out = _out(cache, key)
    found = read_manifest(out)
    if found is not None:
        return found
    prefix = out / "nix"
    if not _PLAIN_PATH.fullmatch(str(prefix)):
        raise deps.DepInputError(f"host-nix: the cache path {str(cache)!r} would be compiled "
                                 "into Nix: it must be absolute, and only letters, digits and "
                                 "_ . / + - may be in it")
    missing = deps.missing_tools(entry, ["ninja", "c++", "cmake"])
    if missing:
        raise deps.DepInputError(f"host-nix: its build needs {' '.join(missing)}")
    _one_filesystem(cache)
    with locked(Layout(cache).steps_lock):  # a run that waited finds the other's build
        return read_manifest(out) or _build(entry, source, key, cache, say)


def _one_filesystem(cache: Path) -> None:
    """The finished build is renamed from host-nix-build into host-nix: where that fails
    (either folder linked or mounted from another filesystem), the build is refused before it
    starts, by renaming an empty folder the same way."""
    layout = Layout(cache)
    try:
        for folder in (layout.host_nix, layout.host_nix_build):
            folder.mkdir(parents=True, exist_ok=True)
        probe = Path(tempfile.mkdtemp(prefix=".rename-probe-", dir=layout.host_nix_build))
    except OSError as error:
        raise deps.DepInputError(f"host-nix: cannot make its folders in the cache {cache} "
                                 f"({error.strerror})") from None
    moved = layout.host_nix / probe.name
    try:
        probe.rename(moved)
    except OSError as error:
        probe.rmdir()
        raise deps.DepInputError(f"host-nix: a folder of {layout.host_nix_build} cannot be "
                                 f"renamed into {layout.host_nix} ({error.strerror}); the "
                                 "build ends that way (put both on one filesystem)") from None
    moved.rmdir()


def _build(entry: dict[str, object], source: dict[str, object], key: str, cache: Path,
           say: deps.Say) -> HostNix:
    """The build of KEY into <cache>/host-nix/KEY, with the steps lock held."""
    out = _out(cache, key)
    prefix = out / "nix"
    version = str(source["version"])
    tarball = sources.fetch(sources.source_from(str(entry["source"]), source), cache)
    started = time.monotonic()
    tree = Layout(cache).host_nix_build / key
    log = Layout(cache).step_log(f"host-nix-{version}")
    say(f"host nix {version}: building {prefix} (log: {log})")
    top = _unpacked(tarball, tree / "src", tree, log)
    build_dir = tree / "build"
    env = build_environment({"CCACHE_DIR": str(Layout(cache).ccache), "CCACHE_NOHASHDIR": "1",
                             "NINJA_STATUS": "[%f/%t] "})
    libgit2 = _libgit2(entry, cache, tree, log, env)
    env["PKG_CONFIG_PATH"] = str(libgit2 / "lib" / "pkgconfig")
    boost = _boost(cache, tree, log, env)
    # meson looks for boost there first; its headers are system headers, for Nix's
    # -Werror=suggest-override fails on boost's own (as in the darwin build, meson_build.py)
    env["BOOST_ROOT"] = str(boost)
    boost_headers = [f"-Dcpp_args=-isystem{boost / 'include'}"]
    if not (build_dir / "build.ninja").is_file():
        if build_dir.exists():
            remove_tree(build_dir)
        deps.run([meson_build.meson_program(), "setup", str(build_dir), str(top),
                  # Nix's meson takes sysconfdir as it is, not under the prefix
                  f"--prefix={prefix}", f"--sysconfdir={prefix}/etc", *boost_headers,
                  *_strings(entry, "meson")], log, env=env)
    say(f"host nix {version}: compiling (about 9 minutes cold on 2 cores)")
    deps.run(["ninja", "-C", str(build_dir), f"-j{os.cpu_count() or 1}"], log, env=env)
    stage = tree / "stage"
    if stage.exists():
        remove_tree(stage)
    deps.run(["ninja", "-C", str(build_dir), "install"], log, env={**env, "DESTDIR": str(stage)})
    installed = Path(f"{stage}{prefix}")
    if not (installed / "bin" / "nix").is_file():
        raise deps.DepBuildFailed(f"host-nix: `ninja install` left no bin/nix; log: {log}")
    (installed / "etc" / "nix").mkdir(parents=True, exist_ok=True)
    (installed / "etc" / "nix" / "nix.conf").write_text(NIX_CONF)
    if out.exists():  # an earlier attempt that stopped before its manifest
        remove_tree(out)
    out.mkdir(parents=True)
    installed.rename(prefix)
    result = HostNix(version=version, prefix=str(prefix), key=key,
                     seconds=round(time.monotonic() - started, 1), built_now=True)
    write_record(out / "manifest.json", result)
    remove_tree(tree)
    return result


def _boost(cache: Path, tree: Path, log: Path, env: dict[str, str]) -> Path:
    """boost 1.83's headers and _BOOST_STEPS' static libraries in TREE/boost (once per
    tree); its prefix."""
    prefix = tree / "boost"
    done = tree / ".boost"
    if done.is_file():
        return prefix
    top = _unpacked(sources.fetch(sources.source_of("boost1.83"), cache), tree / "boost-src",
                    tree, log)
    if prefix.exists():
        remove_tree(prefix)
    (prefix / "lib").mkdir(parents=True)
    # the tarball is boost's modular layout: each library's headers under libs/*/include
    for include in sorted([*top.glob("libs/*/include/boost"),
                           *top.glob("libs/numeric/*/include/boost")]):
        shutil.copytree(include, prefix / "include" / "boost", dirs_exist_ok=True)
    objects = tree / "boost-objects"
    objects.mkdir(exist_ok=True)
    for library, files, defines in _BOOST_STEPS:
        made = []
        for source in files:
            compiler = ["cc"] if source.endswith((".S", ".c")) else ["c++", "-std=c++20"]
            made.append(str(objects / f"{library}-{source.replace('/', '-')}.o"))
            deps.run([*compiler, "-c", "-O2", "-fPIC", *defines, f"-I{prefix / 'include'}",
                      str(top / "libs" / source), "-o", made[-1]], log, env=env)
        deps.run(["ar", "rcs", str(prefix / "lib" / f"libboost_{library}.a"), *made], log)
    done.write_text("")
    return prefix


def _libgit2(entry: dict[str, object], cache: Path, tree: Path, log: Path,
             env: dict[str, str]) -> Path:
    """libgit2 built static into TREE/libgit2 (once per tree); its prefix. Its pkg-config
    file names its own dependencies in Libs and Requires: Nix's meson links it as a shared
    library would be linked, without Libs.private and Requires.private (zlib)."""
    prefix = tree / "libgit2"
    done = tree / ".libgit2"
    if done.is_file():
        return prefix
    top = _unpacked(sources.fetch(sources.source_of("libgit2"), cache), tree / "libgit2-src", tree,
                    log)
    build_dir = tree / "libgit2-build"
    if build_dir.exists():
        remove_tree(build_dir)
    deps.run(["cmake", "-S", str(top), "-B", str(build_dir), "-G", "Ninja",
              f"-DCMAKE_INSTALL_PREFIX={prefix}", "-DCMAKE_INSTALL_LIBDIR=lib",
              *_strings(entry, "libgit2_cmake")], log, env=env)
    deps.run(["ninja", "-C", str(build_dir), "install"], log, env=env)
    pc = prefix / "lib" / "pkgconfig" / "libgit2.pc"
    lines = pc.read_text().splitlines()
    private = " ".join(line.partition(":")[2].strip() for line in lines
                       if line.startswith("Libs.private:"))
    required = [line.replace("Requires.private:", "Requires:", 1) for line in lines
                if line.startswith("Requires.private:")]
    pc.write_text("\n".join([*(f"{line} {private}" if line.startswith("Libs:") else line
                               for line in lines), *required]) + "\n")
    done.write_text("")
    return prefix


def _unpacked(tarball: Path, top: Path, tree: Path, log: Path) -> Path:
    """TARBALL unpacked into TOP, a folder of TREE (once per tree; another key's tree goes)."""
    deps.drop_other_trees(tree)
    done = tree / f".unpacked-{top.name}"
    if done.is_file():
        return top
    deps.unpack(tarball, top, log)
    done.write_text("")
    return top
