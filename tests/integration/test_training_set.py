#!/usr/bin/python3
"""Training sets (DESIGN section 2b) against an independent brute force.

Seeded streams of three sources (transactions, logins, labels) posted over
HTTP in one known arrival order: out-of-order arrival, late-but-accepted
events between spine events, events refused as late (in no row), ties in
event time and events on tile edges.  Every cell of every row of five
training sets is compared with a brute-force computation of section 2b:
arrival and event_time points, joined labels (inside and outside the
horizon, missing, several for one key, maturity at the cutoff), forward
window labels (threshold, filter, sum), a spine file (CSV, with bad rows),
both output formats, byte-identical rebuilds.  Then live parity: events
posted one at a time, GET /v1/features ?as_of=ts recorded before each, and
the arrival-point training set must hold exactly those values.
"""
import csv
import io
import json
import os
import random
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SEEDS = [int(s) for s in os.environ.get("FRESHET_IT_SEEDS", "5,17").split(",")]
N_TX, N_LOGINS = 1400, 350
N_CARDS, N_MERCHANTS = 30, 12
HORIZON_TX = 3600000           # the tx views' largest window: lateness bound

CONFIG = """
store: { path: {store} }
server: { listen: "127.0.0.1:{port}" }
processor: { commit_interval_ms: 20 }
sources:
  - name: tx
    timestamp: ts
    fields:
      - { name: card_id, type: string }
      - { name: merchant_id, type: string }
      - { name: txn_id, type: string }
      - { name: amount, type: double }
      - { name: qty, type: long }
      - { name: country, type: string, optional: true }
      - { name: ts, type: long }
  - name: logins
    timestamp: ts
    fields:
      - { name: card_id, type: string }
      - { name: ok, type: boolean }
      - { name: ts, type: long }
  - name: labels
    timestamp: ts
    fields:
      - { name: txn_id, type: string }
      - { name: is_fraud, type: long }
      - { name: ts, type: long }
feature_views:
  - name: card_stats
    source: tx
    entity: card_id
    windows: [10s, 5m, 1h]
    granularity: { 5m: 10s }
    aggregations:
      - { fn: count, name: n }
      - { fn: sum, field: amount }
      - { fn: avg, field: amount }
      - { fn: min, field: qty }
      - { fn: max, field: amount }
      - { fn: stddev, field: amount }
      - { fn: count_distinct, field: merchant_id, name: merchants }
      - { fn: last, field: country }
      - { fn: since_last }
  - name: card_us
    source: tx
    entity: card_id
    windows: [30m]
    filter: { field: country, equals: "US" }
    aggregations:
      - { fn: count }
      - { fn: sum, field: qty }
  - name: merchant_txn
    source: tx
    entity: merchant_id
    windows: [1m, 1h]
    aggregations:
      - { fn: count }
      - { fn: last, field: card_id }
  - name: login_view
    source: logins
    entity: card_id
    windows: [5m, 30m]
    aggregations:
      - { fn: count }
      - { fn: last, field: ok }
      - { fn: since_last }
training_sets:
  - name: arr
    spine: tx
    features: [card_stats, card_us, "merchant_txn:count_1m", login_view, amount, country]
    label: { source: labels, key: txn_id, field: is_fraud, horizon: 10m, default: 0 }
  - name: evt
    spine: tx
    point: event_time
    features: [card_stats, login_view, merchant_txn, qty]
    label: { source: labels, key: txn_id, horizon: 10m }
  - name: fwd
    spine: tx
    features: ["card_stats:n_5m", login_view]
    label: { source: tx, entity: card_id, fn: count, filter: { field: country, equals: "US" }, window: 5m, threshold: 0 }
  - name: fwd_sum
    spine: logins
    point: arrival
    features: [login_view, card_stats]
    label: { source: tx, entity: card_id, fn: sum, field: amount, window: 30m }
  - name: fromfile
    features: [card_stats, login_view]
    label: { source: labels, key: txn_id, field: is_fraud, horizon: 10m, default: 0 }
"""

TX_TYPES = {"card_id": "string", "merchant_id": "string", "txn_id": "string", "amount": "double",
            "qty": "long", "country": "string", "ts": "long"}
LOGIN_TYPES = {"card_id": "string", "ok": "boolean", "ts": "long"}

