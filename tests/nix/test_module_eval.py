"""The NixOS modules, evaluated with nixpkgs' lib (`lib.evalModules`) against
tests/nix/nixos-surface.nix and a pkgs stand-in (tests/nix/stub-pkgs.nix), and
what they generate fed to the real helpers: the config file must pass
`darling-nix config check`, and the ssh alias, the machines line and the
known_hosts path must be the ones the helpers render.

Skipped, saying why, without NIXPKGS_LIB / NIXPKGS (see conftest.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

CONFIG = "/etc/darling-builder/config.json"
ENABLE = "{ services.darling-builder.enable = true; }"
STORE_PATH = re.compile(r"/nix/store/[0-9a-z]{32}-")

# A sound configuration far from the defaults.
LAPTOP_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKnownKnownKnownKnownKnownKnownKnownKnownK laptop"
CUSTOM = """{
  services.darling-builder = {
    enable = true;
    stateDir = "/srv/darwin";
    ephemeral = true;
    listenAddresses = [ "0.0.0.0" ];
    port = 2222;
    openFirewall = true;
    hostAlias = "mac-builder";
    controlDir = "/run/mac-ssh";
    authorizedKeys.keys = [ "LAPTOP_KEY" ];
    authorizedKeys.keyFiles = [ "/etc/darling-builder/extra.pub" ];
    maxJobs = 4;
    cores = 2;
    maxStartups = 40;
    speedFactor = 3;
    systems = [ "x86_64-darwin" "aarch64-darwin" ];
    supportedFeatures = [ "big-parallel" ];
    mandatoryFeatures = [ "darling" ];
    protocol = "ssh";
    nix.settings = { max-silent-time = 3600; keep-failed = true; extra-sandbox-paths = [ "/a" "/b" ]; };
  };
}""".replace("LAPTOP_KEY", LAPTOP_KEY)


def write_config(directory: Path, summary: dict[str, Any]) -> Path:
    path = directory / "config.json"
    path.write_text(summary["configText"])
    return path


@pytest.fixture(scope="module")
def default(evaluate: Any) -> dict[str, Any]:
    (summary,) = evaluate([ENABLE])
    return summary


@pytest.fixture(scope="module")
def custom(evaluate: Any) -> dict[str, Any]:
    (summary,) = evaluate([CUSTOM])
    return summary


def test_defaults_evaluate_cleanly(default: dict[str, Any]) -> None:
    assert default["failedAssertions"] == []
    assert default["warnings"] == []


def test_the_config_file_is_the_helpers_schema(default: dict[str, Any]) -> None:
    data = json.loads(default["configText"])
    tarball = data["nix"].pop("tarball")
    assert STORE_PATH.match(tarball) and tarball.endswith("-nix-2.35.1-x86_64-darwin.tar.xz")
    assert data == {
        "state_dir": "/var/lib/darling-builder",
        "prefix": "/var/lib/darling-builder/prefix",
        "user": "darling-builder",
        "group": "darling-builder",
        "ephemeral": False,
        "runner": {"kind": "darling", "darling_command": "/run/wrappers/bin/darling"},
        "ssh": {
            "listen_addresses": ["127.0.0.1"],
            "port": 31122,
            "host_key": "/var/lib/darling-builder/ssh/ssh_host_ed25519_key",
            "authorized_keys": [],
            "authorized_keys_files": ["/var/lib/darling-builder/ssh/client_ed25519_key.pub"],
            "client_identity": "/var/lib/darling-builder/ssh/client_ed25519_key",
            "host_alias": "darling-builder",
            "connect_address": "127.0.0.1",
            "control_dir": "/run/darling-builder-ssh",
            "max_startups": 0,
            "max_sessions": 0,
        },
        "nix": {
            "tarball_sha256": "1a932047a6e563acbd86024599bb377cbceca4dc6934a49f62a41ea1d9bdcb1b",
            "settings": {},
            "max_jobs": 1,
            "cores": 0,
            "systems": ["x86_64-darwin"],
            "supported_features": [],
            "mandatory_features": [],
            "speed_factor": 1,
            "protocol": "ssh-ng",
        },
    }
    # The file NixOS links to /etc (restart trigger of setup and sshd).
    assert default["configSource"].endswith("-darling-builder-config.json")


@pytest.mark.parametrize("which", ["default", "custom"])
def test_the_helpers_accept_the_config(which: str, request: pytest.FixtureRequest,
                                       tmp_path: Path, darling_nix: Any) -> None:
    summary = request.getfixturevalue(which)
    path = write_config(tmp_path, summary)
    assert darling_nix("config", "check", path).stdout.strip() == f"{path}: ok"


def test_the_sshd_config_starts_the_gate(default: dict[str, Any], tmp_path: Path,
                                        darling_nix: Any) -> None:
    """No gate_command in the config: the rendered ForceCommand is the fast gate entry
    of the Python that rendered it (cfg.package's, in darling-builder-sshd), with the
    module's runner, prefix and state directory inline."""
    sshd_config = darling_nix("render", "sshd-config", "--config",
                              write_config(tmp_path, default)).stdout.splitlines()
    (force,) = (line.split(" ", 1)[1] for line in sshd_config
                if line.startswith("ForceCommand "))
    assert re.fullmatch(r"/\S+ -I -S /\S+/darling_nix/gate_entry\.py --runner darling "
                        r"--prefix /var/lib/darling-builder/prefix "
                        r"--state-dir /var/lib/darling-builder --min-free 1073741824 "
                        r"--darling /run/wrappers/bin/darling", force), force
    for line in ("Port 31122", "ListenAddress 127.0.0.1", "AllowUsers darling-builder",
                 "HostKey /var/lib/darling-builder/ssh/ssh_host_ed25519_key",
                 "AuthorizedKeysFile /var/lib/darling-builder/ssh/authorized_keys",
                 "UsePAM no", "PasswordAuthentication no", "PermitTTY no"):
        assert line in sshd_config


def test_custom_settings_reach_the_config(custom: dict[str, Any], tmp_path: Path,
                                          darling_nix: Any) -> None:
    assert custom["failedAssertions"] == []
    data = json.loads(custom["configText"])
    assert data["ephemeral"] is True
    assert data["ssh"]["authorized_keys"] == [LAPTOP_KEY]
    assert data["prefix"] == "/srv/darwin/prefix"
    # a wildcard listen address is reached through loopback
    assert data["ssh"]["connect_address"] == "127.0.0.1"
    assert data["ssh"]["authorized_keys_files"] == [
        "/srv/darwin/ssh/client_ed25519_key.pub", "/etc/darling-builder/extra.pub"]
    assert data["nix"]["settings"] == {"max-silent-time": 3600, "keep-failed": True,
                                       "extra-sandbox-paths": ["/a", "/b"]}
    assert (data["nix"]["max_jobs"], data["nix"]["cores"], data["nix"]["speed_factor"],
            data["nix"]["protocol"]) == (4, 2, 3, "ssh")
    # the prefix's nix.conf the helpers render from it
    conf = darling_nix("render", "nix-conf", "--config", write_config(tmp_path, custom)).stdout
    for line in ("system = x86_64-darwin", "extra-platforms = aarch64-darwin", "max-jobs = 4",
                 "cores = 2", "system-features = big-parallel darling",
                 "max-silent-time = 3600", "keep-failed = true", "extra-sandbox-paths = /a /b"):
        assert line in conf.splitlines()
    assert custom["firewallPorts"] == [2222]
    # the sshd_config the helpers render from it: the explicit limit, sessions for maxJobs
    sshd_config = darling_nix("render", "sshd-config", "--config",
                              write_config(tmp_path, custom)).stdout.splitlines()
    assert data["ssh"]["max_startups"] == 40
    assert {"MaxStartups 40:30:80", "MaxSessions 14"} <= set(sshd_config)


@pytest.mark.parametrize("which", ["default", "custom"])
def test_the_ssh_alias_is_what_the_helpers_render(which: str, request: pytest.FixtureRequest,
                                                  tmp_path: Path, darling_nix: Any) -> None:
    summary = request.getfixturevalue(which)
    rendered = darling_nix("render", "ssh-config", "--config",
                           write_config(tmp_path, summary)).stdout
    assert summary["sshExtraConfig"] == rendered


def test_the_units(default: dict[str, Any]) -> None:
    units = default["units"]
    assert set(units) == {"darling-builder-keys", "darling-builder-setup", "darling-builder-sshd"}
    cli = f"{default['builderPackage']}/bin/darling-nix"
    keys, setup, sshd = (units[f"darling-builder-{n}"]["serviceConfig"]
                         for n in ("keys", "setup", "sshd"))

    assert keys["ExecStart"] == f"{cli} keys --config {CONFIG}"
    assert keys["Type"] == "oneshot" and "User" not in keys  # root: the client key is root's

    assert setup["ExecStart"] == [f"{cli} prefix init --config {CONFIG}",
                                  f"{cli} install-nix --config {CONFIG}"]
    assert (setup["Type"], setup["RemainAfterExit"]) == ("oneshot", True)
    assert (setup["User"], setup["Group"]) == ("darling-builder", "darling-builder")

    sshd_config = "/run/darling-builder/sshd_config"
    openssh = re.escape("/bin/sshd")
    assert re.fullmatch(rf"{STORE_PATH.pattern}openssh{openssh} -D -e -f {sshd_config}",
                        sshd["ExecStart"])
    assert sshd["ExecStartPre"][0] == (f"{cli} render sshd-config --config {CONFIG} "
                                       f"--out {sshd_config}")
    assert sshd["ExecStartPre"][1].endswith(f"/bin/sshd -t -f {sshd_config}")
    assert sshd["RuntimeDirectory"] == "darling-builder"
    assert sshd["Restart"] == "on-failure"

    # Darling is setuid: the units that start it must allow new privileges,
    # and must not set what makes systemd imply NoNewPrivileges for a non-root unit.
    implying = {"SystemCallFilter", "SystemCallArchitectures", "RestrictAddressFamilies",
                "RestrictNamespaces", "PrivateDevices", "ProtectKernelTunables",
                "ProtectClock", "MemoryDenyWriteExecute", "RestrictRealtime",
                "RestrictSUIDSGID", "LockPersonality", "DynamicUser", "PrivateUsers",
                "ProtectKernelModules", "ProtectKernelLogs", "ProtectHostname"}
    for config in (setup, sshd):
        assert config["NoNewPrivileges"] is False
        assert "CapabilityBoundingSet" not in config
    assert not implying & set(setup)
    assert keys["NoNewPrivileges"] is True

    # keys -> setup -> sshd
    assert units["darling-builder-setup"]["requires"] == ["darling-builder-keys.service"]
    assert "darling-builder-keys.service" in units["darling-builder-setup"]["after"]
    assert units["darling-builder-sshd"]["requires"] == ["darling-builder-setup.service"]
    assert "darling-builder-setup.service" in units["darling-builder-sshd"]["after"]
    for name in ("darling-builder-setup", "darling-builder-sshd"):
        assert units[name]["wantedBy"] == ["multi-user.target"]
        assert units[name]["restartTriggers"] == [default["configSource"]]


def test_ephemeral_wipes_the_prefix_first(custom: dict[str, Any]) -> None:
    setup = custom["units"]["darling-builder-setup"]["serviceConfig"]
    cli = f"{custom['builderPackage']}/bin/darling-nix"
    assert setup["ExecStart"] == [f"{cli} prefix wipe --config {CONFIG}",
                                  f"{cli} prefix init --config {CONFIG}",
                                  f"{cli} install-nix --config {CONFIG}"]


def test_the_build_machine(default: dict[str, Any], custom: dict[str, Any]) -> None:
    assert default["distributedBuilds"] is True
    assert default["nixSettings"] == {"builders-use-substitutes": True}
    assert default["buildMachines"] == [{
        "hostName": "darling-builder", "protocol": "ssh-ng", "system": None,
        "systems": ["x86_64-darwin"], "sshUser": None,
        "sshKey": "/var/lib/darling-builder/ssh/client_ed25519_key",
        "maxJobs": 1, "speedFactor": 1, "supportedFeatures": [], "mandatoryFeatures": [],
        "publicHostKey": None,
    }]
    (machine,) = custom["buildMachines"]
    assert (machine["hostName"], machine["protocol"], machine["systems"], machine["maxJobs"],
            machine["speedFactor"], machine["supportedFeatures"],
            machine["mandatoryFeatures"]) == (
        "mac-builder", "ssh", ["x86_64-darwin", "aarch64-darwin"], 4, 3, ["big-parallel"],
        ["darling"])
    assert machine["sshKey"] == "/srv/darwin/ssh/client_ed25519_key"


def test_machines_line_and_known_hosts_match_the_helpers(evaluate: Any, tmp_path: Path,
                                                         darling_nix: Any) -> None:
    """With a real host key and publicHostKey set, the /etc/nix/machines line NixOS
    writes (nix-remote-build.nix, mirrored in eval.nix) is the one the helpers render,
    base64 of the pinned key included."""
    state = tmp_path / "state"
    (state / "ssh").mkdir(parents=True)
    key = state / "ssh" / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "host key comment",
                    "-f", str(key)], check=True)
    public = Path(f"{key}.pub").read_text().strip()
    (summary,) = evaluate([f"""{{
      services.darling-builder = {{
        enable = true;
        stateDir = "{state}";
        publicHostKey = "{public}";
        supportedFeatures = [ "big-parallel" ];
        mandatoryFeatures = [ "darling" ];
      }};
    }}"""])
    config = write_config(tmp_path, summary)
    assert summary["machinesText"] == darling_nix("render", "machines", "--config", config).stdout
    assert darling_nix("render", "known-hosts", "--config", config).stdout == \
        "darling-builder " + " ".join(public.split()[:2]) + "\n"


