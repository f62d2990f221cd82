"""Subgroups and fairness figures: per-group EER/minDCF, error rates at the pooled thresholds, FDR and GARBE.

Pure computation: scores, labels, ids, speakers and metadata arrive as arrays and dicts (the report reads
the files). Groupings, and how a trial is assigned to a group:

* ``gender`` (speaker metadata): a trial is in group female-female (male-male) when the speakers of both
  sides are female (male). Trials between a female and a male speaker (all nontargets) are the row
  ``cross-gender``: counts and false-match rates at the pooled thresholds only, never a group of the
  fairness figures (as `sveval.stats.bootstrap.gender_breakdown`).
* ``nationality`` (speaker metadata, vox1_meta.csv's Nationality): a trial is in group X when both speakers
  have nationality X; trials between nationalities are the row ``cross-nationality`` (as cross-gender).
* ``duration`` (a utt2dur): the band of the shorter side, min(duration(enroll), duration(test)), with band
  edges in seconds (default 5, 10, 20: ``< 5 s``, ``5-10 s``, ``10-20 s``, ``>= 20 s``; a duration equal to
  an edge goes to the upper band). Every trial is in exactly one band.
* ``video`` (VoxCeleb ids ``speaker/video/utterance``): target trials are ``same video`` (both utterances
  from one video) or ``different video``; nontarget trials belong to no video group and are **shared**:
  each video group is its target trials against all nontarget trials of the list (so the two groups have
  the same false-match rate at the pooled threshold, and the fairness figures of this grouping measure
  FNMR differences only).

For each group: its speakers (distinct speakers on either side of the group's own trials; for a video group
its target trials), target and nontarget trials, the EER (NIST) and minDCF of the group's trials at the
group's own thresholds, and FMR/FNMR at the pooled thresholds (those of the pooled EER and minDCF of the
whole list; accept iff score > threshold, as `sveval.metrics.detection`). A group with fewer than
`min_speakers`
speakers or fewer than `min_trials` target or nontarget trials (a cross row: nontarget trials) is listed
with its counts and no numbers, and is left out of the fairness figures.

Fairness figures, per grouping, over its reported groups (at least two), at a pooled threshold τ (the
pooled EER threshold and the pooled minDCF threshold, each fixed at its full-list value: the threshold a
deployed system would use), with α = 0.5 unless asked otherwise:

* FDR, the Fairness Discrepancy Rate (T. de Freitas Pereira and S. Marcel, "Fairness in biometrics: a
  figure of merit to assess biometric verification systems", IEEE T-BIOM 4(1), 2022; Idiap's
  bob.bio.demographics): FDR(τ) = 1 − (α·A(τ) + (1−α)·B(τ)), A(τ) = max over pairs of groups
  |FMR_i(τ) − FMR_j(τ)|, B(τ) = the same for FNMR. 1 is fair, 0 as unfair as it gets.
* GARBE, the Gini Aggregation Rate for Biometric Equitability (J. J. Howard, E. J. Laird, R. E. Rubin,
  Y. B. Sirotin, J. L. Tipton, A. R. Vemury, "Evaluating proposed fairness models for face recognition
  algorithms", ICPR 2022 workshops, arXiv:2203.05051): GARBE(τ) = α·G_FMR(τ) + (1−α)·G_FNMR(τ), with the
  sample Gini coefficient of the n group rates G_x = n/(n−1) · Σ_i Σ_j |x_i − x_j| / (2 n² x̄) (x̄ their
  mean; 0 when all rates are 0). 0 is fair, 1 as unfair as it gets.
* max/min ratios max_i FMR_i / min_i FMR_i and the same for FNMR (inf when the smallest rate is 0 and the
  largest is not; 1 when both are 0).

Each with a speaker-clustered bootstrap interval: the replicates of `sveval.stats.bootstrap` (each draws the S
speakers of the list S times with replacement and weights a trial between speakers a and b m_a·m_b times;
`draw_copies`, `speaker_pairs`, `pair_weights`), under which each group's FMR and FNMR at the fixed τ are
ratios of weighted per-speaker-pair counts (no sorting). A replicate in which a group of the grouping has
no target or no nontarget trial left is dropped for that grouping and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sveval.metrics import detection as metrics

GROUPINGS = ("gender", "nationality", "duration", "video")
MIN_SPEAKERS = 5
MIN_TRIALS = 100
DURATION_EDGES = (5.0, 10.0, 20.0)
ALPHA = 0.5

RULES = {
    "gender": "both speakers of the trial have that gender; trials across genders: row cross-gender "
    "(nontargets only, no fairness group)",
    "nationality": "both speakers of the trial have that nationality; trials across nationalities: row "
    "cross-nationality (nontargets only, no fairness group)",
    "duration": "band of the shorter side of the trial, min(duration(enroll), duration(test)), from the "
    "utt2dur (an edge goes to the upper band)",
    "video": "target trials by whether both utterances come from one video (VoxCeleb ids "
    "speaker/video/utterance); every nontarget trial of the list is shared by both groups",
}


@dataclass(frozen=True)
class Assignment:
    """Trials of one grouping: `of_trial` the group of each trial ('' for none), `groups` in display order,
    `cross` the labels that are cross rows (nontargets between groups), `shared_nontargets` whether every
    group takes all nontarget trials of the list (video)."""

    grouping: str
    of_trial: np.ndarray
    groups: tuple[str, ...]
    cross: tuple[str, ...] = ()
    shared_nontargets: bool = False


@dataclass(frozen=True)
class GroupStats:
    """One row. eer (fraction) and min_dcf at the group's own thresholds; fmr/fnmr at the pooled EER and
    minDCF thresholds (fractions). None: not computed (a small group, or a cross row's EER/FNMR)."""

    grouping: str
    group: str
    cross: bool
    n_speakers: int
    n_target: int
    n_nontarget: int
    reported: bool
    eer: float | None = None
    min_dcf: float | None = None
    fmr_at_eer: float | None = None
    fnmr_at_eer: float | None = None
    fmr_at_dcf: float | None = None
    fnmr_at_dcf: float | None = None


@dataclass(frozen=True)
class Fairness:
    """Fairness figures of one grouping at one pooled threshold; *_ci: bootstrap percentile interval or
    None (no bootstrap, or too few usable replicates)."""

    grouping: str
    threshold_name: str  # "EER" or "minDCF": which pooled threshold
    threshold: float
    alpha: float
    groups: tuple[str, ...]
    fdr: float
    garbe: float
    fmr_ratio: float
    fnmr_ratio: float
    fdr_ci: tuple[float, float] | None = None
    garbe_ci: tuple[float, float] | None = None
    fmr_ratio_ci: tuple[float, float] | None = None
    fnmr_ratio_ci: tuple[float, float] | None = None
    n_replicates: int = 0
    n_dropped: int = 0


@dataclass(frozen=True)
class SubgroupResult:
    groups: tuple[GroupStats, ...]
    fairness: tuple[Fairness, ...]
    rules: tuple[tuple[str, str], ...]  # (grouping, how trials are assigned)
    min_speakers: int
    min_trials: int
    eer_threshold: float
    dcf_threshold: float
    p_target: float = 0.01
    c_miss: float = 1.0
    c_fa: float = 1.0
    bootstrap: int = 0
    seed: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


# --- the figures ---


def fdr(fmrs, fnmrs, alpha: float = ALPHA) -> float:
    """Fairness Discrepancy Rate: 1 − (α·max|FMR_i − FMR_j| + (1−α)·max|FNMR_i − FNMR_j|)."""
    return float(_figures(np.atleast_2d(fmrs), np.atleast_2d(fnmrs), alpha)[0, 0])


def gini(values) -> float:
    """Sample Gini coefficient with the n/(n−1) correction: n/(n−1) · Σ_i Σ_j |x_i − x_j| / (2 n² x̄);
    0 when every value is 0. Needs n ≥ 2."""
    return float(_gini_rows(np.atleast_2d(np.asarray(values, dtype=float)))[0])


def garbe(fmrs, fnmrs, alpha: float = ALPHA) -> float:
    """GARBE = α·Gini(FMRs) + (1−α)·Gini(FNMRs)."""
    return float(_figures(np.atleast_2d(fmrs), np.atleast_2d(fnmrs), alpha)[0, 1])


def max_min_ratio(values) -> float:
    """max / min of the group rates: inf when the smallest is 0 and the largest not, 1 when both are 0."""
    return float(_ratio_rows(np.atleast_2d(np.asarray(values, dtype=float)))[0])


def _gini_rows(x: np.ndarray) -> np.ndarray:
    n = x.shape[1]
    mean = x.mean(axis=1)
    diff = np.abs(x[:, :, None] - x[:, None, :]).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        g = n / (n - 1) * diff / (2 * n * n * mean)
    return np.where(mean == 0, 0.0, g)


def _ratio_rows(x: np.ndarray) -> np.ndarray:
    hi, lo = x.max(axis=1), x.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = hi / lo
    return np.where(hi == 0, 1.0, np.where(lo > 0, r, np.inf))


def _figures(fmr: np.ndarray, fnmr: np.ndarray, alpha: float) -> np.ndarray:
    """(replicates x 4): FDR, GARBE, FMR ratio, FNMR ratio of rates (replicates x groups), vectorised; the
    one computation behind the point figures, their bootstrap and the scalar functions above."""
    fmr, fnmr = np.asarray(fmr, dtype=float), np.asarray(fnmr, dtype=float)
    spread = alpha * (fmr.max(axis=1) - fmr.min(axis=1)) + (1 - alpha) * (fnmr.max(axis=1) - fnmr.min(axis=1))
    return np.stack(
        [
            1.0 - spread,
            alpha * _gini_rows(fmr) + (1 - alpha) * _gini_rows(fnmr),
            _ratio_rows(fmr),
            _ratio_rows(fnmr),
        ],
        axis=1,
    )


# --- assigning trials to groups ---


def attribute_groups(grouping: str, spk_enroll, spk_test, attribute: dict[str, str]) -> Assignment:
    """Groups of a speaker attribute (gender 'm'/'f', nationality): both sides share the value, or the
    cross row. A speaker missing from `attribute` raises KeyError naming how many and which."""
    values = _looked_up(spk_enroll, spk_test, attribute, "speaker(s) not in the metadata", object)
    n = len(spk_enroll)
    a, b = values[:n], values[n:]
    if grouping == "gender":
        names = {"f": "female-female", "m": "male-male"}
        label = np.array([names.get(v, f"{v}-{v}") for v in a], dtype=object)
        order = [g for g in ("female-female", "male-male") if g in set(label[a == b])]
    else:
        label = a.copy()
        same = label[a == b]
        both = np.concatenate([np.asarray(spk_enroll), np.asarray(spk_test)])
        speakers_per = {v: len(set(both[np.tile((a == b) & (a == v), 2)])) for v in set(same)}
        order = sorted(speakers_per, key=lambda v: (-speakers_per[v], str(v)))
    cross = f"cross-{grouping}"
    label = np.where(a == b, label, cross).astype(object)
    return Assignment(grouping, label, tuple(order) + ((cross,) if (a != b).any() else ()), (cross,))


def _looked_up(enroll, test, table: dict, missing_what: str, dtype) -> np.ndarray:
    """`table`'s value of every enroll id, then of every test id (each distinct id looked up once); an id
    missing from the table raises KeyError saying how many and which."""
    import pandas as pd

    ids = np.concatenate([np.asarray(enroll, dtype=object), np.asarray(test, dtype=object)])
    codes, uniques = pd.factorize(ids)
    missing = [u for u in uniques if u not in table]
    if missing:
        raise KeyError(f"{len(missing):,} {missing_what}, e.g. {', '.join(map(str, missing[:3]))}")
    return np.array([table[u] for u in uniques], dtype=dtype)[codes]


def band_names(edges) -> tuple[str, ...]:
    e = [f"{x:g}" for x in edges]
    return tuple([f"< {e[0]} s"] + [f"{lo}-{hi} s" for lo, hi in zip(e, e[1:])] + [f">= {e[-1]} s"])


def duration_groups(enroll, test, durations: dict[str, float], edges=DURATION_EDGES) -> Assignment:
    """Band of min(duration(enroll), duration(test)). An id missing from `durations` raises KeyError."""
    edges = tuple(float(x) for x in edges)
    if not edges or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] <= 0:
        raise ValueError(f"duration band edges {edges}: expected increasing positive seconds")
    secs = _looked_up(enroll, test, durations, "utterance(s) not in the utt2dur", float)
    n = len(enroll)
    shorter = np.minimum(secs[:n], secs[n:])
    names = band_names(edges)
    band = np.searchsorted(np.asarray(edges), shorter, side="right")  # an edge goes to the upper band
    label = np.asarray(names, dtype=object)[band]
    return Assignment("duration", label, tuple(n for n in names if (label == n).any()))


