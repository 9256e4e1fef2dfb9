"""Static checks of the NixOS VM tests in vm-tests/ (the tier that needs KVM).

The VM tests themselves need KVM and network (`nix flake check` on such a host);
here they are only checked: every .nix file parses, every testScript is plain
Python that pyflakes accepts with the names the nixos-test-driver defines, each
test's script files exist, and vm-tests/default.nix lists every test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

VM_TESTS = Path(__file__).resolve().parents[2] / "vm-tests"
TESTS = ("builder-standin", "darling-smoke", "nix-in-darling", "darling-builder")

# What nixpkgs' test driver puts into a testScript's globals (Driver.test_symbols in
# nixos/lib/test-driver/src/test_driver/driver.py), over the versions around 26.05:
# newer drivers have machines_qemu/machines_nspawn/BaseMachine, older ones machines/Machine.
# Node names (and `machine` when there is exactly one node) and vlanN are added per test.
DRIVER_NAMES = (
    "start_all", "test_script", "machines", "machines_qemu", "machines_nspawn", "vlans",
    "driver", "log", "os", "create_machine", "subtest", "run_tests", "join_all", "retry",
    "serial_stdout_off", "serial_stdout_on", "polling_condition", "Machine", "BaseMachine",
    "t", "debug",
)

_READ_FILE = re.compile(r"builtins\.readFile\s+\./([A-Za-z0-9_.-]+\.py)")
_TEST_SCRIPT = re.compile(r"^\s*testScript\s*=(?P<value>[^;]*);", re.MULTILINE)
_NODE = re.compile(r"^\s*nodes\.([A-Za-z_][A-Za-z0-9_-]*)\s*=", re.MULTILINE)


def nix_file(name: str) -> Path:
    return VM_TESTS / f"{name}.nix"


def script_files(name: str) -> list[Path]:
    """The files `testScript = builtins.readFile ./a.py + ...;` concatenates, in order."""
    text = nix_file(name).read_text()
    match = _TEST_SCRIPT.search(text)
    assert match, f"{nix_file(name)} has no `testScript = ...;`"
    files = _READ_FILE.findall(match.group("value"))
    assert files, f"{nix_file(name)}: testScript must be `builtins.readFile ./<file>.py` " \
                  f"(+ more), got {match.group('value').strip()!r}"
    return [VM_TESTS / f for f in files]


def script_source(name: str) -> str:
    return "".join(path.read_text() for path in script_files(name))


def node_names(name: str) -> list[str]:
    """The nodes of a test, as the driver names them (pythonize_name; `machine` if alone)."""
    nodes = sorted(set(_NODE.findall(nix_file(name).read_text())))
    assert nodes, f"{nix_file(name)}: no `nodes.<name> = ...`"
    names = [re.sub(r"^[^A-Za-z_]|[^A-Za-z0-9_]", "_", n) for n in nodes]
    if len(names) == 1 and names != ["machine"]:
        names.append("machine")
    return names


def pyflakes(source: str, names: list[str]) -> subprocess.CompletedProcess[str]:
    """pyflakes on SOURCE as the driver's lint step runs it: PYFLAKES_BUILTINS holds the
    driver's names (read when pyflakes is imported, hence a fresh interpreter)."""
    env = {**os.environ, "PYFLAKES_BUILTINS": ",".join(names)}
    code = ("import sys\n"
            "from pyflakes import api, reporter\n"
            "sys.exit(api.check(sys.stdin.read(), 'testScript',"
            " reporter.Reporter(sys.stdout, sys.stdout)))\n")
    return subprocess.run([sys.executable, "-c", code], input=source, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def driver_names(name: str) -> list[str]:
    return [*DRIVER_NAMES, *node_names(name)]


# (1) every vm-tests/*.nix parses

@pytest.mark.parametrize("path", sorted(VM_TESTS.glob("*.nix")), ids=lambda p: p.name)
def test_nix_file_parses(path: Path) -> None:
    nix_instantiate = shutil.which("nix-instantiate")
    if nix_instantiate is None:
        pytest.skip("nix-instantiate is not installed (Debian: nix-bin)")
    result = subprocess.run([nix_instantiate, "--parse", str(path)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


# (2) every testScript is plain Python that pyflakes accepts with the driver's names

@pytest.mark.parametrize("name", TESTS)
def test_test_script_passes_pyflakes(name: str) -> None:
    source = script_source(name)
    compile(source, f"{name} testScript", "exec")
    result = pyflakes(source, driver_names(name))
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_pyflakes_reports_an_undefined_name() -> None:
    """Negative control: a typo in a node name must fail the check above."""
    source = script_source("darling-builder").replace(
        "builder.wait_for_unit(", "buidler.wait_for_unit(", 1)
    assert "buidler" in source
    result = pyflakes(source, driver_names("darling-builder"))
    assert result.returncode != 0
    assert "undefined name 'buidler'" in result.stdout


def test_pyflakes_reports_a_node_of_another_test() -> None:
    """Negative control: node names are per test (darling-smoke has only `machine`)."""
    source = script_source("darling-smoke") + "client.succeed('true')\n"
    result = pyflakes(source, driver_names("darling-smoke"))
    assert "undefined name 'client'" in result.stdout


def test_pyflakes_sees_the_driver_names() -> None:
    """Positive control: the driver's names are defined only through PYFLAKES_BUILTINS."""
    source = "start_all()\nwith subtest('x'):\n    retry(lambda last: True)\n"
    assert pyflakes(source, list(DRIVER_NAMES)).returncode == 0
    assert "undefined name 'start_all'" in pyflakes(source, []).stdout


def test_node_names_follow_the_driver() -> None:
    assert node_names("builder-standin") == ["builder", "client"]
    assert node_names("darling-smoke") == ["machine"]
    assert node_names("darling-builder") == ["builder", "machine"]


# (3) each vm-tests/<name>.nix reads its own testScript file, and the files exist

@pytest.mark.parametrize("name", TESTS)
def test_nix_file_reads_its_script(name: str) -> None:
    files = script_files(name)
    assert VM_TESTS / f"{name}.py" in files, f"{name}.nix does not read ./{name}.py"
    for path in files:
        assert path.is_file(), f"{name}.nix reads ./{path.name}, which does not exist"


def test_every_script_belongs_to_a_test() -> None:
    read = {path for name in TESTS for path in script_files(name)}
    assert set(VM_TESTS.glob("*.py")) == read


# (4) vm-tests/default.nix lists all four tests

def test_default_lists_every_test() -> None:
    text = (VM_TESTS / "default.nix").read_text()
    listed = dict(re.findall(r"^\s*([A-Za-z0-9_-]+)\s*=\s*run\s+\./([A-Za-z0-9_-]+)\.nix\s*;",
                             text, re.MULTILINE))
    assert listed == {name: name for name in TESTS}
    assert "pkgs.testers.runNixOSTest" in text
    for name in TESTS:
        assert nix_file(name).is_file()
