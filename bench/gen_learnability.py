#!/usr/bin/python3
"""How learnable `freshet generate`'s fraud labels are, from what.

Generates a seeded history with chargebacks, computes for every transaction
the card_txn features of examples/fraud/freshet.yaml over the transactions
before it (count, sum, avg, max, stddev, distinct merchants, last country,
since_last over 5m / 1h / 24h; plain sliding windows, a close stand-in for
the tiled ones) plus amount / avg_1h and country != last_country_24h,
labels each transaction 1 when a chargeback names it, and trains XGBoost
(Debian's python3-xgboost; hist, depth 6, eta 0.1, early stopping) on the
oldest 80%, validating on the newest 20%:

  request fields only (amount, country)   vs   windowed features + request fields

Prints AUC-ROC and AUC-PR of both.  A figure, not a test.

usage: /usr/bin/python3 bench/gen_learnability.py [--freshet BIN] [--hours H] [--rate R]
                                                  [--seed S] [-- extra generate options]
"""
import argparse
import collections
import json
import math
import subprocess
import sys
import time

import numpy as np
import xgboost as xgb
from sklearn.metrics import average_precision_score, roc_auc_score

WINDOWS = (("5m", 300000), ("1h", 3600000), ("24h", 86400000))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--freshet", default="build/freshet")
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--rate", type=float, default=5)
    ap.add_argument("--seed", default="5")
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    t0 = 1700000000000
    until = t0 + int(a.hours * 3600000)
    started = time.time()
    # labels come 1 s to 10 min later; ten more minutes let the last ones mature
    out = subprocess.run([a.freshet, "generate", "--from", str(t0), "--until", str(until + 600000),
                          "--rate", str(a.rate), "--seed", a.seed, "--label-delay", "1s..10m",
                          "--to", "-"] + a.extra,
                         capture_output=True, text=True, check=True).stdout
    txs, charged = [], set()
    for ln in out.splitlines():
        e = json.loads(ln)
        if "card_id" in e:
            if e["ts"] < until:
                txs.append(e)
        else:
            charged.add(e["txn_id"])
    print("history: %d transactions over %.0f h, %d chargebacks (%.1f s)" %
          (len(txs), a.hours, len(charged), time.time() - started))

    codes = {}

    def code(c):
        return codes.setdefault(c, len(codes)) if c else math.nan

    past = collections.defaultdict(collections.deque)  # card -> (ts, amount, merchant, country)
    rows, req, y = [], [], []
    for e in txs:
        t, h = e["ts"], past[e["card_id"]]
        while h and h[0][0] < t - 86400000:
            h.popleft()
        f = []
        for name, w in WINDOWS:
            n = s = s2 = 0
            mx = -math.inf
            merchants = set()
            newest = None
            last_country = None
            for x in reversed(h):
                if x[0] <= t - w:
                    break
                n += 1
                s += x[1]
                s2 += x[1] * x[1]
                mx = max(mx, x[1])
                merchants.add(x[2])
                if newest is None:
                    newest = x[0]
                    last_country = x[3]
            avg = s / n if n else math.nan
            std = math.sqrt(max(0.0, s2 / n - avg * avg)) if n else math.nan
            f += [n, s, avg, mx if n else math.nan, std, len(merchants),
                  t - newest if n else math.nan, code(last_country)]
            if name == "1h":
                f.append(e["amount"] / avg if n else math.nan)
            if name == "24h":
                f.append(float(bool(last_country and e.get("country") and
                                    last_country != e["country"])))
        r = [e["amount"], code(e.get("country"))]
        rows.append(f + r)
        req.append(r)
        y.append(1 if e["txn_id"] in charged else 0)
        h.append((t, e["amount"], e["merchant_id"], e.get("country")))
    X, R, Y = np.array(rows, float), np.array(req, float), np.array(y)
    cut = int(len(Y) * 0.8)
    print("rows %d, label rate %.4f; train %d, validate %d (newest)" %
          (len(Y), Y.mean(), cut, len(Y) - cut))
    for name, M in (("request fields only", R), ("windowed + request", X)):
        p = dict(objective="binary:logistic", max_depth=6, eta=0.1, tree_method="hist",
                 eval_metric="auc", nthread=2)
        dt = xgb.DMatrix(M[:cut], label=Y[:cut])
        dv = xgb.DMatrix(M[cut:], label=Y[cut:])
        b = xgb.train(p, dt, 200, evals=[(dv, "v")], early_stopping_rounds=20, verbose_eval=False)
        pr = b.predict(dv, iteration_range=(0, b.best_iteration + 1))
        print("%-22s AUC-ROC %.4f  AUC-PR %.4f  (%d inputs)" %
              (name, roc_auc_score(Y[cut:], pr), average_precision_score(Y[cut:], pr), M.shape[1]))
    print("total %.1f s" % (time.time() - started))


if __name__ == "__main__":
    sys.exit(main())
