#!/usr/bin/python3
"""Models end to end (DESIGN section 2c): training on generated history,
the registry, scoring over HTTP with parity against training rows and
Python's xgboost, consistency, drift against an independent computation,
and bad input.

- train: validation AUC-ROC of freshet's model (windowed features) above a
  floor and clearly above a baseline trained in the test on the request
  fields alone (Python xgboost on the same rows and split);
- export: the UBJSON model loads in Python's xgboost;
- parity: events posted one at a time; just before each, /v1/score with the
  event's fields; the arrival training set built afterwards holds exactly
  the served inputs, and Python's xgboost scores its rows as served (1e-6);
- consistency: 0 mismatches for those; a deliberately late event then shows
  up as a late_event mismatch;
- registry: a second version, aliases moved over HTTP, followed by name;
  a changed definition gives 409 naming the input;
- drift: /v1/drift equals PSI/JS computed here from the reference bins and
  the vectors served; amounts x3 (the generator's shift) alert on amount;
- bad input: unknown model/version, missing and mistyped fields, malformed
  bodies, oversized batches.
"""
import json
import math
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = "/usr/bin/python3"


def config_text(ratio_expr="amount / card_txn.amount_avg_1h"):
    with open(os.path.join(ROOT, "examples/fraud/freshet.yaml")) as f:
        text = f.read()
    text = re.sub(r"\n  path: \./data[^\n]*", "\n  path: {store}", text)
    text = re.sub(r'listen: "[^"]*"', 'listen: "127.0.0.1:{port}"', text)
    text = text.replace("horizon: 4d", "horizon: 1h")
    text = text.replace("reload_ms: 1000", "reload_ms: 200")
    text = text.replace("max_depth: 6, eta: 0.1, rounds: 200", "max_depth: 5, eta: 0.2, rounds: 80")
    text = text.replace('"amount / card_txn.amount_avg_1h"', '"%s"' % ratio_expr)
    assert "{store}" in text and "{port}" in text and "horizon: 1h" in text
    return text


def jlines(out):
    return [json.loads(ln) for ln in out.splitlines() if ln.strip()]


def auc(y, p):
    pairs = sorted(zip(p, y))
    ranks = [0.0] * len(pairs)
    i = 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2.0 + 1
        i = j + 1
    pos = sum(1 for _, yy in pairs if yy == 1)
    neg = len(pairs) - pos
    s = sum(r for r, (_, yy) in zip(ranks, pairs) if yy == 1)
    return (s - pos * (pos + 1) / 2.0) / (pos * neg)


BASELINE = r"""
import json, sys, xgboost as xgb, numpy as np
rows = [json.loads(l) for l in open(sys.argv[1])]
rows.sort(key=lambda r: r["ts"])
cut = int(len(rows) * 0.8)
cs = sorted(set(r.get("country") or "" for r in rows))
def x(r):
    v = [r["amount"]] + [1.0 if (r.get("country") or "") == c else 0.0 for c in cs]
    return v
X = np.array([x(r) for r in rows], dtype=np.float32)
y = np.array([r["label"] for r in rows], dtype=np.float32)
d = xgb.DMatrix(X[:cut], label=y[:cut]); dv = xgb.DMatrix(X[cut:], label=y[cut:])
b = xgb.train({"objective": "binary:logistic", "max_depth": 5, "eta": 0.2, "tree_method": "hist",
               "seed": 0}, d, 80, evals=[(dv, "v")], early_stopping_rounds=20, verbose_eval=False)
p = b.predict(dv, iteration_range=(0, b.best_iteration + 1))
print(json.dumps({"p": [float(v) for v in p], "y": [float(v) for v in y[cut:]]}))
"""

PREDICT = r"""
import json, sys, xgboost as xgb, numpy as np
b = xgb.Booster(model_file=sys.argv[1])
X = np.array(json.load(open(sys.argv[2])), dtype=np.float32)
print(json.dumps([float(v) for v in b.predict(xgb.DMatrix(X, missing=np.nan, feature_names=b.feature_names))]))
"""


def as_float(v):
    if v is None:
        return float("nan")
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    return float(v)