def video_of(ids) -> np.ndarray:
    """The video of VoxCeleb ids `speaker/video/utterance` (the second path component); ValueError for an
    id without one."""
    import pandas as pd

    ids = np.asarray(ids, dtype=object)
    codes, uniques = pd.factorize(ids)
    parts = pd.Series(np.asarray(uniques, dtype=object), dtype=object).str.split("/")
    bad = np.flatnonzero(parts.str.len().to_numpy() < 3)
    if bad.size:
        raise ValueError(
            f"cannot tell the video of {uniques[bad[0]]!r} ({bad.size:,} id(s) not speaker/video/utterance)"
        )
    return parts.str[1].to_numpy(dtype=object)[codes]


def video_groups(enroll, test, is_target) -> Assignment:
    """Target trials: 'same video' or 'different video'; nontargets shared by both."""
    tar = np.asarray(is_target, dtype=bool)
    same = video_of(enroll) == video_of(test)
    label = np.where(tar, np.where(same, "same video", "different video"), "").astype(object)
    groups = tuple(g for g in ("same video", "different video") if (label == g).any())
    return Assignment("video", label, groups, shared_nontargets=True)


# --- per-group numbers and fairness figures ---


def _masks(a: Assignment, tar: np.ndarray, group: str) -> tuple[np.ndarray, np.ndarray]:
    """(own trials, trials the group's numbers use)."""
    own = a.of_trial == group
    return own, (own | ~tar) if a.shared_nontargets else own


