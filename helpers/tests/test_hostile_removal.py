"""Removing trees that hold links to elsewhere (`prefix wipe`, staging, the demo's builder):
links are unlinked, never followed; nothing they point to changes mode, owner or content.
The README's `darling-nix demo` leaves the host's store as it found it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sentinel import Sentinel, assert_refused, snapshot

from darling_nix import loopback
from darling_nix.fsutil import UnsafePath
from darling_nix.removal import remove_tree

NOBODY = 65534


def plant_links(tree: Path, sentinel: Sentinel) -> None:
    """A prefix-like tree with, at every level, links to the sentinel's directories, its
    read-only directory and its file; store-like directories are 0555."""
    level = tree
    for depth in range(4):
        level = level / f"level{depth}"
        level.mkdir(parents=True)
        (level / "file").write_text("in the tree\n")
        (level / "to-dir").symlink_to(sentinel.root / "dir")
        (level / "to-read-only").symlink_to(sentinel.root / "dir" / "sub")
        (level / "to-file").symlink_to(sentinel.root / "file")
        (level / "relative").symlink_to(os.path.relpath(sentinel.root, level))
        (level / "dangling").symlink_to(sentinel.root / "missing")
    for directory in sorted(tree.rglob("level*"), reverse=True):
        directory.chmod(0o555)


def test_links_at_every_level_are_not_followed(tmp_path: Path, sentinel: Sentinel) -> None:
    tree = tmp_path / "prefix"
    plant_links(tree, sentinel)
    remove_tree(tree)
    assert not tree.exists()
    sentinel.assert_unchanged()


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory another user can enter (pytest's tmp_path is root's alone)."""
    base = Path(tempfile.mkdtemp(prefix="darling-nix-removal-"))
    base.chmod(0o755)
    yield base
    remove_tree(base)


def as_nobody(tree: Path, *chowned: Path) -> int:
    """Run remove_tree(tree) in a child that is user nobody; its exit status."""
    for path in chowned:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            remove_tree(tree)
            code = 0
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_non_root_owner_removes_read_only_and_unreadable_directories(shared_tmp: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the tree to another user")
    sentinel = Sentinel.plant(shared_tmp / "outside")
    for path in (sentinel.root, sentinel.root / "dir"):
        os.chown(path, NOBODY, NOBODY)  # writable by the attacker's uid: it must still hold
    sentinel = Sentinel(sentinel.root, snapshot(sentinel.root))
    home = shared_tmp / "home"  # the builder's: it may remove the prefix from it
    tree = home / "prefix"
    plant_links(tree, sentinel)
    (tree / "unreadable" / "inner").mkdir(parents=True)
    everything = [home, tree, *tree.rglob("*")]
    (tree / "unreadable" / "inner").chmod(0)
    (tree / "unreadable").chmod(0o300)  # write and search, no read
    assert as_nobody(tree, *everything) == 0
    assert not tree.exists()
    sentinel.assert_unchanged()


def test_race_directory_swapped_for_a_link(tmp_path: Path, sentinel: Sentinel,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory replaced by a link to outside after it was listed and before it is
    entered is unlinked, not entered."""
    tree = tmp_path / "prefix"
    (tree / "victim" / "sub").mkdir(parents=True)
    listing = os.scandir
    swapped: list[bool] = []

    def swap_after_listing(target: Any) -> Any:
        entries = listing(target)
        if not swapped:
            swapped.append(True)
            (tree / "victim" / "sub").rmdir()
            (tree / "victim").rmdir()
            (tree / "victim").symlink_to(sentinel.root / "dir")
        return entries

    monkeypatch.setattr(os, "scandir", swap_after_listing)
    remove_tree(tree)
    monkeypatch.undo()
    assert swapped and not tree.exists()
    sentinel.assert_unchanged()


def test_top_that_is_a_link_is_refused(tmp_path: Path, sentinel: Sentinel) -> None:
    link = tmp_path / "prefix"
    link.symlink_to(sentinel.root / "dir")
    with pytest.raises(UnsafePath, match="symbolic link"):
        remove_tree(link)
    assert link.is_symlink()
    sentinel.assert_unchanged()


def test_mount_point_inside_is_refused(tmp_path: Path, sentinel: Sentinel) -> None:
    """In a private mount namespace: a filesystem mounted inside the tree is not entered."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private mount namespace")
    tree = tmp_path / "prefix"
    (tree / "mnt").mkdir(parents=True)
    script = ("from pathlib import Path; from darling_nix.removal import remove_tree\n"
              "from darling_nix.fsutil import UnsafePath\n"
              f"Path('{tree}/mnt/kept').write_text('x')\n"
              f"try:\n    remove_tree(Path('{tree}'))\nexcept UnsafePath as e:\n    print(e)\n"
              f"print(Path('{tree}/mnt/kept').exists())\n")
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         f'mount -t tmpfs none "{tree}/mnt" && exec "$0" -c "$1"', sys.executable, script],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "mount point" in result.stdout and result.stdout.endswith("True\n"), result.stdout
    sentinel.assert_unchanged()


