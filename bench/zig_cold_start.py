"""How often zig dies in a cold start under Darling, on one or more Darling builds side by
side. zig (PyPI's macOS wheel, the compatibility suite's pin) compiles and links a trivial
C program with an empty cache, RUNS times per build, in a fresh prefix per build; the
builds take turns, ROUND runs at a time, so drift on a noisy machine hits all alike. A run
that outlives LIMIT seconds is killed and counted as a hang.

    sudo .venv/bin/python bench/zig_cold_start.py [RUNS [INSTALL ...]]

RUNS: default 20. INSTALL: a directory name under /var/cache/darling-nix/installs (a key,
`patched`, `control`); default `patched`. docs/compat.md says what a crash is and what
these counts decided.
"""

from __future__ import annotations

import collections
import sys

from _common import installs, require_root, scratch
from darling_nix import compat
from darling_nix.darling.cache import default_cache
from darling_nix.runner import DarlingRunner, path_inside
from darling_nix.stdenv_lite import ZIG

ROUND = 5
LIMIT = 300
# one line per run: its exit status (134 SIGABRT, 139 SIGSEGV) or HANG, and its seconds
LOOP = """cd "$1" || exit 2; printf 'int main(void) { return 0; }\\n' > w.c; i=0
while [ $i -lt "$3" ]; do i=$((i + 1)); rm -rf cache; start=$(date +%s)
  ZIG_GLOBAL_CACHE_DIR=$PWD/cache ZIG_LOCAL_CACHE_DIR=$PWD/cache/l "$2" cc w.c -o w \\
    > log 2>&1 & zig=$!; n=0
  while kill -0 $zig 2>/dev/null && [ $n -lt "$4" ]; do sleep 1; n=$((n + 1)); done
  if kill -0 $zig 2>/dev/null; then kill -9 $zig; wait $zig; s=HANG
  else wait $zig; s=$?; fi
  echo "run $s $(( $(date +%s) - start ))"
done"""


def main() -> None:
    require_root()
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    compared = installs(sys.argv[2:])
    program = compat.load().programs[ZIG]
    zig = compat.unpack(program, compat.fetch(program, default_cache(), compat.registry_download))
    outcomes: dict[str, collections.Counter[str]] = {i.key: collections.Counter() for i in compared}
    with scratch() as work:
        runners = {i.key: DarlingRunner(work / f"prefix-{i.key}", i.darling) for i in compared}
        try:
            for runner in runners.values():
                runner.create_prefix()
            for start in range(0, runs, ROUND):
                for key, runner in runners.items():
                    scratch_dir = work / f"run-{key}"
                    scratch_dir.mkdir(exist_ok=True)
                    ran = runner.run(["/bin/sh", "-c", LOOP, "loop", path_inside(scratch_dir),
                                      path_inside(zig), str(min(ROUND, runs - start)),
                                      str(LIMIT)], capture=True, timeout=ROUND * (LIMIT + 60))
                    for line in ran.stdout.decode(errors="replace").splitlines():
                        if line.startswith("run "):
                            outcomes[key][line.split()[1]] += 1
                    print(f"  {key[:12]}: {sum(outcomes[key].values())} runs", file=sys.stderr)
        finally:
            for runner in runners.values():
                runner.stop()
    print(f"zig cc, cold cache, under Darling: {runs} runs per build "
          f"(0 passed, 134 SIGABRT, 139 SIGSEGV, HANG killed after {LIMIT} s)")
    for key, counted in outcomes.items():
        failed = sum(n for status, n in counted.items() if status != "0")
        cells = ", ".join(f"{status}: {n}" for status, n in sorted(counted.items()))
        print(f"{key[:12]:<14} failed {failed:>3} of {sum(counted.values()):<3} ({cells})")


if __name__ == "__main__":
    main()
