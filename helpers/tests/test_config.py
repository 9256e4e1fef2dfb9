"""The builder config: defaults, accepted forms, and bad configs rejected with the key named."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from darling_nix.config import config_to_dict, parse_config
from darling_nix.models import ConfigError

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBRfhVv0N9ZcXAbtPn2hKyzVdWiEg4E4p5F3X1s6+0Vd ci@test"

# (config, key path the message must name, a word of the expected form)
BAD_CONFIGS: list[tuple[Any, str, str]] = [
    ({"prefx": "/x"}, "prefx", "unknown key"),
    ({"ssh": {"prot": 22}}, "ssh.prot", "unknown key"),
    ({"prefix": "relative/path"}, "prefix", "absolute path"),
    ({"prefix": "/a b"}, "prefix", "absolute path"),
    ({"state_dir": "/var/lib/x\nPort 22"}, "state_dir", "must not contain"),
    ({"user": "Root User"}, "user", "user or group name"),
    ({"group": 5}, "group", "a string"),
    ({"ephemeral": "yes"}, "ephemeral", "true or false"),
    ({"runner": {"kind": "docker"}}, "runner.kind", "one of"),
    ({"runner": "darling"}, "runner", "a mapping"),
    ({"ssh": {"port": 0}}, "ssh.port", "between 1 and 65535"),
    ({"ssh": {"port": "22"}}, "ssh.port", "a whole number"),
    ({"ssh": {"port": True}}, "ssh.port", "a whole number"),
    ({"ssh": {"listen_addresses": []}}, "ssh.listen_addresses", "non-empty"),
    ({"ssh": {"listen_addresses": ["127.0.0.1 # x"]}}, "ssh.listen_addresses[0]", "IP address"),
    ({"ssh": {"listen_addresses": "127.0.0.1"}}, "ssh.listen_addresses", "a list"),
    ({"ssh": {"authorized_keys": ["not a key"]}}, "ssh.authorized_keys[0]", "public key"),
    ({"ssh": {"authorized_keys": [KEY + "\nssh-rsa AAAA evil"]}}, "ssh.authorized_keys[0]",
     "control characters"),
    ({"ssh": {"authorized_keys": ['command="id" ' + KEY]}}, "ssh.authorized_keys[0]",
     "no options"),
    ({"ssh": {"host_alias": "my builder"}}, "ssh.host_alias", "host alias"),
    ({"ssh": {"gate_command": "darling-nix gate\nPermitTTY yes"}}, "ssh.gate_command",
     "must not contain"),
    ({"nix": {"tarball_sha256": "abc"}}, "nix.tarball_sha256", "64 lowercase"),
    ({"nix": {"max_jobs": -1}}, "nix.max_jobs", "from 0 to"),
    ({"nix": {"speed_factor": 0}}, "nix.speed_factor", "from 1 to"),
    ({"nix": {"systems": []}}, "nix.systems", "non-empty"),
    ({"nix": {"systems": ["darwin"]}}, "nix.systems[0]", "x86_64-darwin"),
    ({"nix": {"protocol": "http"}}, "nix.protocol", "one of"),
    ({"nix": {"settings": {"Bad Name": 1}}}, "nix.settings.Bad Name", "setting name"),
    ({"nix": {"settings": {"substituters": "x\nsandbox = true"}}}, "nix.settings.substituters",
     "must not contain"),
    ({"nix": {"settings": {"trusted-users": ["a b"]}}}, "nix.settings.trusted-users[0]",
     "white space"),
    ({"nix": {"settings": {"x": {"y": 1}}}}, "nix.settings.x", "a list of strings"),
    ({"nix": {"supported_features": ["big parallel"]}}, "nix.supported_features[0]", "feature"),
    ([1, 2], "", "mapping at the top level"),
    ("key: [unclosed", "", "not valid YAML"),
]


@pytest.mark.parametrize(("data", "key", "form"), BAD_CONFIGS,
                         ids=[f"{i}-{c[1] or 'top'}" for i, c in enumerate(BAD_CONFIGS)])
def test_bad_config_rejected_with_key(data: Any, key: str, form: str, cli: Any,
                                      write_config: Callable[[Any], Path]) -> None:
    path = write_config(data)
    result = cli("config", "check", str(path))
    assert result.returncode == 2, result.stdout
    assert form in result.stderr
    if key:
        assert f"{key}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_defaults_fill_in() -> None:
    config = parse_config("{}", "/etc/darling-builder/config.json")
    data = config_to_dict(config)
    assert data["prefix"] == "/var/lib/darling-builder/prefix"
    assert data["ssh"]["port"] == 31122
    assert data["ssh"]["listen_addresses"] == ["127.0.0.1"]
    assert data["ssh"]["host_key"] == "/var/lib/darling-builder/ssh/ssh_host_ed25519_key"
    _python, isolated, no_site, entry, *settings = data["ssh"]["gate_command"].split()
    assert (isolated, no_site) == ("-I", "-S") and entry.endswith("/darling_nix/gate_entry.py")
    assert settings == ["--runner", "darling", "--prefix", "/var/lib/darling-builder/prefix",
                        "--state-dir", "/var/lib/darling-builder", "--min-free", "1073741824",
                        "--darling", "/run/wrappers/bin/darling"]
    assert data["nix"]["systems"] == ["x86_64-darwin"]
    assert data["runner"] == {"kind": "darling", "darling_command": "/run/wrappers/bin/darling"}


def test_yaml_and_json_give_the_same_config(write_config: Callable[..., Path], cli: Any) -> None:
    yaml_path = write_config("state_dir: /srv/b\nssh:\n  port: 2222\nnix:\n  max_jobs: 4\n",
                             "c.yaml")
    json_path = write_config({"state_dir": "/srv/b", "ssh": {"port": 2222},
                              "nix": {"max_jobs": 4}}, "c.json")
    shown = [json.loads(cli("config", "show", str(p), "--json").stdout)
             for p in (yaml_path, json_path)]
    assert shown[0] == shown[1]
    assert shown[0]["prefix"] == "/srv/b/prefix"
    assert shown[0]["nix"]["max_jobs"] == 4


def test_config_check_ok_and_missing_file(write_config: Callable[[Any], Path],
                                          tmp_path: Path, cli: Any) -> None:
    assert cli("config", "check", str(write_config({}))).returncode == 0
    missing = cli("config", "check", str(tmp_path / "absent.json"))
    assert missing.returncode == 2
    assert "cannot read config file" in missing.stderr


def test_error_names_nested_key_in_exception() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('{"nix": {"settings": {"cores": 1.5}}}')
    assert caught.value.key == "nix.settings.cores"