def analyse(
    scores,
    is_target,
    spk_enroll,
    spk_test,
    assignments,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
    min_speakers: int = MIN_SPEAKERS,
    min_trials: int = MIN_TRIALS,
    bootstrap: int = 0,
    seed: int = 0,
    alpha: float = ALPHA,
    chunk: int = 64,
) -> SubgroupResult:
    """Per-group rows and fairness figures (module doc) of the groupings in `assignments`. bootstrap: the
    number of speaker-clustered replicates of the fairness intervals (0: none)."""
    import pandas as pd

    from sveval.stats.bootstrap import MIN_REPLICATES

    s = np.asarray(scores, dtype=float)
    tar = np.asarray(is_target, dtype=bool)
    pooled = metrics.evaluate(s, tar, p_target, c_miss, c_fa)
    taus = (("EER", pooled.eer_threshold), ("minDCF", pooled.min_dcf_threshold))
    codes, uniques = pd.factorize(np.concatenate([np.asarray(spk_enroll), np.asarray(spk_test)]))
    n = len(s)
    code_e, code_t = codes[:n], codes[n:]
    rows: list[GroupStats] = []
    fair_inputs = []  # (grouping, reported groups, their masks)
    for a in assignments:
        reported, masks = [], []
        for g in a.groups:
            own, used = _masks(a, tar, g)
            cross = g in a.cross
            n_spk = len(np.union1d(code_e[own], code_t[own]))
            n_t, n_n = int((used & tar).sum()), int((used & ~tar).sum())
            big = n_spk >= min_speakers and n_n >= min_trials and (cross or n_t >= min_trials)
            row = GroupStats(a.grouping, g, cross, n_spk, n_t, n_n, big)
            if big:
                rates = {}
                for name, tau in taus:
                    key = "eer" if name == "EER" else "dcf"
                    rates[f"fmr_at_{key}"] = float(np.mean(s[used & ~tar] > tau))
                    if not cross:
                        rates[f"fnmr_at_{key}"] = float(np.mean(s[used & tar] <= tau))
                if not cross:
                    m = metrics.evaluate(s[used], tar[used], p_target, c_miss, c_fa)
                    rates.update(eer=m.eer, min_dcf=m.min_dcf)
                    reported.append(g)
                    masks.append(used)
                row = GroupStats(a.grouping, g, cross, n_spk, n_t, n_n, True, **rates)
            rows.append(row)
        if len(reported) >= 2:
            fair_inputs.append((a.grouping, tuple(reported), masks))
    notes = [
        f"{a.grouping}: fewer than two groups large enough for fairness figures"
        for a in assignments
        if a.grouping not in {f[0] for f in fair_inputs}
    ]
    fairness = _fairness(
        s, tar, code_e, code_t, len(uniques), fair_inputs, taus, alpha, bootstrap, seed, chunk
    )
    if bootstrap and fair_inputs and any(f.fdr_ci is None for f in fairness):
        notes.append(f"fairness intervals left out where fewer than {MIN_REPLICATES} replicates were usable")
    return SubgroupResult(
        tuple(rows),
        fairness,
        tuple((a.grouping, RULES[a.grouping]) for a in assignments),
        min_speakers,
        min_trials,
        float(pooled.eer_threshold),
        float(pooled.min_dcf_threshold),
        p_target,
        c_miss,
        c_fa,
        bootstrap,
        seed,
        tuple(notes),
    )


