"""Shared code of the integration tests (Python 3 standard library only).

- find the binary: $FRESHET_BIN, else build/san/freshet, else build/freshet;
- Server: freshet `run` on a free loopback port, in a temp dir holding its
  config and data; waits for /healthz; stops with SIGTERM then SIGKILL;
  stderr+stdout go to a file whose tail is printed when a case fails;
- Http: a keep-alive JSON client on http.client;
- Runner: one line per case ("ok NAME" / "FAIL NAME: why"), an overall
  timeout, and the closing line "N passed, M failed" (exit 1 on failure).

Every process and temp dir made here is removed at exit, on failure, on
timeout and on SIGTERM/SIGINT.
"""
import atexit
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

_servers = []   # every Server made (for cleanup and log tails)
_tmpdirs = []   # every temp dir made
_procs = []     # other child processes (Popen) to kill at exit


def freshet_bin():
    b = os.environ.get("FRESHET_BIN")
    if b:
        return b
    for cand in ("build/san/freshet", "build/freshet"):
        p = os.path.join(ROOT, cand)
        if os.path.exists(p):
            return p
    return os.path.join(ROOT, "build/freshet")


def sanitizer_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1:halt_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def make_tmpdir(prefix="freshet-it-"):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_port_pair(gap):
    """A free loopback port p below 65536 - gap with p + gap free too."""
    import random
    for _ in range(200):
        p = random.randint(20000, 65535 - gap)
        ok = True
        for q in (p, p + gap):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return p
    raise RuntimeError("no free port pair")


def now_ms():
    return int(time.time() * 1000)


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-n:])


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_reports(path):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [ln for ln in text.splitlines() if any(m in ln for m in SANITIZER_MARKS)]


def run_cli(args, timeout=60, cwd=None, input_bytes=None):
    """Runs `freshet ARGS`; returns (rc, stdout str, stderr str)."""
    p = subprocess.Popen([freshet_bin()] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.PIPE if input_bytes else
                         subprocess.DEVNULL, cwd=cwd or ROOT, env=sanitizer_env(),
                         start_new_session=True)
    _procs.append(p)
    try:
        out, err = p.communicate(input=input_bytes, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(p, signal.SIGKILL)
        out, err = p.communicate()
        raise AssertionError("freshet %s: no exit after %ss; stderr: %s" %
                             (" ".join(args), timeout, err.decode("utf-8", "replace")[-2000:]))
    finally:
        if p in _procs:
            _procs.remove(p)
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _kill_group(p, sig):
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError, OSError):
        try:
            p.send_signal(sig)
        except (ProcessLookupError, OSError):
            pass


# ---- HTTP ------------------------------------------------------------------

class HttpError(Exception):
    pass


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.body = body
        self.headers = headers
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
            self.is_json = body is not None and len(body) > 0
        except (ValueError, UnicodeDecodeError):
            self.json = None
            self.is_json = False

    def text(self, n=600):
        t = self.body.decode("utf-8", "replace")
        return t if len(t) <= n else t[:n] + "...(%d bytes)" % len(t)

    def __repr__(self):
        return "HTTP %d %s" % (self.status, self.text())


