"""A ForceCommand for bench/remote_breakdown.py: runs the real one (the gate) as its child
and passes the bytes through both ways, writing when each burst of bytes went which way
to DIRECTORY/PID.json. Started as `python -I -S relay.py DIRECTORY GATE-ARGV...`;
standard library only."""

import json
import os
import select
import subprocess
import sys
import time

started = time.time()
directory, command = sys.argv[1], sys.argv[2:]
child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
routes = {0: (child.stdin.fileno(), "client"), child.stdout.fileno(): (1, "daemon")}
bursts = []  # [who, first time, last time, bytes, first 8 bytes as a little-endian number]
while routes:
    ready, _, _ = select.select(list(routes), [], [])
    for source in ready:
        data = os.read(source, 1 << 16)
        target, who = routes[source]
        if not data:
            del routes[source]
            if who == "client":
                child.stdin.close()
            continue
        now = time.time()
        if bursts and bursts[-1][0] == who:
            bursts[-1][2], bursts[-1][3] = now, bursts[-1][3] + len(data)
        else:
            bursts.append([who, now, now, len(data), int.from_bytes(data[:8], "little")])
        os.write(target, data)
child.wait()
partial = os.path.join(directory, f"{os.getpid()}.part")
with open(partial, "w") as out:
    json.dump({"started": started, "ended": time.time(), "bursts": bursts}, out)
os.rename(partial, partial[:-len(".part")] + ".json")  # whole, or not there
