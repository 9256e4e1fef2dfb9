"""build: a darwin derivation built in the prefix without SSH, outputs back on the host."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from darling_nix import loopback

pytestmark = pytest.mark.integration


def derivation(name: str, script: str) -> str:
    return (f'derivation {{ name = "{name}"; system = "x86_64-darwin"; builder = "/bin/sh"; '
            f'args = [ "-c" "{script}" ]; nonce = "{time.time_ns()}"; }}')


def build(cli: Any, builder: loopback.LoopbackBuilder,
          *args: str) -> tuple[int, str, str]:
    result = cli("build", "--config", str(builder.config_file), *args)
    return result.returncode, result.stdout, result.stderr


def test_expression_builds_inside_and_comes_back(cli: Any,
                                                 builder: loopback.LoopbackBuilder) -> None:
    dependency = derivation("dep", "echo dependency > $out")
    expression = (f'let dep = {dependency}; in derivation {{ name = "top"; '
                  'system = "x86_64-darwin"; builder = "/bin/sh"; '
                  'args = [ "-c" "echo building top; read x < ${dep}; echo $x > $out" ]; }')
    code, stdout, stderr = build(cli, builder, "--expr", expression)
    assert code == 0, stderr
    (output,) = stdout.split()
    assert Path(output).read_text() == "dependency\n"  # valid in the host store
    assert (builder.config.prefix_path / output.lstrip("/")).exists()  # built in the prefix
    assert "building top" in stderr
    assert "copied 1 store paths back" in stderr


def test_drv_path_and_nothing_copied_twice(cli: Any, builder: loopback.LoopbackBuilder,
                                           tmp_path: Path) -> None:
    expression = tmp_path / "d.nix"
    expression.write_text(derivation("by-drv", "echo by-drv > $out"))
    drv = subprocess.run(["nix-instantiate", str(expression)], capture_output=True, text=True,
                         check=True).stdout.strip()
    code, first, stderr = build(cli, builder, drv)
    assert code == 0, stderr
    code, second, stderr = build(cli, builder, drv)
    assert code == 0, stderr
    assert first == second
    assert "copied 0 store paths into the prefix" in stderr


def test_failing_build_shows_the_log(cli: Any, builder: loopback.LoopbackBuilder) -> None:
    code, stdout, stderr = build(cli, builder, "--expr",
                                 derivation("fails", "echo the-builder-says-no; exit 3"))
    assert code == 1
    assert stdout == ""
    assert "the-builder-says-no" in stderr
    assert "failed with exit code 3" in stderr
    assert "in the prefix failed" in stderr


def test_missing_drv_is_bad_input(cli: Any, builder: loopback.LoopbackBuilder) -> None:
    missing = "/nix/store/00000000000000000000000000000000-missing.drv"
    code, stdout, stderr = build(cli, builder, missing)
    assert (code, stdout) == (2, "")
    assert f"derivation {missing} does not exist" in stderr


def test_not_a_drv_and_bad_expression_are_bad_input(cli: Any,
                                                    builder: loopback.LoopbackBuilder,
                                                    tmp_path: Path) -> None:
    code, _, stderr = build(cli, builder, str(tmp_path))
    assert code == 2 and "is not a derivation (.drv) path" in stderr
    code, _, stderr = build(cli, builder, "--expr", "derivation {")
    assert code == 2 and "the expression did not instantiate" in stderr
    code, _, stderr = build(cli, builder)
    assert code == 2 and "give either a .drv path or --expr" in stderr


def test_timeout(cli: Any, builder: loopback.LoopbackBuilder) -> None:
    started = time.monotonic()
    code, _, stderr = build(cli, builder, "--timeout", "1", "--expr",
                            derivation("slow", "/bin/sleep 30; echo > $out"))
    assert code == 1
    assert "timed out" in stderr
    assert time.monotonic() - started < 15