VIEWS = [
    H.ViewDef("card_stats", "tx", "card_id", ["10s", "5m", "1h"], [
        ("count", None, "n"), ("sum", "amount", None), ("avg", "amount", None),
        ("min", "qty", None), ("max", "amount", None), ("stddev", "amount", None),
        ("count_distinct", "merchant_id", "merchants"), ("last", "country", None),
        ("since_last", None, None)], TX_TYPES, granularity={"5m": "10s"}),
    H.ViewDef("card_us", "tx", "card_id", ["30m"], [("count", None, None),
              ("sum", "qty", None)], TX_TYPES, filter=("country", "US")),
    H.ViewDef("merchant_txn", "tx", "merchant_id", ["1m", "1h"], [
        ("count", None, None), ("last", "card_id", None)], TX_TYPES),
    H.ViewDef("login_view", "logins", "card_id", ["5m", "30m"], [
        ("count", None, None), ("last", "ok", None), ("since_last", None, None)], LOGIN_TYPES),
]
VD = {v.name: v for v in VIEWS}
HORIZON = {"tx": HORIZON_TX, "logins": 1800000, "labels": 0}


class Ev:
    def __init__(self, source, rec, seq):
        self.source, self.rec, self.seq = source, rec, seq
        self.ts = rec["ts"]
        self.off = None        # the source log offset, once accepted


# ---- data ---------------------------------------------------------------------------

def generate(seed, now):
    rng = random.Random(seed)
    start = now - 4 * 3600000
    span = 3 * 3600000
    cards = ["c%02d" % i for i in range(N_CARDS)]
    cw = [1.0 / (i + 1) ** 0.9 for i in range(N_CARDS)]
    merchants = ["m%02d" % i for i in range(N_MERCHANTS)]
    seq = []      # (source, rec) in arrival order
    tx_recs = []
    n_events = N_TX + N_LOGINS
    for i in range(n_events):
        base = start + span * i // n_events
        ts = base + rng.randint(-20 * 60000, 20 * 60000)   # disorder well inside the horizon
        if rng.random() < 0.25:
            ts -= ts % 10000                                 # tile edges, ties
        card = rng.choices(cards, cw)[0]
        if rng.random() < N_TX / n_events:
            rec = {"card_id": card, "merchant_id": rng.choice(merchants),
                   "txn_id": "t%05d" % len(tx_recs), "amount": rng.randint(-40, 4000) * 0.25,
                   "qty": rng.randint(-2, 9), "ts": ts}
            r = rng.random()
            if r < 0.55:
                rec["country"] = "US"
            elif r < 0.85:
                rec["country"] = rng.choice(["FR", "DE"])
            elif r < 0.92:
                rec["country"] = None
            seq.append(("tx", rec))
            tx_recs.append(rec)
            if rng.random() < 0.02:
                # far behind the watermark: refused as late, in no row
                seq.append(("tx", dict(rec, txn_id=rec["txn_id"] + "L",
                                       ts=ts - HORIZON_TX - 40 * 60000)))
        else:
            seq.append(("logins", {"card_id": card, "ok": rng.random() < 0.7, "ts": ts}))
        # labels for earlier transactions arrive now and then
        if tx_recs and rng.random() < 0.16:
            t = rng.choice(tx_recs[-60:])
            d = rng.choice([0, rng.randint(1, 600000), rng.randint(600001, 1500000),
                            -rng.randint(1, 60000)])
            seq.append(("labels", {"txn_id": t["txn_id"], "is_fraud": rng.randint(0, 1),
                                   "ts": t["ts"] + d}))
    return rng, seq


