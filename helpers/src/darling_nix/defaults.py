"""Defaults shared by the config schema and the gate's lean reader (which must not import
the schema: it runs on every SSH connection)."""

STATE_DIR = "/var/lib/darling-builder"
RUNNER_KIND = "darling"
DARLING_COMMAND = "/run/wrappers/bin/darling"
CONFIG_FILE = "/etc/darling-builder/config.json"


def prefix_of(state_dir: str) -> str:
    return f"{state_dir}/prefix"
