#!/usr/bin/env python3
"""The production-size scene of issue 8, on the local broker, with 0, 1 and 5 consoles in tmux.

Builds: 500 request queues named as autopkgtest-cloud names them (debci-<release>-<arch> and
debci-<context>-<release>-<arch>), 50,000 queued requests over them (one queue 20,500 deep, `--deep`),
200 simulated workers publishing adtop's heartbeat on `adtop.heartbeat` every 5 s (the default
interval), and 2,000 results a day in a file store (today's share so far and all of yesterday,
written in the store's layout: `adtop-index/<YYYYMMDD>/<HHMMSS>_<uuid>` and `by-uuid/<uuid>`).
Then it measures with no console, one console and five (release `adtop console` in tmux,
200x50) and prints each figure beside the same figure with no console. No assertions: see
docs/PERFORMANCE.md, "Production-size scene".

CPU figures are per process from /proc ticks (the broker's own beam.smp, the consoles), so other
load on the machine disturbs them less than wall-clock rates; other clients of the same broker
still show in its CPU. Store reads are counted with inotify (IN_OPEN on the index directories):
a file opened is one GET, a directory opened one listing.

Usage: scripts/bench-scene.py [--idle 30] [--depth 5] [--keys 5] [--outage 12] [--deep 20500] [--quick] [--profile] [--relay] [--bin PATH] [--keep]
Needs: a release build (cargo build --release), RabbitMQ on 127.0.0.1 (AMQP 5672, management
15672, guest/guest), tmux. Python 3 standard library only (AMQP 0-9-1 is spoken directly).
Cleans up its queues, tmux sessions, workers (a last `stopping` heartbeat) and files.
"""

import argparse
import ctypes
import json
import os
import random
import re
import select
import shutil
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "adtop")
HZ = os.sysconf("SC_CLK_TCK")

# The scene (issue 8).
CODENAMES = ["warty", "hoary", "breezy", "dapper", "edgy", "feisty", "gutsy", "hardy", "intrepid",
             "jaunty", "karmic", "lucid", "maverick", "natty", "oneiric", "precise", "quantal",
             "raring", "saucy", "trusty"]
ARCHS = ["amd64", "arm64", "armhf", "ppc64el", "s390x"]
CONTEXTS = [None, "huge", "ppa", "upstream", "qemu"]  # 20 x 5 x 5 = 500 queues
QUEUED = 50_000
DEEP = 20_500  # `--deep`: the one deep queue (the issue's pages: up to 50,000)
WORKERS = 200
HEARTBEAT_EVERY = 5  # adtop's default worker.heartbeat_interval
RESULTS_A_DAY = 2_000
PAGE = 1_000  # the console's requests page (Thresholds::requests_cap)
WIDTH, HEIGHT = 200, 50

# `--profile`: sum each broker process's reductions over the window, by registered name or
# initial call, and print the top (the eval itself is left out).
PROFILE = """
Info = fun(P) -> case erlang:process_info(P, [reductions, registered_name, dictionary]) of
  undefined -> undefined;
  I -> {proplists:get_value(reductions, I), case proplists:get_value(registered_name, I) of
    [] -> case proplists:get_value('$initial_call', proplists:get_value(dictionary, I)) of
      undefined -> proc_lib:translate_initial_call(P); C -> C end;
    N -> N end} end end,
P0 = [{P, Info(P)} || P <- processes(), P =/= self()],
timer:sleep(SECS * 1000),
D = lists:foldl(fun({P, {R0, _}}, A) -> case Info(P) of undefined -> A;
  {R1, K} -> dict:update_counter(K, R1 - R0, A) end; (_, A) -> A end, dict:new(), P0),
L = lists:reverse(lists:keysort(2, dict:to_list(D))),
io:format("    total ~p~n", [lists:sum([V || {_, V} <- L])]),
[io:format("    ~12b ~p~n", [V, K]) || {K, V} <- lists:sublist(L, 25)],
ok.
"""


# --- AMQP 0-9-1, just enough: declare, delete, publish (optionally confirmed) ---------------

def _short(s):
    b = s.encode()
    return bytes([len(b)]) + b


def _long(b):
    return struct.pack(">I", len(b)) + b


def _table(d):
    out = b"".join(_short(k) + b"S" + _long(v.encode()) for k, v in d.items())
    return _long(out)


class AmqpError(Exception):
    pass


