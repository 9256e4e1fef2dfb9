"""The cache's shared parts (darling/cache.py): a record is believed only when every field is
there with the type write_record gives it, and the steps lock makes a second process wait
for the first and then take what the first built, while one process may take it again
inside itself."""

from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from darling_nix import compat
from darling_nix.darling import cache, deps, host_nix, nix
from darling_nix.darling.toolchain import CrossToolchain

# a process that holds PATH's lock until its stdin closes, after it says "held"
HOLDER = """
import sys
from pathlib import Path
from darling_nix.darling.cache import locked
with locked(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def tarball_record(out: Path) -> dict[str, object]:
    """The fields of a darwin Nix manifest that read_manifest believes, for OUT."""
    tarball = out / "nix-2.8.0-x86_64-darwin.tar.xz"
    tarball.parent.mkdir(parents=True, exist_ok=True)
    tarball.write_bytes(b"packed")
    return {"version": "2.8.0", "system": "x86_64-darwin",
            "store_path": nix.store_path_for(out.name, "2.8.0"), "tarball": str(tarball),
            "sha256": hashlib.sha256(b"packed").hexdigest(), "key": out.name, "seconds": 1}


@pytest.mark.parametrize("change", [
    {"tarball": None}, {"tarball": 5}, {"seconds": "1"}, {"seconds": True}, {"key": ["k"]},
    {"extra": "x"}, {"built_now": True}])
def test_a_manifest_field_of_another_type_is_not_believed(tmp_path: Path,
                                                          change: dict[str, object]) -> None:
    """A null tarball used to raise TypeError from Path() instead of asking for a build."""
    out = tmp_path / "nix" / ("c" * 20)
    record = tarball_record(out)
    (out / "manifest.json").write_text(json.dumps(record))
    assert nix.read_manifest(out) is not None
    (out / "manifest.json").write_text(json.dumps({**record, **change}))
    assert nix.read_manifest(out) is None


def test_a_missing_field_or_a_record_that_is_no_object_is_not_believed(tmp_path: Path) -> None:
    out = tmp_path / "nix" / ("c" * 20)
    record = tarball_record(out)
    for text in [json.dumps({k: v for k, v in record.items() if k != "sha256"}), "[]", "null",
                 '"manifest"']:
        (out / "manifest.json").write_text(text)
        assert nix.read_manifest(out) is None, text


def test_a_dependency_stamp_whose_libs_are_not_strings_is_not_believed(tmp_path: Path) -> None:
    stamp = tmp_path / "zlib.json"
    fields = {"name": "zlib", "version": "1.2.13", "sysroot": "/s", "libs": ["z"],
              "recipe": "r", "seconds": 0.5}
    stamp.write_text(json.dumps(fields))
    assert cache.read_record(deps.Built, stamp) == deps.Built(**fields, built_now=False)
    for libs in ["z", [1], None]:
        stamp.write_text(json.dumps({**fields, "libs": libs}))
        assert cache.read_record(deps.Built, stamp) is None, libs


def held_elsewhere(lock: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def taken(lock: Path) -> bool:
    """Whether some process holds LOCK (asked without waiting)."""
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def test_the_lock_keeps_another_process_out_and_is_taken_again_inside_one(
        tmp_path: Path) -> None:
    lock = tmp_path / "cache" / ".steps.lock"
    with cache.locked(lock):
        with cache.locked(tmp_path / "cache" / ".." / "cache" / ".steps.lock"):  # no deadlock
            assert taken(lock)
        assert taken(lock)  # the inner block's end did not let it go
    assert not taken(lock)
    holder = held_elsewhere(lock)
    try:
        assert taken(lock)
    finally:
        holder.communicate("")
    assert not taken(lock)


def test_a_waiter_does_not_take_a_lock_file_that_was_replaced_meanwhile(tmp_path: Path) -> None:
    """A holds the lock; C waits; the file is removed and B locks a new one of that name: when A
    lets go, C's lock is on a file that is no longer the lock, so C waits for B."""
    lock = tmp_path / ".steps.lock"
    first = held_elsewhere(lock)
    got: list[bool] = []
    waiting = threading.Thread(target=lambda: got.append(_take(lock)))
    waiting.start()
    time.sleep(0.5)
    lock.unlink()
    second = held_elsewhere(lock)
    try:
        first.communicate("")
        time.sleep(0.5)
        assert waiting.is_alive() and not got
    finally:
        for holder in (first, second):
            if holder.returncode is None:
                holder.communicate("")
        waiting.join(30)
    assert got == [True]


def test_a_lock_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file where the cache should be")
    with pytest.raises(cache.CacheLockError, match="cannot be opened as the cache's lock"):
        _take(tmp_path / "cache" / ".steps.lock")
    assert (tmp_path / "cache").read_text() == "a file where the cache should be"


