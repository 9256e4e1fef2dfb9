"""`darling-nix verify`: is the Nix inside the prefix whole and set up as configured?

Everything but the database check runs inside the prefix through the runner, so it
sees what a build sees. A check whose prerequisite failed is skipped with that reason.
"""

from __future__ import annotations

import json
import shlex
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .checks import Check, CheckFailed, Checklist
from .hostnix import write_probe_expression
from .models import BuilderConfig
from .render import nix_settings
from .runner import PROFILE_BIN, Runner
from .triage import Triage

# One of each group must be in the profile: the store tool, the daemon, a build front end.
REQUIRED_BINARIES = (("nix-store",), ("nix-daemon",), ("nix-build", "nix"))
SETTINGS_THAT_MATTER = ("sandbox", "build-users-group", "system", "max-jobs")
NIX_COMMAND = ("nix", "--extra-experimental-features", "nix-command")
# Fixed script; the names arrive as parameters. Prints the ones that are not executable.
_MISSING_SCRIPT = 'dir=$1; shift; for n; do [ -x "$dir/$n" ] || echo "$n"; done'
# Progress lines of `nix-store --verify`; anything else it prints is a problem it found.
_VERIFY_PROGRESS = ("reading the Nix store", "checking ")


def database_path(prefix: Path) -> Path:
    return prefix / "nix" / "var" / "nix" / "db" / "db.sqlite"


def database_integrity(path: Path) -> str:
    """SQLite's own integrity check, read-only so a running Nix is not disturbed."""
    if not path.is_file():
        raise CheckFailed(f"{path} does not exist", "run `darling-nix install-nix`")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
            rows = [row[0] for row in db.execute("PRAGMA integrity_check")]
            valid = db.execute("SELECT count(*) FROM ValidPaths").fetchone()[0]
    except sqlite3.Error as error:
        raise CheckFailed(f"{path}: {error}", "the store database is damaged; reinstall "
                                              "the prefix's Nix (install-nix --force) "
                                              "or restore it") from None
    if rows != ["ok"]:
        problems = "; ".join(rows).replace("\n", "; ")
        raise CheckFailed(f"{path}: {problems[:500]}", "the store database is damaged")
    return f"integrity ok, {valid} valid paths ({path})"


def parse_settings(text: str) -> dict[str, str]:
    """`name = value` lines of `nix show-config` / `nix config show`."""
    settings = {}
    for line in text.splitlines():
        name, equals, value = line.partition(" = ")
        if equals:
            settings[name.strip()] = value.strip()
    return settings


