#!/usr/bin/python3
"""Writes fixtures/metrics.txt: label and score vectors with the metrics
scikit-learn computes for them (roc_auc_score, average_precision_score,
log_loss), for metrics_test.c.  Run from this directory; the output is
committed, so the tests need no Python.

Scores are float32 values (what xgboost predicts) written exactly, so the
C side reads the very numbers scikit-learn saw.
"""
import numpy as np
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score


def case(out, name, y, p):
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float32).astype(np.float64)
    out.write(f"case {name} {len(y)}\n")
    out.write("y " + " ".join(str(int(v)) for v in y) + "\n")
    out.write("p " + " ".join(repr(float(v)) for v in p) + "\n")
    out.write(f"auc_roc {roc_auc_score(y, p)!r}\n")
    out.write(f"auc_pr {average_precision_score(y, p)!r}\n")
    out.write(f"log_loss {log_loss(y, p, eps=1e-15, labels=[0, 1])!r}\n")


def main():
    rng = np.random.default_rng(20261122)
    with open("fixtures/metrics.txt", "w") as out:
        out.write("# written by make_metric_fixtures.py (scikit-learn "
                  + __import__("sklearn").__version__ + ")\n")
        case(out, "sklearn_doc", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        case(out, "ties_everywhere", [0, 1, 1, 0, 1, 0, 0, 1],
             [0.5, 0.5, 0.25, 0.25, 0.75, 0.75, 0.125, 0.875])
        case(out, "extremes", [1, 0, 1, 0, 1], [1.0, 0.0, 0.0, 1.0, 0.5])
        # random scores with a signal, rounded to make ties
        n = 1000
        y = (rng.random(n) < 0.2).astype(int)
        p = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
        case(out, "random_ties", y, np.round(p, 2))
        y = (rng.random(n) < 0.03).astype(int)
        p = 1 / (1 + np.exp(-rng.normal(-3 + 2 * y, 1.0)))
        case(out, "rare_positives", y, p)


if __name__ == "__main__":
    main()
