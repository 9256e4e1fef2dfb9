"""Commands a client may send that the gate must refuse, shared by the gate tests with the
stand-in runner and under the real Darling. `{run}` in a template is the attacker's
payload: `attack()` fills in a command that leaves a marker file if anything runs it."""

from __future__ import annotations

REFUSED_TEMPLATES = (
    "",
    "bash",
    "nix-daemon --stdio; {run}",
    "sh -c '{run}'",
    "nix-store --serve --write && {run}",
    "nix-store --version\n{run}",
    "nix-daemon  --stdio",  # not byte for byte an allowed command
    "nix-store --serve --write --x",  # an option the allowlist does not have
    "nix-store --gc",  # a Nix command the allowlist does not have
    "{run} " + "j" * 10240,
)


def attack(template: str, marker: str) -> str:
    """TEMPLATE with a payload that writes the file MARKER (a shell builtin and a redirection:
    no tool the prefix might lack)."""
    return template.replace("{run}", f"echo ran > {marker}")


def short_id(template: str | None) -> str:
    """A readable test id for a template (None: no command, an interactive session)."""
    if template is None:
        return "interactive"
    return repr(template if len(template) <= 40 else template[:37] + "...")
