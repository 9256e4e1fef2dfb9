"""Hostile config files, through the real CLI: values that would inject directives,
files that would exhaust memory or time, values that Nix, OpenSSH or the file system
would refuse later, and files that used to end in a traceback. Every case must end in
one short line on stderr and exit 2, with nothing outside its temporary tree changed."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from schema_walk import CONTROL_SAMPLES, hostile_config, string_fields
from sentinel import Sentinel, assert_refused

CliRunner = Callable[..., subprocess.CompletedProcess[str]]
Write = Callable[..., Path]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBRfhVv0N9ZcXAbtPn2hKyzVdWiEg4E4p5F3X1s6+0Vd ci@test"


@pytest.fixture
def base(tmp_path: Path) -> dict[str, Any]:
    """A valid config whose every directory lies in this test's temporary tree."""
    return {"state_dir": str(tmp_path / "state"), "runner": {"kind": "namespace"},
            "ssh": {"control_dir": str(tmp_path / "ctl")}}


@pytest.fixture
def write(tmp_path: Path) -> Write:
    def write(data: Any, name: str = "config.json") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path
    return write


def merged(base: dict[str, Any], **sections: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(base))
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return data


def refused(cli: CliRunner, sentinel: Sentinel, *args: str, words: tuple[str, ...] = (),
            timeout: float = 60) -> None:
    assert_refused(cli(*args, timeout=timeout), *words)
    sentinel.assert_unchanged()


# --- 1. directive injection: no control character in any string of the schema ---------

FIELDS = [(path, tp) for path, tp in string_fields() if path != ("source",)]


@pytest.mark.parametrize(("path", "tp"), FIELDS, ids=[".".join(p) for p, _ in FIELDS])
def test_control_character_in_every_string_field(cli: CliRunner, sentinel: Sentinel,
                                                 write: Write, path: tuple[str, ...],
                                                 tp: Any) -> None:
    char = CONTROL_SAMPLES[FIELDS.index((path, tp)) % len(CONTROL_SAMPLES)]
    data, key = hostile_config(path, tp, char)
    refused(cli, sentinel, "config", "check", str(write(data)),
            words=(f"{key}:", "control characters"))


def test_control_character_in_a_setting_name(cli: CliRunner, sentinel: Sentinel,
                                             write: Write) -> None:
    refused(cli, sentinel, "config", "check",
            str(write({"nix": {"settings": {"sandbox\nsandbox": False}}})),
            words=("nix.settings.'sandbox\\nsandbox':", "control characters"))


@pytest.mark.parametrize(("yaml_text", "key"), [
    ('ssh:\n  connect_address: "127.0.0.1\\LProxyCommand sh -c id"\n', "ssh.connect_address"),
    ('ssh:\n  gate_command: "/bin/true\\NForceCommand bash"\n', "ssh.gate_command"),
    ('nix:\n  settings:\n    sandbox: "false\\Ppost-build-hook = /tmp/x"\n',
     "nix.settings.sandbox"),
], ids=["U+2028", "U+0085", "U+2029"])
def test_yaml_escapes_for_unicode_line_breaks(cli: CliRunner, sentinel: Sentinel, write: Write,
                                              yaml_text: str, key: str) -> None:
    refused(cli, sentinel, "config", "check", str(write(yaml_text, "c.yaml")),
            words=(f"{key}:", "control characters"))


@pytest.mark.parametrize(("field", "value", "kind"), [
    ("listen_addresses", ["fe80::1%lo\nForceCommand bash"], "sshd-config"),
    ("listen_addresses", ["fe80::1%lo ForceCommand"], "sshd-config"),
    ("connect_address", "fe80::1%lo\nProxyCommand sh -c id", "ssh-config"),
    ("connect_address", "fe80::1%lo#x", "ssh-config"),
], ids=["listen-newline", "listen-space", "connect-newline", "connect-hash"])
def test_ipv6_scope_carries_no_directive(cli: CliRunner, sentinel: Sentinel, write: Write,
                                         tmp_path: Path, base: dict[str, Any], field: str,
                                         value: Any, kind: str) -> None:
    out = tmp_path / "out"
    config = write(merged(base, ssh={field: value}))
    refused(cli, sentinel, "render", kind, "--config", str(config), "--out", str(out),
            words=(f"ssh.{field}",))
    assert not out.exists()


