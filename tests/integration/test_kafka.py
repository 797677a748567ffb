#!/usr/bin/python3
"""Kafka source tests against librdkafka's mock cluster (tests/tools/kafka_mock),
with independent producers: python3-confluent-kafka and kcat.

- oracle_lmdb: JSON events keyed by entity over 4 partitions (confluent_kafka
  and kcat), bad messages among them; `freshet run` applies them; every
  feature equals the brute-force oracle; the dead letters are in tx.dlq with
  reason, topic, partition and offset headers that match the producers'
  delivery reports; SIGKILL mid-stream and restart: still exact.
- faults: a broker down, fetch errors, produce errors and disconnects
  injected through the mock while events flow: exact.
- group_redis: two `freshet process` in one consumer group on Redis split the
  partitions; one is SIGKILLed mid-stream; the survivor takes its partitions
  over; a `freshet serve --no-ingest` replica answers exactly the oracle.
- zombie_redis: a processor SIGSTOPped past a rebalance, then resumed, is
  fenced (its commits are refused); features stay exact.
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

PARTS = 4

CONFIG = """
store:
  backend: {backend}
  path: {store}
  redis: {{ url: "{redis}" }}
server:
  listen: "127.0.0.1:{port}"
processor:
  commit_interval_ms: 20
sources:
  - name: tx
    format: json
    timestamp: ts
    kafka: {{ brokers: "{brokers}", topic: {topic}, group: {group}, max_message_bytes: 4096 }}
    fields:
      - {{ name: card_id, type: string }}
      - {{ name: merchant_id, type: string }}
      - {{ name: amount, type: double }}
      - {{ name: country, type: string, optional: true }}
      - {{ name: channel, type: string, default: web }}
      - {{ name: ts, type: long }}
feature_views:
  - name: card
    source: tx
    entity: card_id
    windows: [1m, 1h, 24h]
    aggregations:
      - {{ fn: count }}
      - {{ fn: sum, field: amount }}
      - {{ fn: avg, field: amount }}
      - {{ fn: min, field: amount }}
      - {{ fn: max, field: amount }}
      - {{ fn: stddev, field: amount }}
      - {{ fn: count_distinct, field: merchant_id }}
      - {{ fn: last, field: country }}
      - {{ fn: last, field: channel }}
      - {{ fn: since_last }}
  - name: merchant
    source: tx
    entity: merchant_id
    windows: [5m, 2h]
    aggregations:
      - {{ fn: count }}
      - {{ fn: sum, field: amount }}
      - {{ fn: count_distinct, field: card_id }}