class Http:
    """A keep-alive HTTP/1.1 client to 127.0.0.1:port."""

    def __init__(self, port, timeout=60):
        self.port = port
        self.timeout = timeout
        self.conn = None
        self.used = False

    def close(self):
        if self.conn:
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None

    def request(self, method, path, body=None, headers=None, retry_stale=True):
        """Returns a Response; raises OSError/http.client errors when the
        server cannot be reached.  A request that fails on a reused idle
        connection before any answer is retried once on a new one."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        hdrs = dict(headers or {})
        for attempt in (0, 1):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                data = r.read()
                resp = Response(r.status, data, {k.lower(): v for k, v in r.getheaders()})
                if r.will_close:
                    self.close()
                return resp
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest, http.client.BadStatusLine) as e:
                self.close()
                if fresh or attempt == 1 or not retry_stale:
                    raise
            except Exception:
                self.close()
                raise

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, headers=None, **kw):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body, separators=(",", ":"))
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.request("POST", path, body=body, headers=h, **kw)

    def get_json(self, path):
        r = self.get(path)
        if not r.is_json:
            raise AssertionError("GET %s: not JSON: %r" % (path, r))
        return r

    def features(self, view, entity, as_of=None):
        path = "/v1/features/%s/%s" % (urllib.parse.quote(view, safe=""),
                                       urllib.parse.quote(str(entity), safe=""))
        if as_of is not None:
            path += "?as_of=%d" % as_of
        return self.get(path)

    def status(self):
        r = self.get("/v1/status")
        if r.status != 200 or not isinstance(r.json, dict):
            raise AssertionError("GET /v1/status: %r" % r)
        return r.json


def caught_up(st):
    srcs = st.get("sources") or []
    if not srcs:
        return False
    for s in srcs:
        if s.get("committed_offset") is None or s.get("log_end_offset") is None:
            return False
        if s["committed_offset"] != s["log_end_offset"]:
            return False
    return True


def wait_caught_up(http_, deadline_s=180):
    """Polls /v1/status until every source has committed_offset ==
    log_end_offset; returns the status.  Raises AssertionError on timeout."""
    end = time.time() + deadline_s
    last = None
    while time.time() < end:
        try:
            last = http_.status()
            if caught_up(last):
                return last
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.05)
    raise AssertionError("processor not caught up after %ss; last status: %s" %
                         (deadline_s, json.dumps(last)[:1500]))


def source_status(st, name):
    for s in st.get("sources", []):
        if s.get("name") == name:
            return s
    raise AssertionError("source %r not in /v1/status: %s" % (name, json.dumps(st)[:800]))


# ---- the server --------------------------------------------------------------

class Server:
    """freshet `run` in its own temp dir.

    config_text may hold {store} (the absolute store dir) and {port}."""

    def __init__(self, config_text, name="freshet", port=None, extra_args=(), cmd="run"):
        self.dir = make_tmpdir("freshet-%s-" % name)
        self.store = os.path.join(self.dir, "data")
        self.port = port or free_port()
        self.config = os.path.join(self.dir, "freshet.yaml")
        with open(self.config, "w") as f:
            f.write(config_text.replace("{store}", self.store).replace("{port}", str(self.port)))
        self.log = os.path.join(self.dir, "server.log")
        self.proc = None
        self.extra_args = list(extra_args)
        self.cmd = cmd
        self.starts = 0
        self.exit_codes = []
        _servers.append(self)
        self.http = Http(self.port)

    def start(self, wait=True, deadline_s=90):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with open(self.log, "ab") as lf:
            lf.write(("---- start %d: %s\n" % (self.starts + 1, time.strftime("%H:%M:%S"))).encode())
            # (`process` serves no HTTP: it takes no --listen)
            listen = [] if self.cmd == "process" else ["--listen", "127.0.0.1:%d" % self.port]
            self.proc = subprocess.Popen(
                [freshet_bin(), self.cmd, "-c", self.config] + listen + self.extra_args,
                stdout=lf, stderr=lf, stdin=subprocess.DEVNULL, cwd=self.dir,
                env=sanitizer_env(), start_new_session=True)
        self.starts += 1
        if wait:
            self.wait_healthy(deadline_s)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_healthy(self, deadline_s=90):
        end = time.time() + deadline_s
        h = Http(self.port, timeout=5)
        try:
            while time.time() < end:
                if self.proc.poll() is not None:
                    raise AssertionError("freshet exited with %s while starting; log tail:\n%s" %
                                         (self.proc.returncode, tail(self.log, 30)))
                try:
                    r = h.get("/healthz")
                    if r.status == 200:
                        return
                except (OSError, http.client.HTTPException):
                    pass
                time.sleep(0.05)
        finally:
            h.close()
        raise AssertionError("freshet not healthy after %ss; log tail:\n%s" %
                             (deadline_s, tail(self.log, 30)))

    def kill(self):
        """SIGKILL and reap."""
        self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            _kill_group(self.proc, signal.SIGKILL)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            self.exit_codes.append(self.proc.returncode)

    def stop(self, timeout=30):
        """SIGTERM, then SIGKILL after timeout; returns the exit code (None
        if it had to be killed)."""
        self.http.close()
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        try:
            self.proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            rc = self.proc.wait(timeout=timeout)
            self.exit_codes.append(rc)
            return rc
        except subprocess.TimeoutExpired:
            _kill_group(self.proc, signal.SIGKILL)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            return None

    def cli(self, args, timeout=60):
        """Runs `freshet ARGS -c <this config>`."""
        return run_cli(list(args) + ["-c", self.config], timeout=timeout, cwd=self.dir)

    def dlq(self, source=None):
        args = ["dlq", "list", "-c", self.config]
        if source:
            args += ["--source", source]
        rc, out, err = run_cli(args, cwd=self.dir)
        if rc != 0:
            raise AssertionError("freshet dlq list: exit %d: %s" % (rc, err[-1000:]))
        rows = []
        for ln in out.splitlines():
            if ln.strip():
                try:
                    rows.append(json.loads(ln))
                except ValueError:
                    raise AssertionError("dlq list: not a JSON line: %r" % ln[:300])
        return rows

    def sanitizer_reports(self):
        return sanitizer_reports(self.log)


class RedisServer:
    """A redis-server of the test's own on a free loopback port (no
    persistence), or with cluster=True a node with cluster mode on."""

    def __init__(self, cluster=False, name="redis", persist=False):
        self.dir = make_tmpdir("freshet-%s-" % name)
        # a cluster node also listens on port + 10000 (the cluster bus)
        self.port = free_port_pair(10000) if cluster else free_port()
        self.cluster = cluster
        self.persist = persist
        self.proc = None
        self.start()

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--dir", self.dir]
        # persist: every write reaches the append-only file before the reply
        args += (["--appendonly", "yes", "--appendfsync", "always"] if self.persist
                 else ["--appendonly", "no"])
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        _procs.append(self.proc)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.cli("PING").strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server on port %d did not start" % self.port)

    def cli(self, *args):
        p = subprocess.run(["redis-cli", "-p", str(self.port)] + list(args),
                           capture_output=True, timeout=20)
        return p.stdout.decode(errors="replace")

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def kill(self):
        if self.proc and self.proc.poll() is None:
            _kill_group(self.proc, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)


def tool_bin(name):
    """A test tool built beside the freshet binary (tests/tools/NAME.c)."""
    return os.path.join(os.path.dirname(os.path.dirname(freshet_bin())), os.path.basename(
        os.path.dirname(freshet_bin())), "tests", "tools", name)


class KafkaMock:
    """librdkafka's mock Kafka cluster (tests/tools/kafka_mock) on loopback;
    topics = {"name": partitions}.  cmd() sends one control command
    ("down 1", "up 1", "errors 1 6 5", ...) and returns its answer."""

    def __init__(self, topics, brokers=3):
        args = [tool_bin("kafka_mock"), "--brokers", str(brokers)]
        for t, n in topics.items():
            args += ["--topic", "%s:%d" % (t, n)]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        _procs.append(self.proc)
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("bootstrap "):
            raise RuntimeError("kafka_mock did not start: %r" % line)
        self.bootstrap = line.split(" ", 1)[1]

    def cmd(self, text):
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()
        return self.proc.stdout.readline().decode().strip()

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                _kill_group(self.proc, signal.SIGKILL)


def redis_cluster(n=3):
    """n cluster-mode nodes joined into one cluster (no replicas); returns
    the nodes once every one reports cluster_state:ok."""
    nodes = [RedisServer(cluster=True, name="rcluster") for _ in range(n)]
    p = subprocess.run(["redis-cli", "--cluster", "create"] +
                       ["127.0.0.1:%d" % r.port for r in nodes] +
                       ["--cluster-replicas", "0", "--cluster-yes"],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("redis-cli --cluster create: %s" % p.stdout.decode()[-400:])
    deadline = time.time() + 30
    while time.time() < deadline:
        if all("cluster_state:ok" in r.cli("CLUSTER", "INFO") for r in nodes):
            return nodes
        time.sleep(0.1)
    raise RuntimeError("the cluster did not reach cluster_state:ok")


def cleanup():
    for s in list(_servers):
        try:
            s.http.close()
            if s.proc is not None and s.proc.poll() is None:
                _kill_group(s.proc, signal.SIGKILL)
                s.proc.wait(timeout=10)
        except Exception:
            pass
    for p in list(_procs):
        try:
            if p.poll() is None:
                _kill_group(p, signal.SIGKILL)
                p.wait(timeout=10)
        except Exception:
            pass
    if os.environ.get("FRESHET_IT_KEEP"):
        for d in _tmpdirs:
            sys.stderr.write("kept %s\n" % d)
        return
    for d in list(_tmpdirs):
        shutil.rmtree(d, ignore_errors=True)
    _tmpdirs.clear()


atexit.register(cleanup)


# ---- the runner ---------------------------------------------------------------

class Runner:
    """Counts cases; `with r.case("name"):` prints ok/FAIL."""

    def __init__(self, name, timeout_s=240):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.t0 = time.time()
        signal.signal(signal.SIGALRM, self._on_timeout)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        signal.alarm(int(timeout_s))
        self.timeout_s = timeout_s

    def _on_timeout(self, sig, frame):
        self.failed += 1
        print("FAIL %s_timeout: the test did not finish within %ss" % (self.name, self.timeout_s))
        self._print_tails()
        self._finish_now()

    def _on_term(self, sig, frame):
        self.failed += 1
        print("FAIL %s_interrupted: signal %d" % (self.name, sig))
        self._finish_now()

    def _finish_now(self):
        sys.stdout.flush()
        try:
            cleanup()
        finally:
            print("%d passed, %d failed" % (self.passed, self.failed))
            sys.stdout.flush()
            os._exit(1)

    def _print_tails(self):
        # the servers running now, else the last one started
        shown = [s for s in _servers if s.alive()] or [s for s in _servers if s.proc][-1:]
        for s in shown:
            if os.path.exists(s.log):
                print("  ---- tail of %s (port %d) ----" % (s.log, s.port))
                for ln in tail(s.log, 25).splitlines():
                    print("  | " + ln)

    def ok(self, name):
        self.passed += 1
        print("ok %s" % name)
        sys.stdout.flush()

    def fail(self, name, why):
        self.failed += 1
        why = str(why)
        if len(why) > 4000:
            why = why[:4000] + " ...(truncated)"
        print("FAIL %s: %s" % (name, why))
        self._print_tails()
        sys.stdout.flush()

    @contextlib.contextmanager
    def case(self, name):
        try:
            yield
        except AssertionError as e:
            self.fail(name, e)
        except Exception as e:  # an exception in the test is a failure too
            self.fail(name, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=4)))
        else:
            self.ok(name)

    def check(self, name, cond, why=""):
        if cond:
            self.ok(name)
        else:
            self.fail(name, why)
        return cond

    def finish(self):
        signal.alarm(0)
        cleanup()
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.stdout.flush()
        sys.exit(1 if self.failed or not self.passed else 0)


def require_binary(runner):
    """Fails one case and finishes when the binary is missing."""
    b = freshet_bin()
    if not os.path.isfile(b) or not os.access(b, os.X_OK):
        runner.fail("binary", "no executable freshet at %s (set FRESHET_BIN)" % b)
        runner.finish()


def check_clean_stop(runner, server, name="clean_shutdown"):
    """Stops the server with SIGTERM; a case for exit 0 and no sanitizer report."""
    with runner.case(name):
        rc = server.stop()
        reps = server.sanitizer_reports()
        assert not reps, "sanitizer reports in %s:\n%s\n%s" % (server.log, "\n".join(reps[:10]),
                                                               tail(server.log, 40))
        assert rc == 0, "exit code %r after SIGTERM; log tail:\n%s" % (rc, tail(server.log, 20))


# ---- small JSON checks ------------------------------------------------------------

def is_error_shape(r):
    """An error answer: JSON {"error": str, "detail": str}."""
    return (r.is_json and isinstance(r.json, dict) and isinstance(r.json.get("error"), str)
            and isinstance(r.json.get("detail"), str))


def is_counts_shape(r):
    j = r.json
    return (r.is_json and isinstance(j, dict) and isinstance(j.get("accepted"), int)
            and isinstance(j.get("rejected"), int) and "first_offset" in j and "last_offset" in j
            and isinstance(j.get("errors", []), list))


def expect(cond, msg, *args):
    if not cond:
        raise AssertionError(msg % args if args else msg)


# ---- the oracle: DESIGN section 2, brute force ------------------------------------

import bisect as _bisect
import math as _math

_UNITS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


def parse_duration(s):
    s = s.strip()
    for u in ("ms", "s", "m", "h", "d"):
        if s.endswith(u) and s[:-len(u)].isdigit():
            return int(s[:-len(u)]) * _UNITS[u]
    raise ValueError("bad duration %r" % s)


def default_tile_ms(w_ms):
    """Largest whole number of seconds dividing W and <= W/60; 1 s under a minute."""
    if w_ms < 60000:
        return 1000
    ws = w_ms // 1000
    best = 1
    for d in range(1, ws // 60 + 1):
        if ws % d == 0 and d * 60 <= ws:
            best = d
    return best * 1000


class ViewDef:
    """A feature view as the oracle sees it.

    windows: list of labels ("5m"); granularity: {label: tile label};
    aggs: list of (fn, field or None, name or None); filter: (field, value) or None;
    field_types: the source's {field: type}."""

    def __init__(self, name, source, entity, windows, aggs, field_types, granularity=None,
                 filter=None):
        self.name = name
        self.source = source
        self.entity = entity
        granularity = granularity or {}
        self.windows = []
        for lab in windows:
            w = parse_duration(lab)
            g = parse_duration(granularity[lab]) if lab in granularity else default_tile_ms(w)
            assert w % g == 0
            self.windows.append((lab, w, g))
        self.aggs = []
        for fn, field, name in aggs:
            if name is None:
                name = "%s_%s" % (field, fn) if field else fn
            self.aggs.append((fn, field, name, field_types.get(field) if field else None))
        self.filter = filter
        self.feature_names = ["%s_%s" % (a[2], w[0]) for a in self.aggs for w in self.windows]

    def passes(self, rec):
        if not self.filter:
            return True
        f, v = self.filter
        x = rec.get(f)
        return x is not None and type(x) is type(v) and x == v