class Amqp:
    """One connection with one channel (1). Heartbeats off: nothing arrives unasked."""

    def __init__(self, host="127.0.0.1", port=5672, user="guest", password="guest", vhost="/"):
        self.sock = socket.create_connection((host, port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.published = self.acked = 0
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        self._expect(10, 10)
        self._method(0, 10, 11, _table({"product": "adtop bench-scene"}) + _short("PLAIN")
                     + _long(f"\0{user}\0{password}".encode()) + _short("en_US"))
        chmax, fmax, _ = struct.unpack(">HIH", self._expect(10, 30)[:8])
        self._method(0, 10, 31, struct.pack(">HIH", chmax, fmax, 0))
        self._method(0, 10, 40, _short(vhost) + _short("") + b"\0")
        self._expect(10, 41)
        self._method(1, 20, 10, _short(""))
        self._expect(20, 11)

    @staticmethod
    def _frame(kind, channel, payload):
        return struct.pack(">BHI", kind, channel, len(payload)) + payload + b"\xce"

    def _method(self, channel, cls, mth, args):
        self.sock.sendall(self._frame(1, channel, struct.pack(">HH", cls, mth) + args))

    def _read_frame(self):
        while True:
            if len(self.buf) >= 7:
                kind, channel, size = struct.unpack_from(">BHI", self.buf)
                if len(self.buf) >= size + 8:
                    payload = bytes(self.buf[7:7 + size])
                    del self.buf[:size + 8]
                    return kind, channel, payload
            data = self.sock.recv(1 << 16)
            if not data:
                raise AmqpError("the broker closed the connection")
            self.buf += data

    def _pump(self):
        """Read one frame; note acks; raise on a close. Returns (class, method, args) or None."""
        kind, _, p = self._read_frame()
        if kind != 1:
            return None
        c, m = struct.unpack_from(">HH", p)
        if (c, m) in ((10, 50), (20, 40)):  # connection.close, channel.close
            code, n = struct.unpack_from(">HB", p, 4)
            raise AmqpError(f"{code} {p[7:7 + n].decode(errors='replace')}")
        if (c, m) == (60, 80):  # basic.ack
            tag, multiple = struct.unpack_from(">QB", p, 4)
            self.acked = tag if multiple & 1 else max(self.acked, tag)
        if (c, m) == (60, 120):
            raise AmqpError("the broker refused (nack) a publish")
        return c, m, p[4:]

    def _expect(self, cls, mth):
        while True:
            got = self._pump()
            if got and got[:2] == (cls, mth):
                return got[2]

    def confirm(self):
        self._method(1, 85, 10, b"\0")
        self._expect(85, 11)
        self.confirming = True

    def declare_queue(self, name, passive=False):
        bits = 1 if passive else 2  # passive / durable, no arguments (adtop's default queues)
        self._method(1, 50, 10, struct.pack(">H", 0) + _short(name) + bytes([bits]) + _table({}))
        p = self._expect(50, 11)
        n = p[0]
        return struct.unpack_from(">II", p, 1 + n)  # messages, consumers

    def delete_queue(self, name):
        self._method(1, 50, 40, struct.pack(">H", 0) + _short(name) + b"\0")
        self._expect(50, 41)

    def declare_exchange(self, name, kind, durable):
        self._method(1, 40, 10, struct.pack(">H", 0) + _short(name) + _short(kind)
                     + bytes([2 if durable else 0]) + _table({}))
        self._expect(40, 11)

    def frames(self, exchange, key, body, persistent):
        m = struct.pack(">HHH", 60, 40, 0) + _short(exchange) + _short(key) + b"\0"
        flags, props = (0x1000, b"\x02") if persistent else (0, b"")
        h = struct.pack(">HHQH", 60, 0, len(body), flags) + props
        return self._frame(1, 1, m) + self._frame(2, 1, h) + self._frame(3, 1, body)

    def publish(self, exchange, key, body, persistent=True):
        self.sock.sendall(self.frames(exchange, key, body, persistent))
        self.published += 1

    def publish_many(self, items):
        """(key, body) on the default exchange, persistent, confirmed, in batches."""
        batch = []
        for key, body in items:
            batch.append(self.frames("", key, body, True))
            self.published += 1
            if len(batch) == 500:
                self.sock.sendall(b"".join(batch))
                batch = []
                self.wait_acks(self.published - 2000)
        self.sock.sendall(b"".join(batch))
        self.wait_acks(self.published)

    def wait_acks(self, upto):
        while self.acked < upto:
            self._pump()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- the scene ----------------------------------------------------------------------------------

class Scene:
    def __init__(self, tag, tmp):
        self.tag = tag
        self.releases = [f"{c}{tag}" for c in CODENAMES]
        self.queues = []
        for rel in self.releases:
            for arch in ARCHS:
                for ctx in CONTEXTS:
                    self.queues.append(f"debci-{ctx}-{rel}-{arch}" if ctx else f"debci-{rel}-{arch}")
        self.deep = f"debci-{self.releases[-1]}-amd64"
        self.store = os.path.join(tmp, "store")
        self.counts = {}

    def build_queues(self, amqp):
        for q in self.queues:
            amqp.declare_queue(q)
        rng = random.Random(8)
        # The deep queue, then the rest spread unevenly over about two thirds of the others
        # (most of a big upload lands on a few architectures; many queues stay empty).
        others = [q for q in self.queues if q != self.deep]
        busy = rng.sample(others, k=len(others) * 2 // 3)
        weights = [rng.expovariate(1.0) for _ in busy]
        total = sum(weights)
        # A deeper queue than the scene's share still leaves the others some to show.
        rest = QUEUED - DEEP if QUEUED - DEEP >= 1_000 else 1_000
        self.counts = {q: int(rest * w / total) for q, w in zip(busy, weights)}
        self.counts[busy[0]] += rest - sum(self.counts.values())
        self.counts[self.deep] = DEEP
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S%z")

        def body(pkg, trigger):
            params = {"requester": "britney", "submit-time": now, "triggers": [trigger]}
            return f"{pkg}\n{json.dumps(params, sort_keys=True)}".encode()

        def items():
            for i in range(DEEP):
                yield self.deep, body(f"src{i + 1:05d}", f"src{i + 1:05d}/1.0-{i + 1}")
            n = 0
            for q, k in self.counts.items():
                if q == self.deep:
                    continue
                for _ in range(k):
                    n += 1
                    yield q, body(f"pkg{n}", f"pkg{n}/2.0-1")

        amqp.confirm()
        amqp.publish_many(items())
        # Confirmed is routed and stored; the counts say so.
        for q, k in self.counts.items():
            until = time.monotonic() + 10
            while True:
                got, _ = amqp.declare_queue(q, passive=True)
                if got == k:
                    break
                if time.monotonic() > until:
                    raise SystemExit(f"{q}: {got} queued, expected {k}")
                time.sleep(0.1)  # polling: the count catches up with the confirms

    def entry(self, finished, i, package=None):
        u = str(uuid.uuid4())
        rel = self.releases[i % len(self.releases)]
        arch = ARCHS[i % len(ARCHS)]
        pkg = package or f"pkg{i}"
        code = [0, 0, 0, 2, 4, 8, 16][i % 7]
        klass = {0: "pass", 2: "pass", 4: "fail", 8: "neutral", 16: "tmpfail"}[code]
        prefix = pkg[:4] if pkg.startswith("lib") else pkg[0]
        run_id = finished.strftime("%Y%m%d_%H%M%S") + "_" + u.replace("-", "")[:5] + "@"
        e = {
            "uuid": u, "package": pkg, "release": rel, "arch": arch,
            "queue": f"debci-{rel}-{arch}", "exitcode": code, "class": klass,
            "container": f"autopkgtest-{rel}", "swift_dir": f"{rel}/{arch}/{prefix}/{pkg}/{run_id}",
            "duration": 100 + i % 900, "finished": finished.isoformat().replace("+00:00", "Z"),
            "worker": f"sc{self.tag}-{arch}-{i % 40}", "triggers": [f"{pkg}/1.0-{i}"],
            "requester": "britney", "testpkg_version": f"1.0-{i}",
            "body": f"{pkg}\n{{\"triggers\": [\"{pkg}/1.0-{i}\"]}}",
        }
        return u, e

    def write_entry(self, finished, i, package=None):
        """As a worker stores it: the time-ordered entry and the by-uuid pointer, atomically."""
        u, e = self.entry(finished, i, package)
        data = json.dumps(e).encode()
        index = os.path.join(self.store, "adtop-index")
        for rel in (f"{finished:%Y%m%d}/{finished:%H%M%S}_{u}", f"by-uuid/{u}"):
            path = os.path.join(index, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = os.path.join(os.path.dirname(path), f".tmp{u}")
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, path)
        return u, e

    def build_results(self):
        now = datetime.now(timezone.utc).replace(microsecond=0)
        midnight = now.replace(hour=0, minute=0, second=0)
        step = 86400 / RESULTS_A_DAY
        n = 0
        t = midnight - timedelta(days=1)
        while t < now:
            self.write_entry(t, n)
            n += 1
            t = midnight - timedelta(days=1) + timedelta(seconds=int(n * step))
        self.results = n
        self.day_dirs = [os.path.join(self.store, "adtop-index", f"{d:%Y%m%d}")
                         for d in (now, now - timedelta(days=1))]


def heartbeat(scene, w, state="idle"):
    arch = ARCHS[w % len(ARCHS)]
    contexts = [c for c in CONTEXTS if c]
    queues = [q for q in scene.queues if q.endswith("-" + arch)]
    return json.dumps({
        "id": f"sc{scene.tag}-{arch}-{w}", "host": f"{arch}-worker{w}.sc{scene.tag}", "pid": 1000 + w,
        "arch": arch, "releases": scene.releases, "contexts": contexts, "queues": queues,
        "state": state, "job": None, "done": w * 7, "failed": w % 5, "tmpfailed": w % 3,
        "rejected": 0, "version": "0.1.0",
        "sent": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "interval": HEARTBEAT_EVERY,
    }).encode()


class Workers(threading.Thread):
    """WORKERS simulated workers, one connection each, a heartbeat every HEARTBEAT_EVERY s."""

    def __init__(self, scene):
        super().__init__(daemon=True)
        self.scene = scene
        self.conns = [Amqp() for _ in range(WORKERS)]
        self.stop = threading.Event()

    def run(self):
        start = time.monotonic()
        beat = 0
        while not self.stop.is_set():
            for w, c in enumerate(self.conns):
                # Spread over the interval, as independent workers are.
                due = start + beat * HEARTBEAT_EVERY + w * HEARTBEAT_EVERY / WORKERS
                if self.stop.wait(max(0.0, due - time.monotonic())):
                    break
                c.publish("adtop.heartbeat", "", heartbeat(self.scene, w), persistent=False)
            beat += 1

    def finish(self):
        self.stop.set()
        self.join(10)
        for w, c in enumerate(self.conns):
            try:
                c.publish("adtop.heartbeat", "", heartbeat(self.scene, w, "stopping"), persistent=False)
            except OSError:
                pass
            c.close()


# --- measuring -----------------------------------------------------------------------------------

def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def broker_pid():
    out = subprocess.run(["rabbitmqctl", "eval", "os:getpid()."], capture_output=True, text=True,
                         timeout=60).stdout
    m = re.search(r'"(\d+)"', out)
    if not m:
        raise SystemExit("cannot find the broker's pid (rabbitmqctl eval 'os:getpid().')")
    return int(m.group(1))


class Opens(threading.Thread):
    """inotify IN_OPEN on the index's day directories: files opened (GETs) and listings."""

    IN_OPEN, IN_ISDIR = 0x20, 0x40000000

    def __init__(self, dirs):
        super().__init__(daemon=True)
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        for d in dirs:
            if libc.inotify_add_watch(self.fd, d.encode(), self.IN_OPEN) < 0:
                raise SystemExit(f"inotify on {d}: errno {ctypes.get_errno()}")
        self.gets = self.lists = 0
        self.done = False

    def run(self):
        while not self.done:
            if not select.select([self.fd], [], [], 0.2)[0]:
                continue
            data = os.read(self.fd, 1 << 16)
            off = 0
            while off + 16 <= len(data):
                _, mask, _, n = struct.unpack_from("iIII", data, off)
                name = data[off + 16:off + 16 + n].rstrip(b"\0")
                off += 16 + n
                if mask & self.IN_ISDIR:
                    self.lists += not name
                else:
                    self.gets += 1

    def count(self):
        return self.gets, self.lists


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


class Console:
    def __init__(self, name, cmd):
        self.session = name
        sh("tmux", "new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", str(HEIGHT), cmd)
        self.pid = int(sh("tmux", "list-panes", "-t", name, "-F", "#{pane_pid}").stdout.split()[0])

    def pane(self):
        return sh("tmux", "capture-pane", "-p", "-t", self.session).stdout

    def keys(self, *keys):
        sh("tmux", "send-keys", "-t", self.session, *keys)

    def wait(self, pred, timeout=30.0, every=0.01):
        """Seconds until `pred(pane)` holds, or None after `timeout`."""
        t0 = time.monotonic()
        while True:
            if pred(self.pane()):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                return None
            time.sleep(every)

    def close(self):
        subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True)


def ready_of(pane, queue):
    for line in pane.splitlines():
        words = line.split()
        if queue in words:
            i = words.index(queue)
            if i + 1 < len(words):
                return words[i + 1]
    return None


def fmt_s(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "not seen"
    if len(xs) == 1:
        return f"{xs[0]:.2f} s"
    return f"median {statistics.median(xs):.2f} s, max {max(xs):.2f} s"


class Bench:
    def __init__(self, a):
        self.a = a
        self.tag = uuid.uuid4().hex[:6]
        self.tmp = tempfile.mkdtemp(prefix="adtop-scene-")
        self.scene = Scene(self.tag, self.tmp)
        self.cfg = os.path.join(self.tmp, "config.toml")
        open(self.cfg, "w").close()
        self.consoles = []
        self.rows = {}  # figure -> {column: text}
        self.amqp = None
        self.workers = None
        self.extra_results = 0
        self.relay = None  # `adtop relay`, with --relay
        self.relay_cpu = None

    def row(self, figure, column, text):
        self.rows.setdefault(figure, {})[column] = text

    def adtop(self, *args):
        env = dict(os.environ, XDG_DATA_HOME=os.path.join(self.tmp, "xdg"),
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "cfg"))
        return subprocess.run([BIN, "--config", self.cfg, "--store", f"file://{self.scene.store}", *args],
                              capture_output=True, text=True, env=env, timeout=120)

    def open_console(self, i):
        xdg = os.path.join(self.tmp, f"xdg{i}")
        cmd = (f"exec env XDG_DATA_HOME={xdg} XDG_CONFIG_HOME={self.tmp}/cfg {BIN} --config {self.cfg} "
               f"--store file://{self.scene.store}")
        c = Console(f"adtop-scene-{self.tag}-{i}", cmd)
        self.consoles.append(c)
        return c

    def settle(self, consoles):
        """Every console shows the scene, and the store reads of its start are over."""
        mine = re.compile(re.escape(self.tag))
        for c in consoles:
            if c.wait(lambda p: mine.search(p) and "lost" in p, timeout=60) is None:
                raise SystemExit("console did not come up:\n" + c.pane())
        # Listings go on every 2 s; the GETs of the start are over when no file is opened for 3 s.
        last, since, t0 = None, time.monotonic(), time.monotonic()
        while time.monotonic() - since < 3 and time.monotonic() - t0 < 60:
            gets = self.opens.count()[0]
            if gets != last:
                last, since = gets, time.monotonic()
            time.sleep(0.2)

    def window(self, consoles):
        """CPU of the broker and of each console, store reads, over --idle seconds."""
        pids = [c.pid for c in consoles]
        t0 = time.monotonic()
        b0, c0, o0 = cpu_ticks(self.broker), [cpu_ticks(p) for p in pids], self.opens.count()
        r0 = cpu_ticks(self.relay.pid) if self.relay else 0
        if self.a.profile:
            # The broker's Erlang processes by reductions over the window, grouped by kind.
            out = subprocess.run(["rabbitmqctl", "eval", PROFILE.replace("SECS", str(self.a.idle))],
                                 capture_output=True, text=True).stdout
            print(f"  broker reductions with {len(consoles)} console(s):\n" + out, flush=True)
        else:
            time.sleep(self.a.idle)
        dt = time.monotonic() - t0
        b1, c1, o1 = cpu_ticks(self.broker), [cpu_ticks(p) for p in pids], self.opens.count()
        if self.relay:
            self.relay_cpu = (cpu_ticks(self.relay.pid) - r0) / HZ / dt * 100
        broker = (b1 - b0) / HZ / dt * 100
        cons = [(y - x) / HZ / dt * 100 for x, y in zip(c0, c1)]
        refreshes = dt / 2.0  # ops::follow::FOLLOW_EVERY
        gets = (o1[0] - o0[0]) / refreshes / max(1, len(consoles))
        lists = (o1[1] - o0[1]) / refreshes / max(1, len(consoles))
        return broker, cons, gets, lists

    def depth_latency(self, c, queue, n):
        lat = []
        for _ in range(n):
            self.scene.counts[queue] = self.scene.counts.get(queue, 0) + 1
            want = str(self.scene.counts[queue])
            self.amqp.publish("", queue, b"hello\n{}")
            self.amqp.wait_acks(self.amqp.published)
            lat.append(c.wait(lambda p: ready_of(p, queue) == want, timeout=15))
        return lat

    def depth_baseline(self, queue):
        """No console: how long until `adtop queues` (one run, live counts) shows a new depth."""
        self.scene.counts[queue] = self.scene.counts.get(queue, 0) + 1
        self.amqp.publish("", queue, b"hello\n{}")
        self.amqp.wait_acks(self.amqp.published)
        t0 = time.monotonic()
        out = self.adtop("queues", "--json").stdout
        dt = time.monotonic() - t0
        seen = next((q["ready"] for q in json.loads(out or "[]") if q["name"] == queue), None)
        return dt if seen == self.scene.counts[queue] else None

    def visible_queue(self, c):
        for line in c.pane().splitlines():
            for w in line.split():
                if w in self.scene.counts and w != self.scene.deep:
                    return w
        return None

    def key_latency(self, c, n):
        worker = f"sc{self.tag}-"
        queue = re.compile(r"debci-\S*" + re.escape(self.tag))
        lat = []
        for _ in range(n):
            c.keys("3")
            lat.append(c.wait(lambda p: worker in p and not queue.search(p), timeout=10))
            c.keys("1")
            lat.append(c.wait(lambda p: queue.search(p) and worker not in p, timeout=10))
        return lat

    def lost_shown(self, pane):
        m = re.search(r"lost (\d+)", pane)
        return int(m.group(1)) if m else 0

    def pages(self, c):
        """Open the deep queue (first page); press `]` to the last page without waiting; if that
        does not get there, page on one `]` at a time; then one page back."""
        deep, depth = self.scene.deep, self.scene.counts[self.scene.deep]
        c.keys("1", "/", deep, "Enter")
        c.wait(lambda p: ready_of(p, deep) is not None, timeout=10)
        lost = [self.lost_shown(c.pane()), 0]

        def seen(text):
            def pred(p):
                lost[1] = max(lost[1], self.lost_shown(p))
                return text in p
            return pred

        def page_of(p):
            m = re.search(r"\[(\d+)-(\d+) of (\d+)\]", p)
            return int(m.group(1)) if m else None

        r = {}
        c.keys("Enter")
        r["first"] = c.wait(seen(f"[1-{PAGE} of {depth}]"), timeout=60)
        pages = (depth - 1) // PAGE
        last_first = pages * PAGE + 1
        last_title = f"[{last_first}-{depth} of {depth}]"
        c.keys(*["]"] * pages)
        r["ahead"] = c.wait(seen(last_title), timeout=10)
        r["ahead_at"] = page_of(c.pane())
        if r["ahead"] is None:
            steps, t0 = [], time.monotonic()
            while (page_of(c.pane()) or 0) < last_first and time.monotonic() - t0 < 120:
                at = page_of(c.pane()) or 1
                c.keys("]")
                steps.append(c.wait(lambda p: (page_of(p) or 0) > at, timeout=15))
                if steps[-1] is None:
                    break
            r["stepped"] = (time.monotonic() - t0, steps)
        r["last_row"] = f"src{last_first:05d}" in c.pane()
        c.keys("[")
        r["back"] = c.wait(seen(f"[{last_first - PAGE}-{last_first - 1} of"), timeout=15)
        c.keys("1", "Escape")
        c.wait(lambda p: len([w for w in p.split() if w in self.scene.counts]) > 1, timeout=10)
        r["lost"] = lost
        return r

    def page_rows(self, n, r):
        self.row(f"first page of the {DEEP:,}-deep queue", n, fmt_s([r["first"]]))
        pages = DEEP // PAGE
        if r["ahead"] is not None:
            text = fmt_s([r["ahead"]])
        else:
            text = f"stuck at [{r['ahead_at']}-…] after 10 s"
        self.row(f"last page, {pages} `]` pressed at once", n,
                 text + ("" if r["last_row"] else " (last row not seen)"))
        if "stepped" in r:
            total, steps = r["stepped"]
            self.row(f"last page, {pages} `]` one at a time", n,
                     f"{total:.1f} s in all; per page {fmt_s(steps)}")
        self.row("one page back (`[`)", n, fmt_s([r["back"]]))
        before, during = r["lost"]
        self.row("header `lost` while reading (before → max during)", n, f"{before} → {during}")

    def new_result(self, c, announce):
        c.keys("5")
        c.wait(lambda p: "Results" in p, timeout=10)
        self.extra_results += 1
        pkg = f"scnew{self.tag}{self.extra_results}"
        now = datetime.now(timezone.utc).replace(microsecond=0)
        t0 = time.monotonic()
        u, e = self.scene.write_entry(now, 7 * self.extra_results, pkg)
        if announce:
            complete = {
                "architecture": e["arch"], "container": e["container"], "duration": e["duration"],
                "exitcode": e["exitcode"], "package": pkg, "testpkg_version": e["testpkg_version"],
                "release": e["release"], "requester": "britney", "swift_dir": e["swift_dir"],
                "triggers": " ".join(e["triggers"]), "env": "", "uuid": u,
            }
            self.amqp.publish("testcomplete.fanout", "", json.dumps(complete).encode())
            self.amqp.wait_acks(self.amqp.published)
        seen = c.wait(lambda p: pkg in p, timeout=15)
        return None if seen is None else time.monotonic() - t0

    def outage(self, c, hold):
        """Break the store for `hold` s: its directory moved away and a file in its place (a
        missing directory alone is a fresh, empty store). When is it shown, with what duration?"""
        away = self.scene.store + ".away"
        t0 = time.monotonic()
        os.rename(self.scene.store, away)
        open(self.scene.store, "w").close()
        try:
            shown = c.wait(lambda p: re.search(r"store .*✖ down", p), timeout=15)
            time.sleep(max(0.0, hold - (time.monotonic() - t0)))
            m = re.search(r"store .*✖ down (\d+)s", c.pane())
            true = time.monotonic() - t0
        finally:
            os.remove(self.scene.store)
            os.rename(away, self.scene.store)
        back = c.wait(lambda p: re.search(r"store \S+ ● up", p), timeout=15)
        return shown, (f"{m.group(1)} s" if m else "nothing"), true, back

    def run(self):
        a = self.a
        self.broker = broker_pid()
        self.amqp = Amqp()
        self.amqp.declare_exchange("adtop.heartbeat", "fanout", durable=False)
        self.amqp.declare_exchange("testcomplete.fanout", "fanout", durable=True)
        t0 = time.monotonic()
        self.scene.build_queues(self.amqp)
        self.scene.build_results()
        print(f"scene {self.tag}: {len(self.scene.queues)} queues, {sum(self.scene.counts.values()):,} requests "
              f"({self.scene.deep}: {DEEP:,}), {WORKERS} workers, {RESULTS_A_DAY:,} results a day",
              flush=True)
        print(f"  built in {time.monotonic() - t0:.0f} s ({self.scene.results:,} index entries)",
              flush=True)
        self.opens = Opens(self.scene.day_dirs)
        self.opens.start()
        self.workers = Workers(self.scene)
        self.workers.start()
        if a.relay:
            # The consoles' reader as a service: no console leads while it runs.
            log = open(os.path.join(self.tmp, "relay.log"), "w")
            self.relay = subprocess.Popen([BIN, "--config", self.cfg, "relay"], stdout=log,
                                          stderr=subprocess.STDOUT)
        time.sleep(HEARTBEAT_EVERY + 1)

        # No console.
        broker0, _, gets0, lists0 = self.window([])
        self.row("broker CPU (beam.smp), % of a core", "none", f"{broker0:.1f}")
        if self.relay:
            self.row("`adtop relay` CPU, % of a core", "none", f"{self.relay_cpu:.2f}")
        self.row("store reads per 2 s refresh, per console", "none", f"{gets0:.1f} GETs, {lists0:.1f} listings")
        probe = self.visible_queue_any()
        base = [self.depth_baseline(probe) for _ in range(3)]
        self.row("depth change to screen", "none", "`adtop queues`: " + fmt_s(base))
        o0 = self.opens.count()
        t = time.monotonic()
        self.adtop("results", "--limit", "50")
        o1 = self.opens.count()
        self.row("store reads at start", "none",
                 f"`adtop results --limit 50`: {o1[0] - o0[0]} GETs, {o1[1] - o0[1]} listings, "
                 f"{time.monotonic() - t:.2f} s")

        # One console.
        print("one console", flush=True)
        o0 = self.opens.count()
        c = self.open_console(0)
        self.settle([c])
        o1 = self.opens.count()
        self.row("store reads at start", "1", f"{o1[0] - o0[0]} GETs, {o1[1] - o0[1]} listings")
        broker1, cons, gets, lists = self.window([c])
        self.row("broker CPU (beam.smp), % of a core", "1", f"{broker1:.1f} ({broker1 / max(broker0, 0.01):.2f}x)")
        self.row("idle console CPU (Queues view), % of a core", "1", f"{cons[0]:.2f}")
        if self.relay:
            self.row("`adtop relay` CPU, % of a core", "1", f"{self.relay_cpu:.2f}")
        self.row("console RSS", "1", f"{rss_mib(c.pid):.1f} MiB")
        self.row("store reads per 2 s refresh, per console", "1", f"{gets:.1f} GETs, {lists:.1f} listings")
        if not a.quick:
            q = self.visible_queue(c)
            self.row("depth change to screen", "1", fmt_s(self.depth_latency(c, q, a.depth)) + f" ({q})")
            self.row("key to screen (view switch)", "1", fmt_s(self.key_latency(c, a.keys)))
            self.page_rows("1", self.pages(c))
            self.row("new result on screen", "1",
                     f"with completion {fmt_s([self.new_result(c, True)])}; index only "
                     f"{fmt_s([self.new_result(c, False)])}")
            shown, on_screen, true, back = self.outage(c, a.outage)
            self.row("store outage shown", "1",
                     f"after {fmt_s([shown])}; screen said down {on_screen} at {true:.1f} s; "
                     f"up again after {fmt_s([back])}")
        c.keys("1")

        # Five consoles.
        print("five consoles", flush=True)
        o0 = self.opens.count()
        more = [self.open_console(i) for i in range(1, 5)]
        self.settle(more)
        o1 = self.opens.count()
        self.row("store reads at start", "5", f"{(o1[0] - o0[0]) / 4:.0f} GETs, {(o1[1] - o0[1]) / 4:.0f} "
                 "listings per console started")
        for x in more:
            x.keys("1")
        c.wait(lambda p: self.scene.tag in p, timeout=10)
        time.sleep(2)
        broker5, cons, gets, lists = self.window(self.consoles)
        self.row("broker CPU (beam.smp), % of a core", "5", f"{broker5:.1f} ({broker5 / max(broker0, 0.01):.2f}x)")
        self.row("idle console CPU (Queues view), % of a core", "5",
                 f"mean {statistics.mean(cons):.2f}, max {max(cons):.2f}; each "
                 + ", ".join(f"{x:.2f}" for x in cons)
                 + (" (the first leads, unless `adtop relay` runs)"))
        if self.relay:
            self.row("`adtop relay` CPU, % of a core", "5", f"{self.relay_cpu:.2f}")
        self.row("console RSS", "5", f"max {max(rss_mib(x.pid) for x in self.consoles):.1f} MiB")
        self.row("store reads per 2 s refresh, per console", "5", f"{gets:.1f} GETs, {lists:.1f} listings")
        if not a.quick:
            q = self.visible_queue(c)
            self.row("depth change to screen", "5", fmt_s(self.depth_latency(c, q, a.depth)))
            self.row("key to screen (view switch)", "5", fmt_s(self.key_latency(c, a.keys)))
            self.page_rows("5", self.pages(c))
            self.row("new result on screen", "5",
                     f"with completion {fmt_s([self.new_result(c, True)])}; index only "
                     f"{fmt_s([self.new_result(c, False)])}")

        # No console again: the baseline moves with everything else on the broker.
        for x in self.consoles:
            x.close()
        self.consoles = []
        time.sleep(3)
        broker0b, _, _, _ = self.window([])
        self.row("broker CPU (beam.smp), % of a core", "none",
                 f"{broker0:.1f} before, {broker0b:.1f} after")
        self.report()

    def visible_queue_any(self):
        busy = [q for q, n in self.scene.counts.items() if n and q != self.scene.deep]
        return sorted(busy)[0]

    def report(self):
        targets = {
            "broker CPU (beam.smp), % of a core": "5 consoles < 2x none",
            "idle console CPU (Queues view), % of a core": "< 1",
            "console RSS": "< 100 MiB",
            "depth change to screen": "< 2 s",
            f"first page of the {DEEP:,}-deep queue": "< 5 s",
            f"last page, {DEEP // PAGE} `]` pressed at once": "< 5 s",
            f"last page, {DEEP // PAGE} `]` one at a time": "each < 5 s",
            "header `lost` while reading (before → max during)": "no more lost",
            "store reads per 2 s refresh, per console": "a few reads",
            "new result on screen": "< 5 s",
            "store outage shown": "< 5 s, true duration",
        }
        print()
        print("| figure | no console | 1 console | 5 consoles | target |")
        print("|---|---|---|---|---|")
        for fig, cols in self.rows.items():
            print(f"| {fig} | {cols.get('none', '—')} | {cols.get('1', '—')} | {cols.get('5', '—')} "
                  f"| {targets.get(fig, '')} |")

    def cleanup(self):
        for c in self.consoles:
            c.close()
        if self.relay:
            self.relay.terminate()
            try:
                print(f"adtop relay exited {self.relay.wait(timeout=10)} on SIGTERM")
            except subprocess.TimeoutExpired:
                self.relay.kill()
                print("adtop relay did not exit within 10 s of SIGTERM")
        if self.workers:
            self.workers.finish()
        if self.a.keep:
            print(f"kept: {self.tmp} and the queues of {self.tag}")
            return
        try:
            amqp = Amqp()
            for q in self.scene.queues:
                amqp.delete_queue(q)
            amqp.close()
        except (OSError, AmqpError) as e:
            print(f"cleanup: {e}; delete the queues containing {self.tag} by hand")
        if self.amqp:
            self.amqp.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    global BIN, DEEP
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idle", type=int, default=30, help="seconds of each idle CPU window")
    ap.add_argument("--depth", type=int, default=5, help="depth changes timed per console count")
    ap.add_argument("--keys", type=int, default=5, help="view switches (pairs) timed")
    ap.add_argument("--outage", type=int, default=12, help="seconds the store is away")
    ap.add_argument("--quick", action="store_true",
                    help="CPU and memory windows only (no latencies, pages, results or outage)")
    ap.add_argument("--profile", action="store_true",
                    help="print the broker's processes by reductions in each idle window")
    ap.add_argument("--relay", action="store_true",
                    help="run `adtop relay` (the consoles' reader as a service) throughout")
    ap.add_argument("--deep", type=int, default=DEEP,
                    help="requests in the one deep queue (of the 50,000 queued in all, or more)")
    ap.add_argument("--keep", action="store_true", help="leave the queues and files (debugging)")
    ap.add_argument("--bin", default=BIN, help="the adtop binary (default: the release build)")
    a = ap.parse_args()
    BIN = a.bin
    DEEP = max(a.deep, PAGE + 1)
    if not os.access(BIN, os.X_OK):
        raise SystemExit("build first: cargo build --release")
    b = Bench(a)
    try:
        b.run()
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
