"""rm -rf for trees that hold store paths (Nix leaves their directories 0555) and links
to anywhere: `prefix wipe`, staging left by a killed install, the demo's temporary builder.

The walk goes through directory descriptors. A directory is opened with O_NOFOLLOW before
it is made writable or emptied, so a symbolic link (the prefix's profile link to a host
store path, or one planted in a race) is only ever unlinked, and nothing it points to has
its mode, owner or content touched. The walk also stays on the tree's filesystem.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .fsutil import Directory, UnsafePath


def remove_tree(path: Path) -> None:
    """Remove PATH and everything below it. PATH itself must not be a symbolic link (its
    parent is the caller's and resolved the ordinary way); a missing PATH is no error."""
    with Directory.open(path.parent) as parent:
        top = parent.lstat(path.name)
        if top is None:
            return
        if stat.S_ISLNK(top.st_mode):
            raise UnsafePath(f"{path} is a symbolic link; refusing to remove what it points to")
        remove_at(parent, path.name, top.st_dev)


def remove_at(parent: Directory, name: str, device: int | None = None) -> None:
    """Remove NAME in PARENT, whatever it is; a link is unlinked, never followed. Below a
    directory on DEVICE (default: PARENT's) another filesystem is refused, not entered."""
    if device is None:
        device = os.fstat(parent.fd).st_dev
    try:
        directory = _open_directory(parent, name)
    except FileNotFoundError:
        return
    if directory is None:
        os.unlink(name, dir_fd=parent.fd)
        return
    with directory:
        if os.fstat(directory.fd).st_dev != device:
            raise UnsafePath(f"{directory.path} is another filesystem (a mount point); "
                             "unmount it first")
        os.fchmod(directory.fd, 0o700)  # writable, so that it can be emptied
        with os.scandir(directory.fd) as entries:
            names = [entry.name for entry in entries]
        for entry in names:
            remove_at(directory, entry, device)
    os.rmdir(name, dir_fd=parent.fd)


def _open_directory(parent: Directory, name: str) -> Directory | None:
    """NAME opened as a directory; None when NAME is anything else (a link included:
    O_NOFOLLOW)."""
    try:
        return parent.child(name)
    except UnsafePath:
        return None
    except PermissionError:
        # A directory its owner cannot read. fchmodat without following links fails on a
        # link, so this cannot reach a link's target.
        try:
            os.chmod(name, 0o700, dir_fd=parent.fd, follow_symlinks=False)
        except (NotImplementedError, ValueError):
            raise PermissionError(errno.EACCES, "cannot make it readable without following "
                                  "links", str(parent.path / name)) from None
        return parent.child(name)
