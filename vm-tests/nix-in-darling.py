# testScript of nix-in-darling.nix, after common.py (node: machine). Plain Python.
import json

CONFIG = "/etc/darling-builder/config.json"
# the host's / is /Volumes/SystemRoot inside Darling; these files are copies, not links
BUILDS = "/Volumes/SystemRoot/etc/darling-vm-test/builds.nix"
REGRESS = "/etc/darling-vm-test/regress/bin"
# published sha256 of nix-2.35.1-x86_64-darwin.tar.xz (the module's default tarball)
NIX_SHA256 = "1a932047a6e563acbd86024599bb377cbceca4dc6934a49f62a41ea1d9bdcb1b"

start_all()
machine.wait_for_unit("multi-user.target", timeout=3600)
cfg = json.loads(machine.succeed(f"darling-nix config show --json {CONFIG}"))
user = cfg["user"]
prefix = cfg["prefix"]
state_dir = cfg["state_dir"]


def inside(command: str, timeout: int = 600) -> str:
    """COMMAND (words for the shell) inside the prefix, the prefix's Nix on PATH,
    as the builder's user; returns stdout+stderr."""
    return run_logged(machine,
                      as_user(user, f"darling-nix exec --config {CONFIG} -- {command}"),
                      timeout)


def last_line(out: str) -> str:
    lines = out.strip().splitlines()
    return lines[-1] if lines else ""


with subtest("Nix is installed offline from the pinned tarball"):
    # install-nix writes its marker last: "<sha256> <nix store path>"
    machine.wait_until_succeeds(f"test -s {prefix}/nix/var/darling-nix/installed", timeout=3600)
    marker = machine.succeed(f"cat {prefix}/nix/var/darling-nix/installed").split()
    assert marker[0] == NIX_SHA256, marker
    assert marker[1].startswith("/nix/store/") and "2.35.1" in marker[1], marker
    out = inside("nix-store --version")
    assert "2.35.1" in out, out

with subtest("the store verifies inside"):
    inside("nix-store --verify --check-contents", 1800)
    run_logged(machine, as_user(user, f"darling-nix verify --config {CONFIG}"), 1800)

with subtest("builtins.currentSystem is x86_64-darwin"):
    out = inside("nix-instantiate --eval --expr builtins.currentSystem")
    assert last_line(out) == '"x86_64-darwin"', out

with subtest("a trivial and a dependent build"):
    trivial = last_line(inside(f"nix-build {BUILDS} -A trivial --no-out-link", 1800))
    assert trivial.startswith("/nix/store/") and trivial.endswith("-trivial"), trivial
    assert "hello from darwin" in inside(f"cat {trivial}")
    dependent = last_line(inside(f"nix-build {BUILDS} -A dependent --no-out-link", 1800))
    assert dependent.endswith("-dependent"), dependent
    assert "dependent on: hello from darwin" in inside(f"cat {dependent}")
    assert trivial in inside(f"nix-store --query --references {dependent}")
    # both are in the prefix's store, seen from the host
    machine.succeed(f"test -e {prefix}{trivial} && test -e {prefix}{dependent}")

with subtest("syscall regression programs (pkgs/darling/regress)"):
    programs = machine.succeed(f"ls {REGRESS}").split()
    assert programs, "no regression programs"
    # host-side writes into the prefix only while Darling's container is stopped
    run_logged(machine, as_user(user, f"DPREFIX={prefix} darling shutdown"), 120)
    target = f"{prefix}/private/tmp/darling-nix-regress"
    machine.succeed(f"rm -rf {target} && mkdir -p {target} && cp -L {REGRESS}/* {target}/"
                    f" && chmod 0755 {target}/* && chown -R {user} {target}")
    # a program whose check is its exit status (test_regress.py's STATUS_CHECKS):
    # signal_status kills itself with SIGTERM, which darling shell reports as 128 + 15
    status_checks = {"signal_status": 143}
    for program in programs:
        out = run_logged(
            machine,
            as_user(user, f"DPREFIX={prefix} darling shell"
                          f" /private/tmp/darling-nix-regress/{program};"
                          f" test $? -eq {status_checks.get(program, 0)}"), 300)
        # upstream Darling reports 0 for a program killed by a signal (our 0008 fixes that):
        # demand its PASS lines as well
        assert "FAIL:" not in out and "PASS:" in out, f"{program}:\n{out}"
