#!/usr/bin/env python3
"""Console benchmark against the real broker and a real worker, driven through tmux.

Prints three figures (no assertions; see docs/PERFORMANCE.md):
  1. idle CPU of the console over IDLE seconds, with a worker heartbeating every second;
  2. queue depth change to screen: from `adtop submit` returning to the new READY count on screen;
  3. live log latency: from a test printing a line (it prints its own clock) to that line on screen.

Usage: scripts/bench-console.py [--idle 60] [--depth 10] [--log 20]
Needs: a release build (cargo build --release), RabbitMQ on 127.0.0.1, tmux.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "adtop")

RUNNER = """#!/bin/sh
# Prints its own clock (ms) every 100 ms for --env=TICKS=N lines, as autopkgtest would print a log.
n=0
for a; do
  case "$a" in
    --output-dir=*) out="${a#--output-dir=}" ;;
    --env=TICKS=*) n="${a#--env=TICKS=}" ;;
  esac
done
mkdir -p "$out"
i=0
while [ "$i" -lt "$n" ]; do echo "tick $(date +%s%3N)"; i=$((i+1)); sleep 0.1; done
"""


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def pane(session):
    return sh("tmux", "capture-pane", "-p", "-t", session).stdout


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=int, default=60)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--log", type=int, default=20)
    a = ap.parse_args()
    if not os.access(BIN, os.X_OK):
        raise SystemExit("build first: cargo build --release")

    tag = uuid.uuid4().hex[:8]
    rel, idle_rel = f"cb{tag}", f"cbidle{tag}"
    tmp = tempfile.mkdtemp(prefix="adtop-console-bench-")
    cfg = os.path.join(tmp, "config.toml")
    with open(cfg, "w") as f:
        f.write("[worker]\nheartbeat_interval = 1\nstatus_interval = 1\n")
    runner = os.path.join(tmp, "runner")
    with open(runner, "w") as f:
        f.write(RUNNER)
    os.chmod(runner, 0o755)
    base = [BIN, "--config", cfg, "--store", f"file://{tmp}/store"]
    env = dict(os.environ, XDG_DATA_HOME=tmp)
    worker = subprocess.Popen(
        base + ["worker", "--arch", "amd64", "--release", rel, "--id", f"{rel}-w", "--runner", runner,
                "--spool", f"{tmp}/spool"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    session = f"adtop-bench-{tag}"
    console_cmd = " ".join(base)
    sh("tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50", f"XDG_DATA_HOME={tmp} {console_cmd}")
    try:
        time.sleep(3)
        pid = int(sh("tmux", "list-panes", "-t", session, "-F", "#{pane_pid}").stdout.split()[0])
        # The pane runs a shell that runs adtop, or adtop itself.
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        console_pid = int(kids[0]) if kids else pid

        hz = os.sysconf("SC_CLK_TCK")
        t0, c0 = time.monotonic(), cpu_ticks(console_pid)
        time.sleep(a.idle)
        t1, c1 = time.monotonic(), cpu_ticks(console_pid)
        idle = (c1 - c0) / hz / (t1 - t0) * 100
        print(f"idle CPU over {a.idle} s with 1 worker heartbeating every second: {idle:.2f} % of a core (target < 1 %)")

        # Depth: a queue nobody serves; filter the Queues view to it, then add one request at a time.
        queue = f"debci-{idle_rel}-amd64"
        sh("tmux", "send-keys", "-t", session, "1", "/", idle_rel, "Enter")
        lat = []
        for i in range(1, a.depth + 1):
            sh(*base, "submit", "pkg", "--release", idle_rel, "--arch", "amd64", "--trigger", f"pkg/{i}",
               "--dedup-wait", "100", env=env)
            t = time.monotonic()
            while True:
                row = next((l for l in pane(session).splitlines() if queue in l), "")
                words = row.split()
                if queue in words and words[words.index(queue) + 1] == str(i):
                    lat.append(time.monotonic() - t)
                    break
                if time.monotonic() - t > 30:
                    lat.append(float("inf"))
                    break
                time.sleep(0.02)
        print(f"queue depth change to screen ({a.depth} changes): median {statistics.median(lat)*1e3:.0f} ms, "
              f"max {max(lat)*1e3:.0f} ms (target < 2 s)")

        # Live log: follow a running job, note when each printed tick first shows on screen.
        ticks = a.log * 10
        out = sh(*base, "submit", "pkg", "--release", rel, "--arch", "amd64", "--env", f"TICKS={ticks}",
                 "--dedup-wait", "100", env=env).stdout
        time.sleep(2)
        sh("tmux", "send-keys", "-t", session, "4")
        time.sleep(1)
        sh("tmux", "send-keys", "-t", session, "Enter")
        opened_ms = time.time() * 1e3
        first_seen = {}
        end = time.monotonic() + a.log
        while time.monotonic() < end:
            now_ms = time.time() * 1e3
            for m in re.findall(r"tick (\d{13})", pane(session)):
                first_seen.setdefault(int(m), now_ms)
            time.sleep(0.02)
        # The first screen shows the replayed history: only lines printed after it count.
        live = [seen - printed for printed, seen in first_seen.items() if printed > opened_ms + 1000]
        if live:
            print(f"live log line to screen ({len(live)} lines, {out.split()[0]}): median {statistics.median(live):.0f} ms, "
                  f"p99 {pct(live, 99):.0f} ms (target p99 < 500 ms; includes up to ~30 ms of capture polling)")
        else:
            print("live log: no lines seen on screen; last screen:\n" + pane(session))
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
        for q in (f"debci-{rel}-amd64", f"debci-{idle_rel}-amd64", f"adtop.held.{rel}-w"):
            subprocess.run(["rabbitmqctl", "-q", "delete_queue", q], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
