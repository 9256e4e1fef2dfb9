"""The shims inside a real Darling prefix, under Darling's own /bin/sh (bash 3.2), installed
by `darling-nix prefix init` with the Darling runner; and what Darling's own libinfo
(getpwnam, getgrnam, getgrgid in the Mach-O accounts_probe.c) reads from the account files
that the shims and the host side write."""

from __future__ import annotations

import grp
import plistlib
import pwd
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from darling_support import build_probe, darling_config, missing_programs
from installer_calls import FIRST_UID, GID, GROUP, install
from shim_support import ACCOUNT_SHIMS, SHIMS, TOOLS

from darling_nix.darling.build import Installed
from darling_nix.darling.compiler import DarwinCompiler
from darling_nix.runner import DarlingRunner, path_inside

CliRunner = Callable[..., subprocess.CompletedProcess[str]]

# The builder account: an existing host user, so that `prefix init` adds it to the prefix.
BUILDER, BUILDER_GROUP = "nobody", "nogroup"


@dataclass(frozen=True)
class Initialised:
    config: Path
    runner: DarlingRunner
    init_output: str

    @property
    def prefix(self) -> Path:
        return Path(self.runner.prefix)


@pytest.fixture(scope="module")
def initialised(darling_install: Installed, cli: CliRunner) -> Iterator[Initialised]:
    """A prefix made by `darling-nix prefix init` from a config with the Darling runner."""
    try:
        pwd.getpwnam(BUILDER)
        grp.getgrnam(BUILDER_GROUP)
    except KeyError:
        pytest.skip(f"needs the host account {BUILDER}:{BUILDER_GROUP}")
    with darling_config(darling_install, user=BUILDER, group=BUILDER_GROUP) as (config, runner):
        assert not Path(runner.prefix).parent.exists()  # Darling makes only the prefix itself
        result = cli("prefix", "init", "--config", str(config))
        assert result.returncode == 0, result.stderr
        yield Initialised(config, runner, result.stdout)


@pytest.fixture(scope="module")
def probe(darwin_cc: DarwinCompiler, darwin_bin: Path) -> str:
    return path_inside(build_probe(darwin_cc, "accounts_probe", darwin_bin))


def run(runner: DarlingRunner, *argv: str) -> subprocess.CompletedProcess[str]:
    result = runner.run(list(argv), capture=True, timeout=120)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(),
                                       result.stderr.decode())