class Verifier(Checklist):
    def __init__(self, config: BuilderConfig, runner: Runner, *, check_contents: bool = False,
                 timeout: float = 300) -> None:
        super().__init__()
        self.config, self.runner = config, runner
        self.check_contents, self.timeout = check_contents, timeout
        self.system = config.nix.systems[0]
        self.triage = Triage()

    def inside(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """Run ARGV in the prefix, capture its output and scan it for Darling's complaints."""
        where = shlex.join(argv)
        try:
            result = self.runner.run(argv, capture=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"`{where}` did not finish in {self.timeout:.0f} s") from None
        stdout = result.stdout.decode(errors="replace")
        stderr = result.stderr.decode(errors="replace")
        self.triage.feed_text(stdout + "\n" + stderr, where)
        return subprocess.CompletedProcess(result.args, result.returncode, stdout, stderr)

    def inside_ok(self, argv: Sequence[str], hint: str = "") -> str:
        result = self.inside(argv)
        if result.returncode != 0:
            raise CheckFailed(f"`{shlex.join(argv)}` exit {result.returncode}: "
                              f"{result.stderr.strip()[-500:]}", hint)
        return result.stdout

    def binaries(self) -> str:
        names = [name for group in REQUIRED_BINARIES for name in group]
        missing = set(self.inside_ok(["/bin/sh", "-c", _MISSING_SCRIPT, "sh", PROFILE_BIN,
                                      *names]).split())
        lacking = [" or ".join(g) for g in REQUIRED_BINARIES if all(n in missing for n in g)]
        if lacking:
            raise CheckFailed(f"{PROFILE_BIN} lacks {', '.join(lacking)}",
                              "reinstall Nix into the prefix: darling-nix install-nix --force")
        return f"{', '.join(n for n in names if n not in missing)} in {PROFILE_BIN}"

    def version(self) -> str:
        text = self.inside_ok(["nix-store", "--version"]).strip()
        if "Nix" not in text:
            raise CheckFailed(f"unexpected answer {text!r}")
        return text

    def settings(self) -> str:
        # `nix show-config` became `nix config show` (Nix 2.20); ask the new form first.
        result = self.inside([*NIX_COMMAND, "config", "show"])
        command = "nix config show"
        if result.returncode != 0:
            command = "nix show-config"
            result = self.inside([*NIX_COMMAND, "show-config"])
        if result.returncode != 0:
            raise CheckFailed(f"`{command}` exit {result.returncode}: "
                              f"{result.stderr.strip()[-300:]}")
        effective = parse_settings(result.stdout)
        wanted = nix_settings(self.config)
        shown = [f"{name} = {effective.get(name, '(unset)')}" for name in SETTINGS_THAT_MATTER]
        wrong = [f"{name} is {effective.get(name, '(unset)')!r}, the config says "
                 f"{wanted[name]!r}" for name in SETTINGS_THAT_MATTER
                 if effective.get(name) != wanted[name]]
        if wrong:
            raise CheckFailed("; ".join(wrong), "rewrite the prefix's nix.conf: darling-nix "
                                                "prefix init")
        return f"{', '.join(shown)} ({command})"

    def current_system(self) -> str:
        answer = self.inside_ok(["nix-instantiate", "--eval", "-E", "builtins.currentSystem"])
        system = str(json.loads(answer.strip()))
        if system != self.system:
            raise CheckFailed(f"builtins.currentSystem is {system!r}, expected {self.system!r}",
                              f"set `system = {self.system}` in the prefix's nix.conf "
                              "(darling-nix prefix init)")
        return system

    def store(self) -> str:
        argv = ["nix-store", "--verify", *(["--check-contents"] if self.check_contents else [])]
        result = self.inside(argv)
        problems = [line for line in result.stderr.splitlines()
                    if line.strip() and not line.startswith(_VERIFY_PROGRESS)]
        if result.returncode != 0 or problems:
            raise CheckFailed(f"`{shlex.join(argv)}` exit {result.returncode}: "
                              + "; ".join(problems[:5])[-500:],
                              "`darling-nix exec -- nix-store --verify --check-contents "
                              "--repair` may fix it")
        return "contents match their hashes" if self.check_contents else \
            "every registered path exists"

    def build(self) -> str:
        with tempfile.TemporaryDirectory() as work:
            written = write_probe_expression(Path(work), self.system, str(time.time_ns()))
            # One line, so the command reads well in a failure's detail.
            expression = " ".join(written.read_text().split())
        output = self.inside_ok(["nix-build", "--no-out-link", "-E", expression],
                                "see `darling-nix exec -- nix-build ...` for the log")
        path = output.strip().splitlines()[-1] if output.strip() else ""
        host_copy = self.config.prefix_path / path.lstrip("/")
        if not path.startswith("/nix/store/") or not host_copy.is_file():
            raise CheckFailed(f"nix-build printed {output.strip()!r}, not an output in the "
                              "prefix's store")
        return f"{path}: {host_copy.read_text().strip()}"

    def darling_messages(self) -> str:
        findings = self.triage.findings()
        if findings:
            raise CheckFailed("; ".join(f"{f.kind} {f.what} x{f.count} (first in `{f.first}`)"
                                        for f in findings[:5]),
                              "see docs/operating.md (triage) and the patches for Darling")
        return "no unimplemented syscalls, stubs or 'not implemented' messages"

    def run(self) -> list[Check]:
        self.record("nix binaries", needs=(), run=self.binaries)
        self.record("nix version", needs=("nix binaries",), run=self.version)
        self.record("nix.conf values", needs=("nix version",), run=self.settings)
        self.record("current system", needs=("nix version",), run=self.current_system)
        self.record("store paths", needs=("nix version",), run=self.store)
        database = database_path(self.config.prefix_path)
        self.record("store database", needs=(), run=lambda: database_integrity(database))
        self.record("trivial build", needs=("nix version", "current system"), run=self.build)
        self.record("darling messages", needs=(), run=self.darling_messages)
        return self.checks
