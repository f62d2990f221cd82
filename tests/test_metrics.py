"""Tests of sveval.metrics.detection against hand-derived cases and independent, deliberately naive oracles.

The oracles below are literal transcriptions of the reference tools (loops and all), not calls into the
code under test: Kaldi's compute_min_dcf.py and compute-eer.cc, WeSpeaker's score_metrics.py (with a stable
sort), BOSARIS/pybosaris rocch + pavx + rocch2eer, and per-threshold counting.
"""

from __future__ import annotations

import math
from operator import itemgetter

import numpy as np
import pytest
from conftest import REAL_SCORES, shared

from sveval.metrics.detection import (
    EER_DEFINITIONS,
    SWEEPS,
    Dcf,
    DetCurve,
    Eer,
    Metrics,
    SortedScores,
    cllr,
    det_curve,
    eer,
    evaluate,
    min_dcf,
    summarize,
)

OPERATING_POINTS = [(0.01, 1.0, 1.0), (0.05, 1.0, 1.0), (0.001, 1.0, 1.0), (0.01, 10.0, 1.0), (0.5, 1.0, 1.0)]


# ------------------------------------------------------------------------------------------------
# oracles


def kaldi_compute_error_rates(scores, labels):
    """Kaldi sid/compute_min_dcf.py ComputeErrorRates, transcribed (Python's sorted is stable)."""
    sorted_indexes, thresholds = zip(
        *sorted([(index, threshold) for index, threshold in enumerate(scores)], key=itemgetter(1))
    )
    labels = [labels[i] for i in sorted_indexes]
    fnrs = []
    fprs = []
    for i in range(0, len(labels)):
        if i == 0:
            fnrs.append(labels[i])
            fprs.append(1 - labels[i])
        else:
            fnrs.append(fnrs[i - 1] + labels[i])
            fprs.append(fprs[i - 1] + 1 - labels[i])
    fnrs_norm = sum(labels)
    fprs_norm = len(labels) - fnrs_norm
    fnrs = [x / float(fnrs_norm) for x in fnrs]
    fprs = [1 - x / float(fprs_norm) for x in fprs]
    return fnrs, fprs, thresholds


def kaldi_compute_min_dcf(fnrs, fprs, thresholds, p_target, c_miss, c_fa):
    """Kaldi compute_min_dcf.py ComputeMinDcf, transcribed."""
    min_c_det = float("inf")
    min_c_det_threshold = thresholds[0]
    for i in range(0, len(fnrs)):
        c_det = c_miss * fnrs[i] * p_target + c_fa * fprs[i] * (1 - p_target)
        if c_det < min_c_det:
            min_c_det = c_det
            min_c_det_threshold = thresholds[i]
    c_def = min(c_miss * p_target, c_fa * (1 - p_target))
    min_dcf = min_c_det / c_def
    return min_dcf, min_c_det_threshold


def min_dcf_oracle(fnrs, fprs, thresholds, p_target, c_miss, c_fa):
    """Kaldi's ComputeMinDcf plus the "accept all" point (p_miss 0, p_fa 1) that it lacks."""
    value, threshold = kaldi_compute_min_dcf(fnrs, fprs, thresholds, p_target, c_miss, c_fa)
    accept_all = c_fa * (1 - p_target) / min(c_miss * p_target, c_fa * (1 - p_target))
    return (accept_all, float("-inf")) if accept_all < value else (value, threshold)


def kaldi_compute_eer(target_scores, nontarget_scores):
    """Kaldi src/ivectorbin/compute-eer.cc ComputeEer, transcribed line by line (in float64)."""
    target_scores = sorted(target_scores)
    nontarget_scores = sorted(nontarget_scores)
    target_position = 0
    target_size = len(target_scores)
    while target_position + 1 < target_size:
        nontarget_size = len(nontarget_scores)
        nontarget_n = int(nontarget_size * target_position * 1.0 / target_size)  # ssize_t truncation
        nontarget_position = nontarget_size - 1 - nontarget_n
        if nontarget_position < 0:
            nontarget_position = 0
        if nontarget_scores[nontarget_position] < target_scores[target_position]:
            break
        target_position += 1
    threshold = target_scores[target_position]
    return target_position * 1.0 / target_size, threshold


def wespeaker_stable(scores, labels, p_target=0.01, c_miss=1, c_fa=1, kind="mergesort"):
    """WeSpeaker score_metrics.py compute_pmiss_pfa_rbst + compute_eer + compute_c_norm, transcribed with
    argsort(kind='mergesort') instead of its default (unstable) argsort; kind=None is WeSpeaker as is."""
    sorted_ndx = np.argsort(scores, kind=kind)
    labels = labels[sorted_ndx]
    weights = np.ones((labels.shape), dtype="f8")
    tgt_wghts = weights * (labels == 1).astype("f8")
    imp_wghts = weights * (labels == 0).astype("f8")
    fnr = np.cumsum(tgt_wghts) / np.sum(tgt_wghts)
    fpr = 1 - np.cumsum(imp_wghts) / np.sum(imp_wghts)
    diff_pm_fa = fnr - fpr
    x1 = np.flatnonzero(diff_pm_fa >= 0)[0]
    x2 = np.flatnonzero(diff_pm_fa < 0)[-1]
    a = (fnr[x1] - fpr[x1]) / (fpr[x2] - fpr[x1] - (fnr[x2] - fnr[x1]))
    eer_value = fnr[x1] + a * (fnr[x2] - fnr[x1])
    threshold = np.sort(scores)[x1]
    c_det = min(c_miss * fnr * p_target + c_fa * fpr * (1 - p_target))
    c_def = min(c_miss * p_target, c_fa * (1 - p_target))
    return eer_value, threshold, c_det / c_def


