#!/usr/bin/python3
"""`freshet generate --to kafka://...` against librdkafka's mock cluster, read
back by an independent consumer (python3-confluent-kafka, python3-avro) and
by a `freshet run` whose sources read the topics.

- json: 5000 events arrive, each keyed by its card_id (every card in one
  partition); the values are the very events `generate` prints to stdout
  with the same seed, in the same order per key (event times aside: they
  follow the clock); the processor applies them all (committed == end on
  every partition) and a card's count feature equals its messages.
- avro: the schema is registered under <topic>-value in freshet's registry
  (--registry http://...); every value is Confluent-framed with that id and
  decodes with python avro under the schema fetched from GET
  /schemas/ids/ID into the same events; the processor applies them all.
- -c FILE --source: the configuration's source (named `transactions` like
  the built-in one, so the schemas are the same) and its embedded registry
  (shared with the running server) give the same schema id.
- an incompatible schema under the subject is refused (exit 1, the reason);
  an unreachable registry is exit 1; --format avro without a registry is
  exit 2.
- SIGINT during an unbounded run: generation stops, what was produced is
  delivered, and the summary's acknowledged count is what the topic holds.
"""
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

import avro.io  # noqa: E402
import avro.schema  # noqa: E402
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition  # noqa: E402

PARTS = 3
N = 5000
SEED = "7"
T_JSON, T_AVRO, T_BAD, T_SIG = "gen_json", "gen_avro", "gen_bad", "gen_sig"

FIELDS = """    fields:
      - {{ name: card_id, type: string }}
      - {{ name: amount, type: double }}
      - {{ name: merchant_id, type: string }}
      - {{ name: country, type: string, optional: true }}
      - {{ name: txn_id, type: string }}
      - {{ name: ts, type: long }}
"""

CONFIG = """
store: {{ path: {{store}} }}
server: {{ listen: "127.0.0.1:{{port}}" }}
processor: {{ commit_interval_ms: 20 }}
sources:
  - name: tx_json
    format: json
    timestamp: ts
    timestamp_unit: ms
    kafka: {{ brokers: "{brokers}", topic: gen_json, group: gen-json }}
""" + FIELDS + """  - name: transactions
    format: avro
    timestamp: ts
    timestamp_unit: ms
    kafka: {{ brokers: "{brokers}", topic: gen_avro, group: gen-avro }}
""" + FIELDS + """feature_views:
  - name: card_json
    source: tx_json
    entity: card_id
    windows: [1h]
    aggregations:
      - {{ fn: count }}
      - {{ fn: sum, field: amount }}
  - name: card_avro
    source: transactions
    entity: card_id
    windows: [1h]
    aggregations:
      - {{ fn: count }}
      - {{ fn: sum, field: amount }}
"""