def test_config_file_name_with_a_newline(cli: CliRunner, sentinel: Sentinel, write: Write,
                                         base: dict[str, Any]) -> None:
    path = write(base, "c\nPort 22.json")
    refused(cli, sentinel, "render", "sshd-config", "--config", str(path),
            words=("(config file path)", "control characters"))


# --- 5. resource exhaustion -----------------------------------------------------------

def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """9 levels of 9 aliases: 387 million strings once expanded."""
    items = ['&a0 ["lol"]'] + [f"&a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]"
                               for level in range(1, levels + 1)]
    return "[" + ", ".join(items) + "]"


@pytest.mark.parametrize("yaml_text", [
    f"user: {alias_bomb()}\n",
    f"nix:\n  settings:\n    trusted-users: {alias_bomb()}\n",
    f"ssh:\n  authorized_keys: {alias_bomb()}\n",
    "ssh:\n  port: &p 22\nnix:\n  max_jobs: 1\n",
], ids=["top-level", "nix-settings", "list", "anchor-alone"])
def test_yaml_anchors_and_aliases_are_refused_at_once(cli: CliRunner, sentinel: Sentinel,
                                                      write: Write, yaml_text: str) -> None:
    started = time.monotonic()
    refused(cli, sentinel, "config", "check", str(write(yaml_text, "bomb.yaml")),
            words=("anchors and aliases",))
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("make", ["dev-zero", "fifo", "directory", "over-1-MiB", "not-utf8"])
def test_config_file_that_is_no_small_text_file(cli: CliRunner, sentinel: Sentinel,
                                                tmp_path: Path, make: str) -> None:
    path = tmp_path / make
    if make == "dev-zero":
        path = Path("/dev/zero")
    elif make == "fifo":
        os.mkfifo(path)
    elif make == "directory":
        path.mkdir()
    elif make == "over-1-MiB":
        path.write_text('{"user": "darling-builder"' + " " * (1 << 20) + "}")
    else:
        path.write_bytes(b'{"user": "\xff\xfe"}')
    refused(cli, sentinel, "config", "check", str(path), words=("cannot read config file",),
            timeout=30)


def test_gate_refuses_dev_zero_as_its_config(cli: CliRunner, sentinel: Sentinel) -> None:
    refused(cli, sentinel, "gate", "--config", "/dev/zero",
            words=("not a regular file",), timeout=30)


@pytest.mark.parametrize(("text", "words"), [
    ("[" * 100000, ("nested too deeply",)),
    ('{"a": ' * 100000, ("nested too deeply",)),
    ('{"ssh": {"port": ' + "9" * 5000 + "}}", ("not valid",)),
    (json.dumps({"user": "A" * 100000}), ("user:", "user or group name")),
    (json.dumps({"k" * 100000: 1}), ("unknown key",)),
    (json.dumps({"ssh": {"listen_addresses": ["x" * 100000]}}), ("IP address",)),
], ids=["deep-list", "deep-mapping", "5000-digits", "long-value", "long-key", "long-item"])
def test_error_stays_one_short_line(cli: CliRunner, sentinel: Sentinel, write: Write,
                                    text: str, words: tuple[str, ...]) -> None:
    refused(cli, sentinel, "config", "check", str(write(text, "c.yaml")), words=words)


# --- 7. values that Nix, OpenSSH or the file system would refuse later ----------------

