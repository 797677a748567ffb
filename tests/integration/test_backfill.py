#!/usr/bin/python3
"""Backfill test: `freshet backfill` from JSON Lines and Avro container files
gives exactly what live processing of the same events gives.

(a) a seeded stream (the oracle test's sources, views and generator) is
    ingested live over HTTP into `freshet run` (store A);
(b) the same events, in log order, are written as JSON Lines (tx split over
    two files, with blank and CRLF lines) and as Avro container files (a
    writer schema unlike the source's: other field order, an extra field,
    longs written as ints, nullable unions, one file deflated); each is
    backfilled into a fresh store (B, C), served by `freshet serve
    --no-ingest`, and every feature of every entity at several as_of is
    compared with store A's answer byte for byte and with the oracle;
(c) one view backfilled again over store A itself: answers unchanged (no
    double counting), the processor's positions untouched, and live
    processing carries on on top;
(d) bad events (malformed, missing or mistyped fields, late, future, too
    large, bad key; null fields and a broken tail in Avro) end up in
    `freshet dlq list` with their reasons and do not stop the backfill;
(e) exit codes and messages for bad usage; the progress line only on a
    terminal.
"""
import json
import os
import pty
import random
import re
import select
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import test_oracle as O  # noqa: E402

import avro.datafile  # noqa: E402  (Debian python3-avro)
import avro.io  # noqa: E402
import avro.schema  # noqa: E402

SEED = int(os.environ.get("FRESHET_IT_SEED", "7"))

# The Avro writer schemas: fields in another order than the source's, an
# extra field, longs as ints where the values fit, optional fields as unions.
TX_AVRO = {"type": "record", "name": "Txn", "namespace": "test.writer", "fields": [
    {"name": "ts", "type": "long"},
    {"name": "note", "type": ["null", "string"], "default": None},
    {"name": "amount", "type": "double"},
    {"name": "card_id", "type": "string"},
    {"name": "qty", "type": "int"},
    {"name": "online", "type": ["null", "boolean"], "default": None},
    {"name": "merchant_id", "type": "string"},
    {"name": "device", "type": ["null", "string"], "default": None},
    {"name": "country", "type": ["null", "string"], "default": None},
    {"name": "channel", "type": "string"},
]}
CLICKS_AVRO = {"type": "record", "name": "Click", "fields": [
    {"name": "page", "type": "string"},
    {"name": "user_id", "type": "int"},
    {"name": "premium", "type": "boolean"},
    {"name": "dwell", "type": ["null", "int"], "default": None},
    {"name": "score", "type": "double"},
    {"name": "t", "type": "int"},
]}


def avro_write(path, schema, records, codec="null", sync_every=None):
    """An Object Container File written by Python's avro (sync_every: a
    block boundary after every that many records)."""
    sch = avro.schema.parse(json.dumps(schema))
    w = avro.datafile.DataFileWriter(open(path, "wb"), avro.io.DatumWriter(), sch, codec=codec)
    for i, r in enumerate(records):
        w.append(r)
        if sync_every and (i + 1) % sync_every == 0:
            w.sync()
    w.close()


def tx_avro(e):
    return {"ts": e["ts"], "note": e.get("note"), "amount": float(e["amount"]),
            "card_id": e["card_id"], "qty": e["qty"], "online": e.get("online"),
            "merchant_id": e["merchant_id"], "device": e.get("device"),
            "country": e.get("country"), "channel": "web"}


def clicks_avro(e):
    return {"page": e["page"], "user_id": e["user_id"], "premium": e["premium"],
            "dwell": e.get("dwell"), "score": float(e["score"]), "t": e["t"]}


def write_jsonl(path, events, rng, crlf=True):
    """One event per line; some blank and CRLF lines; no last newline."""
    with open(path, "wb") as f:
        for i, e in enumerate(events):
            line = json.dumps(e, separators=(",", ":")) if rng.random() < 0.5 else json.dumps(e)
            if rng.random() < 0.05:
                f.write(b"\n" if rng.random() < 0.5 else b"  \r\n")
            end = b"" if i == len(events) - 1 else (b"\r\n" if crlf and rng.random() < 0.2
                                                      else b"\n")
            f.write(line.encode() + end)


