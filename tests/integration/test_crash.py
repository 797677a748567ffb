#!/usr/bin/python3
"""Crash test: kill -9 at random moments while a client sends batches, each
with its own Idempotency-Key, retrying the batch in flight with the same key
until it is answered.  Afterwards every event is in the log exactly once and
the features of every entity equal the oracle over every event exactly once.

The kills are spread over the run: the killer picks KILLS random batch
indexes up front; when the client reaches one it waits a random 0..20 ms
(sometimes up to 200 ms) and kills, so kills land inside requests, group
commits of the log and processor commits.  The client never waits for the
killer.  Nothing here passes or fails on timing.
"""
import http.client
import json
import os
import random
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SEED = int(os.environ.get("FRESHET_IT_SEED", "4242"))
N_EVENTS = int(os.environ.get("FRESHET_IT_CRASH_EVENTS", "30000"))
KILLS = 16
N_CARDS, N_MERCHANTS = 200, 50

CONFIG = """
store:
  path: {store}
server:
  listen: "127.0.0.1:{port}"
processor:
  commit_interval_ms: 10
sources:
  - name: tx
    timestamp: ts
    fields:
      - { name: card_id, type: string }
      - { name: merchant_id, type: string }
      - { name: amount, type: double }
      - { name: qty, type: long }
      - { name: country, type: string, optional: true }
      - { name: ts, type: long }
feature_views:
  - name: card
    source: tx
    entity: card_id
    windows: [1h, 24h]
    aggregations:
      - { fn: count }
      - { fn: sum, field: amount }
      - { fn: sum, field: qty }
      - { fn: max, field: amount }
      - { fn: stddev, field: amount }
      - { fn: last, field: qty }
      - { fn: last, field: country }
      - { fn: count_distinct, field: merchant_id }
      - { fn: since_last }
  - name: merchant
    source: tx
    entity: merchant_id
    windows: [5m, 24h]
    aggregations:
      - { fn: count }
      - { fn: sum, field: qty }
      - { fn: min, field: amount }
"""

TYPES = {"card_id": "string", "merchant_id": "string", "amount": "double", "qty": "long",
         "country": "string", "ts": "long"}


def view_defs():
    return [
        H.ViewDef("card", "tx", "card_id", ["1h", "24h"], [
            ("count", None, None), ("sum", "amount", None), ("sum", "qty", None),
            ("max", "amount", None), ("stddev", "amount", None), ("last", "qty", None),
            ("last", "country", None), ("count_distinct", "merchant_id", None),
            ("since_last", None, None)], TYPES),
        H.ViewDef("merchant", "tx", "merchant_id", ["5m", "24h"], [
            ("count", None, None), ("sum", "qty", None), ("min", "amount", None)], TYPES),
    ]


def make_batches(rng, now):
    end = now - 5000
    events = []
    for _ in range(N_EVENTS):
        e = {"card_id": "c%03d" % int(rng.paretovariate(1.2) * 3 % N_CARDS),
             "merchant_id": "m%02d" % rng.randrange(N_MERCHANTS),
             "amount": rng.randint(-100, 2000) * 0.25, "qty": rng.randint(0, 9),
             "ts": end - (rng.randint(0, 300000) if rng.random() < 0.4 else
                          rng.randint(0, 7000000))}
        if rng.random() < 0.7:
            e["country"] = rng.choice(["US", "FR", "DE"])
        events.append(e)
    batches = []
    i = 0
    while i < len(events):
        n = rng.randint(20, 400)
        chunk = events[i:i + n]
        i += n
        if rng.random() < 0.5:
            body = "\n".join(json.dumps(e, separators=(",", ":")) for e in chunk) + "\n"
        else:
            body = json.dumps(chunk)
        batches.append({"key": "crash-%d-%d" % (SEED, len(batches)), "body": body,
                        "events": chunk, "answer": None, "status": None, "attempts": 0})
    return batches


