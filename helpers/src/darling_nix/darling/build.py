"""`darling-nix darling build`: Darling from source on a host without Nix (Debian).

The same patch list (pkgs/darling/patches/series.json) and the same source preparation
(pkgs/darling/prepare-source.sh) as the Nix package, then CMake + Ninja with the
smallest component set that gives the builder what it needs (core, plus bash, files
and shell_cmds through the DARLING_CORE_SHELL option of our core-shell patch, and the
command-line tools a builder script runs through DARLING_CORE_TOOLS, core-tools patch).
A source tarball comes with a second one of the tools' submodules, unpacked over it.

Its place in the cache (cache.py): trees/KEY/src is the patched source and its build
directory src/build (Darling wants it there), removed once the install is in place;
installs/KEY/ the `ninja install` output, bin/darling setuid root, sdk/ (copy-sdk.sh: the
SDK and cctools' ld/ar/ranlib; libcxx/: Darling's libc++ sources), manifest.json last;
installs/VARIANT -> the KEY last built or found for that variant (a stable path).
KEY hashes the source, each patch's content, the preparation script, the CMake flags and
the compiler, so an unchanged build is found and skipped, and any change builds anew.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..fsutil import atomic_write
from ..removal import remove_tree
from .cache import Layout, StepFailed, build_environment, content_key, locked, missing_tools, run, sha256_file

# 2: the install holds its own sdk/ (copy-sdk.sh); the tree is removed after.
# 3: sdk/libcxx: the libc++ sources Darling builds (headers for C++17, src/filesystem).
FORMAT = 3
CMAKE_FLAGS = (
    "-DTARGET_i386=OFF",
    "-DCOMPONENTS=core",
    "-DCOMPILE_PY2_BYTECODE=OFF",
    "-DENABLE_METAL=OFF",
    "-DDARLING_CORE_SHELL=ON",
    "-DDARLING_CORE_TOOLS=ON",
)
# Beside a source tarball NAME-src.tar.xz: NAME-tools-src.tar.xz, the tools' submodules.
TOOLS_SUFFIX = ("-src.tar.xz", "-tools-src.tar.xz")
# The negative control of the patch tests: the same build without the patches that fix
# Darling's behaviour (series.json "kind": "fix"; the build options stay, so the control
# has the same programs).
VARIANTS = {"patched": frozenset[str](), "control": frozenset({"fix"})}
KINDS = ("fix", "build")  # of our patches; upstream's have none
TOOLS = ("cmake", "ninja", "clang", "bison", "flex", "patch", "tar", "xz")
# The SDK inside a Developer tree, and cctools' ld as copy-sdk.sh places it (sdk/bin)
SDK = "Developer/Platforms/MacOSX.platform/Developer/SDKs/MacOSX.sdk"
LD = "bin/x86_64-apple-darwin20-ld"
LIBCXX = "src/external/libcxx"  # in the source tree; copied to <install>/sdk/libcxx
NINJA_STATUS = re.compile(rb"^\[(\d+)/(\d+)\] ")


class BuildInputError(RuntimeError):
    """Bad input: no such source, a patch that does not apply, a missing tool (exit 2)."""


class BuildStepFailed(StepFailed):
    """A step of the build itself failed (exit 1); the log has the details."""


@dataclass(frozen=True)
class Patch:
    name: str
    root: str  # "darling" (-p1 at the top) or "xnu" (-p1 in src/external/xnu)
    path: Path
    sha256: str


@dataclass(frozen=True)
class BuildPlan:
    source: Path
    tools_source: Path | None  # a tarball unpacked over the source; None for a checkout
    source_id: str
    variant: str
    patches: tuple[Patch, ...]
    prepare_script: Path
    copy_sdk_script: Path
    flags: tuple[str, ...]
    compiler: str
    cache: Path

    @functools.cached_property  # it hashes both scripts: once per plan, not per use
    def key(self) -> str:
        identity = {
            "format": FORMAT, "source": self.source_id, "flags": self.flags,
            "compiler": self.compiler, "prepare": sha256_file(self.prepare_script),
            "copy-sdk": sha256_file(self.copy_sdk_script),
            "patches": [(p.name, p.root, p.sha256) for p in self.patches],
        }
        return content_key(identity)

    @property
    def layout(self) -> Layout:
        return Layout(self.cache)

    @property
    def tree(self) -> Path:
        return self.layout.trees / self.key

    @property
    def install(self) -> Path:
        return self.layout.installs / self.key


@dataclass(frozen=True)
class Installed:
    """What a finished build offers: read back from its manifest."""

    key: str
    variant: str
    install: str
    darling: str
    sdk: str
    ld: str
    patches: list[str]
    seconds: float
    built_at: str

    @classmethod
    def read(cls, install: Path) -> Installed:
        return cls(**json.loads((install / "manifest.json").read_text()))


Say = Callable[[str], None]
Progress = Callable[[int, int], None]


def checkout_pkgs_darling() -> Path:
    """pkgs/darling of the checkout these helpers run from (they are not packaged with it)."""
    return Path(os.environ.get("DARLING_NIX_PKGS_DARLING",
                               Path(__file__).resolve().parents[4] / "pkgs" / "darling"))


def read_series(pkgs_darling: Path, upstream_dir: Path | None, variant: str) -> tuple[Patch, ...]:
    """The series' patches for VARIANT, each resolved to a local file."""
    series_file = pkgs_darling / "patches" / "series.json"
    try:
        series = json.loads(series_file.read_text())
    except (OSError, ValueError) as error:
        raise BuildInputError(f"{series_file}: cannot read the patch list ({error})") from None
    patches = []
    for index, entry in enumerate(_entries(series, series_file)):
        if entry.get("kind") in VARIANTS[variant]:
            continue
        if "file" in entry:
            path = pkgs_darling / "patches" / entry["file"]
        elif upstream_dir is None:
            raise BuildInputError(
                f"patch {entry['name']} is upstream's: pass --upstream-patches DIR holding "
                f"{entry['localName']} (curl -L -o {entry['localName']} '{entry['url']}')")
        else:
            path = upstream_dir / entry["localName"]
        if not path.is_file():
            raise BuildInputError(f"patch {entry['name']} (patches[{index}]): {path} does not exist")
        patches.append(Patch(entry["name"], entry["root"], path, sha256_file(path)))
    return tuple(patches)