def py_predict(model_path, rows, tmpdir):
    path = os.path.join(tmpdir, "x.json")
    with open(path, "w") as f:
        json.dump([[as_float(v) for v in r] for r in rows], f)   # null as NaN
    p = subprocess.run([PY, "-c", PREDICT, model_path, path], capture_output=True, timeout=300)
    H.expect(p.returncode == 0, "python xgboost: %s", p.stderr.decode()[-1500:])
    return json.loads(p.stdout)


# ---- drift, computed independently from the reference bins ------------------------------

def bin_of(col, v):
    nbins = len(col["counts"]) + 1 + (1 if col["kind"] == "values" else 0)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return nbins - 1                       # null
    v = as_float(v)
    if col["kind"] == "values":
        vals = col["values"]
        for i, x in enumerate(vals):
            if float(x) == v:
                return i
        return len(vals)                       # other
    edges = col["edges"]
    for i, e in enumerate(edges):
        if v <= e:
            return i
    return len(edges)


def ref_counts(col):
    c = list(col["counts"])
    if col["kind"] == "values":
        c.append(col["other"])
    c.append(col["null"])
    return c


def psi_js(ref, cur):
    rt, ct = float(sum(ref)), float(sum(cur))
    psi = 0.0
    js = 0.0
    for r, c in zip(ref, cur):
        pr, pc = r / rt, c / ct
        fr, fc = max(pr, 1e-4), max(pc, 1e-4)
        psi += (fc - fr) * math.log(fc / fr)
        m = (pr + pc) / 2
        if pr > 0:
            js += 0.5 * pr * math.log(pr / m)
        if pc > 0:
            js += 0.5 * pc * math.log(pc / m)
    return psi, math.sqrt(max(js, 0.0))


def check_drift(got, reference, served, inputs):
    """got: /v1/drift; reference: {name: col}; served: [(features dict, score)]."""
    bad = []
    H.expect(got["count"] == len(served), "drift count %r, served %d", got["count"], len(served))
    for name in inputs + ["score"]:
        col = reference[name]
        cur = [0] * len(ref_counts(col))
        for feats, score in served:
            cur[bin_of(col, score if name == "score" else feats[name])] += 1
        psi, js = psi_js(ref_counts(col), cur)
        g = got["score"] if name == "score" else got["inputs"][name]
        if abs(g["psi"] - psi) > 1e-9 * max(1, psi) or abs(g["js"] - js) > 1e-9:
            bad.append("%s: psi %r js %r, computed %r %r" % (name, g["psi"], g["js"], psi, js))
        want = "alert" if psi >= 0.25 else "warn" if psi >= 0.1 else "ok"
        if g["status"] != want:
            bad.append("%s: status %s, psi %r says %s" % (name, g["status"], psi, want))
    H.expect(not bad, "drift differs from the independent computation:\n  %s",
             "\n  ".join(bad[:10]))


