"""What Nix 2.26 adds inside the real Darling: the x86_64-darwin Nix that `darling-nix darling
nix --nix 2.26` builds with meson and the C++20 toolchain (zig's clang and libc++), installed
by `install-nix` into a loopback builder whose runner is Darling. (Everything
test_nix_darwin.py checks runs on it too: its builder is parametrized over both Nixes.)

Like test_nix_darwin.py, these run when the tarball is in the cache (.ci/run builds it
first) or DARLING_NIX_BUILD_NIX=1 asks for it (about 25 minutes on 2 cores), and skip
visibly otherwise (in CI a skip fails the run)."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_nix_darwin import answer, build, darwin_builder

from darling_nix import loopback
from darling_nix.darling import nix as nix_tarball
from darling_nix.darling.build import Installed
from darling_nix.hostnix import HostClient
from darling_nix.runner import path_inside

NIX_COMMAND = ("--extra-experimental-features", "nix-command")


@pytest.fixture(scope="module")
def builder_226(darling_install: Installed,
                darwin_nix_226: nix_tarball.NixTarball) -> Iterator[loopback.LoopbackBuilder]:
    yield from darwin_builder(darling_install, darwin_nix_226)


@pytest.mark.parametrize(("argv", "expected"), [
    (["nix", *NIX_COMMAND, "eval", "--expr", "builtins.fromTOML \"a = [ 1, 2 ]\""], "{ a = [ 1 2 ]; }"),
    (["nix", *NIX_COMMAND, "eval", "--raw", "--expr",
      "builtins.hashString \"sha256\" \"darling\""],
     hashlib.sha256(b"darling").hexdigest()),
])
def test_nix_226_answers_inside_darling(builder_226: loopback.LoopbackBuilder,
                                        darling_install: Installed, argv: list[str],
                                        expected: str) -> None:
    assert answer(builder_226, darling_install, *argv).strip() == expected


def test_the_store_verifies_with_nix_226(builder_226: loopback.LoopbackBuilder,
                                         darling_install: Installed,
                                         darwin_nix_226: nix_tarball.NixTarball) -> None:
    answer(builder_226, darling_install, "nix", *NIX_COMMAND, "store", "verify", "--all",
           "--no-trust")
    listed = answer(builder_226, darling_install, "nix-store", "--query", "--requisites",
                    darwin_nix_226.store_path)
    assert listed.split() == [darwin_nix_226.store_path]


# __structuredAttrs: the builder gets its attributes as JSON (Darling's bash 3.2 cannot read
# .attrs.sh's associative arrays); the output names a store path it may or may not refer to.
DISCARD_EXPRESSION = """let dep = builtins.toFile "darling-nix-dep" "a dependency @NONCE@"; in
derivation {
  name = "darling-nix-discard";
  system = "x86_64-darwin";
  builder = "/bin/sh";
  __structuredAttrs = true;
  @DISCARD@
  args = [ "-c" ''
    out=$(/usr/bin/sed -n 's/.*"out":"\\([^"]*\\)".*/\\1/p' "$NIX_ATTRS_JSON_FILE")
    echo "uname $(/usr/bin/uname -s) refers to ${dep}" > "$out"
  '' ];
}
"""


@pytest.mark.parametrize("discard", [True, False])
def test_unsafe_discard_references_with_structured_attrs_on_nix_226(
        builder_226: loopback.LoopbackBuilder, tmp_path: Path, discard: bool,
        host_client: HostClient) -> None:
    """Current nixpkgs relies on it; Nix 2.8 ignores the attribute. The same derivation
    without it keeps the reference, so the check could fail. Sent by either host Nix."""
    text = DISCARD_EXPRESSION.replace("@NONCE@", uuid.uuid4().hex).replace(
        "@DISCARD@", "unsafeDiscardReferences.out = true;" if discard else "")
    out = build(builder_226, tmp_path, text, client=host_client)
    content = out.read_text()
    assert content.startswith("uname Darwin refers to /nix/store/"), content
    dep = content.split()[-1]
    references = subprocess.run([host_client.program("nix-store"), *host_client.store_args(),
                                 "--query", "--references", f"/nix/store/{out.name}"],
                                capture_output=True, text=True, check=True).stdout.split()
    assert references == ([] if discard else [dep])


def test_fetch_git_reads_a_local_repository_through_libgit2(builder_226: loopback.LoopbackBuilder,
                                                            darling_install: Installed,
                                                            tmp_path: Path) -> None:
    """libgit2 (cross-built here) at work under Darling: a repository made on the host."""
    repo = tmp_path / "repo"
    repo.mkdir()
    nonce = uuid.uuid4().hex
    (repo / "hello.txt").write_text(f"from git {nonce}\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for args in (["init", "-q"], ["add", "hello.txt"], ["commit", "-q", "-m", "one"]):
        subprocess.run([*git, *args], check=True)
    fetched = f'builtins.fetchGit {{ url = "file://{path_inside(repo)}"; }}'
    read = answer(builder_226, darling_install, "nix", *NIX_COMMAND, "eval", "--impure", "--raw",
                  "--expr", f'builtins.readFile "${{{fetched}}}/hello.txt"')
    assert read == f"from git {nonce}\n"