"""

TYPES = {"card_id": "string", "merchant_id": "string", "amount": "double",
         "country": "string", "channel": "string", "ts": "long"}


def view_defs():
    return [
        H.ViewDef("card", "tx", "card_id", ["1m", "1h", "24h"], [
            ("count", None, None), ("sum", "amount", None), ("avg", "amount", None),
            ("min", "amount", None), ("max", "amount", None), ("stddev", "amount", None),
            ("count_distinct", "merchant_id", None), ("last", "country", None),
            ("last", "channel", None), ("since_last", None, None)], TYPES),
        H.ViewDef("merchant", "tx", "merchant_id", ["5m", "2h"], [
            ("count", None, None), ("sum", "amount", None),
            ("count_distinct", "card_id", None)], TYPES),
    ]


def with_defaults(rec):
    """The event as freshet reads it: a missing (or null) channel is 'web'."""
    rec = dict(rec)
    if rec.get("channel") is None:
        rec["channel"] = "web"
    return rec


def config(mock, topic, group, backend="lmdb", redis="redis://127.0.0.1:1"):
    return CONFIG.format(backend=backend, store="{store}", port="{port}", redis=redis,
                         brokers=mock.bootstrap, topic=topic, group=group)


class Events:
    """Generates events, produces them keyed by card_id, and feeds the oracle
    from the delivery reports (partition, offset)."""

    def __init__(self, seed, mock, topic):
        self.rng = random.Random(seed)
        self.mock = mock
        self.topic = topic
        self.oracle = H.Oracle(view_defs())
        self.prod = Producer({"bootstrap.servers": mock.bootstrap, "linger.ms": 5, "log_level": 0,
                              "enable.idempotence": True})
        self.delivered = {}   # id -> (partition, offset)
        self.errors = []
        self.maxts = 0
        self.now = H.now_ms()

    def event(self):
        r = self.rng
        e = {"card_id": "c%03d" % r.randint(0, 60), "merchant_id": "m%02d" % r.randint(0, 25),
             "amount": r.randint(-100, 5000) * 0.25,
             "ts": self.now - 5000 - r.randint(0, 5400000)}
        x = r.random()
        if x < 0.6:
            e["country"] = r.choice(["US", "FR", "DE"])
        elif x < 0.7:
            e["country"] = None
        if r.random() < 0.3:
            e["channel"] = r.choice(["pos", "app"])
        return e

    def _cb(self, eid, rec):
        def cb(err, msg):
            if err is not None:
                self.errors.append(str(err))
                return
            self.delivered[eid] = (msg.partition(), msg.offset())
            if rec is not None:
                self.oracle.add("tx", rec["ts"], msg.offset(), with_defaults(rec))
                self.maxts = max(self.maxts, rec["ts"])
        return cb

    def produce(self, n, rate=None):
        """n good events (optionally paced at rate events/s)."""
        t0 = time.time()
        for i in range(n):
            e = self.event()
            eid = "g%d-%d" % (id(e), i)
            self.prod.produce(self.topic, json.dumps(e).encode(), key=e["card_id"].encode(),
                              on_delivery=self._cb(eid, e))
            self.prod.poll(0)
            if rate and i % 50 == 49:
                ahead = (i + 1) / rate - (time.time() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        self.flush()

    def produce_raw(self, eid, value, key, rec=None):
        self.prod.produce(self.topic, value, key=key, on_delivery=self._cb(eid, rec))

    def flush(self):
        left = self.prod.flush(60)
        H.expect(left == 0 and not self.errors, "producer: %d undelivered, errors %r", left,
                 self.errors[:3])

    def ends(self):
        c = Consumer({"bootstrap.servers": self.mock.bootstrap, "group.id": "probe-ends", "log_level": 0})
        try:
            return {p: c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1]
                    for p in range(PARTS)}
        finally:
            c.close()


def kcat_produce(mock, topic, lines):
    """Produces 'key\\tvalue' lines with kcat (an independent client)."""
    p = subprocess.run(["kcat", "-b", mock.bootstrap, "-P", "-t", topic, "-K", "\t", "-z", "none"],
                       input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=60)
    H.expect(p.returncode == 0, "kcat: %s", p.stderr.decode()[-300:])


def wait_status_caught_up(srv, ends, deadline_s=120):
    end = time.time() + deadline_s
    last = None
    while time.time() < end:
        try:
            st = srv.http.status()
        except Exception:  # noqa: BLE001 - restarting
            st = None
        if isinstance(st, dict):
            last = st.get("partitions")
            got = {p["partition"]: p["committed_offset"] for p in (last or [])}
            if all(got.get(p) == ends[p] for p in ends):
                return st
        time.sleep(0.2)
    raise AssertionError("not caught up with %r after %ss: %r" % (ends, deadline_s, last))


def check_oracle(http_, ev, label, views=None):
    bad, n = [], 0
    for v in view_defs():
        if views and v.name not in views:
            continue
        for key in ev.oracle.keys(v.name):
            for d in (0, 1, 61000, 3600000):
                t = ev.maxts + d
                r = http_.features(v.name, key, t)
                n += 1
                if r.status != 200:
                    bad.append("%s/%s: %r" % (v.name, key, r))
                    continue
                errs = H.compare_features(ev.oracle.expected(v.name, key, t),
                                          r.json.get("features"))
                if errs:
                    bad.append("%s/%s as_of %d: %s" % (v.name, key, t, "; ".join(errs[:4])))
                if len(bad) > 20:
                    break
    H.expect(not bad, "%s: %d of %d answers differ from the oracle:\n  %s", label, len(bad), n,
             "\n  ".join(bad[:10]))
    return n


def read_dlq(mock, topic, want, deadline_s=30):
    c = Consumer({"bootstrap.servers": mock.bootstrap, "group.id": "dlq-reader-%d" % time.time(),
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    out = []
    end = time.time() + deadline_s
    try:
        while time.time() < end and len(out) < want:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append((m.value(), dict((k, v.decode()) for k, v in (m.headers() or []))))
    finally:
        c.close()
    return out


# ---------------------------------------------------------------------------

def case_oracle_lmdb(r):
    mock = H.KafkaMock({"tx": PARTS, "tx.dlq": 1})
    ev = Events(7, mock, "tx")
    with r.case("kafka_produce_independent_clients"):
        ev.produce(2500)
        lines = []
        for _ in range(300):
            e = ev.event()
            lines.append("%s\t%s" % (e["card_id"], json.dumps(e)))
            ev._pending_kcat = True
        kcat_produce(mock, "tx", lines)
        # kcat's deliveries are not reported: read them back to feed the oracle
        c = Consumer({"bootstrap.servers": mock.bootstrap, "group.id": "reader",
                      "auto.offset.reset": "earliest"})
        c.subscribe(["tx"])
        seen = {}
        end = time.time() + 30
        while time.time() < end and len(seen) < 2800:
            m = c.poll(0.5)
            if m is not None and not m.error():
                seen[(m.partition(), m.offset())] = m.value()
        c.close()
        known = set(ev.delivered.values())
        for (p, o), v in seen.items():
            if (p, o) not in known:
                rec = json.loads(v)
                ev.oracle.add("tx", rec["ts"], o, with_defaults(rec))
                ev.maxts = max(ev.maxts, rec["ts"])
        H.expect(len(seen) == 2800, "read back %d of 2800 messages", len(seen))

    bad = [
        ("malformed_json", b"{not json", b"c001", None),
        ("missing_field", json.dumps({"card_id": "c002", "ts": ev.now - 1000}).encode(),
         b"c002", None),
        ("wrong_type", json.dumps({"card_id": "c003", "merchant_id": "m1", "amount": "x",
                                   "ts": ev.now - 1000}).encode(), b"c003", None),
        ("future_timestamp", json.dumps({"card_id": "c004", "merchant_id": "m1", "amount": 1,
                                         "ts": ev.now + 3600000}).encode(), b"c004", None),
        ("too_large", json.dumps({"card_id": "c005", "merchant_id": "m1", "amount": 1,
                                  "ts": ev.now - 1000, "pad": "x" * 5000}).encode(), b"c005", None),
        ("late", json.dumps({"card_id": "c006", "merchant_id": "m1", "amount": 1,
                             "ts": ev.now - 3 * 86400000}).encode(), b"c006", None),
        ("bad_entity_key", json.dumps({"card_id": "", "merchant_id": "m1", "amount": 1,
                                       "ts": ev.now - 1000}).encode(), b"c007", None),
    ]
    with r.case("kafka_bad_messages_produced"):
        for reason, value, key, rec in bad:
            ev.produce_raw(reason, value, key, rec)
        ev.flush()

    srv = H.Server(config(mock, "tx", "g1"), name="kafka-oracle")
    with r.case("kafka_run_starts"):
        srv.start()
    with r.case("kafka_caught_up"):
        st = wait_status_caught_up(srv, ev.ends())
        H.expect(len(st["partitions"]) == PARTS, "partitions %r", st["partitions"])
        H.expect(st.get("epoch", 0) >= 1, "epoch %r", st.get("epoch"))
    with r.case("kafka_oracle_features"):
        check_oracle(srv.http, ev, "after the first batch")
    with r.case("kafka_dead_letters_in_dlq_topic"):
        got = read_dlq(mock, "tx.dlq", len(bad))
        by_reason = {h.get("reason"): (v, h) for v, h in got}
        H.expect(len(got) == len(bad), "%d dead letters, expected %d: %r", len(got), len(bad),
                 [h for _, h in got])
        for reason, value, key, _ in bad:
            H.expect(reason in by_reason, "no dead letter with reason %s: %r", reason,
                     list(by_reason))
            v, h = by_reason[reason]
            p, o = ev.delivered[reason]
            H.expect(v == value, "%s: payload %r, expected the original %r", reason, v[:80],
                     value[:80])
            H.expect(h.get("topic") == "tx" and h.get("partition") == str(p) and
                     h.get("offset") == str(o) and h.get("detail"),
                     "%s: headers %r, expected topic tx partition %d offset %d", reason, h, p, o)

    with r.case("http_ingest_produces_to_the_topic"):
        base = H.now_ms() - 20000
        evs = [{"card_id": "c%03d" % (i % 30), "merchant_id": "m%02d" % (i % 7),
                "amount": i * 1.5, "ts": base + i * 7} for i in range(300)]
        body = "\n".join(json.dumps(e) for e in evs) + "\n{broken\n" + json.dumps(
            {"card_id": "c001", "ts": base})
        resp = srv.http.post("/v1/events/tx", body)
        j = resp.json
        H.expect(resp.status == 200 and j["accepted"] == 300 and j["rejected"] == 2,
                 "POST to a Kafka source: %r", resp)
        parts = j.get("partitions", {})
        H.expect(sum(v["last"] - v["first"] + 1 for v in parts.values()) >= 300 and
                 set(parts) <= set(str(p) for p in range(PARTS)), "partitions %r", parts)
        H.expect([e["reason"] for e in j["errors"]] == ["malformed_json", "missing_field"],
                 "errors %r", j["errors"])
        resp = srv.http.post("/v1/events/tx", json.dumps(evs[0]),
                             headers={"Idempotency-Key": "k1"})
        H.expect(resp.status == 400 and resp.json.get("error") == "idempotency_key_unsupported",
                 "Idempotency-Key on a Kafka source: %r", resp)
        # every event keyed by its card, in its card's partition
        c = Consumer({"bootstrap.servers": mock.bootstrap, "group.id": "http-check",
                      "auto.offset.reset": "earliest", "log_level": 0})
        c.subscribe(["tx"])
        seen, end = {}, time.time() + 30
        want = set(json.dumps(e) for e in evs)
        while time.time() < end and len(seen) < 300:
            m = c.poll(0.5)
            if m is not None and not m.error() and m.value().decode() in want:
                seen[m.value().decode()] = (m.key(), m.partition(), m.offset())
        c.close()
        H.expect(len(seen) == 300, "%d of 300 HTTP events found in the topic", len(seen))
        for v, (k, p, o) in seen.items():
            e = json.loads(v)
            H.expect(k == e["card_id"].encode(), "key %r for %r", k, e)
            ev.oracle.add("tx", e["ts"], o, with_defaults(e))
            ev.maxts = max(ev.maxts, e["ts"])
        wait_status_caught_up(srv, ev.ends())
        check_oracle(srv.http, ev, "after HTTP ingest into Kafka")

    with r.case("kafka_sigkill_mid_stream_then_exact"):
        t = threading.Thread(target=ev.produce, args=(3000, 1500))
        t.start()
        kills = 0
        while t.is_alive() and kills < 3:
            time.sleep(0.7 + random.random())
            srv.kill()
            kills += 1
            srv.start()
        t.join()
        wait_status_caught_up(srv, ev.ends())
        check_oracle(srv.http, ev, "after %d SIGKILLs" % kills)

    with r.case("kafka_faults_injected"):
        t = threading.Thread(target=ev.produce, args=(3000, 1500))
        t.start()
        time.sleep(0.5)
        # broker 1 down; Fetch (ApiKey 1) answering NOT_LEADER and disconnects;
        # Produce (ApiKey 0) answering NOT_LEADER and REQUEST_TIMED_OUT (the
        # producer's idempotent retries must neither lose nor double)
        answers = [mock.cmd("down 1"), mock.cmd("errors 1 6 20"), mock.cmd("errors 1 -195 5"),
                   mock.cmd("errors 0 6 5"), mock.cmd("errors 0 7 3")]
        time.sleep(2)
        answers += [mock.cmd("up 1"), mock.cmd("down 2")]
        time.sleep(1.5)
        answers.append(mock.cmd("up 2"))
        t.join()
        H.expect(all(a == "ok" for a in answers), "mock answers %r", answers)
        wait_status_caught_up(srv, ev.ends(), 180)
        check_oracle(srv.http, ev, "after broker outages and fetch errors")
    with r.case("backfill_from_kafka_equals_live"):
        other = H.Server(config(mock, "tx", "unused"), name="kafka-backfill", cmd="serve",
                         extra_args=["--no-ingest"])
        rc, out, err = other.cli(["backfill", "--source", "tx", "--from-kafka", "earliest",
                                  "--fresh", "--quiet"], timeout=300)
        H.expect(rc == 0, "backfill: exit %r\n%s\n%s", rc, out[-500:], err[-1500:])
        other.start()
        n = check_oracle(other.http, ev, "backfilled from Kafka")
        diff = []
        for v in view_defs():
            for key in ev.oracle.keys(v.name)[:40]:
                a = srv.http.features(v.name, key, ev.maxts + 1).json
                b = other.http.features(v.name, key, ev.maxts + 1).json
                for j in (a, b):
                    j.pop("freshness_ms", None)
                if a != b:
                    diff.append((v.name, key))
        H.expect(not diff and n > 0, "backfill and live answers differ for %r", diff[:5])
        other.stop()
    H.check_clean_stop(r, srv, "kafka_clean_stop")
    mock.stop()


# ---------------------------------------------------------------------------

def redis_get(port, key):
    """GET key from redis on port as bytes (None if absent): a tiny RESP client."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        k = key.encode()
        s.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k))
        f = s.makefile("rb")
        head = f.readline()
        if head.startswith(b"$-1"):
            return None
        n = int(head[1:])
        return f.read(n + 2)[:n]
    finally:
        s.close()


