"""Analyses beyond the pooled numbers: EER/minDCF by gender pairing, and speaker-clustered bootstrap CIs.

The speaker of an utterance comes from a `sveval.speakers.SpeakerMap` (a utt2spk file, or by default the
first path component of a VoxCeleb id, `id10270/x6uYqmx31kE/00001.wav` -> `id10270`); ids it cannot place
raise `sveval.speakers.SpeakersUnknown`, so that a caller can skip the analysis and say why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sveval import metrics

if TYPE_CHECKING:
    from sveval.speakers import SpeakerMap

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
    """Deprecated: `sveval.speakers.speaker_map().of(ids)`, which this delegates to (one mapping). Kept only
    because benchmarks/bench_report.py imports it; remove once that script calls speaker_map."""
    from sveval.speakers import speaker_map

    return speaker_map().of(utterances)


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

    What is resampled: the S speakers appearing in the list (enroll or test side) are drawn S times with
    replacement (seeded, numpy's default_rng); a speaker drawn k times appears as k copies. A trial between
    speakers a and b then occurs m_a * m_b times, where m is the number of copies (every copy of the enroll
    speaker against every copy of the test speaker; a target trial occurs m_a^2 times); a trial with an
    undrawn speaker drops out. Each replicate's EER and minDCF are those of the list with trials repeated
    that many times: the per-trial sweep in the original stable sort order, with weights, so that trials
    tied in score stay in trial order as in `sveval.metrics`.

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
    tails = [100 * CI_TAIL, 100 * (1 - CI_TAIL)]
    eer_lo, eer_hi = np.percentile(eer_all[kept], tails)
    dcf_lo, dcf_hi = np.percentile(dcf_all[kept], tails)
    return BootstrapCI(
        n, seed, n_spk, float(eer_lo), float(eer_hi), float(dcf_lo), float(dcf_hi), n_dropped
    )


# The pieces of the speaker-clustered bootstrap, shared with the paired comparison (sveval/compare.py), which
# resamples speakers once per replicate and weights every system's trials the same way.


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
    """(replicates x pairs): m[enroll speaker] * m[test speaker], the copies of each trial of a pair."""
    return (copies[:, pairs.enroll] * copies[:, pairs.test]).astype(np.float64)


def run_weights(runs: SortedRuns, weights_of_pairs: np.ndarray) -> np.ndarray:
    """(replicates x runs): each run's weighted trial count (integers, exact in float64)."""
    return np.asarray((runs.counts @ weights_of_pairs.T).T)


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