def backfill(server, args, timeout=300):
    return server.cli(["backfill"] + list(args), timeout=timeout)


def expect_clean(err, what):
    reps = [ln for ln in err.splitlines() if any(m in ln for m in H.SANITIZER_MARKS)]
    H.expect(not reps, "%s: sanitizer report:\n%s", what, err[-3000:])


SUMMARY = re.compile(r"^backfill (\S+): (\d+) records read, (\d+) applied, (\d+) dead-lettered, "
                     r"(\d+) entity states written to (\d+) views? in [0-9.]+ s$")


def summary(out):
    lines = [ln for ln in out.splitlines() if ln.strip()]
    H.expect(len(lines) == 1, "expected one summary line on stdout, got %r", out[-1000:])
    m = SUMMARY.match(lines[0])
    H.expect(m, "summary line not as expected: %r", lines[0])
    return {"source": m.group(1), "read": int(m.group(2)), "applied": int(m.group(3)),
            "dead": int(m.group(4)), "entities": int(m.group(5)), "views": int(m.group(6))}


def ingest(r, srv, oracle, rng, tx, clicks):
    """Like the oracle test's ingest; returns each source's events in log order."""
    batches = O.encode_batches(rng, "tx", tx) + O.encode_batches(rng, "clicks", clicks)
    rng.shuffle(batches)
    order = {"tx": [], "clicks": []}
    with r.case("live_ingest"):
        for source, body, chunk in batches:
            resp = srv.http.post("/v1/events/" + source, body)
            j = resp.json
            H.expect(resp.status == 200 and j["accepted"] == len(chunk) and j["rejected"] == 0,
                     "POST /v1/events/%s: %r", source, resp)
            H.expect(j["first_offset"] == len(order[source]), "offsets: %r", resp)
            for k, e in enumerate(chunk):
                oracle.add(source, O.ts_ms_of(source, e), j["first_offset"] + k, e)
            order[source].extend(chunk)
    return order


TIMING = ("timing_us",)


def answers(srv, views, oracle, deltas, maxts):
    """{(view, key, as_of): body bytes} for every key of every view."""
    out = {}
    for v in views:
        for key in oracle.keys(v.name):
            for d in deltas[v.source]:
                t = maxts[v.source] + d
                resp = srv.http.features(v.name, key, t)
                H.expect(resp.status == 200, "GET %s/%s?as_of=%d: %r", v.name, key, t, resp)
                out[(v.name, key, t)] = resp.body
    return out


def normal(body):
    j = json.loads(body)
    for k in TIMING:
        j.pop(k, None)
    return j


def same_answers(live, other, what):
    bad = []
    for k, body in live.items():
        got = other.get(k)
        if got == body:
            continue
        if got is not None and normal(got) == normal(body) and \
                any(t in json.loads(body) for t in TIMING):
            continue
        bad.append("%s/%s?as_of=%d:\n    live:     %s\n    %-9s %s" % (
            k[0], k[1], k[2], body.decode()[:400], what + ":", (got or b"(none)").decode()[:400]))
        if len(bad) >= 8:
            break
    H.expect(not bad, "%d+ of %d answers differ from live processing:\n  %s", len(bad),
             len(live), "\n  ".join(bad))


def check_oracle(bodies, oracle):
    bad = []
    for (view, key, t), body in bodies.items():
        j = json.loads(body)
        errs = H.compare_features(oracle.expected(view, key, t), j.get("features"))
        has = oracle.has_state(view, key)
        if j.get("found") is not has:
            errs.append("found=%r, expected %r" % (j.get("found"), has))
        if has and j.get("freshness_ms") != t - oracle.newest(view, key):
            errs.append("freshness_ms=%r" % j.get("freshness_ms"))
        if errs:
            bad.append("%s/%s?as_of=%d: %s" % (view, key, t, "; ".join(errs[:5])))
        if len(bad) >= 10:
            break
    H.expect(not bad, "answers differ from the oracle:\n  %s", "\n  ".join(bad))


def serve(name, store_dir, config_text=None):
    """`freshet serve --no-ingest` over the store of another test server."""
    s = H.Server((config_text or O.CONFIG).replace("{store}", store_dir), name=name, cmd="serve",
                 extra_args=["--no-ingest"])
    s.start()
    return s