def redis_positions(redis):
    out = {}
    for p in range(PARTS):
        v = redis_get(redis.port, "fr:pos:{tx}:%d" % p)
        if v and len(v) >= 32:
            out[p] = (int.from_bytes(v[0:8], "little"), int.from_bytes(v[24:32], "little"))
    return out


def wait_redis_caught_up(redis, ends, deadline_s=120):
    end = time.time() + deadline_s
    pos = {}
    while time.time() < end:
        pos = redis_positions(redis)
        if all(pos.get(p, (None,))[0] == ends[p] for p in ends):
            return pos
        time.sleep(0.2)
    raise AssertionError("positions in Redis %r, expected %r" % (pos, ends))


def wait_log(srv, text, deadline_s=60):
    end = time.time() + deadline_s
    while time.time() < end:
        with open(srv.log, errors="replace") as f:
            if text in f.read():
                return True
        time.sleep(0.2)
    return False


def log_count(srv, text):
    with open(srv.log, errors="replace") as f:
        return f.read().count(text)


def group_config(mock, topic, group, redis):
    """Only views keyed by the message key (card_id): several processors split
    the partitions, so an entity's events must all reach one of them."""
    cfg = config(mock, topic, group, backend="redis", redis=redis.url())
    return cfg[:cfg.index("  - name: merchant")]


