"""Reading an input file that darling-nix is given (the config, key files): a regular file
of at most LIMIT bytes of UTF-8, never a device, a FIFO or a directory.

The gate reads a config file through this too, so it imports nothing beyond os and stat.
"""

from __future__ import annotations

import os
import stat

LIMIT = 1 << 20  # 1 MiB: far above any real config or key file


class SmallFileError(ValueError):
    """The file cannot be read as a small text file; the message says why, on one line."""


def read_text(path: str | os.PathLike[str], limit: int = LIMIT) -> str:
    """The text of the regular file at PATH; SmallFileError for anything else."""
    try:
        # Refuse a device or FIFO before opening it: opening alone can block or act.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise SmallFileError("is not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as error:
        raise SmallFileError(error.strerror or str(error)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the two looks
            raise SmallFileError("is not a regular file")
        data = os.read(fd, limit + 1)
        while len(data) <= limit:
            more = os.read(fd, limit + 1 - len(data))
            if not more:
                break
            data += more
    except OSError as error:
        raise SmallFileError(error.strerror or str(error)) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise SmallFileError(f"is larger than {limit} bytes")
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        raise SmallFileError(f"is not UTF-8 text (byte {error.start})") from None