def _entries(series: object, series_file: Path) -> list[dict[str, str]]:
    """The patch entries of a parsed series.json, each checked for the shape the builds
    read: name, root (darling or xnu), and either our `file` (a relative path with no
    `..`) and kind, or upstream's url + hash + localName (a plain file name)."""
    def bad(where: str, what: str) -> BuildInputError:
        return BuildInputError(f"{series_file}: {where}: {what}")

    patches = series.get("patches") if isinstance(series, dict) else None
    if not isinstance(patches, list):
        raise bad("patches", "expected a list of patch entries")
    for index, entry in enumerate(patches):
        where = f"patches[{index}]"
        if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
            raise bad(where, "expected a mapping of strings")
        if not entry.get("name") or entry.get("root") not in ("darling", "xnu"):
            raise bad(where, "needs a name and a root of 'darling' or 'xnu'")
        if ("file" in entry) == ("url" in entry):
            raise bad(where, "needs exactly one of 'file' (ours) or 'url' (upstream's)")
        if "file" in entry and (entry["file"].startswith("/") or ".." in entry["file"].split("/")):
            raise bad(where, f"file {entry['file'][:80]!r} must stay inside patches/")
        if "url" in entry and (not entry.get("hash") or not entry.get("localName")
                               or "/" in entry["localName"] or entry["localName"] in (".", "..")):
            raise bad(where, "an upstream patch needs a hash and a plain localName")
        if ("file" in entry) != (entry.get("kind") in KINDS):
            raise bad(where, f"our patches (file) have a kind of {' or '.join(KINDS)}, "
                      "upstream's (url) none")
    return patches


