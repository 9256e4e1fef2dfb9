"""Rendered files, checked by the programs that read them: OpenSSH's sshd and ssh, and Nix."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from darling_nix.config import parse_config
from darling_nix.models import BuilderConfig, ConfigError
from darling_nix.render import render
from darling_nix.sshd import SSHD, generate_key

ENTRY = Path(__file__).parents[1] / "src" / "darling_nix" / "gate_entry.py"
needs_sshd = pytest.mark.skipif(not Path(SSHD).exists(), reason="needs sshd "
                                "(openssh-server; scripts/setup installs it)")
needs_nix = pytest.mark.skipif(shutil.which("nix") is None,
                               reason="needs nix (nix-bin; scripts/setup installs it)")


def make_config(tmp_path: Path, **overrides: Any) -> BuilderConfig:
    generate_key(tmp_path / "ssh" / "ssh_host_ed25519_key")
    client_key = tmp_path / "ssh" / "client_ed25519_key"
    generate_key(client_key)
    data: dict[str, Any] = {
        "state_dir": str(tmp_path),
        "user": "nobody",
        "ssh": {"listen_addresses": ["127.0.0.1", "::1"], "port": 31999,
                "authorized_keys": [Path(f"{client_key}.pub").read_text().strip()]},
        "nix": {"max_jobs": 3, "cores": 2, "systems": ["x86_64-darwin", "aarch64-darwin"],
                "supported_features": ["big-parallel"], "mandatory_features": ["darwin"],
                "settings": {"keep-outputs": True, "trusted-users": ["root", "builder"],
                             "max-silent-time": 600}},
    }
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    import json
    return parse_config(json.dumps(data), str(tmp_path / "config.json"))


@needs_sshd
def test_sshd_accepts_rendered_config_and_hardening_is_in_effect(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    path = tmp_path / "sshd_config"
    path.write_text(render("sshd-config", config))
    check = subprocess.run([SSHD, "-t", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    Path("/run/sshd").mkdir(exist_ok=True)
    effective = subprocess.run([SSHD, "-T", "-f", str(path), "-C",
                                "user=nobody,host=client,addr=127.0.0.1"],
                               capture_output=True, text=True, check=True).stdout.splitlines()
    for line in ["port 31999", "listenaddress 127.0.0.1:31999", "listenaddress [::1]:31999",
                 "passwordauthentication no", "kbdinteractiveauthentication no",
                 "pubkeyauthentication yes", "authenticationmethods publickey",
                 "permittty no", "allowtcpforwarding no", "allowagentforwarding no",
                 "x11forwarding no", "permittunnel no", "allowstreamlocalforwarding no",
                 "permituserenvironment no", "permitrootlogin no", "allowusers nobody",
                 f"forcecommand {sys.executable} -I -S {ENTRY} --runner darling --prefix "
                 f"{tmp_path}/prefix --state-dir {tmp_path} --min-free 1073741824 "
                 "--darling /run/wrappers/bin/darling",
                 f"authorizedkeysfile {tmp_path}/ssh/authorized_keys",
                 "pidfile none", "exposeauthinfo yes"]:
        assert line in effective, line


@needs_sshd
def test_root_builder_may_log_in_with_keys_only(tmp_path: Path) -> None:
    config = make_config(tmp_path, **{"ssh": {}})
    text = render("sshd-config", parse_config(
        f'{{"state_dir": "{tmp_path}", "user": "root"}}', str(tmp_path / "c.json")))
    assert "PermitRootLogin prohibit-password" in text
    assert config.user == "nobody"


@needs_nix
def test_nix_reads_rendered_nix_conf(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    conf_dir = tmp_path / "etc-nix"
    conf_dir.mkdir()
    (conf_dir / "nix.conf").write_text(render("nix-conf", config))
    env = {"PATH": os.environ["PATH"], "NIX_CONF_DIR": str(conf_dir),
           "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    shown = ""
    for argv in (["nix", "--extra-experimental-features", "nix-command", "config", "show"],
                 ["nix", "--extra-experimental-features", "nix-command", "show-config"]):
        result = subprocess.run(argv, capture_output=True, text=True, env=env)
        if result.returncode == 0:
            shown = result.stdout
            break
    assert shown, result.stderr
    values = dict(line.split(" = ", 1) for line in shown.splitlines() if " = " in line)
    assert values["build-users-group"] == ""
    assert values["sandbox"] == "false"
    assert values["system"] == "x86_64-darwin"
    assert values["extra-platforms"] == "aarch64-darwin"
    assert values["max-jobs"] == "3"
    assert values["cores"] == "2"
    assert values["substituters"] == ""
    assert set(values["system-features"].split()) == {"big-parallel", "darwin"}
    assert values["keep-outputs"] == "true"
    assert values["trusted-users"] == "root builder"
    assert values["max-silent-time"] == "600"
    assert "unknown setting" not in result.stderr


def test_user_settings_override_defaults(tmp_path: Path) -> None:
    config = make_config(tmp_path, nix={"settings": {"sandbox": "relaxed"}})
    lines = render("nix-conf", config).splitlines()
    assert "sandbox = relaxed" in lines
    assert "sandbox = false" not in lines


def test_machines_line_has_every_field(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    fields = render("machines", config).split()
    pub = (tmp_path / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()
    assert fields[:7] == ["ssh-ng://darling-builder", "x86_64-darwin,aarch64-darwin",
                          f"{tmp_path}/ssh/client_ed25519_key", "3", "1",
                          "big-parallel,darwin", "darwin"]
    assert base64.b64decode(fields[7]).decode() == f"{pub[0]} {pub[1]}"


def test_ssh_alias_and_known_hosts_agree(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    alias = render("ssh-config", config)
    assert "Host darling-builder\n" in alias
    for line in ["HostName 127.0.0.1", "Port 31999", "User nobody", "HostKeyAlias darling-builder",
                 f"IdentityFile {tmp_path}/ssh/client_ed25519_key", "StrictHostKeyChecking yes",
                 f"UserKnownHostsFile {tmp_path}/ssh/known_hosts"]:
        assert f"  {line}\n" in alias
    pub = (tmp_path / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()
    assert render("known-hosts", config) == f"darling-builder {pub[0]} {pub[1]}\n"


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs ssh (openssh-client)")
def test_ssh_parses_rendered_alias(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    path = tmp_path / "ssh_config"
    path.write_text(render("ssh-config", config))
    effective = subprocess.run(["ssh", "-G", "-F", str(path), "darling-builder"],
                               capture_output=True, text=True, check=True).stdout.splitlines()
    for line in ["hostname 127.0.0.1", "port 31999", "user nobody",
                 "hostkeyalias darling-builder", "stricthostkeychecking true",
                 "controlmaster auto", "controlpersist 60"]:
        assert line in effective, line


def test_authorized_keys_are_restricted(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    lines = render("authorized-keys", config).splitlines()
    assert len(lines) == 1 and lines[0].startswith("restrict ssh-ed25519 ")


@pytest.mark.parametrize("line", ["not a key", "ssh-ed25519 AAAA\x00x",
                                  'command="sh" ssh-ed25519 AAAAC3Nza'])
def test_bad_key_in_a_key_file_is_refused_not_written(tmp_path: Path, line: str) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# team keys\n{line}\n")
    config = make_config(tmp_path, ssh={"authorized_keys_files": [str(keys)]})
    with pytest.raises(ConfigError, match=f"{keys}:2"):
        render("authorized-keys", config)


HOSTILE = [
    ("ssh", "host_key", "/k\nPermitRootLogin yes"),
    ("ssh", "host_key", "/k #"),
    ("ssh", "client_identity", '/k" -oProxyCommand=sh'),
    ("ssh", "control_dir", "/run/x y"),
    ("nix", "tarball", "/t'x"),
]


@pytest.mark.parametrize(("section", "key", "value"), HOSTILE)
def test_hostile_paths_are_rejected_before_rendering(tmp_path: Path, section: str, key: str,
                                                     value: str) -> None:
    with pytest.raises(ConfigError, match=f"{section}.{key}"):
        make_config(tmp_path, **{section: {key: value}})


def test_missing_host_key_is_a_clear_error(tmp_path: Path) -> None:
    config = parse_config(f'{{"state_dir": "{tmp_path}/none"}}')
    with pytest.raises(ConfigError, match="ssh-keygen"):
        render("known-hosts", config)


def test_render_cli_writes_atomically_and_refuses_unknown_kind(tmp_path: Path, cli: Any) -> None:
    make_config(tmp_path)
    config_file = tmp_path / "c.json"
    config_file.write_text(f'{{"state_dir": "{tmp_path}"}}')
    out = tmp_path / "out.conf"
    assert cli("render", "nix-conf", "--config", str(config_file), "--out",
               str(out)).returncode == 0
    assert "build-users-group =" in out.read_text()
    bad = cli("render", "bogus", "--config", str(config_file))
    assert bad.returncode == 2 and "unknown kind 'bogus'" in bad.stderr


def test_nix_conf_bounds_every_build_unless_told_otherwise(tmp_path: Path) -> None:
    """Over ssh-ng the host's limits never reach the builder (Nix 2.8's client sends no
    options), so nix.conf carries its own: 24 h in all, 1 h of silence; the config's
    nix.settings override them, 0 meaning no limit as in Nix."""
    lines = render("nix-conf", make_config(tmp_path)).splitlines()
    assert "timeout = 86400" in lines
    assert "max-silent-time = 600" in lines and "max-silent-time = 3600" not in lines
    plain = make_config(tmp_path / "plain", nix={"settings": {"timeout": 0}})
    plain_lines = render("nix-conf", plain).splitlines()
    assert "max-silent-time = 3600" in plain_lines and "timeout = 0" in plain_lines


@pytest.mark.parametrize("value", [-1, "1h", True, 1.5])
def test_a_build_limit_must_be_whole_seconds(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError, match=r"nix\.settings\.timeout: expected a (whole|string)"):
        make_config(tmp_path, nix={"settings": {"timeout": value}})
