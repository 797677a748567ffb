#!/usr/bin/env python3
"""CPU bookkeeping for bench/run.sh on a machine shared with other work.

  cpuwatch.py busy SECONDS              % of all CPUs busy over SECONDS
  cpuwatch.py snap FILE                 record every process's CPU time
  cpuwatch.py foreign FILE0 FILE1 PID.. % of all CPUs busy between the two snapshots
                                        with work outside the trees of PIDs: all busy
                                        time (/proc/stat) minus what the trees used, so
                                        short-lived processes (compilers) are counted
  cpuwatch.py tree FILE0 FILE1 PID..    CPU milliseconds used between the snapshots
                                        by the PIDs and their descendants
  cpuwatch.py client FILE0 FILE1 ROOT PID..
                                        CPU milliseconds of ROOT's tree minus the trees
                                        of the PIDs (the load generators of a step,
                                        without the server it started)

Only /proc is read; nothing is changed.  `tree` misses a process that
started and ended between the snapshots; `foreign` therefore counts such
short-lived children of the PIDs (a curl, a python) as foreign: it errs on
the side of reporting more disturbance, not less.
"""
import json
import os
import sys
import time


def procs():
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(")") + 2:].split()
        # rest[1] ppid, rest[11] utime, rest[12] stime, rest[13] cutime,
        # rest[14] cstime (reaped children: a loadgen that ended before the
        # second snapshot is found in its parent's), rest[19] starttime
        out[name] = [int(rest[1]), sum(int(x) for x in rest[11:15]), int(rest[19])]
    return out


def cpu_line():
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def load(path):
    with open(path) as f:
        d = json.load(f)
    return d["cpu"], {int(k): v for k, v in d["procs"].items()}, d.get("self", 0)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd == "busy":
        a = cpu_line()
        time.sleep(float(sys.argv[2]))
        b = cpu_line()
        busy = sum(b[i] - a[i] for i in (0, 1, 2, 5, 6))
        total = sum(b[i] - a[i] for i in range(min(8, len(a))))
        print(int(round(100.0 * busy / total)) if total else 0)
        return
    if cmd == "snap":
        with open(sys.argv[2], "w") as f:
            snap = {"t": time.time(), "cpu": cpu_line(), "procs": procs()}
            # this process's own CPU: once it is reaped it lands in its parent's
            # cutime after the snapshot, so `client` takes it back out
            t = os.times()
            snap["self"] = int(round((t.user + t.system) * os.sysconf("SC_CLK_TCK")))
            json.dump(snap, f)
        return
    if cmd not in ("foreign", "tree", "client") or len(sys.argv) < 4:
        sys.exit(__doc__)
    c0, p0, self0 = load(sys.argv[2])
    c1, p1, _ = load(sys.argv[3])
    roots = {int(x) for x in sys.argv[4:]}
    parent = {pid: v[0] for pid, v in list(p0.items()) + list(p1.items())}

    def under(pid):
        for _ in range(64):
            if pid in roots:
                return True
            pid = parent.get(pid, 0)
            if pid <= 1:
                return False
        return False

    def used(pid, v):
        old = p0.get(pid)
        return v[1] - (old[1] if old and old[2] == v[2] else 0)

    if cmd == "client":
        top, excl = int(sys.argv[4]), {int(x) for x in sys.argv[5:]}
        roots.clear()
        roots.add(top)
        mine = {pid for pid in p1 if under(pid)}
        roots.clear()
        roots.update(excl)
        ticks = sum(used(pid, p1[pid]) for pid in mine if not under(pid)) - self0
        print(max(0, int(round(ticks * 1000.0 / os.sysconf("SC_CLK_TCK")))))
        return
    ours = sum(used(pid, v) for pid, v in p1.items() if under(pid))
    if cmd == "tree":
        print(int(round(ours * 1000.0 / os.sysconf("SC_CLK_TCK"))))
        return
    # /proc/stat and /proc/PID/stat both count in USER_HZ ticks
    busy = sum(c1[i] - c0[i] for i in (0, 1, 2, 5, 6))
    total = sum(c1[i] - c0[i] for i in range(min(8, len(c0))))
    print(max(0, int(round(100.0 * (busy - ours) / total))) if total else 0)


if __name__ == "__main__":
    main()