def tools_tarball(source: Path) -> Path | None:
    """The tools tarball that goes with a source tarball (None for a checkout)."""
    if not source.is_file():
        return None
    name = source.name
    if not name.endswith(TOOLS_SUFFIX[0]) or name.endswith(TOOLS_SUFFIX[1]):
        raise BuildInputError(f"{source}: a source tarball is named NAME{TOOLS_SUFFIX[0]} (its "
                              f"tools: NAME{TOOLS_SUFFIX[1]}); pass --tools-source for another name")
    return source.with_name(name[:-len(TOOLS_SUFFIX[0])] + TOOLS_SUFFIX[1])


def _source_id(source: Path, cache: Path) -> str:
    """A tarball's sha256 (remembered by size and mtime), or a git checkout's commits."""
    if source.is_file():
        st = source.stat()
        memo = Layout(cache).source_hashes
        known: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            known = json.loads(memo.read_text())
        stamp = f"{source.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        if stamp not in known:
            known[stamp] = "tarball-sha256:" + sha256_file(source)
            atomic_write(memo, json.dumps(known, indent=1).encode())
        return known[stamp]
    if (source / ".git").exists():
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(source), *args], capture_output=True,
                                  text=True, check=True).stdout
        if git("status", "--porcelain", "--ignore-submodules=none").strip():
            raise BuildInputError(f"{source}: the checkout has local changes; the cache key is "
                                  "its commits, so commit or stash them first")
        head = git("rev-parse", "HEAD").strip()
        modules = hashlib.sha256(git("submodule", "status", "--recursive").encode()).hexdigest()
        return f"git:{head}:{modules}"
    raise BuildInputError(f"{source}: neither a source tarball nor a git checkout of Darling")


