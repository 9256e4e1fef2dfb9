"""The gate's settings on the ForceCommand line: written here (models.BuilderConfig's
gate_command renders the line) and read back here (gate.settings_from_argv), so the two
cannot drift apart. Imported on every SSH connection: the standard library only."""

from __future__ import annotations

# Each setting's flag on the ForceCommand line.
FLAGS = {"kind": "--runner", "darling": "--darling", "state_dir": "--state-dir",
         "prefix": "--prefix", "min_free": "--min-free"}


def written(values: dict[str, object]) -> str:
    """VALUES (keys of FLAGS) as the ForceCommand line carries them."""
    return " ".join(f"{FLAGS[key]} {value}" for key, value in values.items())


def read(argv: list[str]) -> dict[str, str] | None:
    """The settings in ARGV (pairs of a flag and its value, each flag at most once);
    None when ARGV is not of that form."""
    names = argv[0::2]
    if len(argv) % 2 or len(set(names)) != len(names) or not set(names) <= set(FLAGS.values()):
        return None
    setting = {flag: key for key, flag in FLAGS.items()}
    return {setting[flag]: value for flag, value in zip(names, argv[1::2], strict=True)}
