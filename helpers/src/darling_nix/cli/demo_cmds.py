"""`darling-nix demo`: the main job end to end on loopback, with the stand-in runner, or
(`--darling`) on the real path: Darling, the darwin Nix, and GNU hello built inside it."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from .. import compat, doctor, loopback, stdenv_lite
from ..darling import build as darling_build
from ..darling import deps, sources, toolchain
from ..darling import nix as nix_tarball
from ..darling.cache import CacheLockError, default_cache
from ..darling.compiler import CompileError, DarwinCompiler
from ..hostnix import remote_build, remote_build_command, write_probe_expression
from ..runner import DarlingRunner
from ..sshd import SSHD
from .common import EXIT_FAILED, fail, report_checks
from .darling_cmds import Progress, darling_plan

HELLO_SECONDS = 3600  # a cold zig cache and about 2,000 processes under Darling: ~4 min here


def _step(text: str) -> None:
    typer.secho(f"==> {text}", bold=True)


def _detail(name: str, value: object) -> None:
    typer.echo(f"    {name:12} {value}")


def demo_command(
    keep: Annotated[bool, typer.Option("--keep", help="Leave the temporary builder's files "
                                       "in place for a look.")] = False,
    darling: Annotated[bool, typer.Option("--darling", help="The real path: Darling and the "
                                          "darwin Nix from the cache (built first when missing, "
                                          "about 30 minutes cold on 2 cores), then GNU hello "
                                          "built inside Darling and run.")] = False,
) -> None:
    """Set up a temporary darwin builder on 127.0.0.1, check it with doctor, build an
    x86_64-darwin derivation through it with the host's Nix, show where it was built, and
    clean up. Without --darling the runner is the stand-in for Darling and the derivation a
    one-line probe (seconds); with it, Darling itself and GNU hello 2.10."""
    if os.geteuid() != 0:
        fail("the demo needs root: it starts an sshd and mounts the prefix's store on /nix "
             "in a private mount namespace")
    for tool in ("nix-build", "nix-store", "ssh", "ssh-keygen", "unshare", SSHD):
        if shutil.which(tool) is None:
            fail(f"{tool} is missing; install Debian's nix-bin, openssh-server and "
                 "openssh-client (scripts/setup does)")
    root = loopback.secure_tempdir("demo")
    try:
        if darling:
            _darling_demo(root)
        else:
            _standin_demo(root)
    finally:
        if keep:
            typer.echo(f"kept {root}")
        else:
            loopback.remove(root)


def _checked(builder: loopback.LoopbackBuilder) -> None:
    _step(f"started the builder's sshd on 127.0.0.1:{builder.config.ssh.port} "
          "(ForceCommand: darling-nix gate)")
    report_checks(doctor.Doctor(doctor.Target.from_config(builder.config)).run(), as_json=False,
                  indent="    ")


def _in_prefix(builder: loopback.LoopbackBuilder, output: Path) -> None:
    """Shows that OUTPUT is in the builder's store, or fails: it was not built there."""
    in_prefix = builder.config.prefix_path / "nix" / "store" / output.name
    _detail("in prefix", f"{in_prefix.exists()} ({in_prefix})")
    if not in_prefix.exists():
        fail("the output is not in the prefix's store: it was not built there", EXIT_FAILED)


def _standin_demo(root: Path) -> None:
    builder = loopback.create(root, _step)
    with builder.sshd():
        _checked(builder)
        _step("building an x86_64-darwin derivation on the host with --max-jobs 0, "
              f"offloaded over {builder.config.nix.protocol}")
        with tempfile.TemporaryDirectory() as work:
            expression = write_probe_expression(Path(work), "x86_64-darwin", str(time.time_ns()))
            started = time.monotonic()
            result = remote_build(expression, builder.machines, builder.ssh_config)
            elapsed = time.monotonic() - started
        if result.returncode != 0:
            typer.echo(result.stderr, err=True)
            fail("the remote build failed", EXIT_FAILED)
        output = Path(result.stdout.strip().splitlines()[-1])
        _detail("output", output)
        _detail("content", output.read_text().strip())
        _in_prefix(builder, output)
        _detail("took", f"{elapsed:.2f} s")
    _step("done: the darwin-labelled derivation was built inside the prefix and "
          "copied back to the host store")


