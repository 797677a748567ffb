#!/usr/bin/python3
"""Oracle test: seeded random event streams over HTTP, every feature of every
entity compared with a brute-force recomputation of DESIGN section 2, via
GET /v1/features/{view}/{entity} and POST /v1/features, at several as_of
values that cross tile and window boundaries.

Two sources (one with timestamp_unit: s), five views covering the nine
functions, windows 10s..24h, granularity overrides, filters on a string and
a boolean, long/double/string/boolean fields, optional fields, one hot
entity with >2000 distinct values of a count_distinct field in a window.
Events are shuffled (out of order, never late) and sent as NDJSON, JSON
arrays and single objects.
"""
import json
import os
import random
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SEEDS = [int(s) for s in os.environ.get("FRESHET_IT_SEEDS", "11,23,37,51").split(",")]
TX_EVENTS = 5000      # per seed, besides the hot card
HOT_EVENTS = 2300     # the hot card: that many distinct devices in the last 55 min
CLICK_EVENTS = 3000   # per seed
N_CARDS, N_MERCHANTS, N_USERS = 250, 120, 200

CONFIG = """
store:
  backend: lmdb
  path: {store}
server:
  listen: "127.0.0.1:{port}"
processor:
  commit_interval_ms: 20
sources:
  - name: tx
    format: json
    timestamp: ts
    timestamp_unit: ms
    fields:
      - { name: card_id, type: string }
      - { name: merchant_id, type: string }
      - { name: amount, type: double }
      - { name: qty, type: long }
      - { name: country, type: string, optional: true }
      - { name: device, type: string, optional: true }
      - { name: online, type: boolean, optional: true }
      - { name: ts, type: long }
  - name: clicks
    format: json
    timestamp: t
    timestamp_unit: s
    fields:
      - { name: user_id, type: long }
      - { name: page, type: string }
      - { name: dwell, type: long, optional: true }
      - { name: score, type: double }
      - { name: premium, type: boolean }
      - { name: t, type: long }
feature_views:
  - name: card_stats
    source: tx
    entity: card_id
    windows: [10s, 5m, 1h, 24h]
    granularity: { 5m: 10s }
    aggregations:
      - { fn: count, name: txn_count }
      - { fn: sum, field: amount }
      - { fn: avg, field: amount }
      - { fn: min, field: amount }
      - { fn: max, field: amount }
      - { fn: stddev, field: amount }
      - { fn: count_distinct, field: merchant_id, name: merchants }
      - { fn: count_distinct, field: device, name: devices }
      - { fn: last, field: country }
      - { fn: last, field: online }
      - { fn: last, field: amount }
      - { fn: last, field: qty }
      - { fn: since_last }
      - { fn: sum, field: qty }
      - { fn: min, field: qty }
      - { fn: max, field: qty }
  - name: card_us
    source: tx
    entity: card_id
    windows: [30m, 2h]
    granularity: { 30m: 20s }
    filter: { field: country, equals: "US" }
    aggregations:
      - { fn: count }
      - { fn: sum, field: qty }
      - { fn: avg, field: qty }
      - { fn: stddev, field: qty }
      - { fn: max, field: amount }
      - { fn: last, field: merchant_id }
      - { fn: count_distinct, field: merchant_id }
      - { fn: since_last }
  - name: merchant_txn
    source: tx
    entity: merchant_id
    windows: [1m, 1h]
    aggregations:
      - { fn: count }
      - { fn: sum, field: amount }
      - { fn: count_distinct, field: card_id, name: cards }
      - { fn: count_distinct, field: qty }
      - { fn: last, field: card_id }
  - name: user_activity
    source: clicks
    entity: user_id
    windows: [90s, 15m, 6h]
    aggregations:
      - { fn: count, name: clicks }
      - { fn: sum, field: dwell }
      - { fn: avg, field: dwell }
      - { fn: min, field: dwell }
      - { fn: max, field: dwell }
      - { fn: stddev, field: score }
      - { fn: min, field: score }
      - { fn: max, field: score }
      - { fn: avg, field: score }
      - { fn: count_distinct, field: page, name: pages }
      - { fn: last, field: premium }
      - { fn: last, field: dwell }
      - { fn: last, field: page }
      - { fn: since_last }
  - name: premium_clicks
    source: clicks
    entity: user_id
    windows: [10m, 3h]
    granularity: { 3h: 5m }
    filter: { field: premium, equals: true }
    aggregations:
      - { fn: count }
      - { fn: sum, field: score }
      - { fn: max, field: dwell }
      - { fn: since_last }
"""