class Oracle:
    """Events per (view, entity), sorted by (ts, offset); values by brute force."""

    def __init__(self, views):
        self.views = {v.name: v for v in views}
        self.events = {v.name: {} for v in views}   # view -> key -> [(ts, off, rec)]
        self.source_keys = {}                        # (source, entity field) -> set(keys)
        self._sorted = False

    @staticmethod
    def key_of(x):
        if isinstance(x, bool):
            return "true" if x else "false"
        return str(x)

    def add(self, source, ts_ms, offset, rec):
        for v in self.views.values():
            if v.source != source:
                continue
            k = self.key_of(rec[v.entity])
            self.source_keys.setdefault((source, v.entity), set()).add(k)
            if v.passes(rec):
                self.events[v.name].setdefault(k, []).append((ts_ms, offset, rec))
        self._sorted = False

    def _sort(self):
        if self._sorted:
            return
        self._tss = {}
        for vn, per in self.events.items():
            for k, evs in per.items():
                evs.sort(key=lambda e: (e[0], e[1]))
                self._tss[(vn, k)] = [e[0] for e in evs]
        self._sorted = True

    def keys(self, view):
        v = self.views[view]
        return sorted(self.source_keys.get((v.source, v.entity), ()))

    def has_state(self, view, key):
        return bool(self.events[view].get(key))

    def newest(self, view, key):
        evs = self.events[view].get(key)
        return max(e[0] for e in evs) if evs else None

    def expected(self, view, key, t):
        """{feature: (kind, value)}; kind: long double string bool distinct stddev."""
        self._sort()
        v = self.views[view]
        evs = self.events[view].get(key, [])
        tss = self._tss.get((view, key), [])
        out = {}
        for lab, w, g in v.windows:
            lo = (t // g) * g + g - w
            sel = evs[_bisect.bisect_left(tss, lo):_bisect.bisect_right(tss, t)]
            for fn, field, name, ftype in v.aggs:
                out["%s_%s" % (name, lab)] = agg_value(fn, field, ftype, sel, t)
        return out


def _kind(ftype):
    return {"long": "long", "double": "double", "string": "string", "boolean": "bool"}[ftype]


def agg_value(fn, field, ftype, sel, t):
    if fn == "count":
        return ("long", len(sel))
    if fn == "since_last":
        return ("long", t - sel[-1][0]) if sel else ("long", None)
    vals = [e[2][field] for e in sel if e[2].get(field) is not None]
    if fn == "last":
        for e in reversed(sel):
            x = e[2].get(field)
            if x is not None:
                return (_kind(ftype), x)
        return (_kind(ftype), None)
    if fn == "count_distinct":
        return ("distinct", len(set((type(x).__name__, x) for x in vals)))
    if ftype == "long":
        vals = [int(x) for x in vals]
    else:
        vals = [float(x) for x in vals]
    if fn == "sum":
        return (_kind(ftype), sum(vals) if ftype == "long" else float(_math.fsum(vals)))
    if not vals:
        return ("double" if fn in ("avg",) else "stddev" if fn == "stddev" else _kind(ftype), None)
    if fn == "min":
        return (_kind(ftype), min(vals))
    if fn == "max":
        return (_kind(ftype), max(vals))
    if fn == "avg":
        if ftype == "long":
            return ("double", sum(vals) / len(vals))
        return ("double", _math.fsum(vals) / len(vals))
    if fn == "stddev":
        # exact for values that are multiples of 0.25: scale by 4 to integers
        n = len(vals)
        xs = [int(round(x * 4)) for x in vals]
        if any(abs(x * 4 - xi) > 0 for x, xi in zip(vals, xs)):
            m = _math.fsum(vals) / n
            var = _math.fsum((x - m) ** 2 for x in vals) / n
        else:
            s1 = sum(xs)
            s2 = sum(x * x for x in xs)
            var = (n * s2 - s1 * s1) / (16.0 * n * n)
        rms = _math.sqrt(_math.fsum(x * x for x in vals) / n)
        return ("stddev", (_math.sqrt(max(var, 0.0)), rms))
    raise ValueError(fn)


def compare_value(exp, got):
    """None when got matches exp=(kind, value); else a reason."""
    kind, ev = exp
    if kind == "stddev":
        if ev is None:
            return None if got is None else "expected null"
        sd, rms = ev
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return "expected a number ~%r" % sd
        return None if abs(got - sd) <= 1e-6 * max(1.0, rms) else "expected %r" % sd
    if ev is None:
        return None if got is None else "expected null"
    if kind == "long":
        if type(got) is not int:
            return "expected the integer %r (a JSON integer)" % ev
        return None if got == ev else "expected %r" % ev
    if kind == "double":
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return "expected the number %r" % ev
        return None if float(got) == float(ev) else "expected %r" % ev
    if kind == "distinct":
        if type(got) is not int:
            return "expected an integer count_distinct ~%r" % ev
        if ev <= 32:
            return None if got == ev else "expected exactly %r" % ev
        return None if abs(got - ev) <= 0.03 * ev else "expected %r within 3%%" % ev
    if kind == "bool":
        return None if isinstance(got, bool) and got == ev else "expected %r" % ev
    if kind == "string":
        return None if isinstance(got, str) and got == ev else "expected %r" % ev
    return "unknown kind %s" % kind


def compare_features(expected, got, prefix=""):
    """List of mismatch strings between {name: (kind, v)} and a features dict."""
    bad = []
    if not isinstance(got, dict):
        return ["features is not an object: %r" % (got,)]
    for name, exp in expected.items():
        key = prefix + name
        if key not in got:
            bad.append("%s missing" % key)
            continue
        why = compare_value(exp, got[key])
        if why:
            bad.append("%s=%s: %s" % (key, json.dumps(got[key]), why))
    extra = set(got) - set(prefix + n for n in expected)
    if extra and not prefix:
        bad.append("unexpected features %s" % sorted(extra)[:5])
    return bad