def manifest() -> list[tuple[str, str, int]]:
    """(source under shims/, directory in the prefix, mode) of every shim."""
    rows = [line.split() for line in (SHIMS / "MANIFEST").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    return [(source, directory, int(mode, 8)) for source, directory, mode in rows]


def installed_path(source: str, directory: str) -> str:
    return f"/{directory}/{Path(source).name}"


def test_prefix_init_installs_the_shims_with_the_darling_runner(initialised: Initialised
                                                                ) -> None:
    assert "(darling runner)" in initialised.init_output, initialised.init_output
    for source, directory, mode in manifest():
        installed = initialised.prefix / installed_path(source, directory).lstrip("/")
        assert installed.read_bytes() == (SHIMS / source).read_bytes(), installed
        assert installed.stat().st_mode & 0o7777 == mode, installed
    # Inside, PATH finds the programs and /bin/sh is Darling's bash 3.2.
    programs = [(source, directory) for source, directory, _ in manifest() if "bin" in directory]
    found = run(initialised.runner, "/bin/sh", "-c", 'echo "$BASH_VERSION"; command -v "$@"',
                "sh", *(Path(source).name for source, _ in programs))
    lines = found.stdout.splitlines()
    assert lines[0].startswith("3.2."), found
    assert lines[1:] == [installed_path(*program) for program in programs], found


def test_the_shims_parse_under_darlings_sh(initialised: Initialised) -> None:
    paths = [installed_path(source, directory) for source, directory, _ in manifest()]
    script = 'for f in "$@"; do /bin/sh -n "$f" || echo "FAIL $f"; done; ' \
             '/bin/sh -n -c "if then fi" 2>/dev/null || echo "control refused"'
    result = run(initialised.runner, "/bin/sh", "-c", script, "sh", *paths)
    assert result.stdout == "control refused\n", result


# Builtins-only functions of accounts.sh, and what each must print.
FUNCTIONS = {
    "acc_valid_name _nixbld1 && echo ok": "ok",
    "acc_valid_name 1bad || echo no": "no",
    "acc_valid_text 'a:b' || echo no": "no",
    "acc_id 0042 && echo $ACC_ID": "42",
    "acc_id 2147483648 || echo no": "no",
    "acc_add_member a,b c; echo $ACC_M": "a,b,c",
    "acc_add_member a,b b; echo $ACC_M": "a,b",
    "acc_del_member a,b,c b; echo $ACC_M": "a,c",
    "acc_has_member _nixbld1,_nixbld2 _nixbld2 && echo ok": "ok",
}


def test_account_functions_under_bash_3_2(initialised: Initialised) -> None:
    """The library's own shell logic, which needs none of the programs: shell functions that
    fail stand in for them, so the library loads whatever the prefix lacks."""
    stand_ins = "".join(f"{tool}() {{ return 127; }}; " for tool in TOOLS)
    # an empty root: loading the library checks the account files, which needs the programs
    script = (stand_ins + 'DARLING_SHIM_ROOT=$(/usr/bin/mktemp -d /tmp/acc.XXXXXXXX) || exit 8; '
              "export DARLING_SHIM_ROOT; . /usr/libexec/darling-nix/accounts.sh || exit 9; "
              + "; ".join(FUNCTIONS))
    result = run(initialised.runner, "/bin/sh", "-c", script)
    assert result.stdout.splitlines() == list(FUNCTIONS.values()), result


def test_diskutil_info_plist_for_the_installer(initialised: Initialised) -> None:
    """The installer reads `diskutil info -plist /nix` with xmllint; the prefix has none, so
    the plist is read here."""
    result = run(initialised.runner, "diskutil", "info", "-plist", "/nix")
    assert result.returncode == 0, result
    info = plistlib.loads(result.stdout.encode())
    assert info["GlobalPermissionsEnabled"] is True and info["MountPoint"] == "/", info
    assert run(initialised.runner, "diskutil", "info", "/no/such/path").returncode == 1


@pytest.mark.parametrize("shim", ACCOUNT_SHIMS)
def test_account_shims_name_the_programs_they_lack(initialised: Initialised, shim: str) -> None:
    """With nothing on PATH (the core tools patch gave the prefix every one), each account
    shim stops before writing and names every program it needs."""
    needed = [tool for tool in TOOLS if tool != "df"]  # df: diskutil's only
    result = run(initialised.runner, "/bin/sh", "-c", f'shim=$(command -v {shim}) && PATH=/var/empty "$shim"')
    assert result.returncode == 1
    assert f"{shim}: missing programs: {' '.join(needed)} (" in result.stderr, result


def probe_lines(runner: DarlingRunner, probe: str, *queries: str) -> list[str]:
    result = run(runner, probe, *queries)
    assert result.returncode == 0, result
    return result.stdout.splitlines()


def test_libinfo_reads_what_prefix_init_and_the_host_wrote(initialised: Initialised,
                                                           probe: str, cli: CliRunner) -> None:
    builder, group = pwd.getpwnam(BUILDER), grp.getgrnam(BUILDER_GROUP)
    assert probe_lines(initialised.runner, probe, "user", BUILDER, "group", BUILDER_GROUP) == [
        f"user {BUILDER} uid={builder.pw_uid} gid={group.gr_gid} gecos=darwin builder "
        f"home=/Users/{BUILDER} shell=/bin/bash",
        f"group {BUILDER_GROUP} gid={group.gr_gid} members={BUILDER}"]
    accounts = ("accounts", "--config", str(initialised.config))
    steps = [("add-group", "_hostbld", "--gid", "30100"),
             ("add-user", "_hostbld1", "--uid", "30101", "--gid", "30100",
              "--real-name", "Nix build user 1", "--shell", "/sbin/nologin"),
             ("add-member", "_hostbld", "_hostbld1")]
    # While the container runs, a host-side change would not be seen inside: refused.
    group_file = initialised.prefix / "private" / "etc" / "group"
    before = group_file.read_bytes()
    refused = cli(*accounts, *steps[0])
    assert refused.returncode == 1 and "container is running" in refused.stderr, refused
    assert group_file.read_bytes() == before
    initialised.runner.stop()
    for step in steps:
        result = cli(*accounts, *step)
        assert result.returncode == 0, result.stderr
    assert probe_lines(initialised.runner, probe, "user", "_hostbld1", "group", "_hostbld",
                       "gid", "30100") == [
        "user _hostbld1 uid=30101 gid=30100 gecos=Nix build user 1 home=/var/empty "
        "shell=/sbin/nologin",
        "group _hostbld gid=30100 members=_hostbld1",
        "group _hostbld gid=30100 members=_hostbld1"]


@dataclass
class ShimsInside:
    """The installer's view: each shim run by name inside the prefix."""

    runner: DarlingRunner

    def run(self, shim: str, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        result = run(self.runner, shim, *args)
        if check and result.returncode != 0:
            raise AssertionError(f"{shim} {args} exited {result.returncode}\n{result.stderr}")
        return result


def test_installer_call_forms_under_darling(initialised: Initialised, probe: str,
                                            darling_install: Installed) -> None:
    missing = missing_programs(darling_install, TOOLS)
    assert not missing, f"the prefix lacks {' '.join(missing)}, which the shims need"
    shims = ShimsInside(initialised.runner)
    writes = install(shims, users=2)  # each shim call spawns a dozen processes inside: ~1 s
    assert writes[0].startswith(f"dseditgroup -o create -r Nix build group for nix-daemon -i {GID}")
    member = shims.run("dseditgroup", "-o", "checkmember", "-m", "_nixbld1", GROUP)
    assert member.stdout.startswith(f"yes _nixbld1 is a member of {GROUP}"), member
    assert f"UniqueID: {FIRST_UID}" in shims.run("dscl", ".", "-read", "/Users/_nixbld1").stdout
    lines = probe_lines(initialised.runner, probe, "user", "_nixbld1", "group", GROUP, "gid", GID)
    assert lines[0] == (f"user _nixbld1 uid={FIRST_UID} gid={GID} gecos=Nix build user 1 "
                        "home=/var/empty shell=/sbin/nologin")
    assert lines[1:] == [f"group {GROUP} gid={GID} members=_nixbld1,_nixbld2"] * 2
    assert install(shims, users=2) == [w for w in writes if " RealName " in w]
