"""The ROC convex hull (ROCCH) behind ``sveval.metrics.detection.eer(definition="rocch")``: pure numpy, exact.

The hull is computed on integer counts (misses, false alarms), so every orientation test is exact; only
the final crossing with p_miss = p_fa is a floating-point division.
"""

from __future__ import annotations

import numpy as np


def lower_hull(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Indices of the vertices of the convex hull facing the origin, for integer points with xs
    non-increasing and ys non-decreasing (an ROC walked from "accept all" to "reject all"). The first and
    last points are always vertices; points in the middle of a hull edge are not."""

    def turn(a, b, c):  # > 0 iff b lies strictly below the chord a-c (so b may be a vertex)
        return (xs[c] - xs[a]) * (ys[b] - ys[a]) - (ys[c] - ys[a]) * (xs[b] - xs[a])

    idx = np.arange(xs.shape[0])
    # Drop, all at once, every point on or above the chord of its two neighbours (such a point is never a
    # vertex), and repeat until none is left: the chain is then locally, hence globally, convex. ROC data
    # converge in ~10-25 passes; a long cascade falls back to Andrew's monotone chain on what remains.
    for _ in range(48):
        keep = np.concatenate(([True], turn(idx[:-2], idx[1:-1], idx[2:]) > 0, [True]))
        if keep.all():
            return idx
        idx = idx[keep]
    xs, ys = xs.tolist(), ys.tolist()  # Python ints from here on (`turn` sees the rebound names)
    hull: list[int] = []
    for k in idx.tolist():
        while len(hull) >= 2 and turn(hull[-2], hull[-1], k) <= 0:
            hull.pop()
        hull.append(k)
    return np.asarray(hull)


def rocch_eer(
    n_tar_le: np.ndarray, n_non_le: np.ndarray, n_target: int, n_nontarget: int
) -> tuple[float, int]:
    """ROCCH EER (BOSARIS ``rocch`` + ``rocch2eer``) from the tie-aware sweep's cumulative counts.

    Returns (EER, i): i indexes the sweep point at the upper end (p_miss >= p_fa) of the hull edge that
    crosses p_miss = p_fa. The ROC gets the "accept everything" point (p_miss=0, p_fa=1) in front, as in
    BOSARIS rocch, whose PAV with targets first among tied scores gives the same hull.
    """
    n_t, n_n = n_target, n_nontarget
    miss = np.concatenate(([0], n_tar_le))
    fa = np.concatenate(([n_n], n_n - n_non_le))
    hull = lower_hull(fa, miss)
    # h = first vertex with p_miss >= p_fa (the last vertex, (p_miss, p_fa) = (1, 0), always is; the first,
    # (0, 1), never is), l = the vertex before it.
    k = int(np.argmax(miss[hull] * n_n >= fa[hull] * n_t))
    lo, h = hull[k - 1], hull[k]
    xl, yl, xh, yh = fa[lo] / n_n, miss[lo] / n_t, fa[h] / n_n, miss[h] / n_t
    # where the line through l and h meets p_miss = p_fa; the denominator is > 0 because xl > yl, yh >= xh.
    # It equals BOSARIS rocch2eer's max over hull edges of 1 / sum(solve([[x0, y0], [x1, y1]], [1, 1])).
    return float((xl * yh - xh * yl) / ((xl - yl) + (yh - xh))), int(h - 1)
