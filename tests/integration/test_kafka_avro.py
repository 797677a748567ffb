#!/usr/bin/python3
"""Avro on Kafka: Confluent-framed messages written by an independent encoder
(python3-avro) and producer (python3-confluent-kafka) under evolving schemas
registered in freshet's embedded schema registry over its REST API.

- v1 and v2 writers interleaved on one topic decode into the reader schema:
  a field v1 lacks takes the configured default, int->long and float->double
  promote; features equal the brute-force oracle.
- an incompatible v3 is refused with 409 and the reason.
- a message whose schema id is unknown is a dead letter (unknown_schema);
  once that schema is registered, `freshet dlq replay` applies it exactly
  once (replay run twice).
- malformed Avro (truncated, absurd declared lengths) and oversized messages
  are dead letters; nothing crashes (the suite runs under ASan).
"""
import base64
import io
import json
import os
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

import avro.io  # noqa: E402
import avro.schema  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

TOPIC = "atx"
PARTS = 2

CONFIG = """
store: {{ path: {{store}} }}
server: {{ listen: "127.0.0.1:{{port}}" }}
processor: {{ commit_interval_ms: 20 }}
sources:
  - name: atx
    format: avro
    timestamp: ts
    kafka: {{ brokers: "{brokers}", topic: atx, group: avro-test, max_message_bytes: 2048 }}
    fields:
      - {{ name: card_id, type: string }}
      - {{ name: amount, type: double }}
      - {{ name: qty, type: long }}
      - {{ name: channel, type: string, default: web }}
      - {{ name: ts, type: long }}
feature_views:
  - name: card
    source: atx
    entity: card_id
    windows: [1h]
    aggregations:
      - {{ fn: count }}
      - {{ fn: sum, field: amount }}
      - {{ fn: sum, field: qty }}
      - {{ fn: last, field: channel }}
      - {{ fn: count_distinct, field: channel }}
"""

TYPES = {"card_id": "string", "amount": "double", "qty": "long", "channel": "string",
         "ts": "long"}

V1 = {"type": "record", "name": "Txn", "namespace": "test", "fields": [
    {"name": "card_id", "type": "string"},
    {"name": "amount", "type": "float"},
    {"name": "qty", "type": "int"},
    {"name": "ts", "type": "long"},
    {"name": "note", "type": ["null", "string"], "default": None}]}
V2 = {"type": "record", "name": "Txn", "namespace": "test", "fields": [
    {"name": "card_id", "type": "string"},
    {"name": "amount", "type": "double"},
    {"name": "qty", "type": "long"},
    {"name": "ts", "type": "long"},
    {"name": "channel", "type": "string", "default": "app"},
    {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []}]}
