"""Many builds at once, and many one after another, through one loopback builder: the
real sshd from our rendered config, the gate, the stand-in runner and the real Nix.

A Nix host starts as many build-hook sessions at once as its machines line's max-jobs
allows, and a shared builder serves several hosts. Even rounds start with no shared
connection (the builds race to become its master, each loser opening a TCP connection
of its own); odd rounds find one up and multiplex over it."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loadkit import (
    build,
    close_shared_connection,
    darwin_derivation,
    open_fds,
    process_tree,
    store_figures,
    together,
)

from darling_nix import loopback
from darling_nix.loopback import Client, LoopbackBuilder
from darling_nix.sshd import generate_key

pytestmark = [pytest.mark.integration, pytest.mark.load, pytest.mark.usefixtures("integration")]

MAX_JOBS = 16
ROUNDS = 5
SOAK_BUILDS = 300
SOAK_CHECKPOINTS = 3

Report = Callable[[str], None]


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Report:
    """Print figures into the test log even when pytest captures output."""
    def write(line: str) -> None:
        with capsys.disabled():
            print(f"\n    {line}", end="")
    return write


@pytest.fixture(scope="module")
def two_clients(standin_tarball: tuple[Path, str]
                ) -> Iterator[tuple[LoopbackBuilder, list[Client]]]:
    """A builder with nix.max_jobs 16 and two authorized hosts: two keys, two aliases,
    two control directories; its sshd running."""
    root = loopback.secure_tempdir("load")
    second_key = root / "host-b" / "client_ed25519_key"
    generate_key(second_key)
    builder = loopback.create(root, lambda line: None, tarball=standin_tarball, overrides={
        "nix": {"max_jobs": MAX_JOBS},
        "ssh": {"authorized_keys_files": [f"{second_key}.pub"]}})
    clients = [builder.client, builder.another_client("b", client_identity=str(second_key))]
    with builder.sshd():
        yield builder, clients
    loopback.remove(root)


def connections_accepted(builder: LoopbackBuilder) -> int:
    return (builder.root / "sshd.log").read_text().count("Accepted publickey")


def run_rounds(builder: LoopbackBuilder, clients: list[Client], per_client: int,
               tmp_path: Path, report: Report) -> None:
    failures = []
    for number in range(ROUNDS):
        if number % 2 == 0:
            for client in clients:
                close_shared_connection(client)
        tag = time.time_ns()
        jobs = [(client, index) for client in clients for index in range(per_client)]
        accepted = connections_accepted(builder)
        started = time.monotonic()
        results = together([
            functools.partial(build, client, tmp_path / f"{number}-{client.alias}-{index}",
                              darwin_derivation(f"load-{index}", f"/bin/sleep 2; echo {tag} "
                                                                 f"{client.alias} {index} > $out"))
            for client, index in jobs])
        wall = time.monotonic() - started
        failed = [result.stderr.strip()[-300:] for result in results if result.returncode]
        report(f"round {number + 1}/{ROUNDS} ({'cold' if number % 2 == 0 else 'warm'}): "
               f"{len(jobs) - len(failed)}/{len(jobs)} built in {wall:.1f} s over "
               f"{connections_accepted(builder) - accepted} new connections")
        failures += failed
        for (client, index), result in zip(jobs, results, strict=True):
            if result.returncode:
                continue
            output = result.stdout.strip()
            expected = f"{tag} {client.alias} {index}\n"
            assert Path(output).read_text() == expected  # copied back to the host store
            in_prefix = builder.config.prefix_path / "nix" / "store" / Path(output).name
            assert in_prefix.read_text() == expected  # built in the prefix
    assert failures == []


def test_max_jobs_builds_at_once(two_clients: tuple[LoopbackBuilder, list[Client]],
                                 tmp_path: Path, report: Report) -> None:
    """The issue's case: 16 builds started together with nix.max_jobs 16."""
    builder, clients = two_clients
    run_rounds(builder, clients[:1], MAX_JOBS, tmp_path, report)


def test_twice_max_jobs_from_each_of_two_clients(
        two_clients: tuple[LoopbackBuilder, list[Client]], tmp_path: Path,
        report: Report) -> None:
    """2 x max_jobs builds from each of two hosts at the same instant: each host runs
    max_jobs at once (its build hook postpones the rest until a slot frees)."""
    builder, clients = two_clients
    run_rounds(builder, clients, 2 * MAX_JOBS, tmp_path, report)


def chain(length: int, tag: str) -> str:
    """LENGTH derivations, each reading the one before: built strictly one after another,
    each through its own session, the input already in the prefix."""
    steps = [f'step0 = {darwin_derivation("soak-0", f"echo {tag} 0 > $out")};']
    for index in range(1, length):
        script = f"read x < ${{step{index - 1}}}; echo $x {index} > $out"
        steps.append(f"step{index} = {darwin_derivation(f'soak-{index}', script)};")
    return "let\n" + "\n".join(steps) + f"\nin step{length - 1}\n"


def test_soak_sequential_builds_leave_nothing_behind(builder: LoopbackBuilder,
                                                     tmp_path: Path, report: Report) -> None:
    """300 builds one after another: the builder's processes and open files and the
    prefix store grow by nothing but the outputs."""
    with builder.sshd() as server:
        assert server.process is not None
        soak(builder, server.process.pid, tmp_path, report)


def soak(builder: LoopbackBuilder, sshd: int, tmp_path: Path, report: Report) -> None:
    store = builder.config.prefix_path / "nix" / "store"
    # A new derivation, so that it is built here and the shared connection comes up.
    warm = build(builder.client, tmp_path / "warm",
                 darwin_derivation("warm", f"echo {time.time_ns()} > $out"))
    assert warm.returncode == 0, warm.stderr

    def figures() -> tuple[int, int]:
        tree = process_tree(sshd)
        return len(tree), open_fds(tree)

    processes, fds = figures()
    before = store_figures(store)
    report(f"soak start: {processes} builder processes, {fds} open fds, "
           f"{len(before.entries)} store entries, {before.size} bytes")
    tag, per_chain, started = str(time.time_ns()), SOAK_BUILDS // SOAK_CHECKPOINTS, time.monotonic()
    for checkpoint in range(1, SOAK_CHECKPOINTS + 1):
        result = build(builder.client, tmp_path / f"chain{checkpoint}",
                       chain(per_chain, f"{tag}-{checkpoint}"))
        assert result.returncode == 0, result.stderr[-2000:]
        now = store_figures(store)
        new = now.entries - before.entries
        outputs = {name for name in new if "-soak-" in name}
        output_bytes = sum((store / name).stat().st_size for name in outputs)
        processes_now, fds_now = figures()
        report(f"after {checkpoint * per_chain} builds ({time.monotonic() - started:.0f} s): "
               f"{processes_now} processes, {fds_now} fds, store +{len(new)} entries "
               f"({len(outputs)} outputs), +{now.size - before.size} bytes "
               f"({output_bytes} of them outputs)")
        assert (processes_now, fds_now) == (processes, fds)
        assert new == outputs and len(outputs) == checkpoint * per_chain
        assert now.size - before.size == output_bytes
