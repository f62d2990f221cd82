"""The per-trial sweep in file order (Kaldi's compute_min_dcf.py, WeSpeaker with a stable sort), without
sorting the trials: NIST EER and minDCF read only where the order of tied trials can matter.

Why it is exact: every order of the trials passes through the same point at the end of each group of
tied scores (the tie-aware points); only the points inside a group depend on the order. The difference
p_miss - p_fa never decreases along the sweep, so the EER crossing lies inside the first group whose end
has p_miss >= p_fa; and the cost of a point inside a group is never below the group's lowest corner
(its nontargets first), a bound that holds in floating point too (the cost rises with p_miss and falls
with p_fa, and rounding keeps that). So only the crossing group and the groups whose corner could beat
the best group end are walked in file order, point by point, with the same float64 operations the full
sweep makes: results equal ``summary(..., sweep="per-trial")`` to the bit (tested), thresholds too.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sveval.metrics.detection import (
    Dcf,
    Eer,
    SortedScores,
    Summary,
    _check_cost,
    _dcf_of_minimum,
    _eer_from_points,
    _first_minimum_cost,
)

WINDOW_TRIALS = 1 << 22


def per_trial_in_file_order(srt: SortedScores, operating_points) -> Summary:
    """``srt.summary(("nist",), operating_points, "per-trial")`` computed from the tie groups (see the
    module docstring): it reads the classes sorted apart, never the per-trial order of the trials."""
    n_tar_le, n_non_le, thresholds = srt.counts("tie-aware")
    ends = srt.rates(n_tar_le, n_non_le)
    groups = _Groups(srt, thresholds, n_tar_le + n_non_le)
    first = int(np.argmax(ends[0] - ends[1] >= 0))  # the group whose end first has p_miss >= p_fa
    eer = _eer(groups, first, n_tar_le, n_non_le, srt)
    dcfs = tuple(_min_dcf(groups, ends, n_tar_le, n_non_le, srt, point) for point in operating_points)
    return Summary((eer,), dcfs, srt.n_target, srt.n_nontarget, "per-trial")


class _Groups:
    """The labels of the trials of chosen tie groups, in file order, read a window of groups at a time:
    a window spans at most WINDOW_TRIALS trials (a single larger group excepted), so its index arrays stay
    small whatever the size of the list."""

    def __init__(self, srt: SortedScores, thresholds: np.ndarray, trials_le: np.ndarray) -> None:
        self.scores, self.labels = srt.scores, srt.is_target
        self.thresholds = thresholds
        self.trials_le = trials_le  # trials with score <= each threshold

    def labels_of(self, groups: np.ndarray) -> Iterator[np.ndarray]:
        """For each group (ascending indices), its trials' labels in file order."""
        before = np.concatenate([[0], self.trials_le])[groups]  # trials below each group
        start = 0
        while start < len(groups):
            stop = int(np.searchsorted(self.trials_le[groups], before[start] + WINDOW_TRIALS, side="right"))
            stop = max(stop, start + 1)
            yield from self._window(groups[start:stop])
            start = stop

    def _window(self, groups: np.ndarray) -> list[np.ndarray]:
        low, high = self.thresholds[groups[0]], self.thresholds[groups[-1]]
        trials = np.flatnonzero((self.scores >= low) & (self.scores <= high))  # a pass, not a sort
        group_of = np.searchsorted(self.thresholds, self.scores[trials])  # every score is a threshold
        wanted = np.zeros(len(self.thresholds), dtype=bool)
        wanted[groups] = True
        keep = wanted[group_of]
        trials, group_of = trials[keep], group_of[keep]
        by_group = np.argsort(group_of, kind="stable")  # file order kept within each group
        trials, group_of = trials[by_group], group_of[by_group]
        starts = np.searchsorted(group_of, groups, side="left")
        stops = np.searchsorted(group_of, groups, side="right")
        return [self.labels[trials[lo:hi]] for lo, hi in zip(starts, stops)]


def _inside(labels: np.ndarray, g: int, n_tar_le, n_non_le) -> tuple[np.ndarray, np.ndarray]:
    """(#targets, #nontargets) at or below each point of group g, in file order (the last is its end)."""
    tar0 = n_tar_le[g - 1] if g else 0
    non0 = n_non_le[g - 1] if g else 0
    tar = tar0 + np.cumsum(labels, dtype=np.int64)
    return tar, non0 + np.arange(1, len(labels) + 1) - (tar - tar0)


def _eer(groups: _Groups, g: int, n_tar_le, n_non_le, srt: SortedScores) -> Eer:
    labels = next(groups.labels_of(np.array([g])))
    p_miss, p_fa = srt.rates(*_inside(labels, g, n_tar_le, n_non_le))
    if g:  # the point before the group: the previous group's end
        before = srt.rates(n_tar_le[g - 1 : g], n_non_le[g - 1 : g])
        p_miss, p_fa = np.concatenate([before[0], p_miss]), np.concatenate([before[1], p_fa])
    x1 = int(np.argmax(p_miss - p_fa >= 0))
    return _eer_from_points(p_miss, p_fa, x1, float(groups.thresholds[g]))


def _min_dcf(groups: _Groups, ends, n_tar_le, n_non_le, srt: SortedScores, point) -> Dcf:
    p_target, c_miss, c_fa = point
    _check_cost(p_target, c_miss, c_fa)
    end_i, end_cost = _first_minimum_cost(ends[0], ends[1], p_target, c_miss, c_fa)
    # each group's lowest corner: its targets not yet counted, its nontargets all counted
    tar_before = np.concatenate([[0], n_tar_le[:-1]])
    corners = srt.rates(tar_before, n_non_le)
    corner_cost = c_miss * corners[0] * p_target + c_fa * corners[1] * (1 - p_target)
    candidates = np.flatnonzero(corner_cost <= end_cost)  # only these can reach or beat the best end
    best_group, best = end_i, end_cost
    for g, labels in zip(candidates, groups.labels_of(candidates)):
        i, cost = _first_minimum_cost(*srt.rates(*_inside(labels, g, n_tar_le, n_non_le)), *point)
        if cost < best or (cost == best and g < best_group):
            best_group, best = g, cost
    return _dcf_of_minimum(p_target, c_miss, c_fa, best, float(groups.thresholds[best_group]))
