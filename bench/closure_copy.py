"""Copying a 200 MB closure to the builder and back with Nix over the builder's sshd and
gate — `nix copy` over ssh-ng (the protocol the builder is registered with, which the build
hook uses) and, for reference, nix-copy-closure over the legacy serve protocol — against
raw `ssh HOST cat` moving the same bytes there and back. Goal: Nix's throughput at least
0.8x the raw ssh throughput.

    sudo .venv/bin/python bench/closure_copy.py [RUNS] [MEGABYTES]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import alternate, builder, median_ms, require_root, timed, ungated_sshd, verdict
from darling_nix.runner import runner_for


def main() -> None:
    require_root()
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    megabytes = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    with tempfile.TemporaryDirectory() as work:
        payload = Path(work) / "darling-nix-bench-payload"
        payload.mkdir()
        with (payload / "blob").open("wb") as blob:
            for _ in range(megabytes):
                blob.write(os.urandom(1 << 20))  # random: no compression can help either side
        store_path = subprocess.run(["nix-store", "--add", str(payload)], capture_output=True,
                                    text=True, check=True).stdout.strip()
        raw_file = payload / "blob"
        with builder() as b, b.sshd(), ungated_sshd(b) as raw:
            runner = runner_for(b.config)
            env = {**os.environ, "NIX_SSHOPTS": f"-F {b.ssh_config}"}
            alias = b.config.ssh.host_alias

            nix_copy = ["nix", "--extra-experimental-features", "nix-command", "copy"]

            def round_trip(to: list[str], back: list[str]) -> float:
                """The two copies, timed; deleting the path on the other side is not."""
                runner.run(["nix-store", "--delete", store_path], capture=True)
                there = timed(lambda: subprocess.run(to, env=env, check=True,
                                                     capture_output=True))
                subprocess.run(["nix-store", "--delete", store_path], check=True,
                               capture_output=True)
                return there + timed(lambda: subprocess.run(back, env=env, check=True,
                                                            capture_output=True))

            def ssh_ng_round_trip() -> float:
                # Outputs a builder made carry no signature; the build hook trusts them too.
                return round_trip([*nix_copy, "--to", f"ssh-ng://{alias}", store_path],
                                  [*nix_copy, "--no-check-sigs", "--from",
                                   f"ssh-ng://{alias}", store_path])

            def legacy_round_trip() -> float:
                return round_trip(["nix-copy-closure", "--to", alias, store_path],
                                  ["nix-copy-closure", "--from", alias, store_path])

            ssh = ["ssh", "-F", str(raw.ssh_config), raw.alias]

            def raw_round_trip() -> float:
                with raw_file.open("rb") as source:
                    there = timed(lambda: subprocess.run(
                        [*ssh, "cat > /tmp/darling-nix-bench-raw"], stdin=source, check=True))
                return there + timed(lambda: subprocess.run(
                    [*ssh, "cat /tmp/darling-nix-bench-raw"], check=True,
                    stdout=subprocess.DEVNULL))

            times = alternate(runs, ssh_ng=ssh_ng_round_trip, legacy=legacy_round_trip,
                              raw=raw_round_trip)
            subprocess.run([*ssh, "rm -f /tmp/darling-nix-bench-raw"], check=False)
        subprocess.run(["nix-store", "--delete", store_path], capture_output=True, check=False)
    print(f"runs: {runs} each, alternating, {megabytes} MiB there and back")
    medians = {name: median_ms(values) for name, values in times.items()}
    for name, label in (("raw", "raw ssh cat"), ("ssh_ng", "nix copy, ssh-ng"),
                        ("legacy", "nix-copy-closure, ssh")):
        rate = 2 * megabytes / medians[name] * 1000
        print(f"{label:22} {medians[name]:8.0f} ms median ({rate:5.0f} MiB/s)")
    print(f"throughput nix-copy-closure (legacy ssh)/raw: {medians['raw'] / medians['legacy']:.3f}")
    ratio = medians["raw"] / medians["ssh_ng"]
    verdict("throughput nix copy (ssh-ng)/raw", ratio, ">= 0.8", ratio >= 0.8)


if __name__ == "__main__":
    main()
