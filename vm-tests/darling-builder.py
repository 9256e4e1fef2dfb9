# testScript of darling-builder.nix, after common.py (node: builder). Plain Python.
import json

CONFIG = "/etc/darling-builder/config.json"
PROBE = "/etc/darling-vm-test/darwin-probe.nix"
PORT = 31122

start_all()
builder.wait_for_unit("multi-user.target", timeout=3600)
cfg = json.loads(builder.succeed(f"darling-nix config show --json {CONFIG}"))
assert cfg["runner"]["kind"] == "darling", cfg["runner"]
prefix = cfg["prefix"]
state_dir = cfg["state_dir"]
alias = cfg["ssh"]["host_alias"]

with subtest("the builder comes up: Nix in the prefix, sshd, registration"):
    builder.wait_until_succeeds(f"test -s {prefix}/nix/var/darling-nix/installed", timeout=3600)
    builder.wait_for_open_port(PORT)
    machines = builder.succeed("cat /etc/nix/machines")
    assert f"://{alias} " in machines and "x86_64-darwin" in machines, machines

with subtest("doctor, with a build through the host's Nix"):
    run_logged(builder, f"darling-nix doctor --config {CONFIG} --build", 1800)

with subtest("a darwin derivation is built in the prefix"):
    out = run_logged(
        builder, f"nix-build {PROBE} --argstr tag darling --max-jobs 0 --no-out-link", 1800)
    path = out.strip().splitlines()[-1]
    assert path.startswith("/nix/store/") and path.endswith("-darwin-probe-darling"), out
    content = builder.succeed(f"cat {path}")
    assert "tag=darling" in content and "kernel=Darwin" in content, content
    builder.succeed(f"test -e {prefix}/nix/store/{path[len('/nix/store/'):]}")
    builder.succeed(f"grep -q \"accepted 'nix-daemon --stdio'\" {state_dir}/gate.log")
