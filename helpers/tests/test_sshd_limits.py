"""The builder's sshd is sized for the builds its clients start at once, and a connection
does not run the login user's shell start-up files before the gate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from darling_nix.config import parse_config
from darling_nix.limits import sshd_limits
from darling_nix.models import BuilderConfig
from darling_nix.render import render
from darling_nix.sshd import SSHD, generate_key

needs_sshd = pytest.mark.skipif(not Path(SSHD).exists(), reason="needs sshd "
                                "(openssh-server; scripts/setup installs it)")


def keys(directory: Path, count: int) -> list[str]:
    lines = []
    for number in range(count):
        path = directory / f"client{number}"
        generate_key(path)
        lines.append(Path(f"{path}.pub").read_text().strip())
    return lines


def config(tmp_path: Path, ssh: dict[str, Any] | None = None, max_jobs: int = 16
           ) -> BuilderConfig:
    generate_key(tmp_path / "ssh" / "ssh_host_ed25519_key")
    data = {"state_dir": str(tmp_path), "user": "nobody",
            "ssh": {"authorized_keys": keys(tmp_path, 1), **(ssh or {})},
            "nix": {"max_jobs": max_jobs}}
    return parse_config(json.dumps(data), str(tmp_path / "config.json"))


def effective(tmp_path: Path, builder: BuilderConfig) -> list[str]:
    """sshd's own reading of the rendered file (`sshd -T`)."""
    path = tmp_path / "sshd_config"
    path.write_text(render("sshd-config", builder))
    Path("/run/sshd").mkdir(exist_ok=True)
    return subprocess.run([SSHD, "-T", "-f", str(path), "-C",
                           "user=nobody,host=client,addr=127.0.0.1"],
                          capture_output=True, text=True, check=True).stdout.splitlines()


@needs_sshd
def test_every_key_may_start_max_jobs_connections_at_once(tmp_path: Path) -> None:
    team = tmp_path / "team.pub"
    team.write_text("# two more clients\n" + "\n".join(keys(tmp_path / "team", 2)) + "\n")
    builder = config(tmp_path, {"authorized_keys_files": [str(team)]})
    lines = effective(tmp_path, builder)
    # 3 keys x 16 jobs + 10; every one refused past twice that
    assert "maxstartups 58:30:116" in lines
    assert "maxsessions 26" in lines


@needs_sshd
def test_explicit_limits_win(tmp_path: Path) -> None:
    lines = effective(tmp_path, config(tmp_path, {"max_startups": 7, "max_sessions": 3}))
    assert "maxstartups 7:30:14" in lines
    assert "maxsessions 3" in lines


@needs_sshd
def test_limits_past_sshds_ints_are_capped_so_that_sshd_starts(tmp_path: Path) -> None:
    """The schema takes counts up to 2^31 - 1; twice that (MaxStartups' full threshold)
    or jobs + 10 (MaxSessions) would not fit sshd's int, and sshd would refuse the file."""
    lines = effective(tmp_path, config(tmp_path, {"max_startups": 2**31 - 1},
                                       max_jobs=2**31 - 1))
    assert "maxstartups 1073741823:30:2147483646" in lines
    assert "maxsessions 2147483647" in lines


def test_a_key_file_not_yet_written_counts_as_one_client(tmp_path: Path) -> None:
    builder = config(tmp_path, {"authorized_keys_files": [str(tmp_path / "later.pub")]},
                     max_jobs=4)
    assert "MaxStartups 18:30:36\n" in render("sshd-config", builder)  # 2 x 4 + 10


def test_one_job_and_no_key_still_leave_headroom(tmp_path: Path) -> None:
    limits = sshd_limits(config(tmp_path, max_jobs=0), clients=0)
    assert (limits.start, limits.full, limits.sessions) == (11, 22, 11)


@needs_sshd
def test_the_gates_shell_is_told_it_is_not_top_level(tmp_path: Path) -> None:
    assert "setenv SHLVL=1" in effective(tmp_path, config(tmp_path))


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_skips_bashrc_with_that_setting(tmp_path: Path) -> None:
    """bash started the way sshd starts a ForceCommand (`bash -c CMD`, SSH_CLIENT set)
    reads ~/.bashrc, unless SHLVL is set as the rendered sshd_config sets it."""
    (tmp_path / ".bashrc").write_text("echo bashrc-ran\n")
    session = {"HOME": str(tmp_path), "PATH": os.environ["PATH"],
               "SSH_CLIENT": "127.0.0.1 40000 22"}
    line = next(line for line in render("sshd-config", config(tmp_path)).splitlines()
                if line.startswith("SetEnv "))
    name, value = line.split(" ", 1)[1].split("=", 1)

    def run(env: dict[str, str]) -> str:
        return subprocess.run(["bash", "-c", "echo gate"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout

    assert run(session) == "bashrc-ran\ngate\n"  # the control: without it, it runs
    assert run({**session, name: value}) == "gate\n"


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs ssh (openssh-client)")
def test_client_gives_up_on_a_silent_builder(tmp_path: Path) -> None:
    path = tmp_path / "ssh_config"
    path.write_text(render("ssh-config", config(tmp_path)))
    shown = subprocess.run(["ssh", "-G", "-F", str(path), "darling-builder"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert {"serveraliveinterval 15", "serveralivecountmax 3", "controlmaster auto"} <= set(
        shown)
