#!/usr/bin/python3
"""The reproducers of issue 8 (an outside probe of the running server), each
a regression case against the sanitizer build:

1. a first event at ts = INT64_MIN + 1 poisoned the watermark (the
   sanitizer build died on `wm - horizon`; the optimised one refused every
   later event as late, for good); a label source without views must accept
   events in any order;
2. as_of at the int64 edges crashed the freshness computation;
3. (config: tests/unit/config and test_cli) -- here: `freshet validate` on
   the libfyaml crash and leak files, what `run` refuses, a second YAML
   document, huge durations, and a parser that dies in its child process;
4. dead letters of bytes that are not UTF-8 came back altered (U+FFFD) and
   a replay merged two entities; truncated ones were "skipped (replayed
   before)";
5. a NUL (%00) in the entity cut the key short;
6. a full disk or LMDB map gave "Input/output error" / "store failure",
   nothing logged, /readyz 200;
7. repeated features and entities in a batch, sums that overflow, duplicate
   keys in one event, connection caps, Expect: 100-continue over the body
   limit, malformed request lines, two Content-Length headers, 405 without
   Allow.

Every answer is checked for its status and JSON shape, and each server must
stop cleanly with no sanitizer report.
"""
import base64
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

CONFIG = """
store:
  path: {store}
server:
  listen: "127.0.0.1:{port}"
  threads: 2
  max_body_bytes: 262144
  max_connections_per_client: 24
processor:
  commit_interval_ms: 20
sources:
  - name: tx
    timestamp: ts
    fields:
      - { name: card_id, type: string }
      - { name: amount, type: double }
      - { name: merchant_id, type: string }
      - { name: ts, type: long }
  - name: chargebacks
    timestamp: ts
    fields:
      - { name: txn_id, type: string }
      - { name: is_fraud, type: long }
      - { name: ts, type: long }
feature_views:
  - name: card_txn
    source: tx
    entity: card_id
    windows: [1h, 24h]
    aggregations:
      - { fn: count, name: txn_count }
      - { fn: sum, field: amount, name: amount_sum }
      - { fn: avg, field: amount, name: amount_avg }
"""

SMALL = """
store:
  path: {store}
  map_size: {map_size}
server:
  listen: "127.0.0.1:{port}"
  threads: 2
  max_connections: 4
  max_connections_per_client: 100
processor:
  commit_interval_ms: 20
sources:
  - name: tx
    timestamp: ts
    fields:
      - { name: card_id, type: string }
      - { name: s, type: string }
      - { name: ts, type: long }
feature_views:
  - { name: v, source: tx, entity: card_id, windows: [1h], aggregations: [{ fn: count }] }
"""

TS_MAX = 253402300799999
I64_MIN = -9223372036854775808
I64_MAX = 9223372036854775807


def ev(card, ts, amount=1, merchant="m"):
    return {"card_id": card, "amount": amount, "merchant_id": merchant, "ts": ts}


def counts(resp, status, accepted, reasons, where):
    """reasons: {index: reason}."""
    H.expect(resp.status == status and H.is_counts_shape(resp),
             "%s: status %d, expected %d with counts: %r", where, resp.status, status, resp)
    j = resp.json
    H.expect(j["accepted"] == accepted and j["rejected"] == len(reasons),
             "%s: accepted %r rejected %r, expected %d and %d: %r", where, j["accepted"],
             j["rejected"], accepted, len(reasons), resp)
    got = {e["index"]: e["reason"] for e in j["errors"]}
    H.expect(got == reasons, "%s: reasons %r, expected %r", where, got, reasons)
    return j


def error(resp, status, code, where):
    H.expect(resp.status == status and H.is_error_shape(resp) and resp.json["error"] == code,
             "%s: expected %d %s, got %r", where, status, code, resp)


def final_answer(got):
    """The answer in got past any 100 Continue, if whole (headers and the
    Content-Length body); else None."""
    while got.startswith(b"HTTP/1.1 100") and b"\r\n\r\n" in got:
        got = got.partition(b"\r\n\r\n")[2]
    head, sep, body = got.partition(b"\r\n\r\n")
    if not sep:
        return None
    n = 0
    for ln in head.split(b"\r\n")[1:]:
        k, _, v = ln.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
    return got if len(body) >= n else None


def read_answer(s):
    """Reads one answer from s: the bytes (b"" if the server closed first)."""
    got = b""
    while final_answer(got) is None:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            return got
        got += d
    return got


