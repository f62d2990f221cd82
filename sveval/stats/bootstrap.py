"""Analyses beyond the pooled numbers: EER/minDCF by gender pairing, and speaker-clustered bootstrap CIs.

The speaker of an utterance comes from a `sveval.speakers.SpeakerMap` (a utt2spk file, or by default the
first path component of a VoxCeleb id, `id10270/x6uYqmx31kE/00001.wav` -> `id10270`); ids it cannot place
raise `sveval.speakers.SpeakersUnknown`, so that a caller can skip the analysis and say why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sveval.metrics import detection as metrics

if TYPE_CHECKING:
    from sveval.speakers import SpeakerMap

# pandas and scipy are imported where they are used: `sveval report --help` shows MIN_REPLICATES

# The bootstrap's 95 % percentile interval: numpy's percentile (linear interpolation) puts the 2.5 % point
# at rank 0.025·(N − 1) among the N sorted replicates (rank 0 the smallest) and the 97.5 % point at rank
# 0.975·(N − 1). Only from 0.025·(N − 1) ≥ 1, i.e. N ≥ 41, is each end an order statistic of its own that
# leaves at least one replicate beyond it; below, the 2.5 % point lies between the smallest replicate and
# the next (N = 1: both ends are the one replicate, an "interval" that need not hold the estimate).
CI_TAIL = 0.025
MIN_REPLICATES = 41
_NEEDS = f"a 95 % percentile interval needs at least {MIN_REPLICATES} usable replicates"

# The one resampling scheme of every speaker-level interval (`speaker_bootstrap`, `sveval.stats.compare`).
SCHEME = (
    "speaker-clustered bootstrap with a pigeonhole variance correction: each replicate draws the S "
    "speakers of the list S times with replacement (numpy default_rng(seed).multinomial) and weights a "
    "target trial of speaker a m_a times and a nontarget trial between a and b m_a*m_b times; a second "
    "stage of as many replicates draws the P pairs of two different speakers P times with replacement "
    "(target trials kept once), and the speaker replicates are rescaled about the full list's figure to "
    "the variance V_speaker - 2*V_pair (at least V_speaker/3), Owen 2007, times the few-clusters factor "
    "S/(S-1)*(t_{S-1}/z)^2 for the interval's level, never beyond the speaker stage's own spread"
)


def _speakers(speakers: SpeakerMap | None, enroll, test, where: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Speakers of the enroll and test ids (one look-up of both sides) by `speakers` (default: VoxCeleb
    ids)."""
    from sveval.speakers import speaker_map

    both = (speakers or speaker_map()).of(np.concatenate([enroll, test]), where)
    return both[: len(enroll)], both[len(enroll) :]


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
    speakers: SpeakerMap | None = None,
    where: str | None = None,
) -> tuple[GroupResult, ...]:
    """EER/minDCF of female-female and male-male trials, and false alarms of cross-gender trials.

    `genders` maps speaker id to 'm'/'f'; a speaker missing from it raises KeyError naming it (the caller
    turns that into an input error). Groups without trials are left out. `speakers` maps ids to speakers
    (default: the first path component); ids it cannot place raise SpeakersUnknown (`where`: the file).
    """
    spk_enroll, spk_test = _speakers(speakers, enroll, test, where)
    g_enroll = _genders(spk_enroll, genders)
    g_test = _genders(spk_test, genders)
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
    speakers: SpeakerMap | None = None,
    where: str | None = None,
) -> BootstrapCI:
    """95 % percentile intervals of the NIST EER and minDCF, resampling speakers.

    What is resampled (`SCHEME`): the S speakers appearing in the list (enroll or test side) are drawn S
    times with replacement (seeded, numpy's default_rng); a speaker drawn m times appears as m copies. A
    nontarget trial between speakers a and b then occurs m_a·m_b times (every copy of one against every
    copy of the other), a target trial of speaker a m_a times (its cluster once per copy); a trial with an
    undrawn speaker drops out. Each replicate's EER and minDCF are those of the list with trials repeated
    that many times: the per-trial sweep in the original stable sort order, with weights, so that trials
    tied in score stay in trial order as in `sveval.metrics.detection`. The m_a·m_b weighting counts what is
    particular to a pair of speakers three times (Owen's pigeonhole bootstrap), so a second stage of as
    many replicates resamples the pairs of two speakers alone and the speaker replicates are rescaled about
    the full list's figure to the corrected variance V_speaker − 2·V_pair (`corrected_replicates`), per
    figure, before the percentiles are taken.

    A replicate whose drawn speakers give no target or no nontarget trial has no EER or minDCF: it is
    dropped and counted (`n_dropped`). Raises ValueError when `n`, or the replicates left, are fewer than
    MIN_REPLICATES: too few for a 95 % percentile interval, or when a target trial's two utterances have
    different speakers. `speakers` maps ids to speakers (default: the first path component of VoxCeleb
    ids); ids it cannot place raise SpeakersUnknown (`where` names the file in messages).
    """
    import pandas as pd

    order = np.argsort(scores, kind="mergesort")
    tar = np.asarray(is_target, dtype=bool)[order]
    codes, uniques = pd.factorize(np.concatenate(_speakers(speakers, enroll, test, where)))
    n_trials = len(scores)
    spk_e, spk_t = codes[:n_trials][order], codes[n_trials:][order]
    n_spk = len(uniques)
    mismatch = np.flatnonzero(tar & (spk_e != spk_t))
    if mismatch.size:
        i = int(order[mismatch[0]])
        from sveval.speakers import speaker_map

        raise ValueError(
            f"cannot tell speakers from utterance ids: target trial {enroll[i]} {test[i]} is between two "
            f"different speakers, {uniques[spk_e[mismatch[0]]]} and {uniques[spk_t[mismatch[0]]]} "
            f"({(speakers or speaker_map()).describe()}; the bootstrap resamples speakers)"
        )
    if n < MIN_REPLICATES:
        raise ValueError(f"{n} replicate(s): {_NEEDS}")
    pairs = speaker_pairs(spk_e, spk_t, n_spk)  # of the trials in sorted order: already sorted
    runs = sorted_runs(tar, pairs.of_trial)
    rng = np.random.default_rng(seed)
    eers, dcfs = [], []
    for start in range(0, n, chunk):
        copies = draw_copies(rng, n_spk, min(chunk, n - start))
        weights = run_weights(runs, pair_weights(copies, pairs))
        e, d = weighted_eer_min_dcf(weights, runs.is_target, p_target, c_miss, c_fa)
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
    eer_pair, dcf_pair = [], []
    for start in range(0, n, chunk):  # the pair stage of the correction
        weights = run_weights(runs, draw_pair_copies(rng, pairs, min(chunk, n - start)))
        e, d = weighted_eer_min_dcf(weights, runs.is_target, p_target, c_miss, c_fa)
        eer_pair.append(e)
        dcf_pair.append(d)
    unit = run_weights(runs, np.ones((1, len(pairs.enroll))))
    eer_unit, dcf_unit = weighted_eer_min_dcf(unit, runs.is_target, p_target, c_miss, c_fa)
    level = 1 - 2 * CI_TAIL
    eer_all = corrected_replicates(eer_all[kept], np.concatenate(eer_pair), eer_unit[0], n_spk, level)
    dcf_all = corrected_replicates(dcf_all[kept], np.concatenate(dcf_pair), dcf_unit[0], n_spk, level)
    tails = [100 * CI_TAIL, 100 * (1 - CI_TAIL)]
    eer_lo, eer_hi = np.percentile(eer_all, tails)
    dcf_lo, dcf_hi = np.percentile(dcf_all, tails)
    return BootstrapCI(n, seed, n_spk, float(eer_lo), float(eer_hi), float(dcf_lo), float(dcf_hi), n_dropped)