def test_known_hosts_wiring(default: dict[str, Any], tmp_path: Path, darling_nix: Any) -> None:
    """The alias pins the host key through the file `prefix init` writes from the
    generated key, under the alias as HostKeyAlias; never StrictHostKeyChecking=no."""
    alias = dict(line.strip().split(" ", 1) for line in default["sshExtraConfig"].splitlines()
                 if line.startswith("  "))
    assert alias["UserKnownHostsFile"] == "/var/lib/darling-builder/ssh/known_hosts"
    assert alias["HostKeyAlias"] == "darling-builder"
    assert alias["StrictHostKeyChecking"] == "yes"
    assert alias["Port"] == "31122"
    assert alias["ControlPath"] == "/run/darling-builder-ssh/%C"
    assert "d /run/darling-builder-ssh 0700 root root - -" in default["tmpfiles"]

    # `prefix init` (dry run) on the same config, with a generated host key, would
    # write exactly that known_hosts file.
    state = tmp_path / "state"
    data = json.loads(default["configText"])
    data["state_dir"] = str(state)
    data["prefix"] = str(state / "prefix")
    data["ssh"]["host_key"] = str(state / "ssh" / "ssh_host_ed25519_key")
    data["ssh"]["client_identity"] = str(state / "ssh" / "client_ed25519_key")
    data["ssh"]["authorized_keys_files"] = [str(state / "ssh" / "client_ed25519_key.pub")]
    config = tmp_path / "config.json"
    config.write_text(json.dumps(data))
    darling_nix("keys", "--config", config)
    plan = darling_nix("prefix", "init", "--dry-run", "--config", config).stdout
    assert f"would write {state}/ssh/known_hosts" in plan.splitlines()
    rendered = darling_nix("render", "ssh-config", "--config", config).stdout
    assert f"  UserKnownHostsFile {state}/ssh/known_hosts" in rendered.splitlines()


