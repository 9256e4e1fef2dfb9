"""The flake's VM tests evaluated, not only listed: vm-tests/default.nix through the
flake's checks with the stub pkgs (tests/nix/vm-tests-eval.nix), every node through
this flake's modules. Skipped, saying why, without NIXPKGS_LIB / NIXPKGS."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from nix_support import instantiate

VM_TESTS = Path(__file__).resolve().parents[2] / "vm-tests"
HERE = Path(__file__).resolve().parent
TESTS = {"builder-standin": ["builder", "client"], "darling-smoke": ["machine"],
         "nix-in-darling": ["machine"], "darling-builder": ["builder"]}
ETC_FILE = re.compile(r"/etc/darling-vm-test/([A-Za-z0-9._-]+)")


@pytest.fixture(scope="module")
def vm_tests(nix_lib: Path) -> dict[str, Any]:
    result = instantiate(HERE / "vm-tests-eval.nix", {"lib": f"import {nix_lib}"})
    if result.returncode != 0:
        raise AssertionError(f"evaluation failed:\n{result.stderr}")
    evaluated: dict[str, Any] = json.loads(result.stdout)
    return evaluated


def test_every_check_and_node_evaluates_cleanly(vm_tests: dict[str, Any]) -> None:
    tests = {name: test for name, test in vm_tests.items() if name != "regress"}
    assert {name: sorted(test["nodes"]) for name, test in tests.items()} == TESTS
    for name, test in tests.items():
        for node, config in test["nodes"].items():
            assert (config["failedAssertions"], config["warnings"]) == ([], []), (name, node)
    assert vm_tests["regress"].endswith("-darling-nix-regress-0-unstable-2024-02-03")


@pytest.mark.parametrize("name", TESTS)
def test_the_driver_runs_common_then_the_tests_own_script(name: str,
                                                           vm_tests: dict[str, Any]) -> None:
    expected = (VM_TESTS / "common.py").read_text() + (VM_TESTS / f"{name}.py").read_text()
    assert vm_tests[name]["testScript"] == expected


@pytest.mark.parametrize("name", TESTS)
def test_the_files_a_script_reads_are_on_its_nodes(name: str, vm_tests: dict[str, Any]) -> None:
    test = vm_tests[name]
    wanted = set(ETC_FILE.findall(test["testScript"]))
    assert wanted, name
    present = {key.removeprefix("darling-vm-test/") for node in test["nodes"].values()
               for key in node["etc"]}
    assert wanted <= present, (name, wanted - present)


def test_darling_or_the_stand_in(vm_tests: dict[str, Any]) -> None:
    standin = vm_tests["builder-standin"]["nodes"]["builder"]
    assert standin["builder"]["runner"] == "namespace" and not standin["darling"]
    assert standin["builder"]["tarball"].endswith("-x86_64-darwin-standin.tar")
    assert standin["builder"]["config"]["runner"]["kind"] == "namespace"
    for name in ("darling-builder", "nix-in-darling"):
        (node,) = vm_tests[name]["nodes"].values()
        assert node["darling"] and node["builder"]["runner"] == "darling"
        assert node["builder"]["tarball"].endswith("-nix-2.35.1-x86_64-darwin.tar.xz")
    assert vm_tests["darling-smoke"]["nodes"]["machine"]["darling"]


def test_nix_in_darling_runs_the_packages_regress_programs(vm_tests: dict[str, Any]) -> None:
    etc = vm_tests["nix-in-darling"]["nodes"]["machine"]["etc"]
    assert etc["darling-vm-test/regress"] == vm_tests["regress"]