def main():
    r = H.Runner("models", timeout_s=840)
    H.require_binary(r)
    now = H.now_ms()
    srv = H.Server(config_text(), name="models")
    d = srv.dir

    with r.case("history_generated"):
        rc, out, err = srv.cli(["generate", "--from", str(now - 86400000), "--until",
                                str(now - 600000), "--rate", "2", "--seed", "3",
                                "--label-delay", "1m..30m", "--to", "log"], timeout=300)
        H.expect(rc == 0, "generate: %d %s", rc, err[-1500:])

    train = {}
    with r.case("train_beats_request_fields"):
        rc, out, err = srv.cli(["train", "--model", "fraud", "--alias", "champion"], timeout=600)
        H.expect(rc == 0, "train: %d %s", rc, err[-2000:])
        train = json.loads(out.strip().splitlines()[-1])
        H.expect(train["version"] == 1 and train["alias"] == "champion" and train["inputs"] == 30,
                 "train: %r", train)
        auc_f = train["valid"]["auc_roc"]
        rc, out, err = srv.cli(["training-set", "--set", "fraud", "-o",
                                os.path.join(d, "rows.ndjson")], timeout=600)
        H.expect(rc == 0, "training-set: %s", err[-1500:])
        p = subprocess.run([PY, "-c", BASELINE, os.path.join(d, "rows.ndjson")],
                           capture_output=True, timeout=600)
        H.expect(p.returncode == 0, "baseline: %s", p.stderr.decode()[-1500:])
        base = json.loads(p.stdout)
        auc_b = auc(base["y"], base["p"])
        H.expect(auc_f >= 0.8 and auc_f > auc_b + 0.05,
                 "validation AUC-ROC %.4f (windowed features) vs %.4f (request fields only)",
                 auc_f, auc_b)
        print("  note: validation AUC-ROC %.4f with freshet's features, %.4f on request fields"
              % (auc_f, auc_b))

    model_path = os.path.join(d, "model.ubj")
    inputs = []
    reference = {}
    with r.case("registry_show_and_export"):
        rc, out, err = srv.cli(["models", "show", "fraud@champion", "--reference"])
        H.expect(rc == 0, "show: %s", err)
        shown = json.loads(out)
        inputs = [x["name"] for x in shown["inputs"]]
        reference = shown["reference"]
        H.expect(len(inputs) == 30 and inputs[-2:] == ["amount_ratio_1h", "foreign"] and
                 "card_txn:last_country_5m" not in inputs and "score" in reference,
                 "inputs %r", inputs)
        rc, out, err = srv.cli(["models", "export", "fraud", "-o", model_path])
        H.expect(rc == 0 and os.path.getsize(model_path) > 1000, "export: %s", err)
        rc, out, err = srv.cli(["models", "list"])
        H.expect(rc == 0 and jlines(out) == [{"model": "fraud", "versions": [1],
                                               "aliases": {"champion": 1}}], "list: %r", out)

    with r.case("server_start"):
        srv.start()
        H.wait_caught_up(srv.http, deadline_s=300)

    served = []   # every vector this server scored: (features, score)

    def score(spec, body, query=""):
        resp = srv.http.post("/v1/score/%s%s" % (spec, query), json.dumps(body))
        if resp.status == 200:
            js = resp.json if isinstance(resp.json, list) else [resp.json]
            for x in js:
                if "features" in x:
                    served.append((x["features"], x["score"]))
        return resp

    # live events, scored just before each is ingested
    rc, out, err = H.run_cli(["generate", "--count", "60", "--seed", "11", "--only",
                              "transactions", "--to", "-"])
    live = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    recorded = []
    with r.case("score_then_ingest"):
        H.expect(rc == 0 and len(live) == 60, "generate: %d %s", rc, err[-500:])
        t0 = H.now_ms()
        for ev in live:
            H.wait_caught_up(srv.http)
            ev["ts"] = H.now_ms()
            fields = {k: v for k, v in ev.items() if k != "ts"}
            resp = score("fraud", fields, "?as_of=%d" % ev["ts"])
            H.expect(resp.status == 200 and resp.json["version"] == 1 and
                     set(resp.json["timing_us"]) == {"features", "predict", "total"},
                     "score: %r", resp)
            recorded.append((ev, resp.json))
            resp = srv.http.post("/v1/events/transactions", json.dumps(ev))
            H.expect(resp.status == 200 and resp.json["accepted"] == 1, "ingest: %r", resp)

    with r.case("served_equals_training_rows_and_python"):
        H.wait_caught_up(srv.http)
        rc, out, err = srv.cli(["training-set", "--set", "fraud", "--from", str(t0),
                                "--cutoff", str(H.now_ms() + 86400000), "-o",
                                os.path.join(d, "live.ndjson")], timeout=300)
        H.expect(rc == 0, "training-set: %s", err[-1500:])
        rows = {}
        with open(os.path.join(d, "live.ndjson")) as f:
            for ln in f:
                row = json.loads(ln)
                rows[row["txn_id"]] = row
        bad = []
        vecs, want = [], []
        for ev, ans in recorded:
            row = rows.get(ev["txn_id"])
            if row is None:
                bad.append("no training row for %s" % ev["txn_id"])
                continue
            for name in inputs:
                sv, tv = ans["features"][name], row[name]
                if not (sv == tv or (sv is not None and tv is not None and
                                     float(sv) == float(tv))):
                    bad.append("%s %s: served %r, training row %r" % (ev["txn_id"], name, sv, tv))
            vecs.append([row[n] for n in inputs])
            want.append(ans["score"])
        H.expect(not bad, "%d differences:\n  %s", len(bad), "\n  ".join(bad[:10]))
        got = py_predict(model_path, vecs, d)
        diffs = [(g, w) for g, w in zip(got, want) if abs(g - w) > 1e-6]
        H.expect(not diffs, "python xgboost differs on %d rows: %r", len(diffs), diffs[:5])

    with r.case("consistency_clean"):
        time.sleep(0.6)   # the score log's writer
        rc, out, err = srv.cli(["consistency", "--model", "fraud", "--from", str(t0 - 1)],
                               timeout=300)
        H.expect(rc == 0, "consistency: %d %s", rc, err[-1500:])
        rep = json.loads(out)
        H.expect(rep["requests"] == len(recorded) and rep["mismatches"] == 0,
                 "consistency: %r", {k: rep[k] for k in ("requests", "mismatches", "examples")})

    with r.case("consistency_late_event"):
        ev = dict(recorded[-1][0])
        fields = {k: v for k, v in ev.items() if k != "ts"}
        H.wait_caught_up(srv.http)
        resp = score("fraud", fields)
        H.expect(resp.status == 200, "score: %r", resp)
        late = dict(ev, txn_id="late-1", ts=resp.json["as_of"] - 1)
        time.sleep(0.05)
        resp = srv.http.post("/v1/events/transactions", json.dumps(late))
        H.expect(resp.status == 200 and resp.json["accepted"] == 1, "late event: %r", resp)
        H.wait_caught_up(srv.http)
        time.sleep(0.6)
        rc, out, err = srv.cli(["consistency", "--model", "fraud", "--from", str(t0 - 1)],
                               timeout=300)
        rep = json.loads(out)
        H.expect(rc == 0 and rep["requests"] == len(recorded) + 1 and rep["mismatches"] >= 1 and
                 rep["mismatched_requests"] == 1 and
                 rep["inputs"]["card_txn:txn_count_5m"]["late_event"] == 1 and
                 all(x["reason"] == "late_event" for x in rep["examples"]),
                 "consistency: %r", rep)

    with r.case("drift_equals_independent_computation"):
        resp = srv.http.get("/v1/drift/fraud")
        H.expect(resp.status == 200, "drift: %r", resp)
        check_drift(resp.json, reference, served, inputs)
        rc, out, err = srv.cli(["drift", "--model", "fraud", "--from", str(t0 - 1)])
        H.expect(rc == 0, "drift cli: %s", err)
        off = json.loads(out)
        H.expect(off["count"] == len(served) and
                 abs(off["inputs"]["amount"]["psi"] - resp.json["inputs"]["amount"]["psi"]) < 1e-9,
                 "drift cli %r vs route %r", off["count"], resp.json["count"])

    with r.case("errors"):
        ok = {"card_id": "c1", "amount": 3.5, "merchant_id": "m1", "country": "US", "txn_id": "e"}
        cases = [
            ("nope", ok, 404, "unknown_model"),
            ("fraud@7", ok, 404, "unknown_version"),
            ("fraud@nosuch", ok, 404, "unknown_version"),
            ("fraud", {"amount": 3.5}, 422, "bad_request_fields"),
            ("fraud", dict(ok, amount="x"), 422, "bad_request_fields"),
            ("fraud", dict(ok, card_id=""), 422, "bad_request_fields"),
            ("fraud", [ok] * 1001, 413, "batch_too_large"),
            ("fraud", [], 400, "bad_request"),
            ("fraud", 42, 400, "bad_request"),
        ]
        for spec, body, status, code in cases:
            resp = srv.http.post("/v1/score/" + spec, json.dumps(body))
            H.expect(resp.status == status and H.is_error_shape(resp) and
                     resp.json["error"] == code,
                     "%s %s: %r, expected %d %s", spec, json.dumps(body)[:60], resp, status, code)
        resp = srv.http.post("/v1/score/fraud", "{not json")
        H.expect(resp.status == 400 and resp.json["error"] == "malformed_json", "%r", resp)
        resp = srv.http.get("/v1/score/fraud")
        H.expect(resp.status == 405 and resp.headers.get("allow") == "POST", "%r", resp)
        resp = score("fraud", [ok, dict(ok, card_id="c2"), dict(ok, country=None)],
                     "?features=false")
        H.expect(resp.status == 200 and isinstance(resp.json, list) and len(resp.json) == 3 and
                 all("features" not in x for x in resp.json), "batch: %r", resp)

    with r.case("second_version_and_alias_moves"):
        rc, out, err = srv.cli(["train", "--model", "fraud"], timeout=600)
        H.expect(rc == 0 and json.loads(out)["version"] == 2, "train 2: %s %s", out, err[-500:])
        ok = {"card_id": "c1", "amount": 3.5, "merchant_id": "m1", "country": "US"}
        H.expect(score("fraud", ok).json["version"] == 1, "champion still 1")
        H.expect(score("fraud@2", ok).json["version"] == 2, "fraud@2")
        resp = srv.http.request("PUT", "/v1/models/fraud/aliases/champion",
                                json.dumps({"version": 2}))
        H.expect(resp.status == 200 and resp.json["version"] == 2, "PUT alias: %r", resp)
        H.expect(score("fraud", ok).json["version"] == 2, "champion moved")
        resp = srv.http.request("PUT", "/v1/models/fraud/aliases/champion",
                                json.dumps({"version": 9}))
        H.expect(resp.status == 404 and resp.json["error"] == "unknown_version", "%r", resp)
        resp = srv.http.get("/v1/models")
        H.expect(resp.status == 200 and resp.json["models"] == [
            {"name": "fraud", "versions": [1, 2], "aliases": {"champion": 2}}], "%r", resp)
        resp = srv.http.get("/v1/models/fraud")
        H.expect(resp.status == 200 and [v["version"] for v in resp.json["versions"]] == [1, 2] and
                 "valid" in resp.json["versions"][0]["meta"], "%r", resp.text(400))
        # another process on the store follows within models.reload_ms
        rc, out, err = srv.cli(["models", "alias", "fraud", "champion", "1"])
        H.expect(rc == 0, "alias cli: %s", err)
        deadline = time.time() + 10
        while score("fraud", ok).json["version"] != 1 and time.time() < deadline:
            time.sleep(0.05)
        H.expect(score("fraud", ok).json["version"] == 1, "the alias move was not followed")

    with r.case("shift_alerts_on_amount"):
        rc, out, err = H.run_cli(["generate", "--count", "400", "--seed", "12", "--only",
                                  "transactions", "--shift-at", "0", "--to", "-"])
        shifted = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
        before = len(served)
        for i in range(0, len(shifted), 100):
            resp = score("fraud@1", [{k: v for k, v in e.items() if k != "ts"}
                                     for e in shifted[i:i + 100]])
            H.expect(resp.status == 200, "%r", resp)
        H.expect(len(served) == before + len(shifted), "served %d", len(served) - before)
        resp = srv.http.get("/v1/drift/fraud@1")
        H.expect(resp.status == 200, "%r", resp)
        H.expect(resp.json["inputs"]["amount"]["status"] == "alert",
                 "amount x3 is not an alert: %r", resp.json["inputs"]["amount"])

    srv.stop()
    with r.case("changed_definition_refused"):
        srv2 = H.Server(config_text("amount / card_txn.amount_avg_24h"), name="models2",
                        port=srv.port)
        srv2.store = srv.store
        with open(srv2.config) as f:
            text = f.read()
        with open(srv2.config, "w") as f:
            f.write(text.replace(srv2.dir + "/data", srv.store))
        srv2.start()
        resp = srv2.http.post("/v1/score/fraud", json.dumps(
            {"card_id": "c1", "amount": 1.0, "merchant_id": "m1"}))
        H.expect(resp.status == 409 and resp.json["error"] == "model_features_changed" and
                 "amount_ratio_1h" in resp.json["detail"] and
                 "foreign" not in resp.json["detail"], "%r", resp)
        H.check_clean_stop(r, srv2, "changed_definition_clean_stop")
    r.finish()


if __name__ == "__main__":
    main()