def post_all(r, srv, seed, rng, seq):
    """Posts seq in order, in runs of one source; returns the accepted Ev list
    (arrival order) after checking every answer against the admission rule."""
    accepted = []
    wm = {}
    nxt = {"tx": 0, "logins": 0, "labels": 0}
    with r.case("seed%d_ingest" % seed):
        i = 0
        n = 0
        while i < len(seq):
            src = seq[i][0]
            j = i + 1
            lim = rng.randint(1, 40)
            while j < len(seq) and seq[j][0] == src and j - i < lim:
                j += 1
            chunk = [rec for _, rec in seq[i:j]]
            body = "\n".join(json.dumps(e) for e in chunk)
            resp = srv.http.post("/v1/events/" + src, body)
            H.expect(resp.status in (200, 422) and H.is_counts_shape(resp),
                     "POST %s: %r", src, resp)
            exp_acc = 0
            for rec in chunk:
                h = HORIZON[src]
                late = h > 0 and src in wm and rec["ts"] < wm[src] - h
                if late:
                    continue
                wm[src] = max(wm.get(src, rec["ts"]), rec["ts"])
                ev = Ev(src, rec, n)
                n += 1
                ev.off = nxt[src]
                nxt[src] += 1
                accepted.append(ev)
                exp_acc += 1
            j2 = resp.json
            H.expect(j2["accepted"] == exp_acc and j2["rejected"] == len(chunk) - exp_acc,
                     "POST %s: %d accepted, %d rejected; the admission rule says %d, %d: %r",
                     src, j2["accepted"], j2["rejected"], exp_acc, len(chunk) - exp_acc, resp)
            i = j
    return accepted


# ---- the oracle: section 2b by brute force -------------------------------------------------

def view_events(view, evs):
    """(ts, off, rec) of the view's events among evs, sorted."""
    out = [(e.ts, e.off, e.rec) for e in evs if e.source == view.source and view.passes(e.rec)]
    out.sort(key=lambda x: (x[0], x[1]))
    return out


class Index:
    """Accepted events per (source, entity field, key) in arrival order."""

    def __init__(self, accepted):
        self.by = {}
        for e in accepted:
            for fld in ("card_id", "merchant_id"):
                if fld in e.rec:
                    self.by.setdefault((e.source, fld, H.Oracle.key_of(e.rec[fld])), []).append(e)

    def get(self, source, fld, key):
        return self.by.get((source, fld, key), [])


