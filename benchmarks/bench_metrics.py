"""Time sveval.metrics.detection on 1.2 M synthetic trials against the usual ways of computing the same
numbers.

    python benchmarks/bench_metrics.py [--trials 1200000] [--seed 0]

Scores are cosine-like (nontarget N(0, 0.1), target N(0.45, 0.12), EER around 1.5 %) printed with "%.5f"
as WeSpeaker writes them, so there are many ties. sveval timings are the best of 3 runs. Baselines, in the
same run:
  * WeSpeaker (numpy): score_metrics.compute_pmiss_pfa_rbst + compute_eer + compute_c_norm, re-sorting
    for every number as its per-call helpers do; best of 3.
  * reference scripts (pure Python, run once): Kaldi compute-eer's loop, Kaldi compute_min_dcf.py (once
    per operating point, as the script is run), BOSARIS rocch (pavx) + rocch2eer.
Every baseline number is checked against sveval's before its time is printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from operator import itemgetter
from pathlib import Path

import numpy as np

try:
    from sveval.metrics import detection as metrics
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sveval.metrics import detection as metrics

OPERATING_POINTS = [(0.01, 1.0, 1.0), (0.05, 1.0, 1.0), (0.001, 1.0, 1.0)]


def best_of(n, fn):
    best, out = float("inf"), None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


# ---- sveval -------------------------------------------------------------------------------------


def sveval_suite(scores, labels):
    """What `sveval metrics --eer all --dcf ... x3` computes: one sort, every definition."""
    summary = metrics.summarize(scores, labels, metrics.EER_DEFINITIONS, OPERATING_POINTS)
    return {e.definition: e.value for e in summary.eers}, [d.min_dcf for d in summary.dcfs]


# ---- WeSpeaker score_metrics.py style (numpy, one sort per call) -------------------------------


def ws_pmiss_pfa(scores, labels):
    sorted_ndx = np.argsort(scores)
    labels = labels[sorted_ndx]
    tgt = (labels == 1).astype("f8")
    imp = (labels == 0).astype("f8")
    return np.cumsum(tgt) / np.sum(tgt), 1 - np.cumsum(imp) / np.sum(imp)


def ws_eer(scores, labels):
    fnr, fpr = ws_pmiss_pfa(scores, labels)
    diff = fnr - fpr
    x1 = np.flatnonzero(diff >= 0)[0]
    x2 = np.flatnonzero(diff < 0)[-1]
    a = (fnr[x1] - fpr[x1]) / (fpr[x2] - fpr[x1] - (fnr[x2] - fnr[x1]))
    return fnr[x1] + a * (fnr[x2] - fnr[x1]), np.sort(scores)[x1]


def ws_min_dcf(scores, labels, p_target, c_miss, c_fa):
    fnr, fpr = ws_pmiss_pfa(scores, labels)
    c_det = min(c_miss * fnr * p_target + c_fa * fpr * (1 - p_target))
    return c_det / min(c_miss * p_target, c_fa * (1 - p_target))


def wespeaker_suite(scores, labels):
    return ws_eer(scores, labels)[0], [ws_min_dcf(scores, labels, *op) for op in OPERATING_POINTS]


# ---- reference scripts (pure Python) ----------------------------------------------------------


def kaldi_eer(scores, labels):
    tar = sorted(scores[labels].tolist())
    non = sorted(scores[~labels].tolist())
    p, n_t, n_n = 0, len(tar), len(non)
    while p + 1 < n_t:
        q = max(n_n - 1 - int(n_n * p * 1.0 / n_t), 0)
        if non[q] < tar[p]:
            break
        p += 1
    return p * 1.0 / n_t


def kaldi_min_dcf(scores, labels, p_target, c_miss, c_fa):
    idx, thresholds = zip(*sorted(enumerate(scores.tolist()), key=itemgetter(1)))
    lab = labels.astype(int).tolist()
    lab = [lab[i] for i in idx]
    fnrs, fprs, ct, cn = [], [], 0, 0
    for v in lab:
        ct += v
        cn += 1 - v
        fnrs.append(ct)
        fprs.append(cn)
    n_t = sum(lab)
    n_n = len(lab) - n_t
    fnrs = [x / float(n_t) for x in fnrs]
    fprs = [1 - x / float(n_n) for x in fprs]
    best = float("inf")
    for fnr, fpr in zip(fnrs, fprs):
        c_det = c_miss * fnr * p_target + c_fa * fpr * (1 - p_target)
        if c_det < best:
            best = c_det
    return best / min(c_miss * p_target, c_fa * (1 - p_target))


def bosaris_eer(scores, labels):
    tar, non = scores[labels], scores[~labels]
    nt, nn = len(tar), len(non)
    pideal = np.concatenate((np.ones(nt), np.zeros(nn)))[
        np.argsort(np.concatenate((tar, non)), kind="mergesort")
    ].tolist()
    # pavx: pool adjacent violators, keeping only block widths and means
    width, mean = [], []
    for v in pideal:
        width.append(1)
        mean.append(v)
        while len(mean) > 1 and mean[-2] >= mean[-1]:
            w = width[-2] + width[-1]
            mean[-2] = mean[-2] + (width[-1] / w) * (mean[-1] - mean[-2])
            width[-2] = w
            width.pop()
            mean.pop()
    cum = np.concatenate(([0.0], np.cumsum(pideal)))
    left = np.concatenate(([0], np.cumsum(width))).astype(int)
    pmiss = cum[left] / nt
    pfa = (nn - (left - cum[left])) / nn
    eer = 0.0
    for i in range(len(pfa) - 1):
        xy = np.array([[pfa[i], pmiss[i]], [pfa[i + 1], pmiss[i + 1]]])
        if min(abs(pfa[i] - pfa[i + 1]), abs(pmiss[i] - pmiss[i + 1])) > 0:
            eer = max(eer, 1 / np.sum(np.linalg.solve(xy, np.ones(2))))
    return eer


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1_200_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    labels = rng.random(args.trials) < 0.5
    scores = np.where(labels, rng.normal(0.45, 0.12, args.trials), rng.normal(0.0, 0.1, args.trials))
    scores = np.round(scores, 5)
    print(f"{args.trials:,} trials ({labels.sum():,} target), {len(np.unique(scores)):,} distinct scores")

    op = OPERATING_POINTS[0]
    t_eval, m = best_of(3, lambda: metrics.evaluate(scores, labels, *op))
    t_ws2, _ = best_of(3, lambda: (ws_eer(scores, labels), ws_min_dcf(scores, labels, *op)))
    t_suite, (eers, dcfs) = best_of(3, lambda: sveval_suite(scores, labels))
    t_ws, (ws_e, ws_d) = best_of(3, lambda: wespeaker_suite(scores, labels))
    # WeSpeaker's default argsort is not stable: inside groups of tied scores its trial order (and so, in
    # the last digits, its numbers) can differ from the stable order both Kaldi and sveval use.
    assert abs(ws_e - eers["nist"]) < 1e-4 and np.allclose(ws_d, dcfs, atol=1e-4)
    assert (m.eer, m.min_dcf) == (eers["nist"], dcfs[0])

    t_k_eer, k_eer = best_of(1, lambda: kaldi_eer(scores, labels))
    t_b, b_eer = best_of(1, lambda: bosaris_eer(scores, labels))
    t_k_dcf, k_dcf = best_of(1, lambda: kaldi_min_dcf(scores, labels, *op))
    t_dcf1, dcf1 = best_of(3, lambda: metrics.min_dcf(scores, labels, *op, sweep="per-trial"))
    assert k_eer == eers["kaldi"] and k_dcf == dcf1.min_dcf and abs(b_eer - eers["rocch"]) < 1e-12
    t_base = t_ws + t_k_eer + t_b

    print(
        f"EER nist {100 * eers['nist']:.4f} %  kaldi {100 * eers['kaldi']:.4f} %  "
        f"rocch {100 * eers['rocch']:.4f} %  minDCF(0.01 / 0.05 / 0.001) "
        + " / ".join(f"{d:.4f}" for d in dcfs)
    )
    print(
        f"WeSpeaker numpy (unstable argsort) differs by: EER {ws_e - eers['nist']:.2e}, minDCF "
        + " / ".join(f"{a - b:.2e}" for a, b in zip(ws_d, dcfs))
    )
    rows = [
        ("NIST EER + minDCF(0.01)", "sveval evaluate", t_eval, "WeSpeaker numpy, sort per metric", t_ws2),
        (
            "3 EERs + minDCF x3",
            "sveval summarize",
            t_suite,
            "WeSpeaker numpy + Kaldi EER loop + BOSARIS",
            t_base,
        ),
        (
            "minDCF(0.01), Kaldi's definition",
            "sveval min_dcf per-trial",
            t_dcf1,
            "compute_min_dcf.py (Python)",
            t_k_dcf,
        ),
    ]
    print(f"{'task':34s} {'sveval':24s} {'s':>7s}   {'baseline':44s} {'s':>7s}  ratio")
    for task, ours, t_ours, base, t_b2 in rows:
        print(f"{task:34s} {ours:24s} {t_ours:7.3f}   {base:44s} {t_b2:7.3f}  {t_b2 / t_ours:5.1f}x")
    print(
        f"(baseline parts: WeSpeaker numpy NIST EER + minDCF x3 {t_ws:.3f} s, Kaldi compute-eer loop "
        f"{t_k_eer:.3f} s, BOSARIS rocch + rocch2eer {t_b:.3f} s; sveval times are the best of 3)"
    )


if __name__ == "__main__":
    main()