def _fairness(s, tar, code_e, code_t, n_speakers, fair_inputs, taus, alpha, bootstrap, seed, chunk):
    from sveval.stats.bootstrap import MIN_REPLICATES, draw_copies, pair_weights, speaker_pairs

    if not fair_inputs:
        return ()
    pairs = speaker_pairs(code_e, code_t, n_speakers)
    n_pairs = len(pairs.enroll)
    # per grouping, threshold and group: weighted counts (nontargets, false matches, targets, misses) as
    # per-speaker-pair sums, so that a replicate's rates are one matrix product
    blocks = []
    for _, _groups, masks in fair_inputs:
        for _, tau in taus:
            for used in masks:
                rows = [used & ~tar, used & ~tar & (s > tau), used & tar, used & tar & (s <= tau)]
                blocks.append([np.bincount(pairs.of_trial, weights=r, minlength=n_pairs) for r in rows])
    counts = np.asarray(blocks)  # (k, 4, pairs)
    full = counts.sum(axis=2)  # every speaker once: the full list
    reps = None
    if bootstrap:
        rng = np.random.default_rng(seed)
        parts = []
        for start in range(0, bootstrap, chunk):
            w = pair_weights(draw_copies(rng, n_speakers, min(chunk, bootstrap - start)), pairs)
            parts.append(np.einsum("rp,kcp->rkc", w, counts))
        reps = np.concatenate(parts)  # (replicates, k, 4)
    out, k = [], 0
    tails = [2.5, 97.5]
    for grouping, groups, masks in fair_inputs:
        for name, tau in taus:
            sl = slice(k, k + len(masks))
            k += len(masks)

            def rates(c):
                with np.errstate(invalid="ignore", divide="ignore"):
                    return c[..., 1] / c[..., 0], c[..., 3] / c[..., 2]

            fmr, fnmr = rates(full[sl])
            point = _figures(fmr[None, :], fnmr[None, :], alpha)[0]
            cis, used, dropped = [None] * 4, 0, 0
            if reps is not None:
                r_fmr, r_fnmr = rates(reps[:, sl])
                ok = ~(np.isnan(r_fmr).any(axis=1) | np.isnan(r_fnmr).any(axis=1))
                used, dropped = int(ok.sum()), int((~ok).sum())
                if used >= MIN_REPLICATES:
                    figs = _figures(r_fmr[ok], r_fnmr[ok], alpha)
                    cis = [_percentiles(figs[:, j], tails) for j in range(4)]
            out.append(
                Fairness(
                    grouping,
                    name,
                    float(tau),
                    alpha,
                    groups,
                    *map(float, point),
                    *cis,
                    n_replicates=used,
                    n_dropped=dropped,
                )
            )
    return tuple(out)


