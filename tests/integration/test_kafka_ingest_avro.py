#!/usr/bin/python3
"""HTTP ingest into Avro Kafka sources: what `POST /v1/events/{source}`
produces, read back by an independent consumer (python3-confluent-kafka)
and decoder (python3-avro, with the writer schema fetched by id from the
registry's REST API), then applied by the processor.

- an empty subject: freshet registers its own schema (record
  freshet.<source>) under <topic>-value and frames every event with its id;
- a subject holding another producer's schema (other record name, field
  order and types, fields freshet lacks with defaults, an enum): events are
  written with that schema and its id; an event it cannot hold (a merchant
  that is no enum symbol) is a dead letter carrying the event as sent;
- a subject holding a schema freshet cannot write and the registry refuses
  freshet's own for it: 409 schema_incompatible with the reason, nothing
  produced; after DELETE /subjects/{subject} the same request is accepted.
Features equal a brute-force count and sum of what was accepted.
"""
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
from confluent_kafka import Consumer, TopicPartition  # noqa: E402

TOPICS = {"atx": 2, "btx": 2, "ctx": 1}

SOURCE = """
  - name: {name}
    format: avro
    timestamp: ts
    kafka: {{ brokers: "{brokers}", topic: {name}, group: ingest-avro }}
    fields:
      - {{ name: card_id, type: string }}
      - {{ name: amount, type: double }}
      - {{ name: merchant_id, type: string }}
      - {{ name: country, type: string, optional: true }}
      - {{ name: ts, type: long }}"""

VIEW = """
  - name: {name}_card
    source: {name}
    entity: card_id
    windows: [1h]
    aggregations:
      - {{ fn: count }}
      - {{ fn: sum, field: amount }}
      - {{ fn: last, field: country }}"""


def config(brokers):
    return ("store: { path: {store} }\nserver: { listen: \"127.0.0.1:{port}\" }\n"
            "processor: { commit_interval_ms: 20 }\nsources:" +
            "".join(SOURCE.format(name=n, brokers=brokers) for n in TOPICS) +
            "\nfeature_views:" + "".join(VIEW.format(name=n) for n in TOPICS) + "\n")


SHOP = {"type": "record", "name": "Txn", "namespace": "shop", "fields": [
    {"name": "ts", "type": "long"},
    {"name": "merchant_id", "type": {"type": "enum", "name": "Merchant",
                                     "symbols": ["m1", "m2", "m3"]}},
    {"name": "card_id", "type": "string"},
    {"name": "amount", "type": "float"},
    {"name": "channel", "type": "string", "default": "web"},
    {"name": "country", "type": ["null", "string"], "default": None},
    {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []}]}

# freshet cannot write it (score is no field of the source, without default)
# and, its record name differing, the registry refuses freshet's own after it
OTHER = {"type": "record", "name": "Transaction", "namespace": "other", "fields": [
    {"name": "card_id", "type": "string"}, {"name": "amount", "type": "double"},
    {"name": "merchant_id", "type": "string"},
    {"name": "country", "type": ["null", "string"], "default": None},
    {"name": "ts", "type": "long"}, {"name": "score", "type": "double"}]}


def events(n, now, seed, merchants=("m1", "m2", "m3")):
    out = []
    for i in range(n):
        e = {"card_id": "k%d" % ((i * 7 + seed) % 5), "amount": (i % 40) * 0.25,
             "merchant_id": merchants[i % len(merchants)], "ts": now - 60000 + i * 10}
        if i % 3:
            e["country"] = ["DE", "FR"][i % 2]
        out.append(e)
    return out


def ndjson(evs):
    return "\n".join(json.dumps(e) for e in evs) + "\n"


