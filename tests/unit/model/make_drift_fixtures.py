#!/usr/bin/python3
"""Writes fixtures/drift.txt for drift_test.c: the reference bins numpy
gives for a training sample, and the PSI and Jensen-Shannon distance
(scipy) of a live sample against them.

Both samples come from a 64-bit LCG that drift_test.c runs too, turned
into float32 values with + and * only, so C and Python see identical
inputs without sharing a data file.  Binning here is written
independently of src/model/drift.c: numpy.quantile (linear) for the
edges, numpy.unique to collapse them, numpy.searchsorted(side="left")
for right-closed bins.  Run from this directory; the output is committed.
"""
import numpy as np
from scipy.spatial.distance import jensenshannon

MASK = (1 << 64) - 1


class Lcg:
    def __init__(self, seed):
        self.s = seed

    def u(self):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) & MASK
        return (self.s >> 11) / 9007199254740992.0


NAN = float("nan")


def sample(seed, n, live):
    """Rows of 4 inputs and a score; live=True shifts some columns."""
    g = Lcg(seed)
    rows = []
    for _ in range(n):
        u = [g.u() for _ in range(8)]
        c0 = (u[0] + u[1] + u[2]) * 100.0 + (30.0 if live else 0.0)
        c1 = NAN if u[3] < 0.1 else (1.0 if u[4] < (0.6 if live else 0.3) else 0.0)
        c2 = 0.0 if u[5] < 0.6 else u[6] * 50.0
        c3 = float(int(u[7] * 4)) if not (live and u[7] > 0.9) else 7.0
        score = u[6] * u[7]
        rows.append([np.float32(v) for v in (c0, c1, c2, c3, score)])
    return np.array(rows, dtype=np.float32).astype(np.float64)


def column(ref, cur):
    vals = ref[~np.isnan(ref)]
    distinct = np.unique(vals)
    if len(distinct) <= 10:
        kind, points = "values", distinct
        def binof(v):
            if np.isnan(v):
                return len(points) + 1
            hit = np.nonzero(points == v)[0]
            return int(hit[0]) if len(hit) else len(points)
    else:
        kind = "numeric"
        edges = np.quantile(vals, [i / 10 for i in range(1, 10)])
        points = np.unique(edges[np.isfinite(edges)])
        def binof(v):
            if np.isnan(v):
                return len(points) + 1
            return int(np.searchsorted(points, v, side="left"))
    nb = len(points) + 2
    rc = np.bincount([binof(v) for v in ref], minlength=nb)
    cc = np.bincount([binof(v) for v in cur], minlength=nb)
    r, c = rc / rc.sum(), cc / cc.sum()
    rf, cf = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
    psi = float(np.sum((cf - rf) * np.log(cf / rf)))
    js = float(jensenshannon(r, c))
    return kind, points, rc, cc, psi, js


def main():
    ref = sample(11, 5000, False)
    cur = sample(12, 3000, True)
    same = sample(13, 3000, False)
    with open("fixtures/drift.txt", "w") as out:
        out.write("# written by make_drift_fixtures.py (numpy " + np.__version__ + ")\n")
        for name, live in (("shifted", cur), ("unshifted", same)):
            for j in range(ref.shape[1]):
                kind, points, rc, cc, psi, js = column(ref[:, j], live[:, j])
                out.write(f"{name} {j} {kind} {len(points)}")
                out.write("".join(" " + repr(float(p)) for p in points) + "\n")
                out.write("ref" + "".join(f" {int(k)}" for k in rc) + "\n")
                out.write("cur" + "".join(f" {int(k)}" for k in cc) + "\n")
                out.write(f"psi {psi!r} js {js!r}\n")


if __name__ == "__main__":
    main()