class Client(threading.Thread):
    def __init__(self, port, batches, progress):
        super().__init__(daemon=True)
        self.port = port
        self.batches = batches
        self.progress = progress   # callable(i): batch i is being sent
        self.error = None
        self.done = False

    def run(self):
        http_ = H.Http(self.port, timeout=30)
        try:
            for i, b in enumerate(self.batches):
                self.progress(i)
                deadline = time.time() + 150
                while True:
                    if time.time() > deadline:
                        self.error = "batch %d never answered (last: %s)" % (i, b.get("last"))
                        return
                    b["attempts"] += 1
                    try:
                        resp = http_.post("/v1/events/tx", b["body"],
                                          headers={"Idempotency-Key": b["key"]},
                                          retry_stale=False)
                    except (OSError, http.client.HTTPException) as e:
                        b["last"] = repr(e)
                        http_.close()
                        time.sleep(0.02)
                        continue
                    if resp.status >= 500:
                        b["last"] = repr(resp)
                        time.sleep(0.02)
                        continue
                    b["status"] = resp.status
                    b["answer"] = resp.json
                    b["raw"] = resp.body
                    break
        except Exception as e:  # noqa
            self.error = "client: %r" % e
        finally:
            http_.close()
            self.done = True
            self.progress(len(self.batches))


