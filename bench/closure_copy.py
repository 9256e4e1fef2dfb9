"""Copying a 200 MB closure to the builder and back with Nix (nix-copy-closure over the
builder's sshd and gate), against raw `ssh HOST cat` moving the same bytes there and back.
Goal: Nix's throughput at least 0.8x the raw ssh throughput.

    sudo .venv/bin/python bench/closure_copy.py [RUNS] [MEGABYTES]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import alternate, builder, median_ms, require_root, ungated_sshd, verdict
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
        with builder() as b, b.sshd(), ungated_sshd(b) as raw_config:
            runner = runner_for(b.config)
            env = {**os.environ, "NIX_SSHOPTS": f"-F {b.ssh_config}"}
            alias = b.config.ssh.host_alias

            def nix_round_trip() -> None:
                runner.run(["nix-store", "--delete", store_path], capture=True)
                subprocess.run(["nix-copy-closure", "--to", alias, store_path], env=env,
                               check=True, capture_output=True)
                subprocess.run(["nix-store", "--delete", store_path], check=True,
                               capture_output=True)
                subprocess.run(["nix-copy-closure", "--from", alias, store_path], env=env,
                               check=True, capture_output=True)

            ssh = ["ssh", "-F", str(raw_config), f"{alias}-ungated"]

            def raw_round_trip() -> None:
                with raw_file.open("rb") as source:
                    subprocess.run([*ssh, "cat > /tmp/darling-nix-bench-raw"], stdin=source,
                                   check=True)
                subprocess.run([*ssh, "cat /tmp/darling-nix-bench-raw"], check=True,
                               stdout=subprocess.DEVNULL)

            times = alternate(runs, nix=nix_round_trip, raw=raw_round_trip)
            subprocess.run([*ssh, "rm -f /tmp/darling-nix-bench-raw"], check=False)
        subprocess.run(["nix-store", "--delete", store_path], capture_output=True, check=False)
    nix_ms, raw_ms = median_ms(times["nix"]), median_ms(times["raw"])
    print(f"runs: {runs} each, alternating, {megabytes} MiB there and back")
    print(f"raw ssh cat:        {raw_ms:8.0f} ms median ({2 * megabytes / raw_ms * 1000:6.0f} MiB/s)")
    print(f"nix-copy-closure:   {nix_ms:8.0f} ms median ({2 * megabytes / nix_ms * 1000:6.0f} MiB/s)")
    verdict("throughput nix/raw", raw_ms / nix_ms, ">= 0.8", raw_ms / nix_ms >= 0.8)


if __name__ == "__main__":
    main()