def read_topic(bootstrap, topic, parts, want, deadline_s=60):
    """Every message of topic (all partitions from the start) until `want`
    arrived: [(partition, offset, key, value)]."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + topic,
                  "enable.auto.commit": False, "log_level": 0})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(parts)])
        got = []
        end = time.time() + deadline_s
        while len(got) < want and time.time() < end:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            got.append((m.partition(), m.offset(), m.key(), m.value()))
        return got
    finally:
        c.close()


def end_offsets(bootstrap, topic, parts):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "ends", "log_level": 0})
    try:
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in range(parts))
    finally:
        c.close()


def main():
    r = H.Runner("kafka_ingest_avro", timeout_s=300)
    H.require_binary(r)
    if not os.path.exists(H.tool_bin("kafka_mock")):
        r.fail("kafka_mock_built", "missing %s" % H.tool_bin("kafka_mock"))
        r.finish()
    topics = dict(TOPICS)
    topics.update({t + ".dlq": 1 for t in TOPICS})
    mock = H.KafkaMock(topics)
    srv = H.Server(config(mock.bootstrap), name="ingest-avro")
    srv.start()
    now = H.now_ms()
    schemas = {}

    def schema_of(i):
        if i not in schemas:
            resp = srv.http.get("/schemas/ids/%d" % i)
            H.expect(resp.status == 200, "GET /schemas/ids/%d: %r", i, resp)
            schemas[i] = avro.schema.parse(resp.json["schema"])
        return schemas[i]

    def decode(value):
        H.expect(len(value) >= 5 and value[0] == 0, "no Confluent frame: %r", value[:8])
        sid = struct.unpack(">I", value[1:5])[0]
        rec = avro.io.DatumReader(schema_of(sid)).read(
            avro.io.BinaryDecoder(io.BytesIO(value[5:])))
        return sid, rec

    def check_produced(topic, sent, sid_expected, extra=None):
        got = read_topic(mock.bootstrap, topic, TOPICS[topic], len(sent))
        H.expect(len(got) == len(sent), "%s: %d messages read, %d sent", topic, len(got),
                 len(sent))
        by_key = {}
        for part, off, key, value in got:
            sid, rec = decode(value)
            H.expect(sid == sid_expected, "%s: schema id %d, expected %d", topic, sid,
                     sid_expected)
            H.expect(key == rec["card_id"].encode(), "%s: key %r for %r", topic, key, rec)
            by_key.setdefault(rec["card_id"], []).append((part, off, rec))
        for recs in by_key.values():
            recs.sort(key=lambda x: (x[0], x[1]))   # one partition per key: its order
        want = {}
        for e in sent:
            want.setdefault(e["card_id"], []).append(e)
        for card, evs in want.items():
            recs = [x[2] for x in by_key.get(card, [])]
            H.expect(len(recs) == len(evs), "%s: card %s: %d messages, %d sent", topic, card,
                     len(recs), len(evs))
            for e, rec in zip(evs, recs):
                exp = dict(e)
                exp.setdefault("country", None)
                exp.update(extra or {})
                H.expect(rec == exp, "%s: read %r, sent %r", topic, rec, exp)

    def check_features(view, sent):
        want = {}
        for e in sent:
            c, s = want.get(e["card_id"], (0, 0.0))
            want[e["card_id"]] = (c + 1, s + e["amount"])
        end = time.time() + 120
        bad = None
        while time.time() < end:
            bad = []
            for card, (c, s) in want.items():
                f = srv.http.features(view, card).json["features"]
                if f["count_1h"] != c or abs(f["amount_sum_1h"] - s) > 1e-9:
                    bad.append((card, f["count_1h"], c, f["amount_sum_1h"], s))
            if not bad:
                return
            time.sleep(0.2)
        raise AssertionError("%s: features differ (card, count, want, sum, want): %r" %
                             (view, bad[:5]))

    with r.case("empty_subject_freshets_schema_registered_and_framed"):
        sent = events(60, now, 1)
        resp = srv.http.post("/v1/events/atx", ndjson(sent))
        H.expect(resp.status == 200 and resp.json["accepted"] == 60 and
                 resp.json["rejected"] == 0, "POST: %r", resp)
        resp = srv.http.get("/subjects/atx-value/versions/latest")
        H.expect(resp.status == 200, "latest: %r", resp)
        sch = json.loads(resp.json["schema"])
        H.expect(sch["name"] == "atx" and sch.get("namespace") == "freshet",
                 "registered schema %r", sch)
        check_produced("atx", sent, resp.json["id"])
        check_features("atx_card", sent)

    with r.case("another_producers_schema_is_written_with"):
        resp = srv.http.post("/subjects/btx-value/versions", json.dumps(
            {"schema": json.dumps(SHOP)}),
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        H.expect(resp.status == 200, "register shop.Txn: %r", resp)
        shop_id = resp.json["id"]
        sent = events(40, now, 2)
        odd = dict(sent[0], merchant_id="m9", card_id="k9")   # no such enum symbol
        body = ndjson(sent[:10] + [odd] + sent[10:])
        resp = srv.http.post("/v1/events/btx", body)
        H.expect(resp.status == 200 and resp.json["accepted"] == 40 and
                 resp.json["rejected"] == 1, "POST: %r", resp)
        err = resp.json["errors"][0]
        H.expect(err["index"] == 10 and err["reason"] == "wrong_type" and
                 "merchant_id" in err["detail"], "refusal %r", err)
        check_produced("btx", sent, shop_id, {"channel": "web", "tags": []})
        check_features("btx_card", sent)
        rows = srv.dlq("btx")
        H.expect(len(rows) == 1 and rows[0]["reason"] == "wrong_type" and
                 rows[0]["partition"] is None and json.loads(rows[0]["payload"]) == odd,
                 "dead letters %r", rows)
        rc, out, err = srv.cli(["dlq", "replay", "--source", "btx"])
        H.expect(rc == 0 and "replayed 0 dead letters" in out and
                 "1 refused at HTTP ingest, not replayable" in out, "replay: %d %r %r", rc,
                 out, err[:300])
        st, deadline = None, time.time() + 30
        while time.time() < deadline:
            st = H.source_status(srv.http.status(), "btx")
            if st.get("dead_letters") == 1:
                break
            time.sleep(0.3)
        H.expect(st.get("dead_letters") == 1, "/v1/status for btx: %r", st)

    with r.case("no_writable_schema_409_then_delete_subject_recovers"):
        resp = srv.http.post("/subjects/ctx-value/versions", json.dumps(
            {"schema": json.dumps(OTHER)}),
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        H.expect(resp.status == 200, "register other.Transaction: %r", resp)
        sent = events(10, now, 3)
        resp = srv.http.post("/v1/events/ctx", ndjson(sent))
        H.expect(resp.status == 409 and H.is_error_shape(resp) and
                 resp.json["error"] == "schema_incompatible", "POST: %r", resp)
        d = resp.json["detail"]
        H.expect("ctx-value" in d and "score" in d and "freshet" in d, "detail %r", d)
        H.expect(end_offsets(mock.bootstrap, "ctx", 1) == 0 and
                 end_offsets(mock.bootstrap, "ctx.dlq", 1) == 0, "something was produced")
        resp = srv.http.request("DELETE", "/subjects/ctx-value")
        H.expect(resp.status == 200 and resp.json == [1], "DELETE: %r", resp)
        resp = srv.http.post("/v1/events/ctx", ndjson(sent))
        H.expect(resp.status == 200 and resp.json["accepted"] == 10, "POST again: %r", resp)
        resp = srv.http.get("/subjects/ctx-value/versions/latest")
        H.expect(resp.status == 200 and resp.json["version"] == 2 and
                 json.loads(resp.json["schema"])["name"] == "ctx", "latest %r", resp)
        check_produced("ctx", sent, resp.json["id"])
        check_features("ctx_card", sent)

    H.check_clean_stop(r, srv)
    mock.stop()
    r.finish()


if __name__ == "__main__":
    main()