def test_darling_wrapper_and_packages(default: dict[str, Any]) -> None:
    darling = default["darlingPackage"]
    assert STORE_PATH.match(darling)
    assert default["wrappers"] == {"darling": {
        "source": f"{darling}/bin/darling", "owner": "root", "group": "root",
        "setuid": True, "setgid": False, "permissions": "u+rx,g+x,o+x"}}
    assert set(default["systemPackages"]) == {darling, default["builderPackage"]}


def test_the_builder_user(default: dict[str, Any], evaluate: Any) -> None:
    user = default["users"]["darling-builder"]
    assert user["isSystemUser"] is True
    assert user["home"] == "/var/empty"  # not the writable state dir: bash reads ~/.bashrc
    assert user["hashedPassword"] == "*"  # "!" would be refused by sshd without PAM
    assert user["shell"].endswith("-bash-interactive")
    assert "sshd" in default["users"] and "sshd" in default["groups"]
    assert "d /var/lib/darling-builder/ssh 0750 darling-builder darling-builder - -" in \
        default["tmpfiles"]

    own, openssh = evaluate([
        '{ services.darling-builder = { enable = true; user = "builder"; group = "builder"; }; }',
        "{ services.darling-builder.enable = true; services.openssh.enable = true; }",
    ])
    assert "builder" not in own["users"] and "builder" not in own["groups"]
    assert "sshd" not in openssh["users"]  # services.openssh makes it