@pytest.mark.parametrize(("name", "value"), [
    ("include", "/etc/shadow"), ("!include", "/etc/shadow"), ("Max-Jobs", 1),
    ("max--jobs", 1), ("max-jobs-", 1), ("a" * 65, 1),
], ids=["include", "bang-include", "upper-case", "double-dash", "trailing-dash", "long"])
def test_setting_names_nix_would_not_read(cli: CliRunner, sentinel: Sentinel, write: Write,
                                          name: str, value: Any) -> None:
    key = f"nix.settings.{name}:" if len(name) <= 64 else "nix.settings."
    refused(cli, sentinel, "config", "check", str(write({"nix": {"settings": {name: value}}})),
            words=(key, "setting name"))


@pytest.mark.parametrize(("value", "words"), [
    ("substituters-here # comment", ("'#'",)),
    (" leading", ("white space",)),
    ("two  spaces", ("white space",)),
    (["a b"], ("white space",)),
    (2**70, ("64 bits",)),
], ids=["hash", "leading-space", "double-space", "list-item-space", "huge-int"])
def test_setting_values_nix_conf_cannot_carry(cli: CliRunner, sentinel: Sentinel,
                                              write: Write, value: Any,
                                              words: tuple[str, ...]) -> None:
    refused(cli, sentinel, "config", "check",
            str(write({"nix": {"settings": {"extra-sandbox-paths": value}}})),
            words=("nix.settings.extra-sandbox-paths", *words))


@pytest.mark.parametrize(("key", "value", "words"), [
    ("prefix", "/var/lib/darling-builder/../../..", ("'..'",)),
    ("prefix", "/", ("system directory",)),
    ("state_dir", "//", ("is /, a system directory",)),
    ("prefix", "/var/lib/", ("is /var/lib, a system directory",)),
    ("prefix", "/" + "p" * 5000, ("at most",)),
    ("prefix", "/srv/" + "n" * 300, ("NAME_MAX",)),
    ("prefix", "/srv/%d/prefix", ("absolute path of letters",)),
    ("ssh.host_key", "/srv/${HOME}/key", ("absolute path of letters",)),
    ("ssh.control_dir", "/etc", ("system directory",)),
    ("nix.max_jobs", 10**12, ("from 0 to",)),
], ids=["dot-dot", "root", "double-slash", "var-lib", "5000-chars", "long-component",
        "ssh-token", "env-expansion", "etc", "huge-count"])
def test_values_refused_at_check(cli: CliRunner, sentinel: Sentinel, write: Write,
                                 key: str, value: Any, words: tuple[str, ...]) -> None:
    section, _, name = key.rpartition(".")
    data = {section: {name: value}} if section else {name: value}
    refused(cli, sentinel, "config", "check", str(write(data)), words=(f"{key}:", *words))


@pytest.mark.parametrize(("text", "key"), [
    ('{"user": "a", "user": "b"}', "user:"),
    ('{"ssh": {"port": 2222, "port": 22}}', "ssh.port:"),
    ('{"nix": {"settings": {"cores": 1, "cores": 2}}}', "nix.settings.cores:"),
    ("ssh:\n  port: 2222\n  port: 22\n", "ssh.port:"),
    ("nix:\n  max_jobs: 1\nnix:\n  max_jobs: 2\n", "nix:"),
], ids=["json-top", "json-nested", "json-settings", "yaml-nested", "yaml-section"])
def test_duplicate_keys(cli: CliRunner, sentinel: Sentinel, write: Write, text: str,
                        key: str) -> None:
    refused(cli, sentinel, "config", "check", str(write(text, "c.yaml")),
            words=(key, "more than once"))


@pytest.mark.parametrize("prefix", ["{tmp}/state", "{tmp}", "{tmp}/state/"],
                         ids=["same", "parent", "same-with-slash"])
def test_prefix_that_holds_the_state_directory(cli: CliRunner, sentinel: Sentinel,
                                               write: Write, tmp_path: Path,
                                               prefix: str) -> None:
    data = {"state_dir": str(tmp_path / "state"), "prefix": prefix.format(tmp=tmp_path)}
    refused(cli, sentinel, "config", "check", str(write(data)),
            words=("prefix:", "holds the state directory"))


@pytest.mark.parametrize("prefix", ["{tmp}/state/../outside", "{tmp}/outside/./dir",
                                    "{tmp}/outside/dir/sub/.."], ids=["up", "dot", "trailing"])
