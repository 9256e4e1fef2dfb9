# testScript of builder-standin.nix, after common.py (nodes: builder, client).
# Plain Python: no Nix interpolation. Paths the Nix side provides are fixed below.
import json

CONFIG = "/etc/darling-builder/config.json"  # the helpers' default config path
PROBE = "/etc/darling-vm-test/darwin-probe.nix"
CLIENT_KEY = "/etc/darling-vm-test/client_key"
KNOWN_HOSTS = "/root/.ssh/darling_known_hosts"
PORT = 31122


start_all()

with subtest("builder: keys, prefix, stand-in Nix, sshd"):
    builder.wait_for_unit("multi-user.target")
    builder.wait_for_open_port(PORT)
    cfg = json.loads(builder.succeed(f"darling-nix config show --json {CONFIG}"))
    assert cfg["runner"]["kind"] == "namespace", f"stand-in runner expected: {cfg['runner']}"
    user = cfg["user"]
    prefix = cfg["prefix"]
    state_dir = cfg["state_dir"]
    host_key = cfg["ssh"]["host_key"]
    alias = cfg["ssh"]["host_alias"]
    builder.succeed(f"test -s {host_key} && test -s {host_key}.pub")
    builder.succeed(f"test \"$(stat -c %a {host_key})\" = 600")
    builder.succeed(f"test -x {prefix}/nix/var/nix/profiles/default/bin/nix-store")
    # Nix inside the prefix (the stand-in's) answers through the runner
    version = builder.succeed(
        as_user(user, f"darling-nix exec --config {CONFIG} -- nix-store --version"), timeout=300)
    assert version.startswith("nix-store (Nix)"), version

with subtest("builder: registered with its own nix-daemon"):
    machines = builder.succeed("cat /etc/nix/machines")
    assert f"://{alias} " in machines and "x86_64-darwin" in machines, machines
    builder.succeed(f"ssh -G {alias} | grep -qx 'port {PORT}'")

with subtest("client: pin the builder's host key"):
    client.wait_for_unit("multi-user.target")
    host_public = builder.succeed(f"cut -d' ' -f1,2 {host_key}.pub").strip()
    client.succeed(f"mkdir -p -m 700 /root/.ssh && echo 'darling-builder {host_public}' > {KNOWN_HOSTS}")

with subtest("gate: the allowed probe runs, anything else is refused"):
    # stdout carries exactly the command's output: nothing from login files
    out = client.succeed("ssh darling-builder nix-store --version")
    assert out.startswith("nix-store (Nix)") and out.count("\n") == 1, repr(out)
    out = client.fail("ssh darling-builder 'echo gate-bypassed; id'")
    assert "gate-bypassed" not in out, out
    builder.succeed(f"grep -q refused {state_dir}/gate.log")
    # sshd itself: no password logins, no other user
    client.fail("ssh -o BatchMode=yes -o User=root darling-builder nix-store --version")

with subtest("doctor, from the client and on the builder"):
    client.succeed(
        f"darling-nix doctor --host builder --port {PORT} --user {user}"
        f" --key {CLIENT_KEY} --host-key {shlex.quote(host_public)}", timeout=300)
    builder.succeed(f"darling-nix doctor --config {CONFIG} --build", timeout=600)

with subtest("a darwin-labelled build from the client runs on the builder"):
    out = client.succeed(
        f"nix-build {PROBE} --argstr tag client --max-jobs 0 --no-out-link"
        " 2> /tmp/client-build.log", timeout=600).strip()
    assert out.startswith("/nix/store/"), out
    name = out[len("/nix/store/"):]
    content = client.succeed(f"cat {out}")
    assert "tag=client" in content and "host=builder" in content, content
    # built in the builder's prefix store, known to the prefix's Nix database ...
    builder.succeed(f"test -e {prefix}/nix/store/{name}")
    builder.succeed(as_user(
        user, f"darling-nix exec --config {CONFIG} -- nix-store --check-validity {out}"),
        timeout=300)
    # ... and not by the builder's host Nix
    builder.fail(f"test -e {out}")

with subtest("a darwin-labelled build on the builder itself (registerLocally)"):
    out = builder.succeed(
        f"nix-build {PROBE} --argstr tag local --max-jobs 0 --no-out-link", timeout=600).strip()
    content = builder.succeed(f"cat {out}")
    assert "tag=local" in content and "host=builder" in content, content
    builder.succeed(f"test -e {prefix}/nix/store/{out[len('/nix/store/'):]}")

with subtest("independent of Darling"):
    builder.fail("pgrep -x darlingserver")
    builder.fail("test -e /root/.darling")
