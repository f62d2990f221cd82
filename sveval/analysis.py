"""Analyses beyond the pooled numbers: EER/minDCF by gender pairing, and speaker-clustered bootstrap CIs.

The speaker of an utterance is the first path component of its id (`id10270/x6uYqmx31kE/00001.wav` ->
`id10270`), as in VoxCeleb lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sveval import metrics

# pandas and scipy are imported where they are used: `sveval report --help` shows MIN_REPLICATES

GENDER_GROUPS = ("female-female", "male-male", "cross-gender")

# The bootstrap's 95 % percentile interval: numpy's percentile (linear interpolation) puts the 2.5 % point
# at rank 0.025·(N − 1) among the N sorted replicates (rank 0 the smallest) and the 97.5 % point at rank
# 0.975·(N − 1). Only from 0.025·(N − 1) ≥ 1, i.e. N ≥ 41, is each end an order statistic of its own that
# leaves at least one replicate beyond it; below, the 2.5 % point lies between the smallest replicate and
# the next (N = 1: both ends are the one replicate, an "interval" that need not hold the estimate).
CI_TAIL = 0.025
MIN_REPLICATES = 41
_NEEDS = f"a 95 % percentile interval needs at least {MIN_REPLICATES} usable replicates"


def speakers_of(utterances: np.ndarray) -> np.ndarray:
    """The first path component of every utterance id (the whole id when it has no '/')."""
    return np.array([u.split("/", 1)[0] for u in utterances.tolist()], dtype=object)


@dataclass(frozen=True)
class GroupResult:
    """Numbers of one gender pairing. Same-gender groups have EER (fraction) and minDCF; the cross-gender
    group has nontarget trials only, so it reports the false-alarm rate at the pooled EER and minDCF
    thresholds (accept iff score > threshold) instead."""

    group: str
    n_target: int
    n_nontarget: int
    eer: float | None = None
    min_dcf: float | None = None
    fa_at_eer_threshold: float | None = None
    fa_at_dcf_threshold: float | None = None


def gender_breakdown(
    scores: np.ndarray,
    is_target: np.ndarray,
    enroll: np.ndarray,
    test: np.ndarray,
    genders: dict[str, str],
    p_target: float = 0.01,
) -> tuple[GroupResult, ...]:
    """EER/minDCF of female-female and male-male trials, and false alarms of cross-gender trials.

    `genders` maps speaker id to 'm'/'f'; a speaker missing from it raises KeyError naming it (the caller
    turns that into an input error). Groups without trials are left out.
    """
    g_enroll = _genders(speakers_of(enroll), genders)
    g_test = _genders(speakers_of(test), genders)
    pooled = metrics.evaluate(scores, is_target, p_target)
    out = []
    for group, mask in (
        ("female-female", (g_enroll == "f") & (g_test == "f")),
        ("male-male", (g_enroll == "m") & (g_test == "m")),
    ):
        n_t, n_n = int(is_target[mask].sum()), int((~is_target[mask]).sum())
        if n_t and n_n:
            m = metrics.evaluate(scores[mask], is_target[mask], p_target)
            out.append(GroupResult(group, n_t, n_n, eer=m.eer, min_dcf=m.min_dcf))
        elif n_t or n_n:
            out.append(GroupResult(group, n_t, n_n))
    cross = g_enroll != g_test
    if cross.any():
        n_t = int(is_target[cross].sum())
        non = scores[cross & ~is_target]
        out.append(
            GroupResult(
                "cross-gender",
                n_t,
                len(non),
                fa_at_eer_threshold=float(np.mean(non > pooled.eer_threshold)) if len(non) else None,
                fa_at_dcf_threshold=float(np.mean(non > pooled.min_dcf_threshold)) if len(non) else None,
            )
        )
    return tuple(out)


def _genders(speakers: np.ndarray, genders: dict[str, str]) -> np.ndarray:
    import pandas as pd

    codes, uniques = pd.factorize(speakers)
    missing = [s for s in uniques if s not in genders]
    if missing:
        raise KeyError(f"{len(missing)} speaker(s) not in the metadata, e.g. {', '.join(missing[:3])}")
    return np.array([genders[s] for s in uniques], dtype=object)[codes]


@dataclass(frozen=True)
class BootstrapCI:
    """Percentile 95 % intervals from `n` speaker-clustered bootstrap replicates (see `speaker_bootstrap`),
    of which `n_dropped` drew no target or no nontarget trial and were left out: the intervals are over
    the other n - n_dropped. EER values are fractions."""

    n: int
    seed: int
    n_speakers: int
    eer_low: float
    eer_high: float
    min_dcf_low: float
    min_dcf_high: float
    n_dropped: int = 0


def speaker_bootstrap(
    scores: np.ndarray,
    is_target: np.ndarray,
    enroll: np.ndarray,
    test: np.ndarray,
    n: int = 1000,
    seed: int = 0,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
    chunk: int = 64,
) -> BootstrapCI:
    """95 % percentile intervals of the NIST EER and minDCF, resampling speakers.

    What is resampled: the S speakers appearing in the list (enroll or test side) are drawn S times with
    replacement (seeded, numpy's default_rng); a speaker drawn k times appears as k copies. A trial between
    speakers a and b then occurs m_a * m_b times, where m is the number of copies (every copy of the enroll
    speaker against every copy of the test speaker; a target trial occurs m_a^2 times); a trial with an
    undrawn speaker drops out. Each replicate's EER and minDCF are those of the list with trials repeated
    that many times: the per-trial sweep in the original stable sort order, with weights, so that trials
    tied in score stay in trial order as in `sveval.metrics`.

    A replicate whose drawn speakers give no target or no nontarget trial has no EER or minDCF: it is
    dropped and counted (`n_dropped`). Raises ValueError when `n`, or the replicates left, are fewer than
    MIN_REPLICATES: too few for a 95 % percentile interval.
    """
    import pandas as pd
    from scipy import sparse

    order = np.argsort(scores, kind="mergesort")
    tar = np.asarray(is_target, dtype=bool)[order]
    codes, uniques = pd.factorize(np.concatenate([speakers_of(enroll), speakers_of(test)]))
    n_trials = len(scores)
    spk_e, spk_t = codes[:n_trials][order], codes[n_trials:][order]
    n_spk = len(uniques)
    mismatch = np.flatnonzero(tar & (spk_e != spk_t))
    if mismatch.size:
        i = int(order[mismatch[0]])
        raise ValueError(
            f"cannot tell speakers from utterance ids: target trial {enroll[i]} {test[i]} has two different "
            "first path components (the bootstrap resamples speakers, taken as the first component)"
        )
    if n < MIN_REPLICATES:
        raise ValueError(f"{n} replicate(s): {_NEEDS}")
    # Consecutive trials of one class (in score order) lie on one straight segment of the DET curve: EER
    # (a crossing) and minDCF (linear along the segment) only need its end points, so each replicate's
    # weights are summed per run; a Vox1-O list has ~15 times fewer runs than trials.
    # A replicate's weight of a run is sum over its trials of m[enroll speaker] * m[test speaker], i.e. a
    # (runs x speaker pairs) count matrix times the pair weights: one sparse product per chunk.
    starts = np.flatnonzero(np.concatenate([[True], tar[1:] != tar[:-1]]))
    run = np.cumsum(np.isin(np.arange(n_trials), starts)) - 1
    pair_codes, pairs = pd.factorize(spk_e.astype(np.int64) * n_spk + spk_t)
    counts = sparse.csr_matrix(
        (np.ones(n_trials), (run, pair_codes)), shape=(len(starts), len(pairs))
    )  # duplicates are summed
    pair_e, pair_t = pairs // n_spk, pairs % n_spk
    rng = np.random.default_rng(seed)
    eers, dcfs = [], []
    for start in range(0, n, chunk):
        copies = rng.multinomial(n_spk, np.full(n_spk, 1.0 / n_spk), size=min(chunk, n - start))
        pair_weights = (copies[:, pair_e] * copies[:, pair_t]).astype(np.float64)
        weights = np.asarray((counts @ pair_weights.T).T)
        e, d = weighted_eer_min_dcf(weights, tar[starts], p_target, c_miss, c_fa)
        eers.append(e)
        dcfs.append(d)
    eer_all, dcf_all = np.concatenate(eers), np.concatenate(dcfs)
    kept = ~(np.isnan(eer_all) | np.isnan(dcf_all))  # NaN where a replicate lacks a class
    n_dropped = int(n - kept.sum())
    if n - n_dropped < MIN_REPLICATES:
        raise ValueError(
            f"only {n - n_dropped:,} of {n:,} replicates usable ({n_dropped:,} drew no target or no "
            f"nontarget trial and were dropped): {_NEEDS}; use more replicates"
        )
    tails = [100 * CI_TAIL, 100 * (1 - CI_TAIL)]
    eer_lo, eer_hi = np.percentile(eer_all[kept], tails)
    dcf_lo, dcf_hi = np.percentile(dcf_all[kept], tails)
    return BootstrapCI(
        n, seed, n_spk, float(eer_lo), float(eer_hi), float(dcf_lo), float(dcf_hi), n_dropped
    )



def weighted_eer_min_dcf(
    weights: np.ndarray, is_target_sorted: np.ndarray, p_target: float, c_miss: float, c_fa: float
) -> tuple[np.ndarray, np.ndarray]:
    """NIST EER and minDCF for each row of `weights` (replicates x trials, trials in sorted score order),
    with the formulas of `sveval.metrics` applied to weighted counts. NaN where a replicate lacks a class."""
    w_tar = np.where(is_target_sorted, weights, 0.0)
    n_tar_le = np.cumsum(w_tar, axis=1)
    n_non_le = np.cumsum(weights - w_tar, axis=1)
    total_t, total_n = n_tar_le[:, -1:], n_non_le[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        p_miss = n_tar_le / total_t
        p_fa = 1 - n_non_le / total_n
    d = p_miss - p_fa
    rows = np.arange(len(weights))
    x1 = np.argmax(d >= 0, axis=1)
    x2 = np.maximum(x1 - 1, 0)
    first = x1 == 0  # no point with d < 0: the implicit "accept everything" point, as sveval.metrics
    pm1, pf1 = p_miss[rows, x1], p_fa[rows, x1]
    pm2 = np.where(first, 0.0, p_miss[rows, x2])
    pf2 = np.where(first, 1.0, p_fa[rows, x2])
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (pm1 - pf1) / (pf2 - pf1 - (pm2 - pm1))
        eer = pm1 + a * (pm2 - pm1)
        cost = c_miss * p_miss * p_target + c_fa * p_fa * (1 - p_target)
    min_dcf = cost.min(axis=1) / min(c_miss * p_target, c_fa * (1 - p_target))
    bad = (total_t[:, 0] == 0) | (total_n[:, 0] == 0)
    eer[bad] = np.nan
    min_dcf[bad] = np.nan
    return eer, min_dcf
