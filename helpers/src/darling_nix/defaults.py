"""Defaults shared by the config schema and the gate's lean reader (which must not import
the schema: it runs on every SSH connection)."""

STATE_DIR = "/var/lib/darling-builder"
RUNNER_KIND = "darling"
DARLING_COMMAND = "/run/wrappers/bin/darling"
CONFIG_FILE = "/etc/darling-builder/config.json"
# The prefix's store is garbage-collected below MIN_FREE bytes free, up to MAX_FREE.
MIN_FREE = 1024**3
MAX_FREE = 4 * 1024**3
# A build's time limits in the prefix's nix.conf (seconds; 0: none). Enforced by the builder's
# Nix itself: over ssh-ng, Nix 2.8's client never sends the host's own limits (its
# SSHStore::setOptions is empty), so without these a stuck build would run for ever.
BUILD_TIMEOUT = 24 * 3600
MAX_SILENT_TIME = 3600


def prefix_of(state_dir: str) -> str:
    return f"{state_dir}/prefix"


_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """Bytes from '1073741824' or '1G' (Nix's unit suffixes); ValueError otherwise."""
    scale = _UNITS.get(text[-1:].upper(), 1)
    number = text[:-1] if scale > 1 else text
    # ASCII digits only: str.isdigit also takes '²' and '١٢٣', which Nix refuses.
    if not (number.isascii() and number.isdigit()) or int(number) * scale >= 1 << 64:
        raise ValueError(f"expected a number of bytes such as 1073741824 or 1G (below 2^64), "
                         f"got {text!r}")
    return int(number) * scale