def _darwin_parts(cache: Path) -> tuple[darling_build.Installed, nix_tarball.NixTarball,
                                         stdenv_lite.Inputs]:
    """Darling, the darwin Nix and the lite stdenv's inputs, from the cache or built now."""
    say = _step
    _step(f"Darling, the darwin Nix and the lite darwin stdenv's inputs, from {cache} "
          "(each built or fetched first when missing)")
    try:
        plan = darling_plan(None, None, None, cache, "patched")
        if not (plan.install / "manifest.json").is_file():
            _step("Darling is not built yet: building it from source (15-20 minutes cold on "
                  "2 cores, a few with a warm ccache)")
        installed, _ = darling_build.build_darling(plan, say=say, progress=Progress())
        _detail("Darling", installed.install)
        compilers = DarwinCompiler.for_install(installed)
        cross = toolchain.in_cache(cache, installed, compilers)
        nix = nix_tarball.build_nix(cross, cache, say, compilers=compilers)
        _detail("darwin Nix", f"{nix.version} {nix.tarball}")
        inputs = stdenv_lite.gather(cross, cache, say)
    except (darling_build.BuildInputError, toolchain.ToolchainError, deps.DepInputError,
            CacheLockError) as error:
        fail(str(error))
    except (darling_build.BuildStepFailed, CompileError, deps.DepBuildFailed,
            sources.SourceUnavailable, compat.FetchError, OSError) as error:
        fail(str(error), EXIT_FAILED)
    _detail("zig", inputs.zig)
    _detail("make", inputs.make)
    _detail("hello", inputs.hello_source)
    return installed, nix, inputs


def _darling_demo(root: Path) -> None:
    installed, nix, inputs = _darwin_parts(default_cache())
    builder = loopback.create(root, _step, tarball=(Path(nix.tarball), nix.sha256),
                              overrides={"runner": {"kind": "darling",
                                                    "darling_command": installed.darling}})
    runner = DarlingRunner(builder.config.prefix_path, installed.darling)
    try:
        with builder.sshd():
            _checked(builder)
            _step("building GNU hello 2.10 for x86_64-darwin on the host with --max-jobs 0: "
                  "configure, make, make check and make install run inside Darling "
                  "(about 4 minutes on 2 cores)")
            started = time.monotonic()
            output = _build_showing_phases(builder, inputs.nix_args(str(time.time_ns())))
            elapsed = time.monotonic() - started
            report = stdenv_lite.read_report(output)
            _detail("output", output)
            _detail("built on", f"{report.uname} (uname -s, asked by the build itself)")
            _in_prefix(builder, output)
            _detail("phases", ", ".join(f"{name} {seconds:.0f} s"
                                        for name, seconds in report.phases.items()))
            _detail("cc retries", f"{report.cc_retries} (zig crashing under Darling)")
            _detail("took", f"{elapsed:.0f} s")
            greeted = runner.run([str(output / "bin" / "hello")], capture=True, timeout=120)
            greeting = greeted.stdout.decode(errors="replace").strip()
            _detail("runs", f"{output}/bin/hello under Darling: {greeting}")
            if report.uname != "Darwin" or greeting != "Hello, world!":
                fail("hello was not built on Darwin, or does not greet", EXIT_FAILED)
    finally:
        runner.stop()
    _step("done: GNU hello was configured, built and checked inside Darling by the darwin Nix, "
          "copied back to the host store, and runs")


def _build_showing_phases(builder: loopback.LoopbackBuilder, args: tuple[str, ...]) -> Path:
    """nix-build of the lite stdenv's hello through BUILDER, showing what it copies and
    builds and each phase the build enters; on failure, its last lines."""
    argv, env = remote_build_command(stdenv_lite.EXPRESSION, builder.machines,
                                     builder.ssh_config, args)
    last: collections.deque[str] = collections.deque(maxlen=40)
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as build:
        assert build.stderr is not None and build.stdout is not None
        limit = threading.Timer(HELLO_SECONDS, build.terminate)  # the gate ends the session
        limit.start()
        try:
            for line in build.stderr:
                last.append(line)
                if line.startswith(("==> ", "building '", "copying path '")):
                    typer.echo(f"    {line.rstrip()}")
            stdout = build.stdout.read()
            status = build.wait()
        finally:
            limit.cancel()
    if status != 0:
        typer.echo("".join(last), err=True)
        fail("the remote build of hello failed", EXIT_FAILED)
    return Path(stdout.strip().splitlines()[-1])
