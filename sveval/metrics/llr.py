"""Calibration metrics for scores read as natural-log likelihood ratios (LLRs): pure numpy/scipy.

Definitions (BOSARIS toolkit, Brümmer & de Villiers 2013; NIST SRE evaluation plans):

- Cllr (bits) = ½·(mean over targets of log2(1 + e^−s) + mean over nontargets of log2(1 + e^s)); computed by
  ``sveval.metrics.detection.cllr``. 1 bit is the system that always says LLR 0; 0 is perfect.
- minCllr (bits) = Cllr after the optimal monotone map of the scores. Trials are grouped by distinct score
  (tied scores must get one LLR), the group target fractions are fitted by weighted isotonic regression (PAV,
  ``scipy.optimize.isotonic_regression``) giving P(target | s) at the list's empirical prior π = T/(T+N), and
  LLR = logit(P) − logit(π). This equals BOSARIS ``opt_loglr(..., 'raw')`` (whose stable sort puts targets
  before nontargets among ties, so PAV pools each tied group) and pyllr's ``min_cllr`` without Laplace.
- actual DCF at (p, c_miss, c_fa): accept (decide "target") if LLR ≥ θ = log(c_fa·(1−p) / (c_miss·p)) (the
  Bayes threshold), as BOSARIS ``fast_actDCF`` ("accept if llr >= Bayes threshold") and NIST scorers;
  P_miss = targets with s < θ / T, P_fa = nontargets with s ≥ θ / N; normalised like minDCF by
  min(c_miss·p, c_fa·(1−p)). At θ both decisions cost the same in expectation, so the rule only matters for
  LLRs exactly at θ (e.g. an LLR of 0 at p = ½ from rounded or clipped scores); taking the scorers' side
  keeps sveval's figures equal to theirs. One definition, `decision_error_rates`, serves
  `act_dcf` and the APE curve.
- the normalised Bayes error-rate ("APE") curve: actual (the rule above at θ = −ℓ) and minimum DCF
  (c_miss = c_fa = 1) against the prior log-odds ℓ = logit(p), normalised by min(p, 1−p). The minimum at
  each prior is taken over the ROC convex hull, which gives the same minimum as every operating point (a
  linear cost is minimised at a hull vertex). The maximum over ℓ of the unnormalised minimum,
  p·P_miss + (1−p)·P_fa, is the ROCCH EER.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sveval.metrics.detection import SortedScores, _as_labels, _as_scores, cllr
from sveval.metrics.rocch import lower_hull

LN2 = float(np.log(2.0))


def bayes_threshold(p_target: float, c_miss: float = 1.0, c_fa: float = 1.0) -> float:
    """θ = log(c_fa·(1−p) / (c_miss·p)): an LLR above θ costs less to accept than to reject."""
    return float(np.log(c_fa * (1.0 - p_target) / (c_miss * p_target)))


def decision_error_rates(tar_sorted: np.ndarray, non_sorted: np.ndarray, thresholds) -> tuple:
    """The decision rule of actual DCF and the APE curve: accept if LLR ≥ θ, as BOSARIS fast_actDCF and NIST
    scorers (module doc). tar_sorted, non_sorted: target and nontarget LLRs sorted ascending; thresholds: θ,
    a float or an array. Returns (P_miss, P_fa): the share of targets below θ, of nontargets at or above θ."""
    # side="left" counts the values strictly below θ: an LLR equal to θ is accepted
    below_tar = np.searchsorted(tar_sorted, thresholds, side="left")
    below_non = np.searchsorted(non_sorted, thresholds, side="left")
    return below_tar / tar_sorted.size, (non_sorted.size - below_non) / non_sorted.size


@dataclass(frozen=True)
class ActDcf:
    """Normalised actual DCF (a fraction, not percent) and the Bayes threshold it was taken at."""

    p_target: float
    c_miss: float
    c_fa: float
    act_dcf: float
    threshold: float


@dataclass(frozen=True)
class LlrSummary:
    """Cllr and minCllr in bits and actual DCFs of one score set read as LLRs."""

    cllr: float
    min_cllr: float
    act_dcfs: tuple[ActDcf, ...]


def act_dcf(llrs, is_target, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0) -> ActDcf:
    """Normalised actual DCF of natural-log LLRs at one operating point: accept if LLR ≥ θ, as BOSARIS
    fast_actDCF and NIST scorers (definition in the module doc).

    llrs: (n,) float; is_target: (n,) bool. Raises ValueError for non-finite scores or a missing class.
    """
    return _act_dcf(_sorted_llrs(llrs, is_target), p_target, c_miss, c_fa)


def _sorted_llrs(llrs, is_target, name: str = "llrs") -> SortedScores:
    """The checked LLRs (a ValueError names them `name`) with the sorts the metrics here read."""
    s = _as_scores(llrs, name)
    return SortedScores(s, _as_labels(is_target, s.shape[0], name))


def _act_dcf(srt: SortedScores, p_target: float, c_miss: float, c_fa: float) -> ActDcf:
    theta = bayes_threshold(p_target, c_miss, c_fa)
    p_miss, p_fa = decision_error_rates(*srt.classes, theta)
    cost = c_miss * p_target * p_miss + c_fa * (1.0 - p_target) * p_fa
    return ActDcf(
        p_target, c_miss, c_fa, float(cost / min(c_miss * p_target, c_fa * (1.0 - p_target))), theta
    )


def _group_llrs(n_tar_le: np.ndarray, n_non_le: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(LLR, targets, nontargets) of each group of tied scores (the tie-aware sweep's cumulative counts):
    the LLR of the optimal monotone recalibration (PAV; see module doc), ±inf where a pooled group is all
    of one class."""
    n_tar = np.diff(n_tar_le, prepend=0)
    n_non = np.diff(n_non_le, prepend=0)
    n = n_tar + n_non
    # imported here: scipy.optimize costs ~0.5 s to import, and most commands never need minCllr
    from scipy.optimize import isotonic_regression  # noqa: PLC0415

    posterior = isotonic_regression(n_tar / n, weights=n, increasing=True).x
    prior = n_tar.sum() / n.sum()
    with np.errstate(divide="ignore"):
        log_odds = np.log(posterior) - np.log1p(-posterior)
    return log_odds - (np.log(prior) - np.log1p(-prior)), n_tar, n_non


