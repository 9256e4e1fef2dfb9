# testScript of darling-smoke.nix, after common.py (node: machine). Plain Python.
import json

CONFIG = "/etc/darling-vm-test/smoke-config.json"


def dshell(args: str, prefix: str = "", timeout: int = 120) -> str:
    """`darling shell ARGS`, with DPREFIX=PREFIX when given (default: ~/.darling)."""
    env = f"DPREFIX={shlex.quote(prefix)} " if prefix else ""
    return run_logged(machine, f"{env}darling shell {args}", timeout)


start_all()
machine.wait_for_unit("multi-user.target")

with subtest("darling is the setuid wrapper and a first shell starts"):
    machine.succeed("test -u /run/wrappers/bin/darling")
    # the first run lays out the prefix (~/.darling): allow it time
    dshell("/usr/bin/true", timeout=600)

with subtest("streaming: output is not held until the server shuts down"):
    # stdout into a pipe: the last cat sees EOF only if nothing keeps the pipe open
    out = run_logged(machine, "printf 'x\\n' | darling shell cat 2>/dev/null | cat", 60)
    assert out == "x\n", repr(out)
    # the first line must arrive while the command is still running: read it from a
    # process substitution (bash does not wait for those), the rest is stopped below
    out = run_logged(
        machine,
        "bash -c 'read -r line < <(darling shell /bin/sh -c \"echo ready; sleep 300\");"
        " echo \"$line\"'", 60)
    assert out.strip() == "ready", repr(out)
    run_logged(machine, "darling shutdown", 120)

with subtest("sw_vers and uname"):
    out = dshell("sw_vers")
    assert "ProductVersion:" in out and "11.7.4" in out, out
    assert dshell("uname -s").strip() == "Darwin"
    assert dshell("uname -r").strip() == "20.6.0"

with subtest("exit status is propagated"):
    out = run_logged(machine, "darling shell /bin/sh -c 'exit 3'; echo status=$?", 60)
    assert out.strip().endswith("status=3"), out

with subtest("the shims, in a prefix laid out by darling-nix prefix init"):
    cfg = json.loads(machine.succeed(f"darling-nix config show --json {CONFIG}"))
    prefix = cfg["prefix"]
    machine.succeed(f"mkdir -p {cfg['state_dir']}")
    run_logged(machine, f"darling-nix prefix init --config {CONFIG}", 600)
    for shim in ["usr/bin/dscl", "usr/sbin/dseditgroup", "usr/sbin/sysadminctl",
                 "usr/sbin/diskutil", "usr/bin/sandbox-exec"]:
        machine.succeed(f"test -x {prefix}/{shim}")
    out = dshell("dscl . -read /Users/root", prefix)
    assert "RecordName: root" in out and "UniqueID: 0" in out, out
    out = dshell("dseditgroup -o checkmember -m root wheel", prefix)
    assert "yes root is a member of wheel" in out, out
    out = dshell("diskutil info -plist /", prefix)
    assert "<plist" in out and "</plist>" in out, out
    # the official installer reads that plist with xmllint (macOS ships it in /usr/bin)
    dshell("/bin/sh -c 'diskutil info -plist / | xmllint --noout -'", prefix)
    run_logged(machine, f"DPREFIX={prefix} darling shutdown", 120)