def start_group(mock, redis, topic, group, names):
    cfg = group_config(mock, topic, group, redis)
    procs = [H.Server(cfg, name=n, cmd="process") for n in names]
    for p in procs:
        p.start(wait=False)
    replica = H.Server(cfg, name=names[0] + "-replica", cmd="serve", extra_args=["--no-ingest"])
    replica.start()
    return procs, replica


def case_group_redis(r):
    mock = H.KafkaMock({"gtx": PARTS, "gtx.dlq": 1})
    redis = H.RedisServer(name="kafka-redis")
    ev = Events(11, mock, "gtx")
    with r.case("group_first_batch"):
        ev.produce(2000)
    (p1, p2), replica = start_group(mock, redis, "gtx", "grp", ["proc1", "proc2"])
    with r.case("group_two_processors_split_the_partitions"):
        H.expect(wait_log(p1, "assigned partitions") and wait_log(p2, "assigned partitions"),
                 "both processors should report an assignment")
        wait_redis_caught_up(redis, ev.ends())
        # the latest assignment of each splits the 4 partitions between them
        time.sleep(1)
        with open(p1.log) as f1, open(p2.log) as f2:
            a1 = [ln for ln in f1 if "assigned partitions" in ln][-1]
            a2 = [ln for ln in f2 if "assigned partitions" in ln][-1]
        parts = lambda ln: [int(x) for x in ln.rsplit("[", 1)[1].rstrip("]\n").split(",") if x]
        H.expect(sorted(parts(a1) + parts(a2)) == list(range(PARTS)) and parts(a1) and parts(a2),
                 "assignments %r and %r do not split %d partitions", a1.strip(), a2.strip(),
                 PARTS)
    with r.case("group_sigkill_one_survivor_takes_over"):
        t = threading.Thread(target=ev.produce, args=(4000, 1000))
        t.start()
        time.sleep(1.5)
        p1.kill()
        t.join()
        pos = wait_redis_caught_up(redis, ev.ends(), 120)
        with open(p2.log) as f:
            last = [ln for ln in f if "assigned partitions" in ln][-1]
        H.expect("[0,1,2,3]" in last, "the survivor's last assignment: %r", last.strip())
        H.expect(len(set(e for _, e in pos.values())) >= 1, "epochs %r", pos)
    with r.case("status_command_shows_positions_and_lag"):
        rc, out, err = p2.cli(["status"])
        H.expect(rc == 0, "freshet status: exit %r: %s", rc, err[-500:])
        rows = [json.loads(x) for x in out.splitlines() if x.strip()]
        per = [x for x in rows if "partition" in x]
        ends = ev.ends()
        H.expect(len(per) == PARTS and all(x["end_offset"] == ends[x["partition"]] and
                                           x["committed_offset"] == ends[x["partition"]] and
                                           x["lag"] == 0 and x["epoch"] >= 1 for x in per),
                 "status lines %r, ends %r", per, ends)
        H.expect(rows[-1].get("lag") == 0 and rows[-1].get("partitions") == PARTS,
                 "total line %r", rows[-1])
    with r.case("group_replica_answers_the_oracle"):
        check_oracle(replica.http, ev, "after a processor was killed", ["card"])

    with r.case("zombie_sigstop_past_rebalance_is_fenced"):
        p1.start(wait=False)   # back to two members
        H.expect(wait_log(p1, "assigned partitions", 60), "restarted processor got no partitions")
        time.sleep(2)
        before = log_count(p2, "assigned partitions")
        t = threading.Thread(target=ev.produce, args=(6000, 500))
        t.start()
        time.sleep(1)
        os.killpg(p1.proc.pid, signal.SIGSTOP)   # a zombie: alive, silent
        end = time.time() + 40
        while time.time() < end and log_count(p2, "assigned partitions") == before:
            time.sleep(0.2)
        took_over = log_count(p2, "assigned partitions") > before
        time.sleep(3)   # the survivor commits under its new epoch
        os.killpg(p1.proc.pid, signal.SIGCONT)
        t.join()
        H.expect(took_over, "the survivor never took the stopped processor's partitions")
        pos = wait_redis_caught_up(redis, ev.ends(), 120)
        check_oracle(replica.http, ev, "after a zombie resumed", ["card"])
        # the zombie either saw it was fenced or rejoined under a newer epoch
        with open(p1.log, errors="replace") as f:
            zl = f.read()
        H.expect("fenced" in zl or zl.count("taken up under fencing epoch") >= 2,
                 "the resumed processor neither was fenced nor rejoined:\n%s", H.tail(p1.log, 15))
        print("  note: the resumed processor %s" % ("was fenced and stopped" if "fenced" in zl
                                                   else "rejoined under a newer epoch"))
    for s in (p1, p2, replica):
        s.stop()
        H.expect(not s.sanitizer_reports(), "sanitizer reports in %s", s.log)
    redis.kill()
    mock.stop()


def main():
    r = H.Runner("kafka", timeout_s=600)
    H.require_binary(r)
    if not os.path.exists(H.tool_bin("kafka_mock")):
        r.fail("kafka_mock_built", "missing %s" % H.tool_bin("kafka_mock"))
        r.finish()
    only = os.environ.get("FRESHET_IT_KAFKA_CASES", "oracle,group").split(",")
    if "oracle" in only:
        case_oracle_lmdb(r)
    if "group" in only:
        case_group_redis(r)
    r.finish()


if __name__ == "__main__":
    main()