def main():
    # FRESHET_IT_CRASH_STORE=redis runs the same test on a Redis online store
    on_redis = os.environ.get("FRESHET_IT_CRASH_STORE") == "redis"
    name = "crash-redis" if on_redis else "crash"
    r = H.Runner(name, timeout_s=int(os.environ.get("FRESHET_IT_TIMEOUT", "220")))
    H.require_binary(r)
    config = CONFIG
    if on_redis:
        redis = H.RedisServer(name="crash", persist=True)
        config = CONFIG.replace("store:\n  path: {store}\n",
                                "store:\n  backend: redis\n  path: {store}\n"
                                "  redis: { url: \"%s\" }\n" % redis.url())
        assert config != CONFIG
    rng = random.Random(SEED)
    batches = make_batches(rng, H.now_ms())
    srv = H.Server(config, name=name)
    with r.case("start"):
        srv.start()
    if not srv.alive():
        r.finish()

    cv = threading.Condition()
    state = {"kills": 0, "at": -1}
    nb = len(batches)
    krng = random.Random(SEED + 1)
    targets = sorted(krng.sample(range(1, nb), min(KILLS, nb - 1)))

    def progress(i):
        with cv:
            state["at"] = i
            cv.notify_all()

    client = Client(srv.port, batches, progress)
    killer_error = None
    with r.case("ingest_under_kill_9"):
        client.start()
        for target in targets:
            with cv:
                cv.wait_for(lambda: state["at"] >= target, timeout=150)
            time.sleep(krng.uniform(0.0, 0.2 if krng.random() < 0.2 else 0.02))
            srv.kill()
            state["kills"] += 1
            try:
                srv.start(wait=True, deadline_s=90)
            except AssertionError as e:
                # a start that fails after a kill is a finding; try once more to go on
                killer_error = "restart %d failed: %s" % (state["kills"], e)
                srv.start(wait=True, deadline_s=90)
        client.join(timeout=200)
        H.expect(client.error is None, "%s", client.error)
        H.expect(killer_error is None, "%s", killer_error)
        H.expect(state["kills"] >= KILLS, "only %d kills", state["kills"])
        retried = sum(1 for b in batches if b["attempts"] > 1)
        print("  # %d batches, %d events, %d kills, %d batches retried" %
              (nb, N_EVENTS, state["kills"], retried))

    with r.case("every_batch_answered_once"):
        bad = [(i, b["status"], b["answer"]) for i, b in enumerate(batches)
               if b["status"] != 200 or not isinstance(b["answer"], dict) or
               b["answer"].get("accepted") != len(b["events"]) or b["answer"].get("rejected") != 0]
        H.expect(not bad, "%d batches not fully accepted, e.g. %s", len(bad), bad[:3])
        total = sum(b["answer"]["accepted"] for b in batches)
        H.expect(total == N_EVENTS, "sum of accepted %d != %d events", total, N_EVENTS)
        spans = sorted((b["answer"]["first_offset"], b["answer"]["last_offset"], len(b["events"]))
                       for b in batches)
        nxt = 0
        for first, last, n in spans:
            H.expect(first == nxt and last == first + n - 1,
                     "offsets are not a partition of 0..%d: span %r..%r (%d events) after %d",
                     N_EVENTS - 1, first, last, n, nxt)
            nxt = last + 1

    oracle = H.Oracle(view_defs())
    for b in batches:
        if isinstance(b["answer"], dict) and isinstance(b["answer"].get("first_offset"), int):
            for k, e in enumerate(b["events"]):
                oracle.add("tx", e["ts"], b["answer"]["first_offset"] + k, e)
    maxts = max(e["ts"] for b in batches for e in b["events"])

    with r.case("log_and_processor_exactly_once"):
        st = H.wait_caught_up(srv.http, 180)
        ss = H.source_status(st, "tx")
        H.expect(ss["log_end_offset"] == N_EVENTS, "log_end_offset %r, expected %d",
                 ss["log_end_offset"], N_EVENTS)
        H.expect(ss["committed_offset"] == N_EVENTS, "committed_offset %r", ss["committed_offset"])
        H.expect(st.get("dead_letters") == 0, "dead_letters %r", st.get("dead_letters"))
        H.expect(ss.get("watermark") == maxts, "watermark %r, expected %d", ss.get("watermark"),
                 maxts)

    def compare_all(tag):
        bad = []
        for v in view_defs():
            for key in oracle.keys(v.name):
                for t in (maxts, maxts + 1800000):
                    resp = srv.http.features(v.name, key, t)
                    if resp.status != 200 or not isinstance(resp.json, dict):
                        bad.append("GET %s/%s?as_of=%d: %r" % (v.name, key, t, resp))
                        continue
                    errs = H.compare_features(oracle.expected(v.name, key, t),
                                              resp.json.get("features"))
                    if resp.json.get("found") is not True:
                        errs.append("found=%r" % resp.json.get("found"))
                    if errs:
                        bad.append("%s GET %s/%s?as_of=%d: %s" % (tag, v.name, key, t,
                                                                  "; ".join(errs[:5])))
        return bad

    with r.case("features_equal_oracle_after_crashes"):
        bad = compare_all("after crashes")
        H.expect(not bad, "%d answers differ:\n  %s", len(bad), "\n  ".join(bad[:12]))

    with r.case("resend_old_batches_same_answer"):
        for i in sorted(rng.sample(range(nb), min(6, nb))):
            b = batches[i]
            resp = srv.http.post("/v1/events/tx", b["body"], headers={"Idempotency-Key": b["key"]})
            H.expect(resp.status == b["status"] and resp.json == b["answer"],
                     "batch %d re-sent with its key: %r; first answer was %s", i, resp,
                     json.dumps(b["answer"])[:300])
        # the same key with another body is refused
        b = batches[0]
        resp = srv.http.post("/v1/events/tx", json.dumps(b["events"][:1]),
                             headers={"Idempotency-Key": b["key"]})
        H.expect(resp.status == 422 and H.is_error_shape(resp) and
                 resp.json["error"] == "idempotency_key_reused",
                 "key %s reused with another body: %r", b["key"], resp)
        st = H.wait_caught_up(srv.http, 60)
        ss = H.source_status(st, "tx")
        H.expect(ss["log_end_offset"] == N_EVENTS,
                 "log_end_offset %r after re-sending, expected %d", ss["log_end_offset"], N_EVENTS)
        H.expect(st.get("dead_letters") == 0, "dead_letters %r", st.get("dead_letters"))
        bad = compare_all("after re-sending")
        H.expect(not bad, "%d answers changed:\n  %s", len(bad), "\n  ".join(bad[:8]))

    with r.case("restart_after_clean_stop_keeps_state"):
        rc = srv.stop()
        H.expect(rc == 0, "exit %r after SIGTERM", rc)
        srv.start()
        st = H.wait_caught_up(srv.http, 60)
        H.expect(H.source_status(st, "tx")["log_end_offset"] == N_EVENTS, "log changed: %s",
                 json.dumps(st)[:500])
        bad = compare_all("after restart")
        H.expect(not bad, "%d answers differ:\n  %s", len(bad), "\n  ".join(bad[:8]))

    H.check_clean_stop(r, srv)
    r.finish()


if __name__ == "__main__":
    main()