def _percentiles(x: np.ndarray, tails) -> tuple[float, float]:
    """numpy's linear percentiles, with inf (a ratio over a zero rate) kept: inf is ordered last."""
    big = np.isinf(x)
    if not big.any():
        lo, hi = np.percentile(x, tails)
        return float(lo), float(hi)
    lo, hi = np.percentile(np.where(big, np.finfo(float).max, x), tails)
    return tuple(float("inf") if v >= np.finfo(float).max / 2 else float(v) for v in (lo, hi))


# --- metadata: a column of the speaker table ---


@dataclass(frozen=True)
class SubgroupSpec:
    """What `sveval report --groups` asks for: the groupings, their data, the minimum sizes and the
    bootstrap of the fairness intervals."""

    groupings: tuple[str, ...]
    genders: dict | None = None
    nationalities: dict | None = None
    durations: dict | None = None
    edges: tuple[float, ...] = DURATION_EDGES
    min_speakers: int = MIN_SPEAKERS
    min_trials: int = MIN_TRIALS
    bootstrap: int = 0
    seed: int = 0


def subgroups_of(scores, is_target, enroll, test, spk_enroll, spk_test, spec: SubgroupSpec, point):
    """`analyse` for the groupings of `spec` at operating point (p_target, c_miss, c_fa). Raises KeyError
    (a speaker or utterance missing from the metadata or utt2dur) or ValueError (ids without a video)."""
    built = []
    for grouping in spec.groupings:
        if grouping == "gender":
            built.append(attribute_groups("gender", spk_enroll, spk_test, spec.genders))
        elif grouping == "nationality":
            built.append(attribute_groups("nationality", spk_enroll, spk_test, spec.nationalities))
        elif grouping == "duration":
            built.append(duration_groups(enroll, test, spec.durations, spec.edges))
        elif grouping == "video":
            built.append(video_groups(enroll, test, is_target))
        else:
            raise ValueError(f"unknown grouping {grouping!r}: expected one of {', '.join(GROUPINGS)}")
    return analyse(
        scores,
        is_target,
        spk_enroll,
        spk_test,
        built,
        *point,
        min_speakers=spec.min_speakers,
        min_trials=spec.min_trials,
        bootstrap=spec.bootstrap,
        seed=spec.seed,
    )
