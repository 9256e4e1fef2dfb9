"""Gate start-up: the gate as the rendered sshd_config starts it (its ForceCommand), running
`nix-store --version` in the prefix, against the same runner command without the gate; and,
for reference, the `darling-nix gate --config FILE` console-script form.
Goal: 50 ms or less added (median).

    sudo .venv/bin/python bench/gate_startup.py [RUNS]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from _common import alternate, builder, median_ms, require_root, timed, verdict
from darling_nix.runner import runner_for


def main() -> None:
    require_root()
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    entry = shutil.which("darling-nix") or f"{os.path.dirname(sys.executable)}/darling-nix"
    with builder() as b:
        runner = runner_for(b.config)
        inner = ["nix-store", "--version"]
        gate_env = {"PATH": os.environ["PATH"], "SSH_ORIGINAL_COMMAND": " ".join(inner)}
        times = alternate(
            runs,
            plain=lambda: timed(lambda: subprocess.run(runner.command(inner), env=runner.environment(),
                                         stdout=subprocess.DEVNULL, check=True)),
            gate=lambda: timed(lambda: subprocess.run(b.config.gate_command.split(), env=gate_env,
                                        stdout=subprocess.DEVNULL, check=True)),
            script=lambda: timed(lambda: subprocess.run([entry, "gate", "--config", str(b.config_file)],
                                          env=gate_env, stdout=subprocess.DEVNULL, check=True)),
        )
    plain, gated = median_ms(times["plain"]), median_ms(times["gate"])
    print(f"runs: {runs} each, alternating")
    print(f"runner alone (exec to exit):   {plain:7.1f} ms median")
    print(f"through the gate (ForceCommand): {gated:5.1f} ms median")
    print(f"through `darling-nix gate --config` (console script): "
          f"{median_ms(times['script']):.1f} ms median")
    print(f"ratio gate/plain:              {gated / plain:7.2f}x")
    verdict("added by the gate (ms)", gated - plain, "<= 50", gated - plain <= 50)


if __name__ == "__main__":
    main()