def main():
    r = H.Runner("backfill", timeout_s=int(os.environ.get("FRESHET_IT_TIMEOUT", "600")))
    H.require_binary(r)
    now = H.now_ms()
    views = O.view_defs()
    oracle = H.Oracle(views)

    # ---- (a) live ----
    A = H.Server(O.CONFIG, name="bfA")
    with r.case("live_start"):
        A.start()
    if not A.alive():
        r.finish()
    rng, tx, clicks = O.generate(SEED, now)
    order = ingest(r, A, oracle, rng, tx, clicks)
    maxts = {"tx": max(e["ts"] for e in tx), "clicks": max(e["t"] for e in clicks) * 1000}
    with r.case("live_caught_up"):
        st = H.wait_caught_up(A.http, 240)
        for s in ("tx", "clicks"):
            H.expect(H.source_status(st, s)["committed_offset"] == len(order[s]), "%r", st)
    deltas = {s: sorted(set([0, 1, 86400000] +
                            random.Random(SEED).sample(O.as_of_deltas(rng, views, s, maxts[s]), 3)))
              for s in ("tx", "clicks")}
    live = {}
    with r.case("live_answers_match_oracle"):
        live = answers(A, views, oracle, deltas, maxts)
        check_oracle(live, oracle)

    # ---- (b) the same events as files ----
    work = H.make_tmpdir("freshet-bf-files-")
    frng = random.Random(SEED * 7 + 1)
    half = len(order["tx"]) // 2
    tx1, tx2 = os.path.join(work, "tx-1.jsonl"), os.path.join(work, "tx-2.jsonl")
    cl = os.path.join(work, "clicks.jsonl")
    atx1, atx2 = os.path.join(work, "tx-1.avro"), os.path.join(work, "tx-2.avro")
    acl = os.path.join(work, "clicks.avro")
    with r.case("write_history_files"):
        write_jsonl(tx1, order["tx"][:half], frng)
        write_jsonl(tx2, order["tx"][half:], frng)
        write_jsonl(cl, order["clicks"], frng)
        avro_write(atx1, TX_AVRO, [tx_avro(e) for e in order["tx"][:half]], codec="deflate")
        avro_write(atx2, TX_AVRO, [tx_avro(e) for e in order["tx"][half:]])
        avro_write(acl, CLICKS_AVRO, [clicks_avro(e) for e in order["clicks"]])

    B = H.Server(O.CONFIG, name="bfB")  # only its dir and config: backfilled, then served
    C = H.Server(O.CONFIG, name="bfC")
    for store, kind, files in ((B, "--jsonl", {"tx": [tx1, tx2], "clicks": [cl]}),
                               (C, "--avro", {"tx": [atx1, atx2], "clicks": [acl]})):
        label = "jsonl" if kind == "--jsonl" else "avro"
        with r.case("backfill_%s_fresh_store" % label):
            for source in ("tx", "clicks"):
                rc, out, err = backfill(store, ["--source", source, "--fresh", kind] + files[source])
                expect_clean(err, "backfill")
                H.expect(rc == 0, "backfill %s %s: exit %d: %s", source, kind, rc, err[-2000:])
                H.expect("\033[" not in err, "progress output without a terminal: %r", err[-300:])
                sm = summary(out)
                n = len(order[source])
                H.expect(sm["source"] == source and sm["read"] == n and sm["applied"] == n and
                         sm["dead"] == 0, "summary %r, expected %d records, none dead", sm, n)
                H.expect(sm["views"] == (3 if source == "tx" else 2), "summary %r", sm)
                H.expect(sm["entities"] > 0, "summary %r", sm)
            H.expect(store.dlq() == [], "dead letters after a clean backfill: %r", store.dlq()[:3])

    served = {}
    for store, label in ((B, "jsonl"), (C, "avro")):
        with r.case("serve_%s_store" % label):
            served[label] = serve("bf%sserve" % label, store.store)
        with r.case("%s_backfill_equals_live" % label):
            got = answers(served[label], views, oracle, deltas, maxts)
            same_answers(live, got, label)
        with r.case("%s_backfill_equals_oracle" % label):
            check_oracle(got, oracle)
        H.check_clean_stop(r, served[label], "serve_%s_clean_shutdown" % label)

    # ---- on Redis ----
    redis_case(r, views, oracle, deltas, maxts, live, order, half,
               {"tx1": tx1, "tx2": tx2, "cl": cl, "atx1": atx1, "atx2": atx2})

    # ---- (c) one view again over the live store ----
    H.check_clean_stop(r, A, "live_clean_shutdown")
    with r.case("fresh_refused_on_a_store_with_state"):
        rc, out, err = backfill(A, ["--source", "tx", "--views", "card_us", "--fresh",
                                    "--jsonl", tx1, tx2])
        expect_clean(err, "backfill")
        H.expect(rc == 1 and "already holds state" in err and out == "",
                 "exit %d, stdout %r, stderr %r", rc, out, err[-500:])
    with r.case("views_backfill_replaces_states"):
        # card_us from the first half of the history only: the entities in it
        # get exactly the first half's state, the others keep theirs, and no
        # other view changes.  (Avro: typed records, which the processor
        # seeks at its start, where live processing left its position.)
        rc, out, err = backfill(A, ["--source", "tx", "--views", "card_us", "--avro", atx1])
        expect_clean(err, "backfill")
        H.expect(rc == 0, "exit %d: %s", rc, err[-2000:])
        sm = summary(out)
        H.expect(sm["views"] == 1 and sm["read"] == half and sm["dead"] == 0, "%r", sm)
        horacle = H.Oracle(views)
        for i, e in enumerate(order["tx"][:half]):
            horacle.add("tx", e["ts"], i, e)
        S = serve("bfAserve", A.store)
        try:
            got = answers(S, views, oracle, deltas, maxts)
        finally:
            S.stop()
        bad, replaced = [], 0
        for (vn, key, t), body in got.items():
            if vn == "card_us" and horacle.has_state(vn, key):
                replaced += 1
                j = json.loads(body)
                errs = H.compare_features(horacle.expected(vn, key, t), j.get("features"))
                if j.get("found") is not True or \
                        j.get("freshness_ms") != t - horacle.newest(vn, key):
                    errs.append("found/freshness %r/%r" % (j.get("found"), j.get("freshness_ms")))
                if errs:
                    bad.append("%s/%s@%d: %s" % (vn, key, t, "; ".join(errs[:4])))
            elif body != live[(vn, key, t)]:
                bad.append("%s/%s@%d changed: %s" % (vn, key, t, body.decode()[:300]))
        H.expect(replaced > 0, "no card_us entity in the first half?")
        H.expect(not bad, "after backfilling card_us from half the history:\n  %s",
                 "\n  ".join(bad[:10]))
    with r.case("views_backfill_over_itself"):
        # the whole history again, one view from each kind of file: the
        # live answers come back, nothing counted twice
        for vlist, files in (("card_us", ["--avro", atx1, atx2]),
                             ("card_stats,card_stats", ["--jsonl", tx1, tx2])):
            rc, out, err = backfill(A, ["--source", "tx", "--views", vlist] + files)
            expect_clean(err, "backfill")
            H.expect(rc == 0, "exit %d: %s", rc, err[-2000:])
            sm = summary(out)
            H.expect(sm["views"] == 1 and sm["read"] == len(order["tx"]) and sm["dead"] == 0,
                     "%r", sm)
    with r.case("views_backfill_answers_unchanged"):
        A.start()
        st = H.wait_caught_up(A.http, 120)
        for s in ("tx", "clicks"):
            ss = H.source_status(st, s)
            H.expect(ss["committed_offset"] == len(order[s]) and
                     ss["log_end_offset"] == len(order[s]),
                     "positions moved by the backfill: %r", ss)
        got = answers(A, views, oracle, deltas, maxts)
        same_answers(live, got, "again")
    with r.case("live_carries_on_after_backfill"):
        more = []
        lrng = random.Random(SEED + 99)
        for i in range(60):
            more.append({"card_id": "c%04d" % lrng.randint(0, 20), "merchant_id": "m001",
                         "amount": lrng.randint(0, 400) * 0.25, "qty": lrng.randint(0, 5),
                         "country": lrng.choice(["US", "FR"]), "ts": maxts["tx"] + 1 + i * 997})
        resp = A.http.post("/v1/events/tx", "\n".join(json.dumps(e) for e in more))
        H.expect(resp.status == 200 and resp.json["accepted"] == len(more), "%r", resp)
        for k, e in enumerate(more):
            oracle.add("tx", e["ts"], resp.json["first_offset"] + k, e)
        H.wait_caught_up(A.http, 120)
        t2 = max(e["ts"] for e in more)
        bad = []
        for vn in ("card_stats", "card_us", "merchant_txn"):
            for key in oracle.keys(vn):
                for t in (t2, t2 + 3600000):
                    j = A.http.features(vn, key, t).json
                    errs = H.compare_features(oracle.expected(vn, key, t), j.get("features"))
                    if errs:
                        bad.append("%s/%s@%d: %s" % (vn, key, t, "; ".join(errs[:4])))
        H.expect(not bad, "after new live events:\n  %s", "\n  ".join(bad[:10]))
    H.check_clean_stop(r, A, "live_clean_shutdown_2")

    # ---- (d) bad events ----
    D = H.Server(O.CONFIG, name="bfD")
    bad_path = os.path.join(work, "tx-bad.jsonl")
    t0 = now - 3600000
    good = [{"card_id": "g1", "merchant_id": "m1", "amount": 1.5, "qty": 1, "ts": t0},
            {"card_id": "g2", "merchant_id": "m1", "amount": 2, "qty": 2, "ts": t0 + 10},
            {"card_id": "g1", "merchant_id": "m2", "amount": 4.25, "qty": 3, "ts": t0 + 20},
            {"card_id": "g1", "merchant_id": "m2", "amount": 1, "qty": 1, "ts": t0 - 3 * 3600000}]
    lines = [
        (json.dumps(good[0]), None),
        ('{"card_id": "x", "merchant_id": ', "malformed_json"),
        (json.dumps({"card_id": "x", "amount": 1.0, "qty": 1, "ts": t0}), "missing_field"),
        (json.dumps({"card_id": "x", "merchant_id": "m", "amount": "a lot", "qty": 1,
                     "ts": t0}), "wrong_type"),
        (json.dumps(good[1]), None),
        (json.dumps({"card_id": "x", "merchant_id": "m", "amount": 1.0, "qty": 1,
                     "ts": t0 - 2 * 86400000}), "late"),
        (json.dumps({"card_id": "x", "merchant_id": "m", "amount": 1.0, "qty": 1,
                     "ts": now + 86400000}), "future_timestamp"),
        (json.dumps({"card_id": "x", "merchant_id": "m" * (1 << 20), "amount": 1.0, "qty": 1,
                     "ts": t0}), "too_large"),
        (json.dumps({"card_id": "", "merchant_id": "m", "amount": 1.0, "qty": 1, "ts": t0}),
         "bad_entity_key"),
        ("[1, 2]", "not_an_object"),
        (json.dumps(good[2]), None),
        (json.dumps(good[3]), None),  # older, but within the horizon: applied
    ]
    with open(bad_path, "w") as f:
        f.write("\n".join(ln for ln, _ in lines) + "\n")
    doracle = H.Oracle(views)
    for i, e in enumerate(good):
        doracle.add("tx", e["ts"], i, e)
    with r.case("bad_lines_dead_lettered"):
        rc, out, err = backfill(D, ["--source", "tx", "--jsonl", bad_path])
        expect_clean(err, "backfill")
        H.expect(rc == 0, "exit %d: %s", rc, err[-2000:])
        sm = summary(out)
        want = [(i + 1, why) for i, (_, why) in enumerate(lines) if why]
        H.expect(sm["read"] == len(lines) and sm["dead"] == len(want) and
                 sm["applied"] == len(good), "summary %r", sm)
        rows = D.dlq("tx")
        got = sorted((int(re.search(r"tx-bad\.jsonl:(\d+): ", row["detail"]).group(1)),
                      row["reason"]) for row in rows)
        H.expect(got == want, "dead letters %r, expected %r", got, want)
        for row in rows:
            line_no = int(re.search(r":(\d+): ", row["detail"]).group(1))
            text = lines[line_no - 1][0]
            if row["reason"] == "too_large":
                H.expect(text.startswith(row["payload"]) and row.get("truncated") is True,
                         "too_large payload not the line's start (cut): %r", row["payload"][:80])
            else:
                H.expect(row["payload"] == text, "payload %r, expected %r", row["payload"][:200],
                         text[:200])
    with r.case("bad_lines_good_events_applied"):
        S = serve("bfDserve", D.store)
        try:
            for key in ("g1", "g2"):
                for t in (t0 + 20, t0 + 3600000):
                    j = S.http.features("card_stats", key, t).json
                    errs = H.compare_features(doracle.expected("card_stats", key, t),
                                              j.get("features"))
                    H.expect(not errs, "card_stats/%s@%d: %s", key, t, "; ".join(errs))
            j = S.http.features("card_stats", "x", t0).json
            H.expect(j["found"] is False, "a refused event was applied: %r", j)
        finally:
            S.stop()

    E = H.Server(O.CONFIG, name="bfE")
    ab = os.path.join(work, "tx-bad.avro")
    recs = [tx_avro(good[0]),
            dict(tx_avro(good[1]), card_id=""),                         # bad_entity_key
            dict(tx_avro(good[1]), ts=t0 - 2 * 86400000),               # late
            dict(tx_avro(good[1]), ts=now + 86400000),                  # future_timestamp
            tx_avro(good[1])]
    avro_write(ab, TX_AVRO, recs)
    nullable = dict(TX_AVRO, fields=[dict(f, type=["null", "string"]) if f["name"] == "card_id"
                                     else f for f in TX_AVRO["fields"]])
    an = os.path.join(work, "tx-null.avro")
    avro_write(an, nullable, [dict(tx_avro(good[2]), card_id=None), tx_avro(good[2])])
    broken = os.path.join(work, "tx-broken.avro")
    avro_write(broken, TX_AVRO, [tx_avro(good[3])] * 5, sync_every=2)
    with open(broken, "r+b") as f:
        f.seek(-3, os.SEEK_END)
        f.write(b"\xff\xff\xff")  # the last block's sync marker
    with r.case("bad_avro_records_dead_lettered"):
        rc, out, err = backfill(E, ["--source", "tx", "--avro", ab, an])
        expect_clean(err, "backfill")
        H.expect(rc == 0, "exit %d: %s", rc, err[-2000:])
        sm = summary(out)
        H.expect(sm["read"] == 7 and sm["dead"] == 4 and sm["applied"] == 3, "%r", sm)
        got = [(re.search(r"(tx-\w+\.avro): record (\d+): ", row["detail"]).groups(),
                row["reason"]) for row in E.dlq("tx")]
        want = [(("tx-bad.avro", "2"), "bad_entity_key"), (("tx-bad.avro", "3"), "late"),
                (("tx-bad.avro", "4"), "future_timestamp"), (("tx-null.avro", "1"),
                                                             "missing_field")]
        H.expect(got == want, "dead letters %r, expected %r", got, want)
    with r.case("broken_avro_tail"):
        before = len(E.dlq("tx"))
        rc, out, err = backfill(E, ["--source", "tx", "--avro", broken, ab])
        expect_clean(err, "backfill")
        H.expect(rc == 1 and "could not be read to the end" in err, "exit %d: %s", rc, err[-800:])
        sm = summary(out)
        # 4 records in good blocks, the broken tail (1 offset), then tx-bad.avro's 5
        H.expect(sm["read"] == 10 and sm["applied"] == 4 + 2, "%r", sm)
        rows = E.dlq("tx")[before:]
        H.expect(rows and rows[0]["reason"] == "malformed_avro" and
                 "tx-broken.avro: record 5: " in rows[0]["detail"], "%r", rows[:2])

    # ---- (e) usage ----
    with r.case("usage_errors"):
        two = A.config
        cases = [
            ([], 2, "-c FILE is required"),
            (["-c", two, "--jsonl", tx1], 2, "--source NAME is required"),
            (["-c", two, "--source", "nope", "--jsonl", tx1], 2, "unknown source 'nope'"),
            (["-c", two, "--source", "tx", "--views", "nope", "--jsonl", tx1], 2,
             "unknown view 'nope'"),
            (["-c", two, "--source", "tx", "--views", "card_us,,x", "--jsonl", tx1], 2,
             "--views wants"),
            (["-c", two, "--source", "tx", "--views", "user_activity", "--jsonl", tx1], 2,
             "reads source 'clicks'"),
            (["-c", two, "--source", "tx", "--jsonl", tx1, "--avro", atx1], 2,
             "give one history"),
            (["-c", two, "--source", "tx"], 2, "say where the history is"),
            (["-c", two, "--source", "tx", "--force", "--jsonl", tx1], 2,
             "--force goes with --fresh"),
            (["-c", two, "--source", "tx", "--bogus"], 2,
             "freshet backfill: unknown option '--bogus'; try `freshet backfill --help`"),
            (["-c", two, "--source", "tx", "stray.jsonl"], 2, "unexpected argument"),
            (["-c", two, "--source", "tx", "--from-kafka", "yesterday"], 2,
             "--from-kafka wants"),
            (["-c", two, "--source", "tx", "--from-kafka", "earliest"], 2, "no kafka block"),
            (["-c", two, "--source", "tx", "--jsonl", os.path.join(work, "missing.jsonl")], 1,
             "missing.jsonl: cannot open"),
            (["-c", two, "--source", "tx", "--jsonl", work], 1, "not a regular file"),
            (["-c", two, "--source", "tx", "--avro", tx1], 1, "tx-1.jsonl"),
            (["-c", os.path.join(work, "nope.yaml"), "--source", "tx", "--jsonl", tx1], 1,
             "nope.yaml"),
        ]
        for args, want_rc, want_msg in cases:
            rc, out, err = H.run_cli(["backfill"] + args)
            expect_clean(err, "backfill %s" % args)
            H.expect(rc == want_rc and want_msg in err,
                     "freshet backfill %s: exit %d (want %d), stderr %r (want %r)",
                     " ".join(args), rc, want_rc, err[-600:], want_msg)
        rc, out, err = H.run_cli(["backfill", "--help"])
        H.expect(rc == 0 and "usage: freshet backfill" in out and "--fresh" in out,
                 "--help: %d %r", rc, out[:200])
        rc, out, err = H.run_cli(["--help"])
        H.expect(rc == 0 and "backfill" in out, "freshet --help does not list backfill")

    with r.case("progress_only_on_a_terminal"):
        big = os.path.join(work, "big.jsonl")
        brng = random.Random(5)
        with open(big, "w") as f:
            for i in range(120000):
                f.write('{"card_id":"c%d","merchant_id":"m%d","amount":%d.5,"qty":%d,"ts":%d}\n'
                        % (brng.randint(0, 999), brng.randint(0, 99), i % 100, i % 7,
                           now - 3600000 + i * 10))
        F = H.Server(O.CONFIG, name="bfF")
        err = run_on_tty([H.freshet_bin(), "backfill", "-c", F.config, "--source", "tx",
                          "--jsonl", big], F.dir)
        H.expect("backfill tx:" in err and "% of" in err and "\r\033[K" in err,
                 "no progress line on a terminal: %r", err[-500:])
        H.expect(err.rstrip("\r\n").endswith("\033[K") or "\033[K" in err.splitlines()[-1],
                 "the progress line was not cleared: %r", err[-300:])
        err = run_on_tty([H.freshet_bin(), "backfill", "-c", F.config, "--source", "tx",
                          "--quiet", "--jsonl", big], F.dir)
        H.expect("\033[" not in err, "--quiet still shows progress: %r", err[-300:])

    with r.case("interrupted_backfill"):
        G = H.Server(O.CONFIG, name="bfG")
        p = subprocess.Popen([H.freshet_bin(), "backfill", "-c", G.config, "--source", "tx",
                              "--jsonl", big, big, big, big], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=G.dir,
                             env=H.sanitizer_env(), start_new_session=True)
        H._procs.append(p)  # noqa: SLF001
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
        H._procs.remove(p)  # noqa: SLF001
        out, err = out.decode(), err.decode()
        expect_clean(err, "interrupted backfill")
        # (a machine fast enough may finish first: then it must have finished well)
        H.expect((p.returncode == 1 and "interrupted after" in err and out == "") or
                 (p.returncode == 0 and "480000 records read" in out),
                 "exit %d, stdout %r, stderr %r", p.returncode, out, err[-600:])

    r.finish()