def test_register_locally_off(evaluate: Any) -> None:
    (summary,) = evaluate(["{ services.darling-builder = { enable = true; "
                           "registerLocally = false; }; }"])
    assert summary["buildMachines"] == []
    assert summary["distributedBuilds"] is False
    assert summary["sshExtraConfig"] == ""
    assert summary["units"]["darling-builder-sshd"]  # still serves other machines


def test_stand_in_runner_needs_no_darling(evaluate: Any) -> None:
    """The internal `runner` option the builder-standin VM test uses."""
    (summary,) = evaluate(['{ services.darling-builder = { enable = true; '
                           'runner = "namespace"; }; }'])
    assert summary["failedAssertions"] == []
    assert json.loads(summary["configText"])["runner"]["kind"] == "namespace"
    assert summary["wrappers"] == {}  # programs.darling stays off


def test_disabled_is_empty(evaluate: Any) -> None:
    (summary,) = evaluate(["{ }"])
    assert summary["configText"] is None
    assert summary["units"] == {} and summary["wrappers"] == {}
    assert summary["buildMachines"] == []


def test_open_firewall_on_loopback_warns(evaluate: Any) -> None:
    (summary,) = evaluate(["{ services.darling-builder = { enable = true; "
                           "openFirewall = true; }; }"])
    assert summary["firewallPorts"] == [31122]
    assert any("loopback only" in w for w in summary["warnings"])