V3_BAD = {"type": "record", "name": "Txn", "namespace": "test", "fields": [
    {"name": "card_id", "type": "string"},
    {"name": "amount", "type": "double"},
    {"name": "qty", "type": "string"},
    {"name": "ts", "type": "long"},
    {"name": "channel", "type": "string", "default": "app"},
    {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
    {"name": "score", "type": "double"}]}
V4 = dict(V2, fields=V2["fields"] + [{"name": "device", "type": ["null", "string"],
                                      "default": None}])


def views():
    return [H.ViewDef("card", "atx", "card_id", ["1h"], [
        ("count", None, None), ("sum", "amount", None), ("sum", "qty", None),
        ("last", "channel", None), ("count_distinct", "channel", None)], TYPES)]


def encode(schema, rec, schema_id):
    buf = io.BytesIO()
    buf.write(b"\0" + struct.pack(">I", schema_id))
    avro.io.DatumWriter(avro.schema.parse(json.dumps(schema))).write(
        rec, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def register(http_, subject, schema):
    return http_.post("/subjects/%s/versions" % subject, json.dumps({"schema": json.dumps(schema)}),
                      headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})


def main():
    r = H.Runner("kafka_avro", timeout_s=300)
    H.require_binary(r)
    if not os.path.exists(H.tool_bin("kafka_mock")):
        r.fail("kafka_mock_built", "missing %s" % H.tool_bin("kafka_mock"))
        r.finish()
    mock = H.KafkaMock({TOPIC: PARTS, TOPIC + ".dlq": 1})
    srv = H.Server(CONFIG.format(brokers=mock.bootstrap), name="avro")
    oracle = H.Oracle(views())
    prod = Producer({"bootstrap.servers": mock.bootstrap, "enable.idempotence": True,
                     "log_level": 0})
    delivered = {}

    def send(tag, value, key, rec=None):
        def cb(err, msg):
            if err is None:
                delivered[tag] = (msg.partition(), msg.offset())
                if rec is not None:
                    oracle.add("atx", rec["ts"], msg.offset(), rec)
        prod.produce(TOPIC, value, key=key, on_delivery=cb)
        prod.poll(0)

    ids = {}
    with r.case("registry_accepts_v1_v2"):
        srv.start()
        for name, sch in (("v1", V1), ("v2", V2)):
            resp = register(srv.http, "atx-value", sch)
            H.expect(resp.status == 200 and isinstance(resp.json.get("id"), int),
                     "register %s: %r", name, resp)
            ids[name] = resp.json["id"]
    with r.case("registry_refuses_incompatible_v3_with_409"):
        resp = register(srv.http, "atx-value", V3_BAD)
        H.expect(resp.status == 409, "v3: %r", resp)
        H.expect("qty" in resp.text() or "score" in resp.text(), "409 without the reason: %r",
                 resp)

    now = H.now_ms()
    n_good = 1200
    with r.case("v1_v2_interleaved_produced"):
        for i in range(n_good):
            card = "c%02d" % (i % 23)
            ts = now - 600000 + i * 400
            if i % 2 == 0:
                amount = float(i % 97) * 0.5   # exact in a float
                w = {"card_id": card, "amount": amount, "qty": i % 7, "ts": ts,
                     "note": None if i % 4 else "n"}
                rec = {"card_id": card, "amount": amount, "qty": i % 7, "ts": ts,
                       "channel": "web"}   # the configured default
                send("g%d" % i, encode(V1, w, ids["v1"]), card.encode(), rec)
            else:
                ch = ["pos", "app", "atm"][i % 3]
                w = {"card_id": card, "amount": i * 0.25, "qty": i, "ts": ts, "channel": ch,
                     "tags": ["x"] * (i % 3)}
                rec = {"card_id": card, "amount": i * 0.25, "qty": i, "ts": ts, "channel": ch}
                send("g%d" % i, encode(V2, w, ids["v2"]), card.encode(), rec)
        H.expect(prod.flush(30) == 0, "producer did not flush")

    unknown_id = max(ids.values()) + 1   # what the next registration will get
    later = {"card_id": "c05", "amount": 1000.0, "qty": 5, "ts": now - 1000, "channel": "kiosk",
             "tags": [], "device": "d1"}
    valid = encode(V2, {"card_id": "c06", "amount": 1.0, "qty": 1, "ts": now - 1000,
                        "channel": "pos", "tags": []}, ids["v2"])
    bad = {
        "unknown_schema": encode(V4, later, unknown_id),
        "malformed_avro": valid[:-3],                                   # truncated
        "huge_length": b"\0" + struct.pack(">I", ids["v2"]) + b"\x06c06" +
                       b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f",         # absurd varint
        "too_large": encode(V2, {"card_id": "c07", "amount": 1.0, "qty": 1, "ts": now - 1000,
                                 "channel": "x" * 3000, "tags": []}, ids["v2"]),
        "not_framed": b"\x07not avro at all",
    }
    with r.case("bad_messages_produced"):
        for tag, v in bad.items():
            send(tag, v, b"c05" if tag == "unknown_schema" else tag.encode())
        H.expect(prod.flush(30) == 0, "producer did not flush")

    def ends():
        c = Consumer({"bootstrap.servers": mock.bootstrap, "group.id": "ends", "log_level": 0})
        try:
            return {p: c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1]
                    for p in range(PARTS)}
        finally:
            c.close()

    def caught_up(deadline=120):
        want = ends()
        end = time.time() + deadline
        got = None
        while time.time() < end:
            st = srv.http.status()
            got = {p["partition"]: p["committed_offset"] for p in st.get("partitions", [])}
            if all(got.get(p) == want[p] for p in want):
                return st
            time.sleep(0.2)
        raise AssertionError("not caught up: %r, want %r" % (got, want))

    def check(label):
        bad_ = []
        t = now + 1
        for key in oracle.keys("card"):
            j = srv.http.features("card", key, t).json
            errs = H.compare_features(oracle.expected("card", key, t), j["features"])
            if errs:
                bad_.append("%s: %s" % (key, "; ".join(errs[:3])))
        H.expect(not bad_, "%s: %d entities differ:\n  %s", label, len(bad_),
                 "\n  ".join(bad_[:8]))

    with r.case("avro_evolution_features_equal_the_oracle"):
        caught_up()
        check("v1 and v2 interleaved")

    with r.case("bad_avro_dead_lettered_with_reasons"):
        rc, out, err = srv.cli(["dlq", "list", "--source", "atx"])
        H.expect(rc == 0, "dlq list: %r", err)
        rows = [json.loads(x) for x in out.splitlines() if x.strip()]
        by_key = {}
        for x in rows:
            p, o = x["partition"], x["offset"]
            for tag, (dp, do) in delivered.items():
                if (dp, do) == (p, o):
                    by_key[tag] = x["reason"]
        H.expect(len(rows) == len(bad), "%d dead letters, expected %d: %r", len(rows), len(bad),
                 [x["reason"] for x in rows])
        H.expect(by_key.get("unknown_schema") == "unknown_schema", "reasons %r", by_key)
        H.expect(by_key.get("too_large") == "too_large", "reasons %r", by_key)
        for tag in ("malformed_avro", "huge_length", "not_framed"):
            H.expect(by_key.get(tag) == "malformed_avro", "%s: reason %r (all: %r)", tag,
                     by_key.get(tag), by_key)
        H.expect(not any(x["replayed"] for x in rows), "replayed before any replay: %r", rows)
        # payloads byte for byte: binary ones as base64, text as text
        for tag, v in bad.items():
            (dp, do) = delivered[tag]
            x = [y for y in rows if (y["partition"], y["offset"]) == (dp, do)][0]
            if "payload_b64" in x:
                got = base64.b64decode(x["payload_b64"])
            else:
                got = x["payload"].encode()
            H.expect(got == v, "%s: payload %r, produced %r", tag, got[:40], v[:40])
        H.expect(any("payload_b64" in x for x in rows), "no binary payload as base64: %r",
                 rows[:2])
        # without --source: every source's dead letters (this one's topic)
        rc, out2, err = srv.cli(["dlq", "list"])
        H.expect(rc == 0 and out2 == out, "dlq list without --source: %d %r %r", rc,
                 out2[:300], err[:300])
        # freshet status counts them per Kafka source
        rc, out3, err = srv.cli(["status"])
        summary = [json.loads(x) for x in out3.splitlines() if '"dead_letters"' in x]
        H.expect(rc == 0 and summary and summary[-1]["dead_letters"] == len(bad),
                 "status: %d %r %r", rc, out3[-400:], err[:300])

    with r.case("register_missing_schema_then_replay_applies_once"):
        resp = register(srv.http, "atx-value", V4)
        H.expect(resp.status == 200 and resp.json.get("id") == unknown_id,
                 "v4 got %r, expected id %d", resp, unknown_id)
        time.sleep(1.5)   # past the codec's negative cache
        for _ in range(2):
            rc, out, err = srv.cli(["dlq", "replay", "--source", "atx"])
            H.expect(rc == 0, "dlq replay: %r %r", out, err)
        oracle.add("atx", later["ts"], 10 ** 9, {k: later[k] for k in TYPES})
        caught_up()
        check("after the replay")
        rc, out, err = srv.cli(["dlq", "list", "--source", "atx"])
        rows = [json.loads(x) for x in out.splitlines() if x.strip()]
        rep = [x for x in rows if x["reason"] == "unknown_schema"]
        H.expect(rep and rep[0]["replayed"] is True, "unknown_schema entry: %r", rep)
        st = srv.http.status()
        H.expect(st["processor"]["records"] >= n_good, "status %r", st["processor"])

    H.check_clean_stop(r, srv)
    mock.stop()
    r.finish()


if __name__ == "__main__":
    main()