def _compiler() -> str:
    out = subprocess.run(["clang", "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "unknown"


def plan(source: Path, *, cache: Path, variant: str, upstream_dir: Path | None,
         pkgs_darling: Path | None = None, tools_source: Path | None = None) -> BuildPlan:
    if variant not in VARIANTS:
        raise BuildInputError(f"unknown variant {variant!r} (known: {', '.join(VARIANTS)})")
    missing = missing_tools(TOOLS)
    if missing:
        raise BuildInputError(f"missing build tools: {' '.join(missing)} (scripts/setup installs them)")
    if not source.exists():
        raise BuildInputError(f"{source}: no such source tarball or directory")
    if source.is_file():
        tools_source = tools_source or tools_tarball(source)
        assert tools_source is not None
        if not tools_source.is_file():
            raise BuildInputError(f"{tools_source}: no such tools tarball (the submodules of the "
                                  "command-line tools, unpacked over the source)")
    elif tools_source is not None:
        raise BuildInputError(f"{source}: a checkout has its tools' submodules; --tools-source "
                              "goes with a source tarball")
    pkgs = pkgs_darling or checkout_pkgs_darling()
    patches = read_series(pkgs, upstream_dir, variant)
    for script in ("prepare-source.sh", "copy-sdk.sh"):
        if not (pkgs / script).is_file():
            raise BuildInputError(f"{pkgs / script} does not exist (DARLING_NIX_PKGS_DARLING must "
                                  "name a pkgs/darling directory)")
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildInputError(f"{cache}: cannot be the cache directory ({error.strerror})") from None
    source_id = _source_id(source, cache)
    if tools_source is not None:
        source_id += "+" + _source_id(tools_source, cache)
    return BuildPlan(source=source.resolve(), source_id=source_id, variant=variant,
                     tools_source=tools_source.resolve() if tools_source else None,
                     patches=patches, prepare_script=pkgs / "prepare-source.sh",
                     copy_sdk_script=pkgs / "copy-sdk.sh",
                     flags=CMAKE_FLAGS, compiler=_compiler(), cache=cache)


def _run(argv: list[str], log: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None,
         progress: Progress | None = None) -> None:
    """Run ARGV with its output appended to LOG; ninja's [N/M] lines feed PROGRESS."""
    def on_line(line: bytes) -> None:
        match = NINJA_STATUS.match(line)
        if progress and match:
            progress(int(match.group(1)), int(match.group(2)))

    run(argv, log, cwd=cwd, env=env, on_line=on_line, failure=BuildStepFailed)


def _unpack(plan: BuildPlan, into: Path, log: Path) -> None:
    """The source as a fresh directory INTO/src (a tarball's single top directory, or a copy)."""
    into.mkdir(parents=True)
    if plan.source.is_file():
        _unpack_tarball(plan.source, into, "src/CMakeLists.txt", log)
        if plan.tools_source is not None:
            # unpacked apart, then moved in: what it holds may not replace the source's files
            tools = into / ".tools"
            tools.mkdir()
            _unpack_tarball(plan.tools_source, tools, "src/external", log)
            for module in (tools / "src" / "src" / "external").iterdir():
                target = into / "src" / "src" / "external" / module.name
                if module.is_symlink() or not module.is_dir() or \
                        (target.exists() and any(target.iterdir())):
                    raise BuildInputError(f"{plan.tools_source}: {module.name} is not a submodule "
                                          "directory missing from the source")
                if target.exists():
                    target.rmdir()  # an empty submodule directory (git archive leaves them)
                module.rename(target)
            remove_tree(tools)
    else:
        _run(["cp", "-a", "--reflink=auto", f"{plan.source}/.", str(into / "src")], log)


def _unpack_tarball(tarball: Path, into: Path, marker: str, log: Path) -> None:
    """TARBALL into INTO as INTO/src: one top directory, not a link, holding MARKER."""
    _run(["tar", "-xJf", str(tarball), "-C", str(into)], log)
    tops = list(into.iterdir())
    # A top that is a link would have the build patch and build wherever it points.
    steps = [tops[0].joinpath(*Path(marker).parts[:n]) for n in range(len(Path(marker).parts) + 1)]
    if len(tops) != 1 or not steps[-1].exists() or any(step.is_symlink() for step in steps):
        raise BuildInputError(f"{tarball}: not a Darling source tarball (one top directory, "
                              f"not a link, holding {marker})")
    if tops[0].name != "src":
        tops[0].rename(into / "src")


def _prepare(plan: BuildPlan, src: Path, log: Path, say: Say) -> None:
    for patch in plan.patches:
        where = src if patch.root == "darling" else src / "src" / "external" / "xnu"
        say(f"patch {patch.name} ({patch.root})")
        try:
            _run(["patch", "-p1", "--batch", "--forward", "-d", str(where), "-i", str(patch.path)], log)
        except BuildStepFailed:
            raise BuildInputError(f"patch {patch.name} ({patch.path}) does not apply to {plan.source}; "
                                  f"is it Darling at the pinned rev? log: {log}") from None
    _run(["sh", str(plan.prepare_script)], log, cwd=src)


def _environment(plan: BuildPlan, src: Path) -> dict[str, str]:
    return build_environment({
        "CCACHE_DIR": str(plan.layout.ccache),
        # paths relative to the tree, so another tree (a variant, a new key) hits the cache
        "CCACHE_BASEDIR": str(src),
        "CCACHE_NOHASHDIR": "1",
        "CCACHE_MAXSIZE": os.environ.get("CCACHE_MAXSIZE", "8G"),
        "NINJA_STATUS": "[%f/%t] ",
    })


def build_darling(plan: BuildPlan, *, say: Say, progress: Progress | None = None,
                  jobs: int | None = None) -> tuple[Installed, bool]:
    """Build and install PLAN unless its install exists; (what is installed, built now?)."""
    found = _found(plan)  # no lock: another key may be building
    if found is not None:
        return found, False
    with locked(plan.layout.build_lock):  # a second caller waits, then finds the first's result
        found = _found(plan)
        if found is not None:
            return found, False
        started = time.monotonic()
        log = plan.layout.trees / f"{plan.key}.log"
        src = plan.tree / "src"
        prepared = plan.tree / ".prepared"
        if not prepared.exists():
            # a tree that was being prepared when a run died is not to be trusted
            for leftover in (plan.tree, plan.install):
                if leftover.exists():
                    remove_tree(leftover)
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_bytes(b"")
            say(f"unpacking {plan.source.name} into {plan.tree}")
            try:
                _unpack(plan, plan.tree, log)
                _prepare(plan, src, log, say)
            except BaseException:
                remove_tree(plan.tree)  # half-patched: of no use to anyone
                raise
            prepared.touch()
        env = _environment(plan, src)
        say(f"cmake configure (log: {log})")
        _run(["cmake", "-S", str(src), "-B", str(src / "build"), "-G", "Ninja", *plan.flags,
              f"-DCMAKE_INSTALL_PREFIX={plan.install}"], log, env=env)
        say("ninja build")
        _run(["ninja", "-C", str(src / "build"), *(["-j", str(jobs)] if jobs else [])], log,
             env=env, progress=progress)
        installed = _install(plan, src, log, env, started)
        say(f"installed in {plan.install} ({installed.seconds:.0f} s)")
        return _current(plan, installed), True


def _found(plan: BuildPlan) -> Installed | None:
    """PLAN's install if its manifest is there (made current); None if there is none."""
    manifest = plan.install / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        installed = Installed.read(plan.install)
    except (OSError, ValueError, TypeError) as error:
        raise BuildInputError(f"{manifest}: not the manifest of a Darling install ({error}); "
                              f"remove {plan.install} to build it again") from None
    return _current(plan, installed)


def _current(plan: BuildPlan, installed: Installed) -> Installed:
    """installs/VARIANT -> KEY: a stable path for configs (runner.darling_command)."""
    link = plan.layout.installs / plan.variant
    if not link.is_symlink() or os.readlink(link) != plan.key:
        temporary = link.with_name(f".{plan.variant}.{os.getpid()}")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(plan.key)
        os.rename(temporary, link)
    return installed


def _install(plan: BuildPlan, src: Path, log: Path, env: dict[str, str], started: float) -> Installed:
    """`ninja install` and the SDK (copy-sdk.sh, as the package's sdk output) into a staging
    root, renamed into place: all or nothing. The tree is removed then: the install stands
    alone, and a rebuild under the same key never happens (ccache makes a new tree cheap)."""
    stage = plan.layout.installs / f".{plan.key}.stage"
    if stage.exists():
        remove_tree(stage)
    _run(["ninja", "-C", str(src / "build"), "install"], log, env={**env, "DESTDIR": str(stage)})
    staged = Path(f"{stage}{plan.install}")
    _run(["sh", str(plan.copy_sdk_script), str(src), str(src / "build"), str(staged / "sdk")], log)
    # Darling's own libc++ (LLVM 13): the SDK's xctoolchain headers are LLVM 5, without
    # <filesystem>, and libc++.1.dylib lacks src/filesystem, which the toolchain builds.
    for part in ("include", "src"):
        try:
            shutil.copytree(src / LIBCXX / part, staged / "sdk" / "libcxx" / part, symlinks=True)
        except OSError as error:
            raise BuildStepFailed(f"cannot copy Darling's libc++ {part}/: {error}") from None
    darling = staged / "bin" / "darling"
    # prepare-source.sh takes setuid out of the install rules (the store cannot hold it);
    # on a host `darling` must be setuid root, and only it.
    if os.geteuid() == 0:
        os.chown(darling, 0, 0)
        os.chmod(darling, 0o4755)
    installed = Installed(
        key=plan.key, variant=plan.variant, install=str(plan.install),
        darling=str(plan.install / "bin" / "darling"), sdk=str(plan.install / "sdk" / SDK),
        ld=str(plan.install / "sdk" / LD), patches=[p.name for p in plan.patches],
        seconds=round(time.monotonic() - started, 1),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    (staged / "manifest.json").write_text(json.dumps(asdict(installed), indent=2) + "\n")
    os.rename(staged, plan.install)
    remove_tree(stage)
    remove_tree(plan.tree)
    return installed
