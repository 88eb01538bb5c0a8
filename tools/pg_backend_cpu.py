#!/usr/bin/env python3
"""CPU of the PostgreSQL backends that serve one database, while a load runs.

    python3 tools/pg_backend_cpu.py DBNAME     # start it once chatd is up; stop it with Ctrl-C / SIGTERM

PostgreSQL runs each connection in a process of its own (`postgres: USER DBNAME HOST(PORT) …`),
which shares the box's cores with chatd and the load client. Every 0.2 s this reads
`utime + stime` from /proc/PID/stat for the backends of DBNAME (and for the server's shared
walwriter, checkpointer and background writer); on exit it prints three numbers: the backends'
CPU seconds since it started (a backend already there counts from its first sample, one that
appears later from zero; a backend's last 0.2 s before it exits can be missed, so read it while
chatd still runs), how many backends it saw, and the shared processes' CPU seconds.
"""
import os
import signal
import sys
import time

db = sys.argv[1]
tick = os.sysconf("SC_CLK_TCK")
first, last = {}, {}          # backends of db: pid -> ticks at the first and the last sample
shared0, shared1 = {}, {}     # the shared processes, the same
stop = False


def on_signal(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


initial = True
while True:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            if not cmd.startswith("postgres: "):
                continue
            now = ticks(pid)
        except OSError:
            continue
        if f" {db} " in cmd:
            if initial:
                first[pid] = now
            last[pid] = max(last.get(pid, 0), now)
        elif any(k in cmd for k in ("walwriter", "checkpointer", "background writer")):
            if initial:
                shared0[pid] = now
            shared1[pid] = now
    initial = False
    if stop:
        break
    time.sleep(0.2)
backends = sum(t - first.get(p, 0) for p, t in last.items()) / tick
shared = sum(t - shared0.get(p, t) for p, t in shared1.items()) / tick
print(f"{backends:.2f} {len(last)} {shared:.2f}")
