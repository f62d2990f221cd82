"""Tied scores: how far the per-trial sweep of Kaldi and WeSpeaker can move with the order of tied trials,
and where it would print another number than sveval's default (tie-aware) sweep. Pure numpy, on top of
``sveval.metrics`` (see its module docstring for the sweeps)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sveval.metrics import Metrics, _Sorted, evaluate, sort_scores
from sveval.metrics_file_order import per_trial_in_file_order


def tie_order_range(
    scores, is_target, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0, presorted=None
) -> tuple[Metrics, Metrics]:
    """The lowest and highest per-trial ``evaluate`` results over every order of tied trials.

    The per-trial sweep (Kaldi, WeSpeaker) puts operating points between tied trials, so its numbers depend
    on how tied trials are ordered. Nontargets first within each group of equal scores gives every point
    inside a group its lowest p_fa for its p_miss, the curve nearest the origin, hence the lowest NIST EER and
    minDCF; targets first gives the farthest curve, the highest (and minDCF then equals the tie-aware one).
    Returns (low, high), both with sweep "per-trial"; without ties they are equal. Both orders are built from
    the counts of each tied group (no sort of the trials). presorted: as for ``tie_order_warnings``.
    """
    srt = presorted or sort_scores(scores, is_target)
    return tuple(
        evaluate(o.scores, o.is_target, p_target, c_miss, c_fa, "per-trial", o) for o in extreme_orders(srt)
    )


def extreme_orders(srt: _Sorted) -> Iterator[_Sorted]:
    """The score set in its two extreme per-trial orders, one after the other (each is n long): within each
    group of tied scores, nontargets first (low), then targets first (high)."""
    n_tar_le, n_non_le, thresholds = srt.counts("tie-aware")
    targets = np.diff(n_tar_le, prepend=0)
    nontargets = np.diff(n_non_le, prepend=0)
    scores = np.repeat(thresholds, targets + nontargets)
    for first, second, first_is_target in ((nontargets, targets, False), (targets, nontargets, True)):
        runs = np.column_stack([first, second]).ravel()  # per group: the first class's run, then the other
        labels = np.repeat(np.tile([first_is_target, not first_is_target], len(first)), runs)
        yield _Sorted.from_sorted(scores, labels)


def tie_order_warnings(
    scores, is_target, eer_value: float | None, dcfs, decimals: int = 3, presorted=None
) -> tuple[str, ...]:
    """Sentences saying where the per-trial sweep in file order (Kaldi, WeSpeaker with a stable sort) would
    print another number than the given ones (computed with the default tie-aware sweep).

    eer_value: the NIST EER as a fraction, or None when it is not printed; dcfs: ``Dcf`` objects. Numbers
    are compared as printed: EER in percent and minDCF, both with ``decimals`` decimals. Empty without ties.
    presorted: ``sveval.metrics.sort_scores`` of these scores (stable order), to reuse a sort already made.
    The per-trial numbers come from ``per_trial_in_file_order``: only the tie groups where the order can
    matter are read in file order, so the trials are never sorted for it.
    """
    per_trial = per_trial_in_file_order(
        scores, is_target, [(d.p_target, d.c_miss, d.c_fa) for d in dcfs], presorted
    )
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