def min_cllr(scores, is_target) -> float:
    """Cllr in bits after the optimal monotone map (BOSARIS min_cllr; module doc). Raises like `act_dcf`."""
    return _min_cllr(_sorted_llrs(scores, is_target, "scores"))


def _min_cllr(srt: SortedScores) -> float:
    llr, n_tar, n_non = _group_llrs(*srt.counts("tie-aware")[:2])
    tar = np.sum(np.logaddexp(0.0, -llr[n_tar > 0]) * n_tar[n_tar > 0]) / n_tar.sum()
    non = np.sum(np.logaddexp(0.0, llr[n_non > 0]) * n_non[n_non > 0]) / n_non.sum()
    return float((tar + non) / (2 * LN2))


def llr_summary(llrs, is_target, operating_points=((0.01, 1.0, 1.0),)) -> LlrSummary:
    """Cllr, minCllr and the actual DCF at each (p_target, c_miss, c_fa), from one sort of the classes."""
    srt = _sorted_llrs(llrs, is_target)
    dcfs = tuple(_act_dcf(srt, *op) for op in operating_points)
    return LlrSummary(cllr(srt.scores, srt.is_target), _min_cllr(srt), dcfs)


@dataclass(frozen=True, eq=False)
class BayesErrorCurve:
    """Normalised actual and minimum DCF (fractions) at each prior log-odds (c_miss = c_fa = 1)."""

    prior_log_odds: np.ndarray
    act_dcf: np.ndarray
    min_dcf: np.ndarray
    eer: float  # ROCCH EER as a fraction: the maximum over all priors of the unnormalised minimum


def bayes_error_curve(llrs, is_target, prior_log_odds=None) -> BayesErrorCurve:
    """The APE / normalised Bayes error-rate curve (module doc); default grid −7..7 in 281 steps."""
    srt = _sorted_llrs(llrs, is_target)
    from scipy.special import expit  # noqa: PLC0415 (scipy.special: ~0.4 s to import; only this needs it)

    plo = np.linspace(-7.0, 7.0, 281) if prior_log_odds is None else np.asarray(prior_log_odds, float)
    p = expit(plo)
    norm = np.minimum(p, 1.0 - p)
    tar, non = srt.classes
    p_miss, p_fa = decision_error_rates(tar, non, -plo)  # θ = −ℓ: the Bayes threshold with unit costs
    act = (p * p_miss + (1.0 - p) * p_fa) / norm
    n_tar_le, n_non_le, _ = srt.counts("tie-aware")
    miss = np.concatenate(([0], n_tar_le))
    fa = non.size - np.concatenate(([0], n_non_le))
    hull = lower_hull(fa, miss)
    hull_miss, hull_fa = miss[hull] / tar.size, fa[hull] / non.size
    costs = p[:, None] * hull_miss[None, :] + (1.0 - p[:, None]) * hull_fa[None, :]
    minimum = costs.min(axis=1) / norm
    # the ROCCH EER: the largest unnormalised minimum over all priors, reached where a hull edge is the
    # minimum (Brümmer's thesis, the APE plot's EER line)
    edge_p = _edge_priors(hull_miss, hull_fa)
    edge_cost = edge_p[:, None] * hull_miss[None, :] + (1.0 - edge_p[:, None]) * hull_fa[None, :]
    eer = float(edge_cost.min(axis=1).max()) if edge_p.size else 0.0
    return BayesErrorCurve(plo, act, minimum, eer)


def _edge_priors(hull_miss: np.ndarray, hull_fa: np.ndarray) -> np.ndarray:
    """For each hull edge, the prior at which both its ends cost the same (where the minimum switches)."""
    d_miss = np.diff(hull_miss)
    d_fa = -np.diff(hull_fa)
    keep = (d_miss > 0) & (d_fa > 0)
    # p·d_miss = (1−p)·d_fa  ->  p = d_fa / (d_miss + d_fa)
    return d_fa[keep] / (d_miss[keep] + d_fa[keep])
