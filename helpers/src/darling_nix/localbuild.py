"""`darling-nix build`: one derivation built in the prefix without SSH.

1. The derivation's closure (with outputs the host already has, so they are not rebuilt)
   goes from the host store into the prefix store: `nix-store --export` of the paths the
   prefix lacks, piped into `nix-store --import` run through the runner.
2. `nix-store --realise DRV` runs inside; its log is streamed line by line.
3. The outputs' closure comes back the same way: export inside, import on the host.

Trust: `nix-store --import` does not check signatures when it opens the store itself
(root or the store's owner; Nix 2.8 and later import with NoCheckSigs), so no key is
needed on either side. The host thereby trusts whatever the prefix built, exactly as it
trusts a remote builder. A user who reaches the host store through the daemon must be a
trusted-user, or the daemon refuses unsigned paths.
"""

from __future__ import annotations

import collections
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import procstream
from .runner import Runner

LogSink = Callable[[str], None]


class BuildInputError(ValueError):
    """The derivation or expression given does not exist or does not evaluate."""


class BuildStepFailed(RuntimeError):
    """Copying into or out of the prefix failed."""


@dataclass(frozen=True)
class BuildResult:
    status: str  # pass | fail | timeout
    outputs: list[str]
    returncode: int
    log_tail: list[str]


# A command and its environment: on the host (None: ours) or through the runner.
Side = tuple[list[str], dict[str, str] | None]
SideOf = Callable[[Sequence[str]], Side]


def _on_host(argv: Sequence[str]) -> Side:
    return list(argv), None


def _in_prefix(runner: Runner) -> SideOf:
    return lambda argv: (runner.command(argv), runner.environment())


def _capture(side: Side, what: str, error: type[Exception] = BuildStepFailed) -> str:
    result = subprocess.run(side[0], env=side[1], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise error(f"{what}: {result.stderr.strip()[-2000:]}")
    return result.stdout


def instantiate(expression: str) -> str:
    """The .drv path of EXPRESSION (Nix code), instantiated in the host store."""
    lines = _capture(_on_host(["nix-instantiate", "--expr", expression]),
                     "the expression did not instantiate", BuildInputError).split()
    if len(lines) != 1:
        raise BuildInputError(f"the expression gave {len(lines)} derivations; expected one")
    return lines[0]


def instantiate_flake(reference: str, system: str) -> str:
    """The .drv path of a flake output such as `nixpkgs#hello`, evaluated for SYSTEM (the
    `system` setting picks `packages.<system>`/`legacyPackages.<system>`)."""
    argv = ["nix", "--extra-experimental-features", "nix-command flakes", "eval", "--raw",
            "--system", system, f"{reference}.drvPath"]
    return _capture(_on_host(argv), f"{reference} did not evaluate", BuildInputError).strip()


def check_derivation(drv: str) -> str:
    """DRV as an absolute store path of a valid derivation in the host store."""
    path = Path(drv).absolute()
    if not path.name.endswith(".drv"):
        raise BuildInputError(f"{drv} is not a derivation (.drv) path")
    if not path.exists():
        raise BuildInputError(f"derivation {path} does not exist")
    _capture(_on_host(["nix-store", "--check-validity", str(path)]),
             f"{path} is not a valid path in the host store", BuildInputError)
    return str(path)


def _copy(closure: list[str], source: SideOf, destination: SideOf, what: str) -> int:
    """Export from SOURCE the paths of CLOSURE that DESTINATION lacks, import them there."""
    missing = _capture(destination(["nix-store", "--check-validity", "--print-invalid",
                                    *closure]), f"{what}: listing the missing paths").split()
    if not missing:
        return 0
    export_argv, export_env = source(["nix-store", "--export", *missing])
    # export's stderr goes to a file: a pipe read only after the import could fill and block
    with tempfile.TemporaryFile() as export_log:
        export = subprocess.Popen(export_argv, env=export_env, stdout=subprocess.PIPE,
                                  stderr=export_log)
        import_argv, import_env = destination(["nix-store", "--import"])
        imported = subprocess.run(import_argv, env=import_env, stdin=export.stdout,
                                  capture_output=True, check=False)
        assert export.stdout is not None
        export.stdout.close()
        export_failed = export.wait() != 0
        export_log.seek(0)
        export_error = export_log.read().decode(errors="replace")
    if export_failed or imported.returncode != 0:
        detail = export_error or imported.stderr.decode(errors="replace")
        raise BuildStepFailed(f"{what} failed: {detail.strip()[-2000:]}")
    return len(missing)


def copy_in(runner: Runner, drv: str) -> int:
    """Copy what DRV needs into the prefix; returns how many paths were copied."""
    closure = _capture(_on_host(["nix-store", "--query", "--requisites", "--include-outputs",
                                 drv]), f"querying the closure of {drv}").split()
    return _copy(closure, _on_host, _in_prefix(runner), "copying the inputs into the prefix")


def copy_out(runner: Runner, outputs: list[str]) -> int:
    """Copy OUTPUTS and their references from the prefix into the host store."""
    closure = _capture(_in_prefix(runner)(["nix-store", "--query", "--requisites", *outputs]),
                       "querying the outputs' closure in the prefix").split()
    return _copy(closure, _in_prefix(runner), _on_host,
                 "copying the outputs back into the host store")


def realise(runner: Runner, drv: str, log: LogSink, timeout: float | None = None,
            tail_lines: int = 30) -> BuildResult:
    """Build DRV inside the prefix (its inputs already there), streaming the log to LOG."""
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    stdout: list[str] = []

    def on_log(raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip("\n")
        tail.append(line)
        log(line)

    outcome = procstream.stream(
        runner.command(["nix-store", "--realise", drv, "--option", "substituters", ""]),
        runner.environment(), on_stdout=lambda raw: stdout.append(raw.decode().strip()),
        on_stderr=on_log, timeout=timeout)
    outputs = [line for line in stdout if line.startswith("/nix/store/")]
    if outcome.timed_out:
        status = "timeout"
    elif outcome.returncode == 0 and outputs:
        status = "pass"
    else:
        # No output paths is a failure too: upstream Darling reports 0 for a command killed
        # by a signal (our darling/0008 fixes that; a Darling without it may be in use).
        status = "fail"
    return BuildResult(status, outputs if status == "pass" else [], outcome.returncode,
                       list(tail))


def build(runner: Runner, drv: str, log: LogSink, timeout: float | None = None) -> BuildResult:
    """Copy in, realise, copy the outputs back; the outputs are then valid on the host."""
    copied = copy_in(runner, drv)
    log(f"darling-nix: copied {copied} store paths into the prefix")
    result = realise(runner, drv, log, timeout)
    if result.status == "pass":
        back = copy_out(runner, result.outputs)
        log(f"darling-nix: copied {back} store paths back into the host store")
    return result