def redis_config(url):
    store = ('store:\n  backend: redis\n  path: {store}\n'
             '  redis: { url: "%s", timeout_ms: 2000 }\n' % url)
    cfg = O.CONFIG.replace("store:\n  backend: lmdb\n  path: {store}\n", store)
    assert cfg != O.CONFIG, "test_oracle's store block changed"
    return cfg


def redis_case(r, views, oracle, deltas, maxts, live, order, half, f):
    """Backfill into Redis: --fresh needs --force once the database holds
    keys; a view backfilled from half the history, then from all of it
    (backfill over backfill), answers as live processing."""
    with r.case("redis_backfill_fresh"):
        redis = H.RedisServer(name="bfredis")
        R = H.Server(redis_config(redis.url()), name="bfR")
        rc, out, err = backfill(R, ["--source", "tx", "--fresh", "--jsonl", f["tx1"], f["tx2"]])
        expect_clean(err, "backfill")
        H.expect(rc == 0, "exit %d: %s", rc, err[-2000:])
        rc, out, err = backfill(R, ["--source", "clicks", "--fresh", "--jsonl", f["cl"]])
        H.expect(rc == 1 and "cannot tell" in err and "--force" in err, "exit %d: %s", rc,
                 err[-1000:])
        rc, out, err = backfill(R, ["--source", "clicks", "--fresh", "--force", "--jsonl",
                                    f["cl"]])
        expect_clean(err, "backfill")
        H.expect(rc == 0, "exit %d: %s", rc, err[-2000:])
    with r.case("redis_backfill_over_backfill"):
        rc, out, err = backfill(R, ["--source", "tx", "--views", "card_us", "--avro", f["atx1"]])
        expect_clean(err, "backfill")
        H.expect(rc == 0, "exit %d: %s", rc, err[-2000:])
        horacle = H.Oracle(views)
        for i, e in enumerate(order["tx"][:half]):
            horacle.add("tx", e["ts"], i, e)
        S = serve("bfRserve", R.store, redis_config(redis.url()))
        try:
            bad = []
            for key in horacle.keys("card_us"):
                if not horacle.has_state("card_us", key):
                    continue
                t = maxts["tx"]
                j = S.http.features("card_us", key, t).json
                errs = H.compare_features(horacle.expected("card_us", key, t), j.get("features"))
                if errs:
                    bad.append("card_us/%s: %s" % (key, "; ".join(errs[:3])))
            H.expect(not bad, "half the history over a backfilled Redis view:\n  %s",
                     "\n  ".join(bad[:6]))
            rc, out, err = backfill(R, ["--source", "tx", "--views", "card_us", "--avro",
                                        f["atx1"], f["atx2"]])
            H.expect(rc == 0, "exit %d: %s", rc, err[-2000:])
            got = answers(S, views, oracle, deltas, maxts)
            same_answers(live, got, "redis")
        finally:
            S.stop()


def run_on_tty(argv, cwd, timeout=240):
    """Runs argv with stderr on a pseudo-terminal (stdout a pipe); returns
    what it wrote to the terminal.  Fails on a non-zero exit."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                         cwd=cwd, env=H.sanitizer_env(), start_new_session=True)
    H._procs.append(p)  # noqa: SLF001 (killed at exit if still running)
    os.close(slave)
    chunks = []
    end = time.time() + timeout
    while time.time() < end:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif p.poll() is not None:
            break
    os.close(master)
    out = p.stdout.read().decode("utf-8", "replace")
    rc = p.wait(timeout=30)
    H._procs.remove(p)  # noqa: SLF001
    err = b"".join(chunks).decode("utf-8", "replace")
    expect_clean(err, "backfill on a terminal")
    H.expect(rc == 0, "exit %d on a terminal: %s", rc, err[-800:])
    H.expect("backfill tx: 120000 records read" in out, "summary on stdout: %r", out)
    return err


if __name__ == "__main__":
    main()