def expected_view(view, idx, key, t, keep):
    """{feature: (kind, v)} for view at t over the events e of key with keep(e)."""
    evs = view_events(view, [e for e in idx.get(view.source, view.entity, key) if keep(e)])
    out = {}
    for lab, w, g in view.windows:
        lo = (t // g) * g + g - w
        sel = [x for x in evs if lo <= x[0] <= t]
        for fn, field, name, ftype in view.aggs:
            out["%s_%s" % (name, lab)] = H.agg_value(fn, field, ftype, sel, t)
    return out


def joined_label(accepted, key, t, horizon, field, default):
    for e in accepted:            # log order of the label source = arrival order here
        if e.source == "labels" and e.rec["txn_id"] == key and t <= e.ts <= t + horizon:
            return e.rec[field] if field else 1
    return default


def forward_label(accepted, card, t, window, fn):
    sel = [e for e in accepted if e.source == "tx" and e.rec["card_id"] == card
           and t < e.ts <= t + window]
    if fn == "count_us":
        return 1 if sum(1 for e in sel if e.rec.get("country") == "US") > 0 else 0
    return float(sum(e.rec["amount"] for e in sel))


def kinds_of(view_names, extra):
    """Expected column kinds by output name, for CSV parsing."""
    out = {}
    for vn in view_names:
        v = VD[vn]
        for fn, field, name, ftype in v.aggs:
            for lab, _, _ in v.windows:
                k = H.agg_value(fn, field, ftype, [], 0)[0]
                out["%s:%s_%s" % (vn, name, lab)] = k
    out.update(extra)
    return out


def parse_csv(text, kinds):
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    out = []
    for row in rows[1:]:
        d = {}
        for name, cell in zip(header, row):
            key = name.replace("__", ":", 1) if "__" in name else name
            k = kinds.get(key, "string")
            if cell == "":
                d[key] = None
            elif k in ("long", "distinct"):
                d[key] = int(cell)
            elif k in ("double", "stddev"):
                d[key] = float(cell)
            elif k == "bool":
                d[key] = {"true": True, "false": False}[cell]
            else:
                d[key] = cell
        out.append(d)
    return header, out


def build(srv, name, out, extra=()):
    rc, so, se = srv.cli(["training-set", "--set", name, "-o", out] + list(extra), timeout=300)
    H.expect(rc == 0, "training-set %s: exit %d: %s %s", name, rc, so[-2000:], se[-2000:])
    summary = json.loads(so.strip().splitlines()[-1])
    with open(out, "rb") as f:
        return summary, f.read()


def ndjson_rows(data):
    rows = []
    for ln in data.decode().splitlines():
        rows.append(json.loads(ln, object_pairs_hook=lambda kv: kv))
    return rows


def check_rows(got_rows, exp_rows, what):
    """got: list of [(k, v)] in order; exp: list of [(k, (kind, v)) or (k, ('raw', v))]."""
    H.expect(len(got_rows) == len(exp_rows), "%s: %d rows, expected %d", what, len(got_rows),
             len(exp_rows))
    bad = []
    for i, (g, e) in enumerate(zip(got_rows, exp_rows)):
        gk = [k for k, _ in g]
        ek = [k for k, _ in e]
        if gk != ek:
            bad.append("row %d: columns %s, expected %s" % (i, gk, ek))
            break
        gd = dict(g)
        for k, (kind, ev) in e:
            if kind == "raw":
                if gd[k] != ev:
                    bad.append("row %d %s=%r, expected %r" % (i, k, gd[k], ev))
            else:
                why = H.compare_value((kind, ev), gd[k])
                if why:
                    bad.append("row %d %s=%r: %s" % (i, k, gd[k], why))
        if len(bad) > 12:
            break
    H.expect(not bad, "%s: %d mismatches:\n  %s", what, len(bad), "\n  ".join(bad[:12]))


def feat_cols(view_names, key_of_view, t, keep, idx, only=None):
    cols = []
    for vn in view_names:
        v = VD[vn]
        ex = expected_view(v, idx, key_of_view(v), t, keep)
        for fname in v.feature_names:
            full = "%s:%s" % (vn, fname)
            if only is None or full in only:
                cols.append((full, ex[fname]))
    return cols


def label_rate(rows):
    vals = [v for r in rows for k, v in r if k == "label" and v is not None]
    return sum(vals) / len(vals) if vals else None


def check_arr(srv, accepted, out, extra, cli=None):
    """Builds `arr` (to a CSV out) and compares every cell with the oracle over
    accepted (arrival order: seq; offsets: off)."""
    idx = Index(accepted)
    label_newest = max(e.ts for e in accepted if e.source == "labels")
    tx = sorted((e for e in accepted if e.source == "tx"), key=lambda e: e.seq)
    if cli:
        rc, so, se = cli(["training-set", "--set", "arr", "-o", out] + list(extra))
        H.expect(rc == 0, "training-set arr: exit %d: %s", rc, se[-2000:])
        summary = json.loads(so.strip().splitlines()[-1])
        with open(out, "rb") as f:
            data = f.read()
    else:
        summary, data = build(srv, "arr", out, extra)
    exp = []
    for e in tx:
        t = e.ts
        if t + 600000 > label_newest:
            continue
        keep = lambda x, e=e: x.seq < e.seq                       # arrived before
        key = lambda v, e=e: e.rec[v.entity]
        row = [("card_id", ("raw", e.rec["card_id"])),
               ("merchant_id", ("raw", e.rec["merchant_id"])),
               ("ts", ("long", t)), ("txn_id", ("raw", e.rec["txn_id"]))]
        row += feat_cols(["card_stats", "card_us"], key, t, keep, idx)
        row += feat_cols(["merchant_txn"], key, t, keep, idx, {"merchant_txn:count_1m"})
        row += feat_cols(["login_view"], key, t, keep, idx)
        row += [("amount", ("double", e.rec["amount"])),
                ("country", ("string", e.rec.get("country")))]
        row += [("label", ("long", joined_label(sorted(accepted, key=lambda x: x.seq),
                                                e.rec["txn_id"], t, 600000, "is_fraud", 0)))]
        exp.append(row)
    kinds = kinds_of(["card_stats", "card_us", "merchant_txn", "login_view"],
                     {"ts": "long", "amount": "double", "label": "long"})
    header, got = parse_csv(data.decode(), kinds)
    H.expect(header[:4] == ["card_id", "merchant_id", "ts", "txn_id"] and header[-1] == "label"
             and "card_stats__n_10s" in header, "arr: header %r", header[:8])
    got = [[(k, row[k]) for k in [(h.replace("__", ":", 1) if "__" in h else h)
                                  for h in header]] for row in got]
    check_rows(got, exp, "arr")
    H.expect(summary["rows"] == len(exp) and summary["immature"] == len(tx) - len(exp),
             "arr summary %r: expected %d rows, %d immature", summary, len(exp),
             len(tx) - len(exp))
    lr = label_rate(got)
    H.expect(abs(summary["label_rate"] - lr) < 1e-9, "arr label_rate %r, expected %r",
             summary["label_rate"], lr)
    return summary, data


def check_seed(r, seed, now):
    srv = H.Server(CONFIG, name="tset%d" % seed)
    with r.case("seed%d_start" % seed):
        srv.start()
    rng, seq = generate(seed, now)
    accepted = post_all(r, srv, seed, rng, seq)
    idx = Index(accepted)
    label_newest = max(e.ts for e in accepted if e.source == "labels")
    tx_newest = max(e.ts for e in accepted if e.source == "tx")
    tx = [e for e in accepted if e.source == "tx"]
    d = srv.dir

    # arr: arrival point, joined label with a field and a default, CSV
    with r.case("seed%d_arrival_csv" % seed):
        summary, data = check_arr(srv, accepted, os.path.join(d, "arr.csv"), [])
        H.expect(summary["recomputed"] > 0, "arr: no row was out of order (%r): the data "
                 "should exercise rows before their entity's newest event", summary)

    with r.case("seed%d_rebuild_identical" % seed):
        _, again = build(srv, "arr", os.path.join(d, "arr2.csv"))
        H.expect(again == data, "a second build differs (%d vs %d bytes)", len(again), len(data))

    # evt: event_time point, label without a field (1 when found) or null
    with r.case("seed%d_event_time" % seed):
        summary, data = build(srv, "evt", os.path.join(d, "evt.ndjson"))
        exp = []
        for e in tx:
            t = e.ts
            if t + 600000 > label_newest:
                continue
            keep = lambda x, e=e: x.ts <= e.ts and x is not e
            key = lambda v, e=e: e.rec[v.entity]
            row = [("card_id", ("raw", e.rec["card_id"])),
                   ("merchant_id", ("raw", e.rec["merchant_id"])),
                   ("ts", ("long", t)), ("txn_id", ("raw", e.rec["txn_id"]))]
            row += feat_cols(["card_stats", "login_view", "merchant_txn"], key, t, keep, idx)
            row += [("qty", ("long", e.rec["qty"]))]
            row += [("label", ("long", joined_label(accepted, e.rec["txn_id"], t, 600000,
                                                    None, None)))]
            exp.append(row)
        check_rows(ndjson_rows(data), exp, "evt")
        H.expect(summary["rows"] == len(exp), "evt summary %r, expected %d rows", summary,
                 len(exp))

    # fwd: forward window label with a filter and a threshold
    with r.case("seed%d_forward_label" % seed):
        summary, data = build(srv, "fwd", os.path.join(d, "fwd.ndjson"))
        exp = []
        for e in tx:
            t = e.ts
            if t + 300000 > tx_newest:
                continue
            keep = lambda x, e=e: x.seq < e.seq
            key = lambda v, e=e: e.rec[v.entity]
            row = [("card_id", ("raw", e.rec["card_id"])), ("ts", ("long", t))]
            row += feat_cols(["card_stats"], key, t, keep, idx, {"card_stats:n_5m"})
            row += feat_cols(["login_view"], key, t, keep, idx)
            row += [("label", ("long", forward_label(accepted, e.rec["card_id"], t, 300000,
                                                     "count_us")))]
            exp.append(row)
        check_rows(ndjson_rows(data), exp, "fwd")
        H.expect(summary["immature"] == len(tx) - len(exp), "fwd summary %r", summary)

    # fwd_sum: a logins spine, sum over the next 30 minutes of transactions
    with r.case("seed%d_forward_sum" % seed):
        summary, data = build(srv, "fwd_sum", os.path.join(d, "fwd_sum.ndjson"))
        exp = []
        for e in accepted:
            if e.source != "logins" or e.ts + 1800000 > tx_newest:
                continue
            t = e.ts
            keep = lambda x, e=e: x.seq < e.seq
            key = lambda v, e=e: e.rec[v.entity]
            row = [("card_id", ("raw", e.rec["card_id"])), ("ts", ("long", t))]
            row += feat_cols(["login_view", "card_stats"], key, t, keep, idx)
            row += [("label", ("double", forward_label(accepted, e.rec["card_id"], t, 1800000,
                                                       "sum")))]
            exp.append(row)
        check_rows(ndjson_rows(data), exp, "fwd_sum")

    # fromfile: a CSV spine with a pass-through column and bad rows
    with r.case("seed%d_spine_file" % seed):
        spine = os.path.join(d, "spine.csv")
        rows = []
        frng = random.Random(seed * 7)
        lines = ["card_id,ts,txn_id,note"]
        for k in range(300):
            e = frng.choice(tx)
            t = e.ts + frng.choice([0, -1, 1, 9999, frng.randint(-3600000, 3600000)])
            note = frng.choice(["a", "b,c", 'q"uote', ""])
            rows.append((e.rec["card_id"], t, e.rec["txn_id"], note))
            q = '"%s"' % note.replace('"', '""') if ("," in note or '"' in note) else note
            lines.append("%s,%d,%s,%s" % (e.rec["card_id"], t, e.rec["txn_id"], q))
            if k % 97 == 5:
                lines.append("c01,notatime,t1,x")      # bad: reported, skipped
        with open(spine, "w") as f:
            f.write("\r\n".join(lines) + "\r\n")
        rc, so, se = srv.cli(["training-set", "--set", "fromfile", "--spine", spine, "-o",
                              os.path.join(d, "ff.ndjson")], timeout=300)
        H.expect(rc == 0, "spine file: exit %d: %s", rc, se[-2000:])
        summary = json.loads(so.strip().splitlines()[-1])
        H.expect(summary["bad_rows"] == 4 and se.count("row skipped") == 4 and
                 "spine.csv:" in se, "bad rows: %r / %s", summary, se[-800:])
        exp = []
        for card, t, txn, note in rows:
            if t + 600000 > label_newest:
                continue
            keep = lambda x, t=t: x.ts <= t
            key = lambda v, card=card: card
            row = [("card_id", ("raw", card)), ("ts", ("long", t)), ("txn_id", ("raw", txn)),
                   ("note", ("raw", note if note else None))]
            row += feat_cols(["card_stats", "login_view"], key, t, keep, idx)
            row += [("label", ("long", joined_label(accepted, txn, t, 600000, "is_fraud", 0)))]
            exp.append(row)
        with open(os.path.join(d, "ff.ndjson"), "rb") as f:
            check_rows(ndjson_rows(f.read()), exp, "fromfile")

    with r.case("seed%d_cutoff" % seed):
        cut = tx[len(tx) // 2].ts
        summary, data = build(srv, "arr", os.path.join(d, "cut.ndjson"), ["--cutoff", str(cut)])
        n = sum(1 for e in tx if e.ts + 600000 <= cut)
        H.expect(summary["rows"] == n and summary["immature"] == len(tx) - n,
                 "cutoff %d: %r, expected %d rows", cut, summary, n)
        H.expect(summary["cutoff"] == cut, "summary cutoff %r", summary)

    with r.case("seed%d_from_to" % seed):
        lo, hi = tx[len(tx) // 4].ts, tx[len(tx) // 2].ts
        summary, data = build(srv, "fwd", os.path.join(d, "ft.ndjson"),
                              ["--from", str(lo), "--to", str(hi)])
        want = [e for e in tx if lo <= e.ts < hi and e.ts + 300000 <= tx_newest]
        got = ndjson_rows(data)
        H.expect(len(got) == len(want) and
                 [dict(g)["ts"] for g in got] == [e.ts for e in want],
                 "--from/--to: %d rows, expected %d", len(got), len(want))
    H.check_clean_stop(r, srv, "seed%d_clean_shutdown" % seed)


def admit_in_order(items, horizon):
    """items: [(stream, rec)] in one stream's read order; returns the accepted
    flags by the admission rule (watermark per stream)."""
    wm = {}
    out = []
    for stream, rec in items:
        late = horizon > 0 and stream in wm and rec["ts"] < wm[stream] - horizon
        if not late:
            wm[stream] = max(wm.get(stream, rec["ts"]), rec["ts"])
        out.append(not late)
    return out


def check_files(r, seed, now):
    """The same history read from JSON Lines files: each source's file in
    order, sources merged by the event time of their next event."""
    rng, seq = generate(seed, now)
    srv = H.Server(CONFIG, name="tsetfiles%d" % seed)
    with r.case("seed%d_files" % seed):
        per = {"tx": [], "logins": [], "labels": []}
        for src, rec in seq:
            per[src].append(rec)
        paths = []
        accepted_per = {}
        for src, recs in per.items():
            path = os.path.join(srv.dir, src + ".jsonl")
            with open(path, "w") as f:
                for rec in recs:
                    f.write(json.dumps(rec) + "\n")
            paths += ["--jsonl", "%s=%s" % (src, path)]
            flags = admit_in_order([(src, x) for x in recs], HORIZON[src])
            evs = []
            for i, (rec, ok) in enumerate(zip(recs, flags)):
                if ok:
                    e = Ev(src, rec, 0)
                    e.off = i
                    evs.append(e)
            accepted_per[src] = evs
        # the merge: the head with the smallest event time; ties in source order
        heads = {s: 0 for s in per}
        order = ["tx", "logins", "labels"]
        accepted = []
        while True:
            best = None
            for s_ in order:
                if heads[s_] < len(accepted_per[s_]):
                    e = accepted_per[s_][heads[s_]]
                    if best is None or e.ts < best.ts:
                        best = e
            if best is None:
                break
            heads[best.source] += 1
            best.seq = len(accepted)
            accepted.append(best)
        check_arr(srv, accepted, os.path.join(srv.dir, "files.csv"), paths)


def check_kafka(r, seed, now):
    """The same history from Kafka topics (two partitions for tx): arrival by
    message timestamp, admission per partition."""
    from confluent_kafka import Producer
    try:
        mock = H.KafkaMock({"tx": 2, "logins": 1, "labels": 1})
    except (OSError, RuntimeError) as e:
        r.fail("seed%d_kafka" % seed, "the mock cluster: %s" % e)
        return
    cfg = CONFIG
    for src in ("tx", "logins", "labels"):
        cfg = cfg.replace("  - name: %s\n    timestamp: ts\n" % src,
                          "  - name: %s\n    timestamp: ts\n    kafka: { brokers: \"%s\", "
                          "topic: %s, group: g }\n" % (src, mock.bootstrap, src))
    srv = H.Server(cfg, name="tsetkafka%d" % seed)
    rng, seq = generate(seed, now)
    with r.case("seed%d_kafka" % seed):
        prod = Producer({"bootstrap.servers": mock.bootstrap, "linger.ms": 5, "log_level": 0})
        errors = []
        t0 = now - 86400000
        streams = []
        nxt = {}
        for i, (src, rec) in enumerate(seq):
            part = int(rec["card_id"][1:]) % 2 if src == "tx" else 0
            key = (rec.get("card_id") or rec.get("txn_id")).encode()
            prod.produce(src, json.dumps(rec).encode(), key=key, partition=part,
                         timestamp=t0 + i,
                         on_delivery=lambda err, msg: errors.append(err) if err else None)
            prod.poll(0)
            streams.append(((src, part), rec))
        H.expect(prod.flush(60) == 0 and not errors, "produce: %r", errors[:3])
        accepted = []
        wm = {}
        for i, ((src, part), rec) in enumerate(streams):
            off = nxt.get((src, part), 0)
            nxt[(src, part)] = off + 1
            h = HORIZON[src]
            if h > 0 and (src, part) in wm and rec["ts"] < wm[(src, part)] - h:
                continue
            wm[(src, part)] = max(wm.get((src, part), rec["ts"]), rec["ts"])
            e = Ev(src, rec, i)
            e.off = off
            accepted.append(e)
        check_arr(srv, accepted, os.path.join(srv.dir, "kafka.csv"), [],
                  cli=lambda a: srv.cli(a, timeout=300))
    mock.stop()


def check_live_parity(r, now):
    """Features served just before each event arrives equal its arrival row."""
    srv = H.Server(CONFIG, name="tsetlive")
    with r.case("live_start"):
        srv.start()
    rng = random.Random(99)
    recorded = []
    with r.case("live_post_one_at_a_time"):
        t = now - 1800000
        for i in range(160):
            t += rng.randint(0, 12000)
            if rng.random() < 0.3:
                ev = {"card_id": "c%d" % rng.randint(0, 5), "ok": rng.random() < 0.5, "ts": t}
                resp = srv.http.post("/v1/events/logins", json.dumps(ev))
                H.expect(resp.status == 200, "post login: %r", resp)
                continue
            ev = {"card_id": "c%d" % rng.randint(0, 5), "merchant_id": "m%d" % rng.randint(0, 3),
                  "txn_id": "L%04d" % i, "amount": rng.randint(1, 400) * 0.5,
                  "qty": rng.randint(0, 5), "ts": t}
            if rng.random() < 0.6:
                ev["country"] = "US"
            H.wait_caught_up(srv.http)
            got = {}
            for vn, key in (("card_stats", ev["card_id"]), ("card_us", ev["card_id"]),
                            ("merchant_txn", ev["merchant_id"]), ("login_view", ev["card_id"])):
                resp = srv.http.get("/v1/features/%s/%s?as_of=%d" % (vn, key, t))
                H.expect(resp.status == 200, "GET: %r", resp)
                for k, v in resp.json["features"].items():
                    got["%s:%s" % (vn, k)] = v
            recorded.append((ev, got))
            resp = srv.http.post("/v1/events/tx", json.dumps(ev))
            H.expect(resp.status == 200 and resp.json["accepted"] == 1, "post tx: %r", resp)
    with r.case("live_training_set_equals_served"):
        summary, data = build(srv, "arr", os.path.join(srv.dir, "live.ndjson"),
                              ["--cutoff", str(now + 86400000)])
        rows = [dict(x) for x in ndjson_rows(data)]
        H.expect(len(rows) == len(recorded), "%d rows for %d events", len(rows), len(recorded))
        bad = []
        for row, (ev, served) in zip(rows, recorded):
            H.expect(row["txn_id"] == ev["txn_id"], "row order: %r vs %r", row["txn_id"],
                     ev["txn_id"])
            for k, v in served.items():
                if k.startswith("merchant_txn:") and k != "merchant_txn:count_1m":
                    continue
                if row.get(k, "missing") != v:
                    bad.append("%s %s: row %r, served %r" % (ev["txn_id"], k, row.get(k, "-"), v))
        H.expect(not bad, "%d differences:\n  %s", len(bad), "\n  ".join(bad[:10]))
    H.check_clean_stop(r, srv, "live_clean_shutdown")


def check_usage(r):
    srv = H.Server(CONFIG, name="tsetusage")
    with r.case("usage_errors"):
        rc, so, se = srv.cli(["training-set", "--set", "nope", "-o", "x.csv"])
        H.expect(rc == 2 and "unknown training set 'nope'" in se and "arr" in se,
                 "unknown set: %d %s", rc, se)
        rc, so, se = srv.cli(["training-set", "--set", "arr"])
        H.expect(rc == 2 and "-o OUT" in se, "no -o: %d %s", rc, se)
        rc, so, se = srv.cli(["training-set", "--set", "arr", "-o", "x", "--from", "abc"])
        H.expect(rc == 2 and "--from" in se, "bad --from: %d %s", rc, se)
        rc, so, se = srv.cli(["training-set", "--set", "fromfile", "-o", "x.csv"])
        H.expect(rc == 2 and "--spine" in se, "file set without --spine: %d %s", rc, se)
        rc, so, se = srv.cli(["training-set", "--set", "arr", "-o", "x.csv"])
        H.expect(rc == 1 and "no embedded log" in se, "no log yet: %d %s", rc, se)
        rc, so, se = H.run_cli(["training-set", "--help"])
        H.expect(rc == 0 and "Example" in so and "Exit status" in so, "help: %d", rc)


def main():
    r = H.Runner("training_set", timeout_s=600)
    H.require_binary(r)
    now = H.now_ms()
    check_usage(r)
    for seed in SEEDS:
        check_seed(r, seed, now)
    check_files(r, SEEDS[0], now)
    check_kafka(r, SEEDS[0], now)
    check_live_parity(r, H.now_ms())
    r.finish()


if __name__ == "__main__":
    main()
