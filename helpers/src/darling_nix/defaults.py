"""Defaults shared by the config schema and the gate's lean reader (which must not import
the schema: it runs on every SSH connection)."""

STATE_DIR = "/var/lib/darling-builder"
RUNNER_KIND = "darling"
DARLING_COMMAND = "/run/wrappers/bin/darling"
CONFIG_FILE = "/etc/darling-builder/config.json"
# The prefix's store is garbage-collected below MIN_FREE bytes free, up to MAX_FREE.
MIN_FREE = 1024**3
MAX_FREE = 4 * 1024**3


def prefix_of(state_dir: str) -> str:
    return f"{state_dir}/prefix"
