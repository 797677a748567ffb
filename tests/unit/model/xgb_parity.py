#!/usr/bin/python3
"""Python xgboost's side of the model parity tests (xgb_test.c).

  xgb_parity.py check MODEL ROWS NCOL PREDS
      Loads MODEL (UBJSON written by freshet) in Python's xgboost, predicts
      ROWS (float32 row-major, NCOL per row, NaN missing) and compares with
      PREDS (float32, freshet's scores) to 1e-6.  Exit 0 when all agree.
  xgb_parity.py train MODEL ROWS NCOL PREDS
      Trains in Python with early stopping that keeps every round (the
      model carries best_iteration), saves MODEL, and writes the scores of
      ROWS with iteration_range=(0, best_iteration + 1) to PREDS.

Prints one line saying what it compared (or why it failed).
"""
import sys

import numpy as np
import xgboost as xgb

TOL = 1e-6


def load_rows(path, ncol):
    rows = np.fromfile(path, dtype="<f4")
    return rows.reshape(-1, ncol)


def check(model, rows_path, ncol, preds_path):
    x = load_rows(rows_path, ncol)
    want = np.fromfile(preds_path, dtype="<f4")
    with open(model, "rb") as f:
        raw = bytearray(f.read())
    bst = xgb.Booster()
    bst.load_model(raw)
    best = bst.attr("best_iteration")
    end = int(best) + 1 if best is not None else bst.num_boosted_rounds()
    dm = xgb.DMatrix(x, missing=np.nan, feature_names=bst.feature_names)
    got = {
        "predict(iteration_range)": bst.predict(dm, iteration_range=(0, end)),
        "inplace_predict(iteration_range)": bst.inplace_predict(x, iteration_range=(0, end)),
    }
    if best is not None and end == bst.num_boosted_rounds():
        # the model was cut at its best round: the defaults agree too
        got["predict()"] = bst.predict(dm)
    # the file as `freshet models export` will write it
    from_file = xgb.Booster(model_file=model)
    got["file, predict(iteration_range)"] = from_file.predict(dm, iteration_range=(0, end))
    worst = 0.0
    for name, p in got.items():
        p = np.asarray(p, dtype=np.float64).reshape(-1)
        if p.shape != want.shape:
            print(f"{name}: {p.shape[0]} scores, freshet gave {want.shape[0]}")
            return 1
        d = float(np.max(np.abs(p - want.astype(np.float64)))) if p.size else 0.0
        if not d <= TOL:
            i = int(np.argmax(np.abs(p - want)))
            print(f"{name}: row {i} python {p[i]!r} freshet {want[i]!r} (max diff {d})")
            return 1
        worst = max(worst, d)
    print(f"{len(want)} rows, {end} rounds, {', '.join(got)}: max diff {worst:.3g}")
    return 0


def train(model, rows_path, ncol, preds_path):
    rng = np.random.default_rng(7)
    n = 6000
    x = rng.random((n, ncol), dtype=np.float32)
    x[rng.random((n, ncol)) < 0.1] = np.nan
    z = 3 * np.nan_to_num(x[:, 0], nan=0.5) - 2 * np.nan_to_num(x[:, 1], nan=0.2)
    y = (rng.random(n) < 1 / (1 + np.exp(-(z - 0.5) * 3))).astype(np.float32)
    dtr = xgb.DMatrix(x[:4000], y[:4000], missing=np.nan)
    dva = xgb.DMatrix(x[4000:], y[4000:], missing=np.nan)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 5, "eta": 0.5,
                     "tree_method": "hist", "seed": 0}, dtr, num_boost_round=200,
                    evals=[(dva, "valid")], early_stopping_rounds=5, verbose_eval=False)
    if bst.best_iteration + 1 >= bst.num_boosted_rounds():
        print("early stopping did not leave extra rounds")
        return 1
    bst.save_model(model)
    rows = load_rows(rows_path, ncol)
    p = bst.predict(xgb.DMatrix(rows, missing=np.nan),
                    iteration_range=(0, bst.best_iteration + 1))
    p.astype("<f4").tofile(preds_path)
    print(f"trained {bst.num_boosted_rounds()} rounds, best {bst.best_iteration}")
    return 0


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in ("check", "train"):
        print(__doc__)
        return 2
    f = check if sys.argv[1] == "check" else train
    return f(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])


if __name__ == "__main__":
    sys.exit(main())