# Each bad setting that needs NixOS knowledge to see, and the message it must
# produce (a substring), alone. The helpers' own rules are not the module's:
# test_module_config_check.py shows the build refusing those.
BAD_SETTINGS = {
    "port of services.openssh":
        ("services.openssh.enable = true; services.openssh.ports = [ 22 2222 ]; "
         "services.darling-builder.port = 2222;", "also in services.openssh.ports"),
    "darling disabled": ("programs.darling.enable = false;", "needs programs.darling.enable"),
    "tarball without its hash": ('services.darling-builder.nix.tarball = "/srv/nix.tar.xz";',
                                 "nix.tarballSha256 must be set"),
    "registered without nix": ("nix.enable = false;", "registerLocally needs nix.enable"),
    "root as the builder user": ('services.darling-builder.user = "root";',
                                 "user must not be root"),
}


@pytest.fixture(scope="module")
def bad_results(evaluate: Any) -> dict[str, list[str]]:
    modules = ["{ services.darling-builder.enable = true; " + setting + " }"
               for setting, _ in BAD_SETTINGS.values()]
    return dict(zip(BAD_SETTINGS, (s["failedAssertions"] for s in evaluate(modules)),
                    strict=True))


@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_assertion_fires(case: str, bad_results: dict[str, list[str]]) -> None:
    (message,) = bad_results[case]
    assert BAD_SETTINGS[case][1] in message
    assert message.startswith(("services.darling-builder", "programs.darling"))


def test_assertion_fires_off_x86_64_linux(evaluate: Any) -> None:
    (summary,) = evaluate([ENABLE], system="aarch64-linux")
    assert len(summary["failedAssertions"]) == 2  # programs.darling's and the builder's
    assert all("runs only on x86_64-linux, but this system is aarch64-linux" in m
               for m in summary["failedAssertions"])


@pytest.mark.parametrize("setting, option", [
    ('services.darling-builder.protocol = "http";', "services.darling-builder.protocol"),
    ('services.darling-builder.stateDir = "relative/dir";', "services.darling-builder.stateDir"),
    # the module's base64 encoder of the pin knows printable ASCII only
    ('services.darling-builder.publicHostKey = "ssh-ed25519 AAAA\u00e9";',
     "services.darling-builder.publicHostKey"),
    ("services.darling-builder.maxJobs = 0;", "services.darling-builder.maxJobs"),
])
def test_type_errors_name_the_option(setting: str, option: str, evaluate: Any) -> None:
    with pytest.raises(AssertionError, match=re.escape(option)):
        evaluate(["{ services.darling-builder.enable = true; " + setting + " }"])


def test_flake_outputs(eval_flake_outputs: Any, repo: Path) -> None:
    flake = eval_flake_outputs()
    assert flake["inputs"] == {"nixpkgs": {"url": "github:NixOS/nixpkgs/nixos-26.05"}}
    assert set(flake["outputs"]) == {"nixosModules", "overlays", "packages", "checks",
                                     "templates", "devShells", "formatter"}
    assert set(flake["packages"]) == {"darling", "darling-nix", "shims", "default"}
    assert set(flake["packages"]) <= set(flake["checks"])
    if (repo / "vm-tests" / "default.nix").exists():
        assert len(flake["checks"]) > len(flake["packages"])  # the VM tests are wired in
    assert set(flake["overlay"]) == {"darling", "darling-nix", "darling-nix-shims"}
    modules = {name: [Path(p).relative_to(repo).as_posix() for p in paths]
               for name, paths in flake["nixosModules"].items()}
    assert modules == {
        "darling": ["modules/darling.nix"],
        "darling-builder": ["modules/darling.nix", "modules/darling-builder.nix"],
        "default": ["modules/darling.nix", "modules/darling-builder.nix"],
    }
    for path in flake["templates"].values():
        assert (Path(path) / "flake.nix").is_file() and (Path(path) / "README.md").is_file()