def naive_tie_aware_points(scores, labels):
    """One point per distinct score t, by counting: p_miss = #tar <= t / T, p_fa = 1 - #non <= t / N."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    tar, non = scores[labels], scores[~labels]
    pm, pf, thr = [], [], []
    for t in sorted(set(scores.tolist())):
        pm.append(int(np.count_nonzero(tar <= t)) / len(tar))
        pf.append(1 - int(np.count_nonzero(non <= t)) / len(non))
        thr.append(t)
    return pm, pf, thr


def naive_nist_eer(pm, pf, thr):
    """The NIST/WeSpeaker formula by plain loops, with sveval's documented extension: when no point has
    p_miss - p_fa < 0, x2 is the 'accept everything' point (p_miss=0, p_fa=1)."""
    x1 = None
    for i in range(len(pm)):
        if pm[i] - pf[i] >= 0:
            x1 = i
            break
    x2 = None
    for i in range(len(pm)):
        if pm[i] - pf[i] < 0:
            x2 = i
    pm2, pf2 = (pm[x2], pf[x2]) if x2 is not None else (0.0, 1.0)
    a = (pm[x1] - pf[x1]) / (pf2 - pf[x1] - (pm2 - pm[x1]))
    return pm[x1] + a * (pm2 - pm[x1]), thr[x1]


def pavx(y):
    """pybosaris libmath.pavx (Pool Adjacent Violators), transcribed."""
    n = y.shape[0]
    index = np.zeros(n)
    length = np.zeros(n)
    ghat = np.zeros(n)
    ci = 0
    index[ci] = 0
    length[ci] = 1
    ghat[ci] = y[0]
    for j in range(1, n):
        ci += 1
        index[ci] = j
        length[ci] = 1
        ghat[ci] = y[j]
        while (ci >= 1) & (ghat[max(ci - 1, 0)] >= ghat[ci]):
            nw = length[ci - 1] + length[ci]
            ghat[ci - 1] = ghat[ci - 1] + (length[ci] / nw) * (ghat[ci] - ghat[ci - 1])
            length[ci - 1] = nw
            ci -= 1
    return length[: ci + 1]


def bosaris_rocch(tar_scores, nontar_scores):
    """pybosaris rocch, transcribed (targets first, so tied scores pool pessimistically)."""
    nt, nn = tar_scores.shape[0], nontar_scores.shape[0]
    n = nt + nn
    scores = np.concatenate((tar_scores, nontar_scores))
    pideal = np.concatenate((np.ones(nt), np.zeros(nn)))
    perturb = np.argsort(scores, kind="mergesort")
    pideal = pideal[perturb]
    width = pavx(pideal)
    nbins = width.shape[0]
    pmiss = np.zeros(nbins + 1)
    pfa = np.zeros(nbins + 1)
    left = 0
    fa = nn
    miss = 0
    for i in range(nbins):
        pmiss[i] = miss / nt
        pfa[i] = fa / nn
        left = int(left + width[i])
        miss = np.sum(pideal[:left])
        fa = n - left - np.sum(pideal[left:])
    pmiss[nbins] = miss / nt
    pfa[nbins] = fa / nn
    return pmiss, pfa


def bosaris_rocch2eer(pmiss, pfa):
    """pybosaris rocch2eer, transcribed."""
    eer_value = 0
    for i in range(pfa.shape[0] - 1):
        xx = pfa[i : i + 2]
        yy = pmiss[i : i + 2]
        assert (xx[1] <= xx[0]) & (yy[0] <= yy[1])
        xy = np.column_stack((xx, yy))
        dd = np.dot(np.array([1, -1]), xy)
        if np.min(np.abs(dd)) == 0:
            eerseg = 0
        else:
            seg = np.linalg.solve(xy, np.array([[1], [1]]))
            eerseg = 1 / (np.sum(seg))
        eer_value = max([eer_value, eerseg])
    return float(eer_value)


def bosaris_eer(scores, labels):
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    return bosaris_rocch2eer(*bosaris_rocch(scores[labels], scores[~labels]))


# ------------------------------------------------------------------------------------------------
# random inputs


def random_trials(seed):
    """Scores with a spread of tie densities and class balances, incl. single-target/-nontarget lists."""
    rng = np.random.default_rng(seed)
    kind = seed % 6
    n = int(rng.integers(2, 40)) if seed % 2 else int(rng.integers(200, 1500))
    labels = rng.random(n) < rng.uniform(0.05, 0.95)
    if kind == 5:  # one class has a single trial
        labels[:] = seed % 4 == 1
        labels[int(rng.integers(n))] = seed % 4 != 1
    labels[0], labels[-1] = True, False  # both classes present
    scores = rng.normal(size=n) + rng.uniform(0, 3) * labels
    if kind == 0:
        scores = np.round(scores, 1)  # many ties
    elif kind == 1:
        scores = rng.integers(0, 3, size=n).astype(float)  # almost nothing but ties
    elif kind == 2:
        scores = np.round(scores, 3)
    elif kind == 3:
        scores = scores.astype(np.float32)  # float32 input
    return scores, labels


SEEDS = list(range(36))


# ------------------------------------------------------------------------------------------------
# hand-checkable cases


def test_hand_case_no_ties():
    # sorted: 0.1N 0.3T 0.4N 0.5N 0.6T 0.8T ; T = N = 3
    # i  p_miss p_fa  d
    # 0  0      2/3   -2/3
    # 1  1/3    2/3   -1/3
    # 2  1/3    1/3   0 mathematically, but 1 - 2/3 rounds to 0.33333333333333337 > 1/3 in float64
    # 3  1/3    0     1/3
    # 4  2/3    0
    # 5  1      0
    # NIST: float64 (as WeSpeaker) gives x1 = 3, x2 = 2, a = (1/3)/(1/3 + eps) -> EER = 1/3 + a*0 = 1/3,
    # threshold 0.5 (exact arithmetic would pick x1 = 2, threshold 0.4: same EER).
    assert 1 - 2 / 3 > 1 / 3
    scores = [0.1, 0.3, 0.4, 0.5, 0.6, 0.8]
    labels = [False, True, False, False, True, True]
    e = eer(scores, labels)
    assert e == Eer(pytest.approx(1 / 3, abs=1e-15), 0.5, "nist")
    # Kaldi: tar = .3 .6 .8, non = .1 .4 .5. p=0: q=2, .5 < .3 no; p=1: q=2-1=1, .4 < .6 yes -> 1/3 @ .6
    assert eer(scores, labels, "kaldi") == Eer(1 / 3, 0.6, "kaldi")
    # ROCCH: points (p_fa, p_miss) (1,0) (2/3,0) (2/3,1/3) (1/3,1/3) (0,1/3) (0,2/3) (0,1); hull edge
    # (2/3,0)-(0,1/3) meets p_fa = p_miss at 2/9; its upper vertex is point 3 (score 0.5).
    r = eer(scores, labels, "rocch")
    assert r.value == pytest.approx(2 / 9, abs=1e-15) and r.threshold == 0.5
    # minDCF(0.01): costs .01*pm + .99*pf: .66, .66+.0033, .33+.0033, .0033, .0067, .01 -> 1/3 @ 0.5
    d = min_dcf(scores, labels)
    assert d.min_dcf == pytest.approx(1 / 3, abs=1e-15) and d.threshold == 0.5
    # minDCF(0.5): .5*(pm+pf): 1/3, 1/2, 1/3, 1/6, 1/3, 1/2 -> (1/6)/(1/2) = 1/3 @ 0.5
    d = min_dcf(scores, labels, p_target=0.5)
    assert d.min_dcf == pytest.approx(1 / 3, abs=1e-15) and d.threshold == 0.5
    for sweep in SWEEPS:  # no ties: both sweeps agree
        assert eer(scores, labels, sweep=sweep) == e


def test_hand_case_ties_show_why_tie_aware_exists():
    # trials in order: 0N 1T 2T 2N 3T 4N ; T = N = 3 ; the two trials at score 2 tie.
    scores = [0.0, 1.0, 2.0, 2.0, 3.0, 4.0]
    labels = [False, True, True, False, True, False]
    # per-trial, T before N at the tie: (pm, pf) = (0,2/3) (1/3,2/3) (2/3,2/3) (2/3,1/3) (1,1/3) (1,0).
    # x1 is the point after "2N" (d = 1/3; the point after "2T" has d = 0 mathematically, < 0 in float64),
    # x2 the one after "2T"; the step x2 -> x1 is a nontarget (p_miss constant), so EER = p_miss = 2/3 @ 2.
    assert eer(scores, labels, sweep="per-trial").value == pytest.approx(2 / 3, abs=1e-15)
    assert eer(scores, labels, sweep="per-trial").threshold == 2.0
    # N before T at the tie: after "2N" (1/3, 1/3) d = 0 mathematically, < 0 in float64, so x1 = after
    # "2T" (2/3, 1/3) and x2 = (1/3, 1/3); a target step (p_fa constant), so EER = p_fa = 1/3 @ 2.
    swapped = [0, 1, 3, 2, 4, 5]
    e_sw = eer(np.array(scores)[swapped], np.array(labels)[swapped], sweep="per-trial")
    assert e_sw.value == pytest.approx(1 / 3, abs=1e-15) and e_sw.threshold == 2.0
    # tie-aware: points (0,2/3) (1/3,2/3) (2/3,1/3) (1,1/3) (1,0); x1 = score 2, x2 = score 1,
    # a = (1/3)/(2/3) = 1/2, EER = 2/3 + 1/2 * (1/3 - 2/3) = 1/2 (independent of the order).
    for order in ([0, 1, 2, 3, 4, 5], swapped):
        e = eer(np.array(scores)[order], np.array(labels)[order], sweep="tie-aware")
        assert e.value == pytest.approx(0.5, abs=1e-15) and e.threshold == 2.0
    # Kaldi: tar 1 2 3, non 0 2 4. p=0: q=2, 4 < 1 no; p=1: q=1, 2 < 2 no; loop over -> p=2: 2/3 @ 3.
    assert eer(scores, labels, "kaldi") == Eer(2 / 3, 3.0, "kaldi")
    # ROCCH: tie-aware points plus (1,0): (1,0) (2/3,0) (2/3,1/3) (1/3,2/3) (1/3,1) (0,1). At p_fa=1/3 the
    # chord (2/3,0)-(0,1) has p_miss 1/2 < 2/3, so the hull is (1,0) (2/3,0) (0,1): crossing at
    # (2/3 * 1)/(2/3 + 1) = 2/5, upper vertex (0,1) = score 4.
    r = eer(scores, labels, "rocch")
    assert r.value == pytest.approx(0.4, abs=1e-15) and r.threshold == 4.0
    # minDCF(0.5) tie-aware: .5*(pm+pf) = 1/3 1/2 1/2 2/3 1/2 -> (1/3)/(1/2) = 2/3 @ 0
    d = min_dcf(scores, labels, p_target=0.5, sweep="tie-aware")
    assert d.min_dcf == pytest.approx(2 / 3, abs=1e-15) and d.threshold == 0.0


def test_hand_case_perfect_separation():
    # non 1 2, tar 3 4: (pm, pf) = (0,1/2) (0,0) (1/2,0) (1,0): x1 = 1 (d=0), x2 = 0, a = 0 -> EER 0 @ 2
    scores, labels = [3.0, 1.0, 4.0, 2.0], [True, False, True, False]
    for sweep in SWEEPS:
        assert eer(scores, labels, sweep=sweep) == Eer(0.0, 2.0, "nist")
        assert min_dcf(scores, labels, sweep=sweep) == Dcf(0.01, 1.0, 1.0, 0.0, 2.0)
    # Kaldi p=0: q = 1, non[1]=2 < tar[0]=3 -> 0 @ 3
    assert eer(scores, labels, "kaldi") == Eer(0.0, 3.0, "kaldi")
    assert eer(scores, labels, "rocch").value == 0.0


def test_hand_case_perfectly_wrong():
    # tar 1 2, non 3 4: (pm, pf) = (1/2,1) (1,1) (1,1/2) (1,0): x1 = 1, x2 = 0, a = 0 -> NIST EER = 1 @ 2
    scores, labels = [1.0, 2.0, 3.0, 4.0], [True, True, False, False]
    assert eer(scores, labels) == Eer(1.0, 2.0, "nist")
    # Kaldi: p=0: q=1, 4 < 1 no -> loop over at p = T-1 = 1: 1/2 @ 2 (it cannot exceed (T-1)/T)
    assert eer(scores, labels, "kaldi") == Eer(0.5, 2.0, "kaldi")
    # ROCCH: the hull is the chord (1,0)-(0,1): 1/2 (a system is never worse than chance on the hull)
    assert eer(scores, labels, "rocch").value == pytest.approx(0.5, abs=1e-15)


def test_edge_case_no_point_below_the_diagonal():
    # one target, and it has the lowest score: the first point is (pm, pf) = (1, 1), d = 0, and no point
    # has d < 0 (WeSpeaker: IndexError). sveval uses (pm, pf) = (0, 1) as x2: EER = 1/(1+1-1) = 1 @ 0.
    scores, labels = [0.0, 1.0, 2.0, 3.0], [True, False, False, False]
    assert eer(scores, labels) == Eer(1.0, 0.0, "nist")
    # one nontarget with the lowest score: first point (0, 0), d = 0 -> EER = 0/(1+0-0) = 0
    assert eer([0.0, 1.0, 2.0], [False, True, True]) == Eer(0.0, 0.0, "nist")
    # all scores tied, tie-aware: the only point is (1, 0) -> EER = 1/(1+1-0) = 1/2
    e = eer([0.5] * 4, [True, False, True, False], sweep="tie-aware")
    assert e == Eer(0.5, 0.5, "nist")
    # ... and per-trial, with one trial of each class, on the order: N first gives the point (pm, pf) =
    # (0, 0) -> 0/(1+0-0) = 0; T first gives (1, 1) -> 1/(1+1-1) = 1
    assert eer([0.5] * 2, [False, True], sweep="per-trial").value == 0.0
    assert eer([0.5] * 2, [True, False], sweep="per-trial").value == 1.0
    # Kaldi with all ties: tar 0.5 0.5, non 0.5 0.5: p=0: q=1, 0.5 < 0.5 no -> p = T-1 = 1: 1/2
    assert eer([0.5] * 4, [True, False, True, False], "kaldi") == Eer(0.5, 0.5, "kaldi")
    assert eer([0.5] * 4, [True, False, True, False], "rocch").value == pytest.approx(0.5, abs=1e-15)
    # minDCF tie-aware with all ties: the only point is "reject all", cost p*c_miss -> normalised 1
    assert min_dcf([0.5] * 4, [True, False, True, False], sweep="tie-aware").min_dcf == 1.0


@pytest.mark.parametrize("targets_first", [False, True])
def test_constant_system_is_chance_in_any_order_by_default(targets_first):
    # 50 targets and 50 nontargets, all scoring 0.7: the only threshold rejects everything (pm 1, pf 0) or
    # accepts everything (pm 0, pf 1); the EER interpolates between them to 1/2, minDCF is the trivial cost.
    labels = np.array([targets_first] * 50 + [not targets_first] * 50)
    scores = np.full(100, 0.7)
    assert eer(scores, labels) == Eer(0.5, 0.7, "nist")
    assert min_dcf(scores, labels).min_dcf == 1.0
    m = evaluate(scores, labels)
    assert (m.eer_percent, m.min_dcf, m.sweep) == (50.0, 1.0, "tie-aware")
    # the per-trial rule of Kaldi/WeSpeaker splits the tie by line order: 0 or 1 (what the issue reported)
    per_trial = evaluate(scores, labels, sweep="per-trial")
    assert (per_trial.eer, per_trial.min_dcf) == ((1.0, 1.0) if targets_first else (0.0, 0.0))


def test_five_distinct_scores_do_not_depend_on_line_order():
    # 200 trials over 5 score values: every reordering gives the same default numbers, not the per-trial ones
    rng = np.random.default_rng(11)
    values = rng.integers(0, 5, size=200).astype(float)
    labels = rng.random(200) < 0.2 + 0.15 * values
    reference = evaluate(values, labels)
    per_trial = set()
    for seed in range(20):
        order = np.random.default_rng(seed).permutation(200)
        assert evaluate(values[order], labels[order]) == reference
        per_trial.add(round(evaluate(values[order], labels[order], sweep="per-trial").eer, 12))
    assert len(per_trial) > 1  # the per-trial rule does move with the order on this list


@pytest.mark.parametrize("sweep", SWEEPS)
@pytest.mark.parametrize("p_target,c_miss,c_fa", [(0.5, 10.0, 1.0), (0.9, 1.0, 1.0), (0.01, 1.0, 1.0)])
def test_min_dcf_never_exceeds_one(sweep, p_target, c_miss, c_fa):
    # every target below every nontarget: the best real threshold costs more than accepting everything,
    # whose normalised cost is c_fa(1-p) / min(c_miss p, c_fa(1-p)) = 1 when c_miss p > c_fa (1-p).
    # Kaldi's compute_min_dcf.py (no accept-all point) gives 3.0 and 2.8 for the first two: its best point
    # rejects the lowest target only, (c_miss p / 5 + c_fa (1-p)) / c_def = 1 + 10/5 and 1 + 9/5.
    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.8, 0.9]
    labels = [True] * 5 + [False] * 2
    d = min_dcf(scores, labels, p_target, c_miss, c_fa, sweep=sweep)
    assert d.min_dcf == pytest.approx(1.0, abs=1e-15)
    if c_miss * p_target > c_fa * (1 - p_target):
        assert d.threshold == float("-inf")  # accept all
        fnrs, fprs, thr = kaldi_compute_error_rates(scores, [1] * 5 + [0] * 2)
        kaldi = kaldi_compute_min_dcf(fnrs, fprs, thr, p_target, c_miss, c_fa)[0]
        assert kaldi == pytest.approx({0.5: 3.0, 0.9: 2.8}[p_target], abs=1e-12)


def test_single_target_kaldi_is_zero():
    # Kaldi's loop never runs with T = 1: EER 0 at that target's score, whatever the nontargets.
    assert eer([5.0, 1.0, 9.0], [True, False, False], "kaldi") == Eer(0.0, 5.0, "kaldi")


# ------------------------------------------------------------------------------------------------
# oracles on random inputs


@pytest.mark.parametrize("seed", SEEDS)
def test_per_trial_matches_kaldi_and_wespeaker_exactly(seed):
    scores, labels = random_trials(seed)
    fnrs, fprs, thresholds = kaldi_compute_error_rates(scores.tolist(), labels.astype(int).tolist())
    curve = det_curve(scores, labels, sweep="per-trial")
    assert curve.p_miss.tolist() == fnrs
    assert curve.p_fa.tolist() == fprs
    assert curve.thresholds.tolist() == [float(t) for t in thresholds]
    for p, cm, cf in OPERATING_POINTS:
        ref = min_dcf_oracle(fnrs, fprs, thresholds, p, cm, cf)
        d = min_dcf(scores, labels, p, cm, cf, sweep="per-trial")
        assert (d.min_dcf, d.threshold) == ref
        assert d.min_dcf <= 1.0
    e = eer(scores, labels, sweep="per-trial")
    ref_eer, ref_thr = naive_nist_eer(fnrs, fprs, thresholds)
    assert e.value == pytest.approx(ref_eer, abs=1e-12)
    assert e.threshold == ref_thr
    if fnrs[0] - fprs[0] < 0:  # WeSpeaker defines the EER only when some point has d < 0
        w_eer, w_thr, w_dcf = wespeaker_stable(scores.astype(np.float64), labels)
        assert (e.value, e.threshold) == (w_eer, w_thr)
        assert min_dcf(scores, labels, sweep="per-trial").min_dcf == w_dcf


@pytest.mark.parametrize("seed", SEEDS)
def test_tie_aware_matches_naive_counting(seed):
    scores, labels = random_trials(seed)
    pm, pf, thr = naive_tie_aware_points(scores, labels)
    curve = det_curve(scores, labels, sweep="tie-aware")
    assert curve.p_miss.tolist() == pm
    assert curve.p_fa.tolist() == pf
    assert curve.thresholds.tolist() == thr
    e = eer(scores, labels, sweep="tie-aware")
    ref_eer, ref_thr = naive_nist_eer(pm, pf, thr)
    assert e.value == pytest.approx(ref_eer, abs=1e-12) and e.threshold == ref_thr
    for p, cm, cf in OPERATING_POINTS:
        d = min_dcf(scores, labels, p, cm, cf, sweep="tie-aware")
        assert (d.min_dcf, d.threshold) == min_dcf_oracle(pm, pf, thr, p, cm, cf)


@pytest.mark.parametrize("seed", SEEDS)
def test_tie_aware_matches_sklearn_det_curve(seed):
    sk_metrics = pytest.importorskip("sklearn.metrics")
    scores, labels = random_trials(seed)
    fpr, fnr, sk_thr = sk_metrics.det_curve(labels, scores.astype(np.float64))
    curve = det_curve(scores, labels, sweep="tie-aware")
    # sklearn accepts score >= t, so its point at distinct score t is ours at the previous distinct score
    # (its +inf threshold, where present, is our last point); at the lowest score it is "accept all".
    k = np.searchsorted(curve.thresholds, sk_thr, side="left") - 1
    first = k < 0
    assert np.all(fpr[first] == 1) and np.all(fnr[first] == 0)
    np.testing.assert_allclose(curve.p_fa[k[~first]], fpr[~first], rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve.p_miss[k[~first]], fnr[~first], rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_kaldi_eer_matches_transcribed_cpp_loop(seed):
    scores, labels = random_trials(seed)
    ref = kaldi_compute_eer(scores[labels].tolist(), scores[~labels].tolist())
    for sweep in SWEEPS:
        e = eer(scores, labels, "kaldi", sweep)
        assert (e.value, e.threshold) == (ref[0], float(ref[1]))


@pytest.mark.parametrize("seed", SEEDS)
def test_rocch_matches_bosaris_and_bounds(seed):
    scores, labels = random_trials(seed)
    r = eer(scores, labels, "rocch")
    assert r.value == pytest.approx(bosaris_eer(scores, labels), abs=1e-12)
    assert r.value <= eer(scores, labels, sweep="tie-aware").value + 1e-15
    assert r.value <= 0.5 + 1e-15
    if len(np.unique(scores)) == len(scores):  # without ties the per-trial NIST EER bounds it too
        assert r.value <= eer(scores, labels).value + 1e-15
    assert r.threshold in set(scores.astype(np.float64).tolist())
    assert eer(scores, labels, "rocch", "per-trial") == r


# ------------------------------------------------------------------------------------------------
# invariances


@pytest.mark.parametrize("seed", [0, 1, 2, 4, 6, 7, 8, 14])
def test_permutation_invariance(seed):
    scores, labels = random_trials(seed)
    rng = np.random.default_rng(1000 + seed)
    perm = rng.permutation(len(scores))
    ps, pl = scores[perm], labels[perm]
    for definition in EER_DEFINITIONS:
        assert eer(ps, pl, definition, "tie-aware") == eer(scores, labels, definition, "tie-aware")
    assert evaluate(ps, pl, sweep="tie-aware") == evaluate(scores, labels, sweep="tie-aware")
    a, b = det_curve(ps, pl, "tie-aware"), det_curve(scores, labels, "tie-aware")
    for name in ("p_miss", "p_fa", "thresholds"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # per-trial: unchanged when there are no ties
    distinct = np.random.default_rng(seed).normal(size=len(scores)) + labels
    assert evaluate(distinct[perm], pl) == evaluate(distinct, labels)
    assert eer(distinct[perm], pl) == eer(distinct, labels)


@pytest.mark.parametrize("seed", [0, 2, 3, 4, 6, 9, 12])
@pytest.mark.parametrize("sweep", SWEEPS)
def test_monotone_transforms(seed, sweep):
    scores, labels = random_trials(seed)
    scores = scores.astype(np.float64)
    for f in (lambda s: 2.0 * s + 1.0, lambda s: 0.25 * s - 7.0, np.exp):
        t = f(scores)
        assert len(np.unique(t)) == len(np.unique(scores))  # the transform kept ties and order

        def image(threshold, t=t):  # the transformed score of the trial(s) whose score is `threshold`
            return t[scores == threshold][0]

        for definition in EER_DEFINITIONS:
            a, b = eer(scores, labels, definition, sweep), eer(t, labels, definition, sweep)
            assert a.value == b.value
            assert image(a.threshold) == b.threshold
        for p, cm, cf in OPERATING_POINTS:
            a, b = min_dcf(scores, labels, p, cm, cf, sweep), min_dcf(t, labels, p, cm, cf, sweep)
            assert a.min_dcf == b.min_dcf and image(a.threshold) == b.threshold


# ------------------------------------------------------------------------------------------------
# API behaviour


def test_evaluate_equals_the_separate_functions():
    scores, labels = random_trials(4)
    for sweep in SWEEPS:
        m = evaluate(scores, labels, p_target=0.05, c_miss=2.0, c_fa=1.0, sweep=sweep)
        e = eer(scores, labels, sweep=sweep)
        d = min_dcf(scores, labels, 0.05, 2.0, 1.0, sweep)
        assert isinstance(m, Metrics)
        assert (m.eer, m.eer_threshold) == (e.value, e.threshold)
        assert (m.min_dcf, m.min_dcf_threshold) == (d.min_dcf, d.threshold)
        assert (m.p_target, m.c_miss, m.c_fa, m.sweep) == (0.05, 2.0, 1.0, sweep)
        assert (m.n_target, m.n_nontarget) == (int(labels.sum()), int((~labels).sum()))


def test_summarize_equals_the_separate_functions():
    scores, labels = random_trials(5)
    points = ((0.01, 1.0, 1.0), (0.05, 10.0, 1.0))
    for sweep in SWEEPS:
        summary = summarize(scores, labels, ("rocch", "nist", "kaldi"), points, sweep)
        assert summary.eers == tuple(eer(scores, labels, d, sweep) for d in ("rocch", "nist", "kaldi"))
        assert summary.dcfs == tuple(min_dcf(scores, labels, *p, sweep=sweep) for p in points)
        assert (summary.n_target, summary.sweep) == (int(labels.sum()), sweep)
    with pytest.raises(ValueError, match="definition"):
        summarize(scores, labels, ("nist", "best"))


def test_det_curve_shape_and_read_only():
    scores = np.array([0.3, 0.1, 0.3, 0.2, 0.9])
    labels = np.array([1, 0, 0, 1, 1])  # 0/1 integers are accepted as labels
    c = det_curve(scores, labels, "per-trial")
    assert isinstance(c, DetCurve) and c.sweep == "per-trial" and len(c) == 5
    assert det_curve(scores, labels).sweep == "tie-aware"  # the default
    assert det_curve(scores, labels, "tie-aware").thresholds.tolist() == [0.1, 0.2, 0.3, 0.9]
    assert np.all(np.diff(c.thresholds) >= 0)
    assert np.all(np.diff(c.p_miss) >= 0) and np.all(np.diff(c.p_fa) <= 0)
    assert (c.p_miss[-1], c.p_fa[-1]) == (1.0, 0.0)
    with pytest.raises(ValueError):
        c.p_miss[0] = 0.5


def test_input_types_are_equivalent():
    scores, labels = random_trials(3)  # float32 scores
    as64 = scores.astype(np.float64)
    for definition in EER_DEFINITIONS:
        assert eer(scores, labels, definition) == eer(as64.tolist(), labels.tolist(), definition)
    assert evaluate(scores, labels) == evaluate(as64, labels.astype(np.int64))
    assert isinstance(evaluate(scores, labels).eer, float)


def test_cllr():
    labels = np.array([True, False, True, False, False])
    assert cllr(np.zeros(5), labels) == pytest.approx(1.0, abs=1e-15)  # uninformative: exactly 1 bit
    rng = np.random.default_rng(0)
    llr = rng.normal(size=200) * 3
    lab = rng.random(200) < 0.4
    naive = 0.5 * (np.mean(np.log2(1 + np.exp(-llr[lab]))) + np.mean(np.log2(1 + np.exp(llr[~lab]))))
    assert cllr(llr, lab) == pytest.approx(naive, rel=1e-12)
    # huge LLRs neither overflow nor round to inf: right sign -> ~0, wrong sign -> 1000/ln 2 bits
    assert cllr([1000.0, -1000.0], [True, False]) == pytest.approx(0.0, abs=1e-300)
    assert cllr([-1000.0, 1000.0], [True, False]) == pytest.approx(1000 / math.log(2), rel=1e-12)


# ------------------------------------------------------------------------------------------------
# errors


BAD_INPUTS = [
    ([0.1, 0.2], [True], "differ in length: 2 vs 1"),
    ([], [], "no trials"),
    ([0.1, 0.2], [True, True], "no nontarget trials"),
    ([0.1, 0.2], [False, False], "no target trials"),
    ([0.1, np.nan, 0.3, np.inf], [True, False, True, False], r"2 non-finite value\(s\).*index 1"),
    ([[0.1, 0.2]], [[True, False]], "1-D"),
    (["a", "b"], [True, False], "real numbers"),
    ([0.1, 0.2], [2, 0], "boolean"),
]


@pytest.mark.parametrize("scores,labels,message", BAD_INPUTS)
@pytest.mark.parametrize("func", [det_curve, eer, min_dcf, evaluate, cllr])
def test_bad_inputs_raise_value_error(func, scores, labels, message):
    with pytest.raises(ValueError, match=message):
        func(scores, labels)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda s, y: eer(s, y, "bosaris"), "definition must be one of 'nist', 'kaldi', 'rocch'"),
        (lambda s, y: eer(s, y, sweep="ties"), "sweep must be one of"),
        (lambda s, y: det_curve(s, y, sweep="x"), "sweep must be one of"),
        (lambda s, y: evaluate(s, y, sweep="x"), "sweep must be one of"),
        (lambda s, y: min_dcf(s, y, p_target=0.0), "p_target"),
        (lambda s, y: min_dcf(s, y, p_target=1.0), "p_target"),
        (lambda s, y: min_dcf(s, y, p_target=float("nan")), "p_target"),
        (lambda s, y: evaluate(s, y, c_miss=0), "c_miss"),
        (lambda s, y: min_dcf(s, y, c_fa=-1), "c_fa"),
    ],
)
def test_bad_options_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call([0.1, 0.2, 0.3], [True, False, True])


# ------------------------------------------------------------------------------------------------
# real scores: six GhostVLAD systems on the 37,720 Vox1-O (veri_test.txt) trials


@pytest.fixture(scope="module")
def real_labels():
    return np.load(shared(REAL_SCORES / "groundtruth_labels.npy")).astype(bool)


@pytest.fixture(scope="module")
def real_scores(real_labels):
    files = sorted(REAL_SCORES.glob("scores*.npy"))
    if len(files) != 6:
        pytest.skip(f"expected 6 score arrays in {REAL_SCORES}, found {len(files)}")
    return {f.name: np.load(f) for f in files}


def test_real_eers_are_in_the_published_range(real_scores, real_labels):
    assert len(real_labels) == 37_720 and real_labels.sum() == 18_860
    eers = {name: eer(s, real_labels).value for name, s in real_scores.items()}
    # the paper's best Thin-ResNet34 GhostVLAD reaches 3.22 %; the other five runs are weaker variants
    assert 0.032 <= min(eers.values()) <= 0.040
    assert all(0.03 <= v <= 0.06 for v in eers.values()), eers


@pytest.mark.slow
@pytest.mark.parametrize("rounded", [False, True], ids=["float32", "rounded5"])
@pytest.mark.parametrize("index", range(6))
def test_real_scores_match_the_oracles(real_scores, real_labels, index, rounded):
    scores = list(real_scores.values())[index].astype(np.float64)
    if rounded:  # as WeSpeaker writes them: "%.5f", which creates thousands of ties
        scores = np.round(scores, 5)
    labels = real_labels
    fnrs, fprs, thresholds = kaldi_compute_error_rates(scores.tolist(), labels.astype(int).tolist())
    for p, cm, cf in OPERATING_POINTS[:4]:
        d = min_dcf(scores, labels, p, cm, cf, sweep="per-trial")
        assert (d.min_dcf, d.threshold) == kaldi_compute_min_dcf(fnrs, fprs, thresholds, p, cm, cf)
    w_eer, w_thr, w_dcf = wespeaker_stable(scores, labels)
    m = evaluate(scores, labels, sweep="per-trial")
    assert (m.eer, m.eer_threshold, m.min_dcf) == (w_eer, w_thr, w_dcf)
    ref_eer, ref_thr = naive_nist_eer(fnrs, fprs, thresholds)
    assert m.eer == pytest.approx(ref_eer, abs=1e-12) and m.eer_threshold == ref_thr
    k = eer(scores, labels, "kaldi")
    assert (k.value, k.threshold) == kaldi_compute_eer(scores[labels].tolist(), scores[~labels].tolist())
    r = eer(scores, labels, "rocch")
    assert r.value == pytest.approx(bosaris_eer(scores, labels), abs=1e-12)
    tie_aware = eer(scores, labels, sweep="tie-aware").value
    assert r.value <= tie_aware + 1e-15
    as_is = evaluate(scores, labels, sweep="wespeaker")  # WeSpeaker's own unstable argsort, this numpy
    assert (as_is.eer, as_is.eer_threshold, as_is.min_dcf) == wespeaker_stable(scores, labels, kind=None)
    assert abs(tie_aware - m.eer) < 2 / len(labels)  # ties among 37,720 trials barely move the EER


def test_lower_hull_fallback_on_a_long_cascade():
    # A locally convex chain (slopes 1, 2, ..., m) that a far point P puts entirely above the hull: the
    # neighbour-chord passes peel one chain point per pass, so m = 200 forces the monotone-chain fallback.
    from sveval.metrics.rocch import lower_hull

    m = 200
    steps = np.arange(1, m + 1)
    x0 = 10**6
    chain_x = x0 - steps
    chain_y = np.cumsum(steps)
    p = (x0 - m - 100 * m * m, int(chain_y[-1]) + 1)
    xs = np.concatenate(([x0], chain_x, [p[0], 0])).astype(np.int64)
    ys = np.concatenate(([0], chain_y, [p[1], 10**9])).astype(np.int64)
    assert lower_hull(xs, ys).tolist() == [0, m + 1, m + 2]
    # and with P removed the chain itself is the hull, found without the fallback
    keep = np.r_[0 : m + 1, m + 2]
    assert lower_hull(xs[keep], ys[keep]).tolist() == list(range(m + 2))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_stable_sort_equals_mergesort(seed):
    from sveval.metrics.detection import _stable_sort

    rng = np.random.default_rng(seed)
    s = np.round(rng.normal(size=5000), seed)  # 0..3 decimals: from huge tie groups to few ties
    s[:7] = [0.0, -0.0, 0.0, -0.0, 1.0, 1.0, -1.0]  # -0.0 == 0.0: one group, kept in trial order
    srt, order = _stable_sort(s)
    ref = np.argsort(s, kind="mergesort")
    np.testing.assert_array_equal(order, ref)
    np.testing.assert_array_equal(srt, s[ref])


@pytest.mark.parametrize("seed", range(8))
def test_tie_order_range_bounds_every_order(seed):
    # brute force: many random orders of a heavily tied list all land inside [low, high], and the bounds
    # are attained by some order (they are the per-trial values of the two extreme orders).
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, size=30).astype(float)
    labels = rng.random(30) < 0.25 + 0.15 * scores
    labels[:2] = [True, False]
    low, high = SortedScores.of(scores, labels).tie_order_range(p_target=0.3)
    for _ in range(200):
        order = rng.permutation(30)
        m = evaluate(scores[order], labels[order], p_target=0.3, sweep="per-trial")
        assert low.eer - 1e-12 <= m.eer <= high.eer + 1e-12
        assert low.min_dcf - 1e-12 <= m.min_dcf <= high.min_dcf + 1e-12
    assert high.min_dcf == pytest.approx(min_dcf(scores, labels, 0.3).min_dcf, abs=1e-12)
    no_ties = scores + rng.random(30) * 0.1
    a, b = SortedScores.of(no_ties, labels).tie_order_range()
    assert (a.eer, a.min_dcf) == (b.eer, b.min_dcf)


def test_sorted_scores_sort_once_and_only_what_a_sweep_needs():
    """The tie-aware sweep, the Kaldi and ROCCH EERs and the tie check read the two classes sorted apart,
    never the trials in sweep order; a per-trial summary on the same object adds that order and reuses
    the classes; the numbers equal one-off calls."""
    rng = np.random.default_rng(3)
    scores = np.round(rng.standard_normal(3000), 2)
    labels = rng.random(3000) < 0.3
    points = ((0.01, 1.0, 1.0), (0.2, 1.0, 1.0))
    shared = SortedScores.of(scores, labels)
    checked = shared.summary(EER_DEFINITIONS, points, tie_check=True)
    assert "in_order" not in vars(shared)
    classes = shared.classes
    per_trial = shared.summary(EER_DEFINITIONS, points, "per-trial")
    assert shared.classes is classes and "in_order" in vars(shared)
    once = summarize(scores, labels, operating_points=points)
    assert (checked.eers, checked.dcfs) == (once.eers, once.dcfs)
    assert per_trial == summarize(scores, labels, EER_DEFINITIONS, points, "per-trial")


@pytest.mark.parametrize("seed", range(6))
def test_classes_sorted_apart_equal_numpy_sort_on_and_off_a_decimal_grid(seed, monkeypatch):
    """Scores with a fixed number of decimals are sorted by counting when their grid is small enough;
    any other scores (one value off the grid, too wide a grid, huge values) by np.sort: the same values
    either way (zeros compared by value: np.sort itself does not keep the sign of a zero), whatever the
    slice size."""
    import sveval.metrics.detection as detection

    decimals, small_slices = seed % 3, seed < 3
    if small_slices:  # 47 slices of 64 scores; only grids of fewer than 64 points are counted
        monkeypatch.setattr(detection, "COST_SLICE", 64)
    rng = np.random.default_rng(seed)
    n = 3000
    labels = rng.random(n) < 0.4
    printed = np.array([float(f"{v:.{decimals}f}") for v in rng.normal(0, 3, n)])
    with_negative_zeros = printed.copy()
    with_negative_zeros[rng.integers(n, size=5)] = -0.0
    off_grid = printed.copy()
    off_grid[-1] = np.nextafter(off_grid[-1], np.inf)
    counted = decimals == 0 or not small_slices
    cases = {
        "printed": (printed, counted),
        "-0.0": (with_negative_zeros, counted),
        "one off the grid": (off_grid, False),
        "huge": (printed * 1e300 + 1e300, False),
        "too wide": (np.arange(n) * 1000.0, False),
        "not rounded": (rng.normal(size=n), False),
    }
    for name, (scores, by_counting) in cases.items():
        assert (detection._counted_apart(scores, labels) is not None) == by_counting, name
        tar, non = SortedScores.of(scores, labels).classes
        assert np.array_equal(tar, np.sort(scores[labels])), name
        assert np.array_equal(non, np.sort(scores[~labels])), name


def test_one_sort_shared_by_summaries_gives_the_same_numbers():
    rng = np.random.default_rng(7)
    scores = np.round(rng.standard_normal(5000), 2)  # many ties: the sweeps differ
    labels = rng.random(5000) < 0.2
    points = ((0.01, 1.0, 1.0), (0.05, 1.0, 1.0))
    shared = SortedScores.of(scores, labels, "tie-aware")
    for sweep in ("tie-aware", "per-trial"):
        fresh = summarize(scores, labels, ("nist", "kaldi", "rocch"), points, sweep)
        reused = shared.summary(("nist", "kaldi", "rocch"), points, sweep)
        assert fresh == reused
        assert evaluate(scores, labels, 0.05, sweep=sweep) == shared.evaluate(0.05, sweep=sweep)
    with pytest.raises(ValueError, match="sorted for another sweep"):
        shared.summary(("nist",), points, "wespeaker")
    with pytest.raises(ValueError, match="sorted for another sweep"):
        shared.evaluate(sweep="wespeaker")
    # a sweep the caller has already (a DET plot's) is read instead of sweeping again, to the same numbers
    curve = shared.det_curve()
    given = shared.summary(("nist", "kaldi"), points, tie_check=True, curve=curve)
    assert given == shared.summary(("nist", "kaldi"), points, tie_check=True)
    assert given.tie_warnings  # (2-decimal scores: the per-trial sweep in file order prints otherwise)
    with pytest.raises(ValueError, match="curve given is of the 'tie-aware' sweep"):
        shared.summary(("nist",), points, "per-trial", curve=curve)


@pytest.mark.parametrize("seed", range(10))
def test_tie_warnings_give_the_file_order_per_trial_numbers(seed):
    """Whether or not the two extreme tie orders print alike (the shortcut that skips sorting the file
    order), each warning names exactly the number the per-trial sweep in file order prints."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 4000))
    decimals = (0, 1, 2, 6, 8)[seed % 5]  # from huge tie groups to the odd tie (extreme orders print alike)
    scores = np.round(rng.normal(size=n) + 1.5 * (labels := rng.random(n) < 0.3), decimals)
    points = ((0.01, 1.0, 1.0), (0.2, 1.0, 1.0))
    ours = summarize(scores, labels, ("nist",), points, "tie-aware")
    theirs = summarize(scores, labels, ("nist",), points, "per-trial")  # file order, sorted on its own
    expected = []
    if f"{ours.eers[0].percent:.3f}" != f"{theirs.eers[0].percent:.3f}":
        expected.append(f"EER {ours.eers[0].percent:.3f} here; ")
    for d, p in zip(ours.dcfs, theirs.dcfs):
        if f"{d.min_dcf:.3f}" != f"{p.min_dcf:.3f}":
            expected.append(f"minDCF({d.p_target:g}/1/1) {d.min_dcf:.3f} here; ")
    warnings = SortedScores.of(scores, labels).summary(("nist",), points, tie_check=True).tie_warnings
    assert [w.split("tied scores: ")[1].split("the per-trial")[0] for w in warnings] == expected
    printed = [f"{theirs.eers[0].percent:.3f}"] if expected and expected[0].startswith("EER") else []
    printed += [
        f"{p.min_dcf:.3f}" for d, p in zip(ours.dcfs, theirs.dcfs) if f"{d.min_dcf:.3f}" != f"{p.min_dcf:.3f}"
    ]
    assert [w.rsplit(" prints ", 1)[1] for w in warnings] == printed


@pytest.mark.parametrize("seed", range(4))
def test_min_dcf_in_slices_is_the_first_minimum_of_the_whole_cost(monkeypatch, seed):
    """Costs computed a slice at a time give Kaldi's value and the first index attaining it, also when
    equal minima fall in different slices."""
    import sveval.metrics.detection as metrics

    rng = np.random.default_rng(seed)
    p_miss = np.sort(np.round(rng.random(5000), 2))  # coarse: the minimum is attained many times
    p_fa = np.sort(np.round(rng.random(5000), 2))[::-1].copy()
    for p_target, c_miss, c_fa in ((0.01, 1, 1), (0.5, 1, 1), (0.05, 10, 1)):
        whole = c_miss * p_miss * p_target + c_fa * p_fa * (1 - p_target)  # compute_min_dcf.py's expression
        for size in (7, 64, 5000, 1 << 20):
            monkeypatch.setattr(metrics, "COST_SLICE", size)
            i, value = metrics._first_minimum_cost(p_miss, p_fa, p_target, c_miss, c_fa)
            assert (i, value) == (int(np.argmin(whole)), float(whole.min()))