def test_wipe_of_a_prefix_with_links(prefix_config: Path, tmp_path: Path, sentinel: Sentinel,
                                     cli: Any) -> None:
    prefix = tmp_path / "prefix"
    plant_links(prefix / "nix" / "store", sentinel)
    profiles = prefix / "nix" / "var" / "nix" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "default").symlink_to(sentinel.root / "dir" / "sub")  # as a profile link does
    result = cli("prefix", "wipe", "--config", str(prefix_config))
    assert result.returncode == 0, result.stderr
    assert not prefix.exists()
    sentinel.assert_unchanged()


def test_wipe_of_a_prefix_that_is_a_link(prefix_config: Path, tmp_path: Path,
                                         sentinel: Sentinel, cli: Any) -> None:
    (tmp_path / "prefix").symlink_to(sentinel.root)
    assert_refused(cli("prefix", "wipe", "--config", str(prefix_config)), "symbolic link")
    assert (tmp_path / "prefix").is_symlink()
    sentinel.assert_unchanged()


# Against the real host store ------------------------------------------------------------

def _store_state() -> dict[str, tuple[int, int, int, int]]:
    """Type, mode and owner of everything in /nix/store, by lstat (no link followed). The
    host's Nix may add or drop entries (locks, new paths) meanwhile: those are skipped."""
    state = {}
    for directory, subdirectories, files in os.walk("/nix/store"):
        for name in [*subdirectories, *files]:
            path = os.path.join(directory, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            state[path] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                           st.st_gid)
    return state


def test_loopback_removal_keeps_a_host_store_path_read_only(tmp_path: Path, integration: None) -> None:
    """The prefix's profile link names a host store path; removing the builder used to
    make that path 0700 (the demo did it on every run)."""
    content = tmp_path / "payload"
    (content / "bin").mkdir(parents=True)
    (content / "bin" / "tool").write_text(f"{os.getpid()} {tmp_path}\n")
    store_path = Path(subprocess.run(["nix-store", "--add", str(content)], check=True,
                                     capture_output=True, text=True).stdout.strip())
    root = loopback.secure_tempdir("removal")
    profiles = root / "state" / "prefix" / "nix" / "var" / "nix" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "default-1-link").symlink_to(store_path)
    (profiles / "default").symlink_to("default-1-link")
    before = snapshot(store_path)
    loopback.remove(root)
    assert not root.exists()
    assert snapshot(store_path) == before
    assert store_path.stat().st_mode & 0o777 == 0o555


@pytest.mark.integration
def test_demo_leaves_the_host_store_as_it_found_it(cli: Any, integration: None) -> None:
    before = _store_state()
    result = cli("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    after = _store_state()
    changed = {k: (before[k], after[k]) for k in before.keys() & after.keys()
               if after[k] != before[k]}
    assert not changed