def consume_all(bootstrap, topic, want=None, deadline_s=60):
    """Every message of topic as (partition, offset, key, value), in offset
    order per partition; reads up to the high watermarks (or want)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "check-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "log_level": 0})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(PARTS)}
        total = sum(ends.values()) if want is None else want
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTS)])
        out = []
        end = time.time() + deadline_s
        while len(out) < total and time.time() < end:
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    raise AssertionError("consumer: %s" % m.error())
                out.append((m.partition(), m.offset(), m.key(), m.value()))
        H.expect(len(out) == total, "%s: consumed %d messages, expected %d", topic, len(out),
                 total)
        out.sort(key=lambda x: (x[0], x[1]))
        return out, ends
    finally:
        c.close()


def generate(args, timeout=120):
    rc, out, err = H.run_cli(["generate"] + args, timeout=timeout)
    reps = [ln for ln in err.splitlines() if any(m in ln for m in H.SANITIZER_MARKS)]
    H.expect(not reps, "sanitizer reports from generate:\n%s", err[-3000:])
    return rc, out, err


def strip_ts(ev):
    return {k: v for k, v in ev.items() if k != "ts"}


def per_key(events):
    """card_id -> [event without ts], in order."""
    d = {}
    for ev in events:
        d.setdefault(ev["card_id"], []).append(strip_ts(ev))
    return d


def main():
    r = H.Runner("generate_kafka", timeout_s=420)
    H.require_binary(r)
    if not os.path.exists(H.tool_bin("kafka_mock")):
        r.fail("kafka_mock_built", "missing %s" % H.tool_bin("kafka_mock"))
        r.finish()
    mock = H.KafkaMock({T_JSON: PARTS, T_AVRO: PARTS, T_BAD: PARTS, T_SIG: PARTS,
                        T_JSON + ".dlq": 1, T_AVRO + ".dlq": 1})
    srv = H.Server(CONFIG.format(brokers=mock.bootstrap), name="genkafka")
    registry = None

    def caught_up(source, ends, deadline=120):
        end = time.time() + deadline
        got = None
        while time.time() < end:
            st = srv.http.status()
            got = {p["partition"]: p["committed_offset"] for p in st.get("partitions", [])
                   if p.get("source") == source}
            if all(got.get(p) == ends[p] for p in ends):
                return st
            time.sleep(0.2)
        raise AssertionError("%s not caught up: committed %r, ends %r" % (source, got, ends))

    def check_counts(view, keys):
        bad = []
        for card, n in keys:
            j = srv.http.features(view, card).json
            got = (j or {}).get("features", {}).get("count_1h")
            if got != n:
                bad.append("%s: count_1h %r, %d messages" % (card, got, n))
        H.expect(not bad, "%s: %s", view, "; ".join(bad[:6]))

    def sample_keys(msgs):
        counts = {}
        for _, _, k, _ in msgs:
            counts[k.decode()] = counts.get(k.decode(), 0) + 1
        busiest = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
        rare = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]))[:3]
        return busiest + rare

    with r.case("server_starts"):
        srv.start()
        registry = "http://127.0.0.1:%d" % srv.port

    # the reference: the same seed to stdout
    ref, ref_lines = [], []
    with r.case("stdout_reference"):
        rc, out, err = generate(["--count", str(N), "--seed", SEED, "--only", "transactions"])
        H.expect(rc == 0, "exit %d: %s", rc, err[-800:])
        ref_lines = out.splitlines()
        ref = [json.loads(ln) for ln in ref_lines]
        H.expect(len(ref) == N, "%d lines", len(ref))

    # ---- JSON ----
    jmsgs = []
    with r.case("json_generate_exit_0_all_acknowledged"):
        t0 = H.now_ms()
        rc, out, err = generate(["--to", "kafka://%s/%s" % (mock.bootstrap, T_JSON),
                                 "--format", "json", "--count", str(N), "--seed", SEED])
        t1 = H.now_ms()
        H.expect(rc == 0, "exit %d: %s", rc, err[-800:])
        H.expect(out == "", "stdout not empty: %r", out[:200])
        H.expect("%d produced, %d acknowledged, 0 failed" % (N, N) in err, "summary: %r", err)
        H.expect(re.search(r"generate: %d events in " % N, err), "summary: %r", err)

    with r.case("json_messages_keyed_by_card_id"):
        jmsgs, jends = consume_all(mock.bootstrap, T_JSON)
        H.expect(len(jmsgs) == N, "%d messages", len(jmsgs))
        part_of = {}
        for p, o, k, v in jmsgs:
            ev = json.loads(v)
            H.expect(k is not None and k.decode() == ev["card_id"], "key %r, value %r", k, v)
            H.expect(part_of.setdefault(k, p) == p, "key %r in partitions %d and %d", k,
                     part_of[k], p)
            H.expect(t0 - 2000 - 5 <= ev["ts"] <= t1 + 5, "ts %r outside the run", ev["ts"])
        H.expect(len(set(p for p, _, _, _ in jmsgs)) > 1, "one partition only")

    with r.case("json_same_events_as_stdout_in_order_per_key"):
        H.expect(ref and jmsgs, "nothing to compare")
        got = per_key(json.loads(v) for _, _, _, v in jmsgs)
        want = per_key(ref)
        H.expect(set(got) == set(want), "%d keys vs %d", len(got), len(want))
        diff = [k for k in want if got[k] != want[k]]
        H.expect(not diff, "%d keys differ, e.g. %s: %r vs %r", len(diff), diff[:1],
                 got[diff[0]][:3] if diff else None, want[diff[0]][:3] if diff else None)
        # the values are the stdout lines themselves, byte for byte but the time
        raw_want, raw_got = {}, {}
        for ln in ref_lines:
            raw_want.setdefault(json.loads(ln)["card_id"], []).append(
                re.sub(r',"ts":\d+', "", ln))
        for _, _, k, v in jmsgs:
            raw_got.setdefault(k.decode(), []).append(re.sub(r',"ts":\d+', "", v.decode()))
        H.expect(raw_got == raw_want, "the values are not the stdout lines")

    with r.case("json_processor_applied_all"):
        caught_up("tx_json", jends)
        check_counts("card_json", sample_keys(jmsgs))

    # ---- Avro ----
    amsgs, sid = [], None
    with r.case("avro_generate_registers_and_produces"):
        rc, out, err = generate(["--to", "kafka://%s/%s" % (mock.bootstrap, T_AVRO),
                                 "--format", "avro", "--count", str(N), "--seed", SEED,
                                 "--registry", registry])
        H.expect(rc == 0, "exit %d: %s", rc, err[-800:])
        H.expect("%d produced, %d acknowledged, 0 failed" % (N, N) in err, "summary: %r", err)
        m = re.search(r"Avro schema id (\d+) \(subject %s-value" % T_AVRO, err)
        H.expect(m, "no schema id in the summary: %r", err)
        sid = int(m.group(1))
        latest = srv.http.get_json("/subjects/%s-value/versions/latest" % T_AVRO).json
        H.expect(latest.get("id") == sid, "registry latest %r, summary id %d", latest, sid)

    with r.case("avro_values_framed_and_decodable"):
        H.expect(sid is not None, "no schema id")
        resp = srv.http.get_json("/schemas/ids/%d" % sid)
        H.expect(resp.status == 200, "GET /schemas/ids/%d: %r", sid, resp)
        schema = avro.schema.parse(resp.json["schema"])
        reader = avro.io.DatumReader(schema)
        amsgs, aends = consume_all(mock.bootstrap, T_AVRO)
        decoded = []
        for p, o, k, v in amsgs:
            H.expect(v[:1] == b"\0" and struct.unpack(">I", v[1:5])[0] == sid,
                     "message %d/%d: frame %r, want id %d", p, o, v[:5], sid)
            buf = io.BytesIO(v[5:])
            rec = reader.read(avro.io.BinaryDecoder(buf))
            H.expect(buf.tell() == len(v) - 5, "trailing bytes in %d/%d", p, o)
            H.expect(k is not None and k.decode() == rec["card_id"], "key %r, record %r", k, rec)
            if rec.get("country") is None:
                rec.pop("country", None)
            decoded.append(rec)
        got, want = per_key(decoded), per_key(ref)
        diff = [k for k in want if got.get(k) != want[k]]
        H.expect(not diff and set(got) == set(want), "%d keys differ, e.g. %s: %r vs %r",
                 len(diff), diff[:1], got.get(diff[0], [])[:3] if diff else None,
                 want[diff[0]][:3] if diff else None)

    with r.case("avro_processor_applied_all"):
        caught_up("transactions", aends)
        check_counts("card_avro", sample_keys(amsgs))
        st = srv.http.status()
        H.expect(st.get("dead_letters", 0) == 0, "dead letters: %r", st.get("dead_letters"))

    with r.case("avro_config_source_and_embedded_registry"):
        rc, out, err = generate(["--to", "kafka://%s/%s" % (mock.bootstrap, T_AVRO),
                                 "--format", "avro", "-c", srv.config, "--source", "transactions",
                                 "--count", "1000", "--seed", "8"])
        H.expect(rc == 0, "exit %d: %s", rc, err[-800:])
        H.expect("Avro schema id %d (subject %s-value, registry embedded)" % (sid, T_AVRO) in err,
                 "want the same id %r from the embedded registry: %r", sid, err)
        msgs, ends = consume_all(mock.bootstrap, T_AVRO, want=N + 1000)
        caught_up("transactions", ends)
        check_counts("card_avro", sample_keys(msgs))

    with r.case("unknown_source_is_exit_1"):
        rc, out, err = generate(["--to", "kafka://%s/%s" % (mock.bootstrap, T_AVRO),
                                 "-c", srv.config, "--source", "nope", "--count", "1"])
        H.expect(rc == 1 and "no source 'nope'" in err and "tx_json, transactions" in err,
                 "exit %d: %s", rc, err[-500:])

    with r.case("incompatible_schema_is_exit_1_with_the_reason"):
        bad = {"type": "record", "name": "x", "fields": [{"name": "qty", "type": "int"}]}
        resp = srv.http.post("/subjects/%s-value/versions" % T_BAD,
                             json.dumps({"schema": json.dumps(bad)}),
                             headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        H.expect(resp.status == 200, "register: %r", resp)
        rc, out, err = generate(["--to", "kafka://%s/%s" % (mock.bootstrap, T_BAD),
                                 "--format", "avro", "--count", "10", "--registry", registry])
        H.expect(rc == 1, "exit %d: %s", rc, err[-800:])
        H.expect("incompatible" in err and "%s-value" % T_BAD in err, "message: %r", err)
        msgs, _ = consume_all(mock.bootstrap, T_BAD)
        H.expect(not msgs, "%d messages produced", len(msgs))

    with r.case("unreachable_registry_is_exit_1"):
        rc, out, err = generate(["--to", "kafka://%s/%s" % (mock.bootstrap, T_BAD),
                                 "--format", "avro", "--count", "10", "--registry",
                                 "http://127.0.0.1:%d" % H.free_port()])
        H.expect(rc == 1 and "unavailable" in err, "exit %d: %s", rc, err[-500:])

    with r.case("avro_without_registry_is_exit_2"):
        rc, out, err = generate(["--to", "kafka://%s/%s" % (mock.bootstrap, T_BAD),
                                 "--format", "avro"])
        H.expect(rc == 2 and "schema registry" in err, "exit %d: %s", rc, err[-500:])

    with r.case("sigint_delivers_what_was_produced"):
        p = subprocess.Popen([H.freshet_bin(), "generate", "--to",
                              "kafka://%s/%s" % (mock.bootstrap, T_SIG), "--count", "0",
                              "--rate", "5000", "--seed", "3"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, env=H.sanitizer_env(),
                             start_new_session=True)
        H._procs.append(p)
        time.sleep(1.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        err = err.decode("utf-8", "replace")
        H.expect(p.returncode == 0, "exit %r: %s", p.returncode, err[-800:])
        m = re.search(r"(\d+) produced, (\d+) acknowledged, 0 failed", err)
        H.expect(m and "(interrupted)" in err, "summary: %r", err)
        acked = int(m.group(2))
        H.expect(acked == int(m.group(1)) and acked > 1000, "summary: %r", err)
        msgs, _ = consume_all(mock.bootstrap, T_SIG)
        H.expect(len(msgs) == acked, "%d on the topic, %d acknowledged", len(msgs), acked)
        H.expect(not [ln for ln in err.splitlines() if any(s in ln for s in H.SANITIZER_MARKS)],
                 "sanitizer: %s", err[-2000:])

    H.check_clean_stop(r, srv)
    mock.stop()
    r.finish()


if __name__ == "__main__":
    main()