TX_TYPES = {"card_id": "string", "merchant_id": "string", "amount": "double", "qty": "long",
            "country": "string", "device": "string", "online": "boolean", "ts": "long"}
CLICK_TYPES = {"user_id": "long", "page": "string", "dwell": "long", "score": "double",
               "premium": "boolean", "t": "long"}


def view_defs():
    return [
        H.ViewDef("card_stats", "tx", "card_id", ["10s", "5m", "1h", "24h"], [
            ("count", None, "txn_count"), ("sum", "amount", None), ("avg", "amount", None),
            ("min", "amount", None), ("max", "amount", None), ("stddev", "amount", None),
            ("count_distinct", "merchant_id", "merchants"),
            ("count_distinct", "device", "devices"), ("last", "country", None),
            ("last", "online", None), ("last", "amount", None), ("last", "qty", None),
            ("since_last", None, None), ("sum", "qty", None), ("min", "qty", None),
            ("max", "qty", None)], TX_TYPES, granularity={"5m": "10s"}),
        H.ViewDef("card_us", "tx", "card_id", ["30m", "2h"], [
            ("count", None, None), ("sum", "qty", None), ("avg", "qty", None),
            ("stddev", "qty", None), ("max", "amount", None), ("last", "merchant_id", None),
            ("count_distinct", "merchant_id", None), ("since_last", None, None)], TX_TYPES,
            granularity={"30m": "20s"}, filter=("country", "US")),
        H.ViewDef("merchant_txn", "tx", "merchant_id", ["1m", "1h"], [
            ("count", None, None), ("sum", "amount", None),
            ("count_distinct", "card_id", "cards"), ("count_distinct", "qty", None),
            ("last", "card_id", None)], TX_TYPES),
        H.ViewDef("user_activity", "clicks", "user_id", ["90s", "15m", "6h"], [
            ("count", None, "clicks"), ("sum", "dwell", None), ("avg", "dwell", None),
            ("min", "dwell", None), ("max", "dwell", None), ("stddev", "score", None),
            ("min", "score", None), ("max", "score", None), ("avg", "score", None),
            ("count_distinct", "page", "pages"), ("last", "premium", None),
            ("last", "dwell", None), ("last", "page", None), ("since_last", None, None)],
            CLICK_TYPES),
        H.ViewDef("premium_clicks", "clicks", "user_id", ["10m", "3h"], [
            ("count", None, None), ("sum", "score", None), ("max", "dwell", None),
            ("since_last", None, None)], CLICK_TYPES, granularity={"3h": "5m"},
            filter=("premium", True)),
    ]


GROUPS = [  # (source, entity field, views read together in one batch request)
    ("tx", "card_id", ["card_stats", "card_us"]),
    ("tx", "merchant_id", ["merchant_txn"]),
    ("clicks", "user_id", ["user_activity", "premium_clicks"]),
]


def zipf_pick(rng, n, s=1.1):
    weights = [1.0 / (i + 1) ** s for i in range(n)]
    return lambda: rng.choices(range(n), weights)[0]


def event_time(rng, end):
    """Skewed towards the end: small windows see events too."""
    r = rng.random()
    if r < 0.25:
        off = rng.randint(0, 20000)
    elif r < 0.5:
        off = rng.randint(0, 600000)
    else:
        off = rng.randint(0, 7200000)
    ts = end - off
    if rng.random() < 0.2:
        ts -= ts % 1000   # on tile edges, and ties
    return ts