# The pieces of the speaker-clustered bootstrap, shared with the paired comparison (sveval/stats/compare.py),
# which resamples speakers once per replicate and weights every system's trials the same way.


@dataclass(frozen=True)
class SpeakerPairs:
    """The (enroll speaker, test speaker) pairs of a list. of_trial: the pair of each trial (in the order
    the trials were given); enroll, test: the speaker codes (0 .. n_speakers - 1) of each pair."""

    n_speakers: int
    of_trial: np.ndarray
    enroll: np.ndarray
    test: np.ndarray


def speaker_pairs(spk_enroll: np.ndarray, spk_test: np.ndarray, n_speakers: int) -> SpeakerPairs:
    """Pairs from integer speaker codes of both sides of every trial."""
    import pandas as pd

    of_trial, keys = pd.factorize(spk_enroll.astype(np.int64) * n_speakers + spk_test)
    return SpeakerPairs(n_speakers, of_trial, keys // n_speakers, keys % n_speakers)


@dataclass(frozen=True)
class SortedRuns:
    """A system's trials in score order, summed into runs of consecutive trials of one class.

    Consecutive trials of one class (in score order) lie on one straight segment of the DET curve: EER (a
    crossing) and minDCF (linear along the segment) only need its end points, so each replicate's weights
    are summed per run; a Vox1-O list has ~15 times fewer runs than trials. counts: (runs x speaker pairs),
    how many trials of each pair a run holds, so that a replicate's weight of a run, the sum over its
    trials of m[enroll speaker] * m[test speaker], is one sparse product (`run_weights`)."""

    is_target: np.ndarray
    counts: object  # scipy.sparse.csr_matrix


def sorted_runs(is_target_sorted: np.ndarray, pair_of_sorted_trial: np.ndarray) -> SortedRuns:
    """Runs of trials already in stable score order (labels and pair of each); the scores are not needed
    again: a replicate only re-weights, it never re-sorts."""
    from scipy import sparse

    tar = np.asarray(is_target_sorted, dtype=bool)
    n_trials = len(tar)
    change = np.concatenate([[True], tar[1:] != tar[:-1]])
    run = np.cumsum(change) - 1
    n_pairs = int(pair_of_sorted_trial.max()) + 1 if n_trials else 0
    counts = sparse.csr_matrix(
        (np.ones(n_trials), (run, pair_of_sorted_trial)), shape=(int(change.sum()), n_pairs)
    )  # duplicates are summed
    return SortedRuns(tar[change], counts)


def draw_copies(rng: np.random.Generator, n_speakers: int, size: int) -> np.ndarray:
    """(size x n_speakers): how often each speaker is drawn in n_speakers draws with replacement."""
    return rng.multinomial(n_speakers, np.full(n_speakers, 1.0 / n_speakers), size=size)


def pair_weights(copies: np.ndarray, pairs: SpeakerPairs) -> np.ndarray:
    """(replicates x pairs): the copies of each trial of a pair in the speaker stage, m = how often each
    speaker was drawn: m_a·m_b for a pair of two speakers a ≠ b (every copy of one against every copy of
    the other), m_a for a pair (a, a) of one speaker (its target trials: the speaker's cluster, once per
    copy, as a one-way cluster bootstrap; not m_a², which would give a speaker drawn twice four times the
    weight of one drawn once)."""
    w = copies[:, pairs.enroll] * copies[:, pairs.test]
    same = pairs.enroll == pairs.test
    w[:, same] = copies[:, pairs.enroll[same]]
    return w.astype(np.float64)


def draw_pair_copies(rng: np.random.Generator, pairs: SpeakerPairs, size: int) -> np.ndarray:
    """(size x pairs): the pair stage of the correction (`corrected_replicates`): the P pairs of two
    different speakers drawn P times with replacement (a pair drawn k times: its trials k times each), the
    pairs of one speaker (target trials) kept once."""
    cross = np.flatnonzero(pairs.enroll != pairs.test)
    w = np.ones((size, len(pairs.enroll)))
    if cross.size:
        w[:, cross] = rng.multinomial(cross.size, np.full(cross.size, 1.0 / cross.size), size=size)
    return w


def corrected_replicates(
    speaker: np.ndarray, pair: np.ndarray, estimate, n_speakers: int, level: float
) -> np.ndarray:
    """The speaker-stage replicates (last axis) rescaled about `estimate` to the corrected variance.

    Why: a nontarget trial belongs to two speakers. Weighting it m_a·m_b gets the speakers' share of the
    variance right but counts what is particular to the pair (pair effects, trial noise, and the speakers'
    effects as seen by that one pair) three times instead of once: Var(m_a·m_b) ≈ 3 with m ~ Poisson(1),
    while trials sharing one speaker covary by Cov(m_a·m_b, m_a·m_c) ≈ 1, as they should (the pigeonhole
    bootstrap of a crossed design, Owen 2007, Ann. Appl. Stat. 1(2); McCullagh 2000, Bernoulli 6(2),
    showed no resampling of the two factors alone is unbiased). Resampling the pairs of two speakers
    (`draw_pair_copies`) measures that pair-level share, V_pair, so the variance is corrected as
    V = V_speaker − 2·V_pair (the moment correction Owen discusses), floored at V_speaker / 3 (the least it
    can be when all variance is pair-level). Then the usual few-clusters adjustment of clustered inference
    (Cameron, Gelbach & Miller 2008, J. Bus. Econ. Stat. 26(3)): the bootstrap variance of S clusters is
    (S − 1)/S of the unbiased one, and S speakers give S − 1 degrees of freedom, so the spread is scaled
    by `few_speakers_factor` (1.022 for 80 speakers at 95 %, 1.045 for 40, 1.001 for 1,251), at most
    up to the speaker stage's own spread (k ≤ 1: that stage over-counts the pair share, so it bounds the
    variance from above, and a replicate moved towards the estimate stays a possible value: an EER never
    below 0). `benchmarks/compare_coverage.py` measured the need: without it, 80 speakers covered
    92.5–93.9 %. Each replicate becomes estimate + k·(replicate − estimate),
    k = min(1, factor·sqrt(V / V_speaker)), so that
    percentile intervals and p-values keep the shape of the speaker stage's distribution at the corrected
    spread; replicates are returned as they are where the speaker stage does not vary, e.g. a system
    against itself. NaN replicates are ignored in the variances and stay NaN."""
    speaker = np.asarray(speaker, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        v_s = np.nanvar(speaker, axis=-1) if speaker.shape[-1] else np.zeros(speaker.shape[:-1])
        v_p = np.nanvar(np.asarray(pair, dtype=np.float64), axis=-1)
    v_s, v_p = np.asarray(v_s), np.nan_to_num(np.asarray(v_p))
    vary = v_s > 0
    safe = np.where(vary, v_s, 1.0)
    k = few_speakers_factor(n_speakers, level) * np.sqrt(np.maximum(v_s - 2.0 * v_p, v_s / 3.0) / safe)
    k = np.minimum(k, 1.0)  # never wider than the speaker stage itself, which over-counts the pair share
    est = np.asarray(estimate, dtype=np.float64)
    out = est[..., None] + k[..., None] * (speaker - est[..., None])
    return np.where(vary[..., None], out, speaker)


def few_speakers_factor(n_speakers: int, level: float) -> float:
    """sqrt(S / (S − 1)) · t_{S−1}((1 + level)/2) / z((1 + level)/2): the small-sample inflation of a
    clustered interval's spread with S speakers (see `corrected_replicates`); 1 for S < 2."""
    from scipy import stats

    if n_speakers < 2:
        return 1.0
    q = (1 + level) / 2
    return float(
        np.sqrt(n_speakers / (n_speakers - 1)) * stats.t.ppf(q, n_speakers - 1) / stats.norm.ppf(q)
    )


def run_weights(runs: SortedRuns, weights_of_pairs: np.ndarray) -> np.ndarray:
    """(replicates x runs): each run's weighted trial count (integers, exact in float64)."""
    return np.asarray((runs.counts @ weights_of_pairs.T).T)


def weighted_eer_min_dcf(
    weights: np.ndarray, is_target_sorted: np.ndarray, p_target: float, c_miss: float, c_fa: float
) -> tuple[np.ndarray, np.ndarray]:
    """NIST EER and minDCF for each row of `weights` (replicates x trials, trials in sorted score order),
    with the formulas of `sveval.metrics.detection` applied to weighted counts. NaN where a replicate lacks
    a class.

    Point j of the sweep has p_miss = (target weight up to j) / T and p_fa = 1 − (nontarget weight up to
    j) / N. The two cumulative sums are taken over each class's columns alone (adding the other class's
    zeros changes no sum). minDCF: the cost rises along targets and falls along nontargets, so its minimum
    over all points is at a nontarget point or at point 0; only those are evaluated. EER: p_miss − p_fa
    never decreases along the sweep, so its first point ≥ 0 is found by bisection, per replicate."""
    tar = np.asarray(is_target_sorted, dtype=bool)
    weights = np.asarray(weights, dtype=np.float64)
    n_rep, n = weights.shape
    t_idx, n_idx = np.flatnonzero(tar), np.flatnonzero(~tar)
    cum_t = np.zeros((n_rep, len(t_idx) + 1))  # column k: weight of the first k target columns
    cum_n = np.zeros((n_rep, len(n_idx) + 1))
    np.cumsum(weights[:, t_idx], axis=1, out=cum_t[:, 1:])
    np.cumsum(weights[:, n_idx], axis=1, out=cum_n[:, 1:])
    tar_le = np.cumsum(tar)  # targets among points 0..j
    non_le = np.arange(1, n + 1) - tar_le
    total_t, total_n = cum_t[:, -1], cum_n[:, -1]
    bad = (total_t == 0) | (total_n == 0)
    safe_t, safe_n = np.where(bad, 1.0, total_t), np.where(bad, 1.0, total_n)
    rows = np.arange(n_rep)

    def rates(j):  # p_miss, p_fa at point j[r] of each replicate r
        return cum_t[rows, tar_le[j]] / safe_t, 1 - cum_n[rows, non_le[j]] / safe_n

    lo, hi = np.full(n_rep, -1), np.full(n_rep, n - 1)  # d(lo) < 0 (lo = -1: before the sweep), d(hi) >= 0
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        pm, pf = rates(np.maximum(mid, 0))
        up = pm - pf >= 0
        hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
    x1 = hi
    # no point with d < 0: the implicit "accept everything" point, as sveval.metrics.detection
    first = x1 == 0
    pm1, pf1 = rates(x1)
    pm2, pf2 = rates(np.maximum(x1 - 1, 0))
    pm2, pf2 = np.where(first, 0.0, pm2), np.where(first, 1.0, pf2)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (pm1 - pf1) / (pf2 - pf1 - (pm2 - pm1))
        eer = pm1 + a * (pm2 - pm1)
    a_miss, a_fa = c_miss * p_target, c_fa * (1 - p_target)
    p_miss_non = cum_t[:, tar_le[n_idx]] / safe_t[:, None]  # at each nontarget point
    cost = a_miss * p_miss_non + a_fa * (1 - cum_n[:, 1:] / safe_n[:, None])
    best = cost.min(axis=1) if len(n_idx) else np.full(n_rep, np.inf)
    if n and tar[0]:  # point 0 a target: the lowest cost of the targets before the first nontarget
        best = np.minimum(best, a_miss * cum_t[:, 1] / safe_t + a_fa)
    min_dcf = best / min(a_miss, a_fa)
    eer[bad] = np.nan
    min_dcf[bad] = np.nan
    return eer, min_dcf