def raw(port, data, src="127.0.0.1", timeout=20):
    """Sends data on a new connection; returns what comes back until the
    server closes it or a whole answer arrived."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return b""
        return read_answer(s)
    finally:
        s.close()


def status_of(answer):
    answer = final_answer(answer) or answer
    line = answer.split(b"\r\n", 1)[0].split(b" ")
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else None


def header_of(answer, name):
    head = answer.partition(b"\r\n\r\n")[0]
    for ln in head.split(b"\r\n")[1:]:
        k, _, v = ln.partition(b":")
        if k.strip().lower() == name.lower().encode():
            return v.strip().decode()
    return None


def dlq_bytes(row):
    if "payload_b64" in row:
        return base64.b64decode(row["payload_b64"], validate=True)
    return row["payload"].encode("utf-8")


def main():
    r = H.Runner("probe", timeout_s=int(os.environ.get("FRESHET_IT_TIMEOUT", "400")))
    H.require_binary(r)
    srv = H.Server(CONFIG, name="probe")
    with r.case("start"):
        srv.start()
    if not srv.alive():
        r.finish()
    http = srv.http
    now = H.now_ms()

    # ---- 1. the accepted event-time range; the watermark cannot be poisoned ----
    with r.case("poisoned_watermark_refused_and_source_keeps_going"):
        resp = http.post("/v1/events/tx", ev("e1", -9223372036854775807))
        counts(resp, 422, 0, {0: "timestamp_out_of_range"}, "ts = INT64_MIN + 1")
        edges = [I64_MIN, -1, TS_MAX + 1, I64_MAX]
        resp = http.post("/v1/events/tx", [ev("e1", t) for t in edges])
        counts(resp, 422, 0, {i: "timestamp_out_of_range" for i in range(4)}, "range edges")
        resp = http.post("/v1/events/tx", [ev("e1", TS_MAX), ev("e1", now)])
        counts(resp, 200, 1, {0: "future_timestamp"}, "9999-12-31 is in range, but ahead")
        resp = http.post("/v1/events/tx", [ev("e1", now - 1000), ev("e1", 0)])
        counts(resp, 200, 1, {1: "late"}, "after the refusals: in order ok, 1970 late")
        wm = H.source_status(http.status(), "tx").get("watermark")
        H.expect(wm == now, "watermark %r, expected %d", wm, now)

    with r.case("label_source_without_views_has_no_lateness"):
        lab = [{"txn_id": "t%d" % i, "is_fraud": 1, "ts": now - k}
               for i, k in enumerate([0, 2 * 86400000, 30 * 86400000, 1])]
        counts(http.post("/v1/events/chargebacks", lab), 200, 4, {}, "out of order labels")
        counts(http.post("/v1/events/chargebacks", {"txn_id": "t9", "is_fraud": 0, "ts": 0}), 200,
               1, {}, "1970 on a label source")

    # ---- 2. as_of at the edges ----
    with r.case("as_of_outside_the_range_is_400"):
        counts(http.post("/v1/events/tx", ev("c1", now - 5000)), 200, 1, {}, "c1")
        H.wait_caught_up(http, 120)
        for q in (str(I64_MIN), "-9223372036854775807", str(I64_MAX), "-1", str(TS_MAX + 1)):
            error(http.get("/v1/features/card_txn/c1?as_of=" + q), 400, "bad_as_of", "as_of=" + q)
            error(http.post("/v1/features", {"features": ["card_txn:*"], "entities": ["c1"],
                                             "as_of": int(q)}), 400, "bad_as_of",
                  "POST as_of " + q)
        resp = http.get("/v1/features/card_txn/c1?as_of=%d" % TS_MAX)
        H.expect(resp.status == 200 and resp.json["freshness_ms"] == TS_MAX - (now - 5000),
                 "as_of at the range end: %r", resp)
        resp = http.get("/v1/features/card_txn/c1?as_of=0")
        H.expect(resp.status == 200 and resp.json["freshness_ms"] == -(now - 5000),
                 "as_of 0: %r", resp)

    # ---- 5. NUL in entity keys ----
    with r.case("nul_in_entity_keys_refused"):
        counts(http.post("/v1/events/tx", ev("g0", now - 4000)), 200, 1, {}, "g0")
        H.wait_caught_up(http, 120)
        for path in ("/v1/features/card_txn/g0%00anything", "/v1/features/card_txn/g0%00",
                     "/v1/features/card_txn/%00g0"):
            error(http.get(path), 400, "bad_entity", "GET " + path)
        resp = http.get("/v1/features/card_txn/g0")
        H.expect(resp.status == 200 and resp.json["found"] is True, "g0 itself: %r", resp)
        resp = http.post("/v1/features", '{"features":["card_txn:*"],"entities":["g0\\u0000x"]}')
        H.expect(resp.status == 400 and H.is_error_shape(resp), "batch NUL: %r", resp)
        resp = http.post("/v1/events/tx", '{"card_id":"g0\\u0000x","amount":1,"merchant_id":"m",'
                                          '"ts":%d}' % now)
        H.expect(resp.status == 400 and resp.json["accepted"] == 0, "ingest NUL: %r", resp)

    # ---- 4. dead letters byte for byte; replay never alters a payload ----
    bad = [b'{"card_id":"g_\xff\xfe","amount":1,"merchant_id":"m","ts":%d}' % (now - 3000),
           b'{"card_id":"g_\xc0\xaf","amount":1,"merchant_id":"m","ts":%d}' % (now - 3000)]
    cut = [b'{"card_id":"long%d","amount":1,"merchant_id":"' % i + b"z" * 70000 + b'",'
           for i in range(2)]
    with r.case("dead_letters_keep_bytes_that_are_not_utf8"):
        for b in bad:
            resp = http.post("/v1/events/tx", b)
            H.expect(resp.status == 400 and resp.json["errors"][0]["reason"] == "malformed_json",
                     "invalid UTF-8: %r", resp)
        for b in cut:
            resp = http.post("/v1/events/tx", b)
            H.expect(resp.status == 400, "a long malformed event: %r", resp)
        rows = [x for x in srv.dlq() if x.get("reason") == "malformed_json"]
        got = [dlq_bytes(x) for x in rows]
        for b in bad:
            H.expect(b in got, "no dead letter holds %r exactly: %r", b, got)
            row = rows[got.index(b)]
            H.expect("payload_b64" in row and row["payload_bytes"] == len(b) and
                     "payload" not in row, "bytes that are not UTF-8 not in base64: %r", row)
        long_rows = [x for x in rows if x.get("truncated")]
        H.expect(len(long_rows) == 2 and
                 sorted(dlq_bytes(x) for x in long_rows) == sorted(c[:65536] for c in cut) and
                 all(x["payload_bytes"] == 65536 for x in long_rows),
                 "truncated dead letters: %r", [(x.get("payload_bytes"), x.get("truncated"))
                                                for x in long_rows])

    with r.case("replay_never_replays_an_altered_payload"):
        rc, out, err = srv.cli(["dlq", "replay"])
        H.expect(rc == 0, "dlq replay: %r %r", out, err)
        H.expect("2 truncated, not replayable" in out and "0 skipped (replayed before)" in out,
                 "replay summary: %r", out)
        H.wait_caught_up(http, 120)
        for key in ("g_\ufffd\ufffd", "g_\ufffd"):
            resp = http.features("card_txn", key)
            H.expect(resp.status == 200 and resp.json["found"] is False,
                     "a replay made entity %r: %r", key, resp)
        rows = srv.dlq()
        for b in bad:
            row = [x for x in rows if x.get("reason") == "malformed_json" and
                   dlq_bytes(x) == b][0]
            H.expect("replayed" not in row and str(row.get("replay_refused", "")).startswith(
                     "malformed_json"), "replayed or not refused again: %r", row)
        rc, out, err = srv.cli(["dlq", "replay"])
        H.expect(rc == 0 and "2 truncated, not replayable" in out, "again: %r %r", out, err)

    # ---- 7. the smaller ones ----
    with r.case("batch_read_deduplicates_features_and_entities"):
        body = {"features": ["card_txn:txn_count_1h"] * 5000 + ["card_txn:*"],
                "entities": ["c1", "c1", 42, "42", "c1"]}
        resp = http.post("/v1/features", body)
        H.expect(resp.status == 200, "batch: %r", resp)
        res = resp.json["results"]
        H.expect([x["entity"] for x in res] == ["c1", "42"], "entities %r",
                 [x["entity"] for x in res])
        text = resp.body.decode()
        H.expect(text.count('"card_txn:txn_count_1h"') == 2 and
                 len(res[0]["features"]) == 6, "features repeated: %s", text[:400])
        H.expect(res[0]["features"]["card_txn:txn_count_1h"] == 1, "c1: %r", res[0])

    with r.case("double_sum_overflow_is_null_as_documented"):
        counts(http.post("/v1/events/tx", [ev("big", now - 2000, 1e308), ev("big", now - 2000,
                                                                            1e308)]),
               200, 2, {}, "two 1e308")
        H.wait_caught_up(http, 120)
        f = http.features("card_txn", "big", now).json["features"]
        H.expect(f["txn_count_1h"] == 2 and f["amount_sum_1h"] is None and
                 f["amount_avg_1h"] is None, "overflowed sum: %r", f)

    with r.case("duplicate_keys_in_one_event_refused"):
        dup = '{"card_id":"d1","amount":1,"merchant_id":"m","card_id":"d2","ts":%d}' % now
        counts(http.post("/v1/events/tx", dup), 422, 0, {0: "duplicate_field"}, "one object")
        arr = "[%s,%s]" % (json.dumps(ev("d3", now - 1000)), dup)
        counts(http.post("/v1/events/tx", arr), 200, 1, {1: "duplicate_field"}, "in an array")
        nd = json.dumps(ev("d4", now - 1000)) + "\n" + dup + "\n"
        counts(http.post("/v1/events/tx", nd), 200, 1, {1: "duplicate_field"}, "NDJSON")
        rows = [x for x in srv.dlq() if x.get("reason") == "duplicate_field"]
        H.expect(len(rows) == 3 and all(x["payload"] == dup for x in rows),
                 "duplicate_field dead letters: %r", [x.get("payload") for x in rows])
        H.wait_caught_up(http, 120)
        for k in ("d1", "d2"):
            H.expect(http.features("card_txn", k).json["found"] is False, "%s has state", k)

    with r.case("expect_100_continue_over_the_limit_is_413_at_once"):
        ans = raw(srv.port, b"POST /v1/events/tx HTTP/1.1\r\nHost: x\r\nContent-Length: 999999"
                            b"\r\nExpect: 100-continue\r\n\r\n")
        H.expect(status_of(ans) == 413 and b"body_too_large" in ans,
                 "expected 413 before the body, got %r", ans[:300])
        ans = raw(srv.port, b"POST /v1/events/tx HTTP/1.1\r\nHost: x\r\nContent-Length: 2"
                            b"\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n{}")
        H.expect(b"HTTP/1.1 100" in ans or status_of(ans) == 422, "small body: %r", ans[:300])

    with r.case("two_content_lengths_400"):
        body = json.dumps(ev("cl", now)).encode()
        ans = raw(srv.port, b"POST /v1/events/tx HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                            b"Content-Length: %d\r\n\r\n%s" % (len(body), len(body) + 5, body))
        H.expect(status_of(ans) == 400 and b"bad_content_length" in ans, "%r", ans[:300])
        ans = raw(srv.port, b"POST /v1/events/tx HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                  % (len(body), len(body), body))
        H.expect(status_of(ans) == 200, "two equal Content-Length: %r", ans[:300])

    with r.case("malformed_request_lines_close_as_documented"):
        for line in (b"HELLO\r\n\r\n", b"GET\t/healthz\tHTTP/1.1\r\nHost: x\r\n\r\n"):
            ans = raw(srv.port, line)
            H.expect(ans == b"" or status_of(ans) == 400, "%r: %r", line, ans[:200])
        H.expect(http.get("/healthz").status == 200, "not serving after bad request lines")

    with r.case("405_carries_allow"):
        for method, path, allow in (("GET", "/v1/events/tx", "POST"),
                                    ("PUT", "/v1/features", "POST"),
                                    ("DELETE", "/v1/features/card_txn/x", "GET, HEAD"),
                                    ("POST", "/readyz", "GET, HEAD")):
            resp = http.request(method, path, body=b"{}" if method != "GET" else None)
            error(resp, 405, "method_not_allowed", "%s %s" % (method, path))
            H.expect(resp.headers.get("allow") == allow, "%s %s: Allow %r, expected %r", method,
                     path, resp.headers.get("allow"), allow)

    with r.case("connections_capped_per_client_address"):
        # server.max_connections_per_client is 24: open keep-alive connections
        # from 127.0.0.1, each served once (so accepted), until one is closed
        # at once; connections of earlier cases may still count while the
        # server takes their close in, so fewer than 24 may be held
        http.close()
        held, refused = [], False
        try:
            for _ in range(40):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
                try:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    ans = read_answer(s)
                except (BrokenPipeError, ConnectionResetError):
                    ans = b""
                if status_of(ans) != 200:
                    H.expect(ans == b"", "a refused connection got %r", ans[:100])
                    s.close()
                    refused = True
                    break
                held.append(s)
            H.expect(refused and len(held) <= 24, "%d connections from one address held, "
                     "refused: %r", len(held), refused)
            # another client address is served meanwhile
            ans = raw(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                      src="127.0.0.2")
            H.expect(status_of(ans) == 200, "127.0.0.2 locked out: %r", ans[:100])
        finally:
            for s in held:
                s.close()
        # the slots come back once they close (the server notices at once)
        end = time.time() + 60
        while time.time() < end:
            ans = raw(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if status_of(ans) == 200:
                break
            time.sleep(0.05)
        H.expect(status_of(ans) == 200, "127.0.0.1 not served after closing: %r", ans[:100])

    with r.case("still_ready"):
        resp = http.get("/readyz")
        H.expect(resp.status == 200 and resp.json["log"]["ok"] and resp.json["processor"]["ok"],
                 "/readyz: %r", resp)

    H.check_clean_stop(r, srv)

    # ---- 3. the configuration: validate catches what run refuses ----
    check_validate(r, srv)

    # ---- 6. storage failures, named, logged once, readiness, recovery ----
    check_map_full(r)
    check_disk_full(r)
    r.finish()


BASE_SRC = ("sources: [ { name: s, timestamp: ts, fields: [ { name: ts, type: long } ] } ]\n")


def check_validate(r, srv):
    d = H.make_tmpdir("freshet-probe-cfg-")
    cases = [
        ("crash", base64.b64decode("ID8gPyA/ICA/ID8gICA6LSAJCQkJCQkJOi0JZTo/ID8gID8gPyA/ID8gLSAgPy"
                                   "A/IC0gPyA/ID8gIC0gLSAgKiMyOCA6IAkJCQktCQkJCWU6ICA="),
         ":1:71: a tab before a block indicator"),
        ("leak", b"'" * 48 + b": w true }", ":1:1: a single-quoted string"),
        ("listen", b'server: { listen: "example.com:8080" }\n' + BASE_SRC.encode(),
         ":1:19: listen host 'example.com' is not an IP address"),
        ("redis", b'store: { redis: { url: "http://x:1/0" } }\n' + BASE_SRC.encode(),
         ":1:24: url: expected redis://"),
        ("twodocs", BASE_SRC.encode() + b"---\nstore: { path: /elsewhere }\n",
         ":3:1: a second YAML document"),
        ("duration", b"server: { idempotency_ttl: 9999999999999999d }\n" + BASE_SRC.encode(),
         ":1:28: idempotency_ttl '9999999999999999d' is too large"),
    ]
    for name, text, want in cases:
        with r.case("validate_" + name):
            p = os.path.join(d, name + ".yaml")
            with open(p, "wb") as f:
                f.write(text)
            rc, out, err = H.run_cli(["validate", "-c", p])
            H.expect(rc == 1 and (p + want) in err and
                     not any(m in err for m in H.SANITIZER_MARKS),
                     "validate %s: exit %r, stderr %r", name, rc, err[-600:])
            rc, out, err = H.run_cli(["run", "-c", p])
            H.expect(rc == 1 and (p + want) in err, "run %s: exit %r, stderr %r", name, rc,
                     err[-600:])

    with r.case("validate_reports_a_parser_that_dies"):
        # the file is a FIFO nobody writes: the child process that reads it
        # blocks, and is killed as a crashing parser would end (SIGKILL: the
        # sanitizers catch SIGSEGV and exit instead)
        p = os.path.join(d, "fifo.yaml")
        os.mkfifo(p)
        proc = subprocess.Popen([H.freshet_bin(), "validate", "-c", p], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=H.sanitizer_env())
        child = None
        end = time.time() + 60
        while time.time() < end and child is None and proc.poll() is None:
            try:
                with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                    kids = f.read().split()
                if kids:
                    child = int(kids[0])
            except OSError:
                pass
            time.sleep(0.02)
        H.expect(child is not None, "no child process checks the file")
        os.kill(child, 9)
        out, err = proc.communicate(timeout=60)
        err = err.decode("utf-8", "replace")
        H.expect(proc.returncode == 1 and "the YAML parser crashed reading this file (signal 9)"
                 in err, "exit %r, stderr %r", proc.returncode, err[-600:])


def fill(http, prefix, limit=20000):
    """Posts batches until one is refused; returns that answer."""
    now = H.now_ms()
    for i in range(limit):
        body = "\n".join(json.dumps({"card_id": "%s%d" % (prefix, i * 20 + j), "s": "x" * 2000,
                                     "ts": now}) for j in range(20))
        resp = http.post("/v1/events/tx", body)
        if resp.status != 200:
            return resp
    raise AssertionError("storage never filled")


def expect_unready(http, cause):
    resp = http.get("/readyz")
    H.expect(resp.status == 503 and resp.json["ready"] is False and
             resp.json["log"]["ok"] is False and cause in resp.json["log"]["error"] and
             cause in resp.json["detail"], "/readyz while failing: %r", resp)


def check_map_full(r):
    srv = H.Server(SMALL.replace("{map_size}", "1MiB"), name="probe-map")
    with r.case("map_full_start"):
        srv.start()
    if not srv.alive():
        return
    with r.case("map_full_named_logged_once_and_unready"):
        resp = fill(srv.http, "m")
        error(resp, 503, "log_unavailable", "a full map")
        H.expect(resp.json["detail"] == "store map full: raise store.map_size", "%r", resp)
        resp = fill(srv.http, "n", 3)
        error(resp, 503, "log_unavailable", "still full")
        expect_unready(srv.http, "store map full: raise store.map_size")
        with open(srv.log, "rb") as f:
            lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines()
                     if "writes fail" in ln]
        H.expect(len(lines) == 1 and "store map full: raise store.map_size" in lines[0],
                 "logged %d times: %r", len(lines), lines)
    with r.case("global_connection_cap_waits_for_a_slot"):
        # max_connections 4: four held (each served once, so accepted), the
        # fifth is not taken up until one closes
        srv.http.close()
        held = []
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            H.expect(status_of(read_answer(s)) == 200, "held connection %d not served",
                     len(held))
            held.append(s)
        extra = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
        try:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            extra.settimeout(0.5)
            try:
                early = extra.recv(100)
            except socket.timeout:
                early = None
            H.expect(early is None, "answered past max_connections: %r", early)
            held.pop().close()
            extra.settimeout(60)
            ans = read_answer(extra)
            H.expect(status_of(ans) == 200, "the waiting connection: %r", ans)
        finally:
            extra.close()
            for s in held:
                s.close()
    H.check_clean_stop(r, srv, "map_full_clean_shutdown")


def check_disk_full(r):
    mnt = tempfile.mkdtemp(prefix="freshet-probe-tmpfs-")
    rc = subprocess.call(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if rc != 0:
        print("skip disk_full: cannot mount a tmpfs here (not root?); the map_size case ran")
        os.rmdir(mnt)
        return
    srv = None
    try:
        srv = H.Server(SMALL.replace("{map_size}", "64MiB").replace("{store}",
                                                                     mnt + "/data"),
                       name="probe-disk")
        with r.case("disk_full_start"):
            srv.start()
        if not srv.alive():
            return
        with r.case("disk_full_named_logged_once_and_unready"):
            resp = fill(srv.http, "d")
            error(resp, 503, "log_unavailable", "a full disk")
            H.expect(resp.json["detail"] == "No space left on device", "%r", resp)
            fill(srv.http, "e", 3)
            expect_unready(srv.http, "No space left on device")
            with open(srv.log, "rb") as f:
                lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines()
                         if "writes fail" in ln]
            H.expect(len(lines) == 1 and "No space left on device" in lines[0],
                     "logged %d times: %r", len(lines), lines)
        with r.case("disk_full_recovers_when_space_returns"):
            subprocess.check_call(["mount", "-o", "remount,size=64m", mnt])
            end = time.time() + 120
            resp = None
            while time.time() < end:
                resp = srv.http.post("/v1/events/tx", {"card_id": "after", "s": "y",
                                                       "ts": H.now_ms()})
                if resp.status == 200:
                    break
                time.sleep(0.05)
            H.expect(resp.status == 200 and resp.json["accepted"] == 1, "ingest after: %r", resp)
            while time.time() < end and srv.http.get("/readyz").status != 200:
                time.sleep(0.05)
            resp = srv.http.get("/readyz")
            H.expect(resp.status == 200, "/readyz after space returned: %r", resp)
            H.wait_caught_up(srv.http, 120)
            H.expect(srv.http.features("v", "after").json["found"] is True, "not processed")
            with open(srv.log, "rb") as f:
                H.expect(b"writes succeed again" in f.read(), "recovery not logged")
        H.check_clean_stop(r, srv, "disk_full_clean_shutdown")
    finally:
        if srv is not None and srv.alive():
            srv.kill()
        subprocess.call(["umount", mnt])
        os.rmdir(mnt)


if __name__ == "__main__":
    main()