def generate(seed, now):
    rng = random.Random(seed)
    end = now - 5000
    card_of = zipf_pick(rng, N_CARDS)
    merch_of = zipf_pick(rng, N_MERCHANTS, 0.9)
    user_of = zipf_pick(rng, N_USERS)
    tx, clicks = [], []
    for _ in range(TX_EVENTS):
        c = card_of()
        e = {"card_id": "c%04d" % c, "merchant_id": "m%03d" % merch_of(),
             "amount": rng.randint(-400, 4000) * 0.25, "qty": rng.randint(-3, 20),
             "ts": event_time(rng, end)}
        r = rng.random()
        if r < 0.6:
            e["country"] = rng.choice(["US", "US", "FR", "DE", "GB"])
        elif r < 0.8:
            e["country"] = None
        if rng.random() < 0.7:
            e["device"] = "d%d-%d" % (c, rng.randint(0, 3))
        if rng.random() < 0.5:
            e["online"] = rng.random() < 0.5
        if rng.random() < 0.1:
            e["note"] = "undeclared fields are ignored"
        if e["amount"] == int(e["amount"]) and rng.random() < 0.5:
            e["amount"] = int(e["amount"])   # a double field takes any JSON number
        tx.append(e)
    for i in range(HOT_EVENTS):
        e = {"card_id": "c_hot", "merchant_id": "m%03d" % merch_of(),
             "amount": rng.randint(0, 2000) * 0.25, "qty": rng.randint(1, 5),
             "device": "hd%05d" % i, "ts": end - rng.randint(0, 3300000)}
        if rng.random() < 0.5:
            e["country"] = "US"
        tx.append(e)
    for _ in range(CLICK_EVENTS):
        u = user_of()
        e = {"user_id": 1000 + u, "page": "p%02d" % rng.randint(0, 49),
             "score": rng.randint(-200, 200) * 0.25,
             "premium": (u % 3 == 0) != (rng.random() < 0.1),
             "t": event_time(rng, end) // 1000}
        r = rng.random()
        if r < 0.7:
            e["dwell"] = rng.randint(0, 600000)
        elif r < 0.85:
            e["dwell"] = None
        clicks.append(e)
    rng.shuffle(tx)
    rng.shuffle(clicks)
    return rng, tx, clicks


def encode_batches(rng, source, events):
    """[(source, body, events)] in random formats and sizes."""
    out = []
    i = 0
    while i < len(events):
        r = rng.random()
        if r < 0.1:
            n = 1
        elif r < 0.6:
            n = rng.randint(2, 400)
        else:
            n = rng.randint(2, 120)
        chunk = events[i:i + n]
        i += n
        if len(chunk) == 1:
            body = json.dumps(chunk[0], indent=2 if rng.random() < 0.5 else None)
        elif rng.random() < 0.5:
            body = "\n".join(json.dumps(e, separators=(",", ":")) for e in chunk)
            if rng.random() < 0.5:
                body += "\n"
        else:
            body = json.dumps(chunk)
        out.append((source, body, chunk))
    return out


def ts_ms_of(source, e):
    return e["ts"] if source == "tx" else e["t"] * 1000


def ingest(r, srv, oracle, seed, rng, tx, clicks):
    batches = encode_batches(rng, "tx", tx) + encode_batches(rng, "clicks", clicks)
    rng.shuffle(batches)
    next_off = {"tx": 0, "clicks": 0}
    with r.case("seed%d_ingest" % seed):
        for source, body, chunk in batches:
            resp = srv.http.post("/v1/events/" + source, body)
            j = resp.json
            H.expect(resp.status == 200 and H.is_counts_shape(resp),
                     "POST /v1/events/%s (%d events): %r", source, len(chunk), resp)
            H.expect(j["accepted"] == len(chunk) and j["rejected"] == 0,
                     "POST %s: expected %d accepted, 0 rejected: %r", source, len(chunk), resp)
            H.expect(j["first_offset"] == next_off[source] and
                     j["last_offset"] == next_off[source] + len(chunk) - 1,
                     "POST %s: offsets %r..%r, expected %d..%d", source, j["first_offset"],
                     j["last_offset"], next_off[source], next_off[source] + len(chunk) - 1)
            for k, e in enumerate(chunk):
                oracle.add(source, ts_ms_of(source, e), j["first_offset"] + k, e)
            next_off[source] += len(chunk)
    return next_off


def as_of_deltas(rng, views, source, m):
    """0, +1 ms, +24h, and values at or next to tile and window edges."""
    cands = set()
    wins = sorted(set((w, g) for v in views if v.source == source for _, w, g in v.windows))
    for w, g in wins:
        nb = g - m % g   # to the next tile boundary
        for d in (nb - 1, nb, w - g, w - g + nb, w - g + nb - 1, w - (m % g), w - 1, w, w + 1):
            if d >= 0:
                cands.add(d)
    picks = []
    for w, g in rng.sample(wins, 2):   # +W-g and +W of two windows
        picks += [w - g, w]
    picks += rng.sample(sorted(cands), 3)
    return sorted(set([0, 1, 86400000] + picks))


def check_seed(r, seed, now):
    oracle = H.Oracle(view_defs())
    srv = H.Server(CONFIG, name="oracle%d" % seed)
    with r.case("seed%d_start" % seed):
        srv.start()
    if not srv.alive():
        return
    rng, tx, clicks = generate(seed, now)
    sent = ingest(r, srv, oracle, seed, rng, tx, clicks)
    maxts = {"tx": max(e["ts"] for e in tx), "clicks": max(e["t"] for e in clicks) * 1000}

    with r.case("seed%d_caught_up_status" % seed):
        st = H.wait_caught_up(srv.http, 180)
        for s in ("tx", "clicks"):
            ss = H.source_status(st, s)
            H.expect(ss["log_end_offset"] == sent[s] and ss["committed_offset"] == sent[s],
                     "source %s: expected %d events in the log and committed: %r", s, sent[s], ss)
            H.expect(ss.get("watermark") == maxts[s],
                     "source %s: watermark %r, expected the newest event time %d ms",
                     s, ss.get("watermark"), maxts[s])
        H.expect(st.get("dead_letters") == 0, "dead_letters %r, expected 0", st.get("dead_letters"))

    views = view_defs()
    deltas = {s: as_of_deltas(rng, views, s, maxts[s]) for s in ("tx", "clicks")}

    # GET, every feature of every entity of every view at every as_of
    with r.case("seed%d_get_features" % seed):
        bad = []
        nreq = 0
        for v in views:
            for key in oracle.keys(v.name):
                for d in deltas[v.source]:
                    t = maxts[v.source] + d
                    resp = srv.http.features(v.name, key, t)
                    nreq += 1
                    where = "GET %s/%s?as_of=%d (source max +%d)" % (v.name, key, t, d)
                    if resp.status != 200 or not isinstance(resp.json, dict):
                        bad.append("%s: %r" % (where, resp))
                        continue
                    j = resp.json
                    exp = oracle.expected(v.name, key, t)
                    errs = H.compare_features(exp, j.get("features"))
                    has = oracle.has_state(v.name, key)
                    if j.get("found") is not has:
                        errs.append("found=%r, expected %r" % (j.get("found"), has))
                    if j.get("view") != v.name or j.get("entity") != key or j.get("as_of") != t:
                        errs.append("view/entity/as_of echoed as %r/%r/%r" %
                                    (j.get("view"), j.get("entity"), j.get("as_of")))
                    if j.get("degraded") is not False:
                        errs.append("degraded=%r" % j.get("degraded"))
                    if has:
                        fresh = t - oracle.newest(v.name, key)
                        if j.get("freshness_ms") != fresh:
                            errs.append("freshness_ms=%r, expected %d" % (j.get("freshness_ms"),
                                                                          fresh))
                    if errs:
                        bad.append("%s: %s" % (where, "; ".join(errs[:6])))
                    if len(bad) >= 30:
                        break
                if len(bad) >= 30:
                    break
        H.expect(not bad, "%d+ of %d answers differ from the oracle:\n  %s", len(bad), nreq,
                 "\n  ".join(bad[:12]))

    # POST /v1/features, the same values, views read together, an unknown entity in each
    with r.case("seed%d_batch_features" % seed):
        bad = []
        nreq = 0
        for source, efield, vnames in GROUPS:
            keys = oracle.keys(vnames[0])
            for d in deltas[source]:
                t = maxts[source] + d
                for c in range(0, len(keys), 100):
                    chunk = keys[c:c + 100] + ["zz-unknown-%d" % c if efield != "user_id"
                                               else str(900000 + c)]
                    ents = [int(k) if efield == "user_id" and (c // 100) % 2 == 0 else k
                            for k in chunk]
                    req = {"features": ["%s:*" % vn for vn in vnames], "entities": ents,
                           "as_of": t}
                    resp = srv.http.post("/v1/features", req)
                    nreq += 1
                    where = "POST /v1/features %s as_of=%d entities %s.." % (
                        ",".join(vnames), t, chunk[0])
                    if resp.status != 200 or not isinstance(resp.json, dict):
                        bad.append("%s: %r" % (where, resp))
                        continue
                    j = resp.json
                    res = j.get("results")
                    if j.get("as_of") != t or j.get("degraded") is not False or \
                            not isinstance(res, list) or len(res) != len(chunk):
                        bad.append("%s: as_of/degraded/results wrong: %s" % (where, resp.text(300)))
                        continue
                    for key, item in zip(chunk, res):
                        errs = []
                        if item.get("entity") != key:
                            errs.append("entity %r" % item.get("entity"))
                        feats = item.get("features")
                        allexp = {}
                        for vn in vnames:
                            for name, ev in oracle.expected(vn, key, t).items():
                                allexp["%s:%s" % (vn, name)] = ev
                            fnd = (item.get("found") or {}).get(vn)
                            if fnd is not oracle.has_state(vn, key):
                                errs.append("found.%s=%r" % (vn, fnd))
                        errs += H.compare_features(allexp, feats)
                        if isinstance(feats, dict) and set(feats) != set(allexp):
                            errs.append("feature names differ: extra %s" %
                                        sorted(set(feats) - set(allexp))[:4])
                        if errs:
                            bad.append("%s entity %s: %s" % (where, key, "; ".join(errs[:6])))
                    if len(bad) >= 30:
                        break
        # named features (not "*"), in a chosen order
        names = ["card_stats:amount_sum_1h", "card_stats:txn_count_10s", "card_us:count_2h",
                 "card_stats:devices_24h", "card_stats:country_last_5m"]
        keys = oracle.keys("card_stats")[:50] + ["c_hot"]
        t = maxts["tx"] + 1
        resp = srv.http.post("/v1/features", {"features": names, "entities": keys, "as_of": t})
        if resp.status != 200 or not isinstance(resp.json, dict):
            bad.append("named features: %r" % resp)
        else:
            for key, item in zip(keys, resp.json.get("results", [])):
                exp = {}
                for n in names:
                    vn, f = n.split(":")
                    exp[n] = oracle.expected(vn, key, t)[f]
                feats = item.get("features")
                errs = H.compare_features(exp, feats)
                if isinstance(feats, dict) and set(feats) != set(names):
                    errs.append("asked %s, got %s" % (names, sorted(feats)))
                if errs:
                    bad.append("named features, entity %s: %s" % (key, "; ".join(errs[:5])))
        H.expect(not bad, "%d+ batch answers differ (of %d requests):\n  %s", len(bad), nreq,
                 "\n  ".join(bad[:12]))

    with r.case("seed%d_hot_entity_distinct" % seed):
        t = maxts["tx"]
        resp = srv.http.features("card_stats", "c_hot", t)
        H.expect(resp.status == 200, "%r", resp)
        exp = oracle.expected("card_stats", "c_hot", t)["devices_1h"][1]
        got = resp.json["features"].get("devices_1h")
        H.expect(exp > 2000, "the hot card has only %d distinct devices in 1h", exp)
        H.expect(isinstance(got, int) and abs(got - exp) <= 0.03 * exp,
                 "devices_1h of c_hot = %r, expected %d within 3%%", got, exp)

    with r.case("seed%d_unknown_entities" % seed):
        for v in views:
            for key in (["nobody", "c9999x"] if v.entity != "user_id" else ["424242", "-1"]):
                for t in (maxts[v.source], maxts[v.source] + 3600000):
                    resp = srv.http.features(v.name, key, t)
                    H.expect(resp.status == 200 and isinstance(resp.json, dict),
                             "GET %s/%s: %r", v.name, key, resp)
                    j = resp.json
                    H.expect(j.get("found") is False, "GET %s/%s: found=%r", v.name, key,
                             j.get("found"))
                    errs = H.compare_features(oracle.expected(v.name, key, t), j.get("features"))
                    H.expect(not errs, "GET %s/%s: empty values wrong: %s", v.name, key,
                             "; ".join(errs[:6]))
                    H.expect(j.get("freshness_ms") is None, "GET %s/%s: freshness_ms=%r",
                             v.name, key, j.get("freshness_ms"))

    with r.case("seed%d_as_of_now" % seed):
        # no as_of: the server's clock (after every event); the answer says which
        for v in views:
            for key in oracle.keys(v.name)[:5]:
                resp = srv.http.features(v.name, key)
                H.expect(resp.status == 200, "GET %s/%s: %r", v.name, key, resp)
                t = resp.json.get("as_of")
                H.expect(isinstance(t, int) and t >= maxts[v.source],
                         "GET %s/%s without as_of: as_of=%r", v.name, key, t)
                errs = H.compare_features(oracle.expected(v.name, key, t),
                                          resp.json.get("features"))
                H.expect(not errs, "GET %s/%s (as_of %d): %s", v.name, key, t,
                         "; ".join(errs[:6]))

    H.check_clean_stop(r, srv, "seed%d_clean_shutdown" % seed)


def main():
    r = H.Runner("oracle", timeout_s=int(os.environ.get("FRESHET_IT_TIMEOUT", "200")))
    H.require_binary(r)
    for seed in SEEDS:
        check_seed(r, seed, H.now_ms())
    r.finish()


if __name__ == "__main__":
    main()