def test_wipe_never_reaches_outside_the_prefix(cli: CliRunner, sentinel: Sentinel,
                                               write: Write, base: dict[str, Any],
                                               tmp_path: Path, prefix: str) -> None:
    config = write(merged(base, prefix=prefix.format(tmp=tmp_path)))
    refused(cli, sentinel, "prefix", "wipe", "--config", str(config), words=("prefix:",))


# --- 8. files named by the config: one line, never a traceback ------------------------

def key_file(tmp_path: Path, make: str) -> Path:
    path = tmp_path / f"keys-{make}"
    if make == "dev-zero":
        return Path("/dev/zero")
    if make == "directory":
        path.mkdir()
    elif make == "huge":
        path.write_text((KEY + "\n") * (1 + (1 << 20) // len(KEY)))
    elif make == "garbage":
        path.write_bytes(bytes(range(256)) * 64)
    elif make == "nul":
        path.write_text(KEY.replace("AAAA", "AA\0AA", 1) + "\n")
    elif make == "separator":  # two keys on one line for sshd, which splits at \n only
        path.write_text(f"{KEY}\u2028{KEY}\n")
    elif make == "loop":
        path.symlink_to(path)
    elif make == "fifo":
        os.mkfifo(path)
    return path  # "missing": not created


KEY_FILES = ["dev-zero", "missing", "directory", "huge", "garbage", "nul", "separator", "loop",
             "fifo"]


@pytest.mark.parametrize("make", KEY_FILES)
def test_unusable_authorized_keys_file(cli: CliRunner, sentinel: Sentinel, write: Write,
                                       base: dict[str, Any], tmp_path: Path, make: str) -> None:
    path = key_file(tmp_path, make)
    config = write(merged(base, ssh={"authorized_keys_files": [str(path)]}))
    words = (f"{path.name}:1",) if make in ("nul", "separator") else \
        ("ssh.authorized_keys_files[0]",)
    refused(cli, sentinel, "render", "authorized-keys", "--config", str(config), words=words,
            timeout=30)


def test_prefix_init_refuses_a_bad_key_file_before_touching_the_disk(
        cli: CliRunner, sentinel: Sentinel, write: Write, base: dict[str, Any],
        tmp_path: Path) -> None:
    config = write(merged(base, ssh={"authorized_keys_files": ["/dev/zero"]}))
    refused(cli, sentinel, "prefix", "init", "--config", str(config),
            words=("ssh.authorized_keys_files[0]",), timeout=30)
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(("args", "words"), [
    (("doctor", "--host", "127.0.0.1", "--key", "/dev/null", "--host-key", "/dev/zero"),
     ("--host-key", "not a regular file")),
    (("matrix", "--config", "{config}", "--tiers", "/dev/zero"), ("tier file",)),
    (("matrix", "--config", "{config}", "--tiers", "{bomb}"), ("anchors and aliases",)),
], ids=["doctor-host-key", "matrix-tiers", "matrix-tiers-bomb"])
def test_other_input_files(cli: CliRunner, sentinel: Sentinel, write: Write,
                           base: dict[str, Any], args: tuple[str, ...],
                           words: tuple[str, ...]) -> None:
    names = {"config": str(write(base)), "bomb": str(write(f"x: {alias_bomb()}\n", "t.yaml"))}
    refused(cli, sentinel, *(arg.format(**names) for arg in args), words=words, timeout=30)


def test_accepted_scoped_address_reaches_ssh_intact(cli: CliRunner, write: Write,
                                                    base: dict[str, Any]) -> None:
    """The legitimate form still passes: a link-local address with its interface."""
    config = write(merged(base, ssh={"listen_addresses": ["fe80::1%lo"]}))
    assert cli("config", "check", str(config)).returncode == 0
    rendered = cli("render", "ssh-config", "--config", str(config))
    assert "  HostName fe80::1%%lo\n" in rendered.stdout, rendered.stderr