def _take(lock: Path) -> bool:
    with cache.locked(lock):
        return True


def test_a_run_that_waits_says_so(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    lock = tmp_path / ".steps.lock"
    holder = held_elsewhere(lock)
    threading.Timer(0.5, holder.communicate, [""]).start()
    assert _take(lock)
    assert f"waiting for {lock}: another run holds it" in capfd.readouterr().err


TOOLCHAIN = CrossToolchain(
    key="k", install_key="i", root="/tc", target="x86_64-apple-darwin20", cc="cc", cxx="c++",
    ar="ar", ranlib="ranlib", ld="ld", nm="nm", strip="strip", cmake_toolchain="t.cmake",
    meson_cross="m.ini", autotools_env="a.env", syslibroot="/s", made_at="now")


def stamped(root: Path, name: str, recipe: str | None = None) -> None:
    """A stamp in ROOT's sysroot saying NAME was built (from RECIPE: default, its own)."""
    stamp = deps.sysroot(root, TOOLCHAIN) / ".deps" / f"{name}.json"
    stamp.parent.mkdir(parents=True, exist_ok=True)
    own = deps.recipe_hash(deps.checked([name], "darling")[name], TOOLCHAIN)
    cache.write_record(stamp, deps.Built(name=name, version="1", sysroot=str(stamp.parent.parent),
                                         libs=[], recipe=recipe or own, seconds=1.0,
                                         built_now=True))


def test_a_built_dependency_is_found_while_another_run_holds_the_lock(tmp_path: Path) -> None:
    """An up-to-date step waited for whatever another run built (nine minutes of host-nix)."""
    toolchain = TOOLCHAIN
    root = tmp_path / "cache"
    stamped(root, "xz")
    holder = held_elsewhere(cache.Layout(root).steps_lock)
    try:
        found: list[deps.Built] = []
        finding = threading.Thread(
            target=lambda: found.append(deps.build_dep("xz", toolchain, root, print)))
        finding.start()
        finding.join(5)
        assert [b.built_now for b in found] == [False]
    finally:
        holder.communicate("")


def test_what_a_dependency_links_against_is_looked_at_again_after_the_wait(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """curl waits; meanwhile another run's recipe rebuilds openssl: curl then rebuilds openssl
    from its own recipe first, instead of building against the other one's under a stamp
    that names its own."""
    root = tmp_path / "cache"
    stamped(root, "openssl")
    built: list[str] = []

    def build(name: str, *args: object) -> deps.Built:
        built.append(name)
        return deps.Built(name=name, version="1", sysroot="/s", libs=[], recipe=str(args[3]),
                          seconds=0.0, built_now=True)

    monkeypatch.setattr(deps, "_build_dep", build)
    holder = held_elsewhere(cache.Layout(root).steps_lock)
    waiting = threading.Thread(target=lambda: deps.build_dep("curl", TOOLCHAIN, root, print))
    try:
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive() and not built
        stamped(root, "openssl", recipe="another checkout's recipe")
    finally:
        holder.communicate("")
        waiting.join(30)
    assert built == ["openssl", "curl"]


def test_an_unpack_that_fails_leaves_no_scratch_folder(tmp_path: Path) -> None:
    program = compat.load().programs["ruff"]
    archive = tmp_path / program.file
    archive.write_bytes(b"no zip")
    with pytest.raises(zipfile.BadZipFile):
        compat.unpack(program, archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".unpack.lock", program.file]


def test_a_second_host_nix_build_waits_and_takes_the_first_ones(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two runs of one key used to build in one tree at once, each removing the other's."""
    key = "e" * 20
    monkeypatch.setattr(host_nix, "build_key", lambda entry, source: key)
    monkeypatch.setattr(deps, "missing_tools", lambda entry, also: [])
    built: list[str] = []
    monkeypatch.setattr(host_nix, "_build", lambda *args: built.append("built"))
    root = tmp_path / "cache"
    holder = held_elsewhere(cache.Layout(root).steps_lock)
    results: list[host_nix.HostNix] = []
    waiting = threading.Thread(
        target=lambda: results.append(host_nix.build_host_nix(root, lambda message: None)))
    try:
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive() and not results  # it waits for the holder
        out = root / "host-nix" / key  # what the holder built meanwhile
        (out / "nix" / "bin").mkdir(parents=True)
        (out / "nix" / "bin" / "nix").write_text("")
        (out / "manifest.json").write_text(json.dumps(
            {"version": "2.26.3", "prefix": str(out / "nix"), "key": key, "seconds": 1.0}))
    finally:
        holder.communicate("")
        waiting.join(30)
    assert not built
    assert [r.prefix for r in results] == [str(root / "host-nix" / key / "nix")]
    assert not results[0].built_now
