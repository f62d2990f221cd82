"""Tied scores: how far the per-trial sweep of Kaldi and WeSpeaker can move with the order of tied trials,
and where it would print another number than sveval's default (tie-aware) sweep. Pure numpy, on top of
``sveval.metrics`` (see its module docstring for the sweeps)."""

from __future__ import annotations

import numpy as np

from sveval.metrics import Metrics, _as_labels, _as_scores, evaluate, summarize


def tie_order_range(
    scores, is_target, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0
) -> tuple[Metrics, Metrics]:
    """The lowest and highest per-trial ``evaluate`` results over every order of tied trials.

    The per-trial sweep (Kaldi, WeSpeaker) puts operating points between tied trials, so its numbers depend
    on how tied trials are ordered. Nontargets first within each group of equal scores gives every point
    inside a group its lowest p_fa for its p_miss, the curve nearest the origin, hence the lowest NIST EER and
    minDCF; targets first gives the farthest curve, the highest (and minDCF then equals the tie-aware one).
    Returns (low, high), both with sweep "per-trial"; without ties they are equal.
    """
    s = _as_scores(scores, "scores")
    lab = _as_labels(is_target, s.shape[0], "scores")
    low, high = np.lexsort((lab, s)), np.lexsort((~lab, s))
    return tuple(evaluate(s[o], lab[o], p_target, c_miss, c_fa, sweep="per-trial") for o in (low, high))


def tie_order_warnings(
    scores, is_target, eer_value: float | None, dcfs, decimals: int = 3, presorted=None
) -> tuple[str, ...]:
    """Sentences saying where the per-trial sweep in file order (Kaldi, WeSpeaker with a stable sort) would
    print another number than the given ones (computed with the default tie-aware sweep).

    eer_value: the NIST EER as a fraction, or None when it is not printed; dcfs: ``Dcf`` objects. Numbers
    are compared as printed: EER in percent and minDCF, both with ``decimals`` decimals. Empty without ties.
    presorted: ``sveval.metrics.sort_scores`` of these scores (stable order), to reuse a sort already made.
    """
    points = tuple((d.p_target, d.c_miss, d.c_fa) for d in dcfs)
    per_trial = summarize(scores, is_target, ("nist",), points, "per-trial", presorted=presorted)
    how = "the per-trial sweep in file order (--sweep per-trial)"
    out = []
    if eer_value is not None:
        ours, theirs = f"{100 * eer_value:.{decimals}f}", f"{per_trial.eers[0].percent:.{decimals}f}"
        if ours != theirs:
            out.append(f"tied scores: EER {ours} here; {how} prints {theirs}")
    for d, p in zip(dcfs, per_trial.dcfs):
        ours, theirs = f"{d.min_dcf:.{decimals}f}", f"{p.min_dcf:.{decimals}f}"
        if ours != theirs:
            point = f"{d.p_target:g}/{d.c_miss:g}/{d.c_fa:g}"
            out.append(f"tied scores: minDCF({point}) {ours} here; {how} prints {theirs}")
    return tuple(out)
