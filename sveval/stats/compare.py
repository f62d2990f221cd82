"""Is system B better than A? Paired comparisons of systems scored on one trial list.

The statistic is the difference metric(B) − metric(A) on the same trials. Its uncertainty comes from a
**paired, speaker-clustered bootstrap**: each replicate draws the S speakers of the list S times with
replacement (speaker a drawn m_a times) and weights every trial between speakers a and b by m_a·m_b — one
draw per replicate, the same weights for every system, so that the speakers that make one system look good
or bad do so for the other as well (synchronized resampling with data dependence: Wu & Kacker, NISTIR 7722;
Bengio & Mariéthoz, "A statistical significance test for person authentication", Odyssey 2004). The
weighting is the one of the per-system bootstrap (`sveval.stats.bootstrap.speaker_bootstrap`), whose pieces
are
reused here: each system's trials are sorted once, into runs of one class, and a replicate only re-weights
runs (`sveval.stats.bootstrap.run_weights`, `weighted_eer_min_dcf`), it never re-sorts.

Per replicate and system: NIST EER and minDCF at each operating point (per-trial sweep in stable score
order, as the per-system bootstrap), and for LLR scores (calibrated `cali_*` / fused `fused_*` files) Cllr
and actual DCF (accept iff LLR ≥ the Bayes threshold θ = log(c_fa(1−p) / (c_miss p)), BOSARIS fast_actDCF)
from per-speaker-pair sums. A replicate that draws no target or no nontarget trial is redrawn, and counted.

Reported per metric (EER in percent): the two full-list values (the numbers `sveval metrics` prints), their
difference, the percentile interval of the replicate differences at the asked level, the two-sided p-value
p = min(1, 2·min(share of replicate differences ≤ 0, share ≥ 0)) (the smallest level at which the
equal-tailed percentile interval excludes 0: a system against itself has every difference exactly 0,
interval [0, 0] and p = 1), Holm's step-down correction of those p-values over the systems compared with
the baseline (per metric), and the share of replicates whose ranking of the two systems differs from the
full list's (sign of the difference; a tie is a ranking of its own).

What the interval assumes: speakers are the independent units (trials of one speaker are dependent, speakers
are exchangeable draws from a population), the list's trial design is repeated per drawn speaker, and S is
large enough for the percentile bootstrap (`benchmarks/compare_coverage.py` measures its coverage).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sveval.metrics import detection as metrics
from sveval.metrics.llr import bayes_threshold
from sveval.stats.bootstrap import (
    SCHEME as SPEAKER_SCHEME,
)
from sveval.stats.bootstrap import (
    corrected_replicates,
    draw_copies,
    draw_pair_copies,
    pair_weights,
    run_weights,
    sorted_runs,
    speaker_pairs,
    weighted_eer_min_dcf,
)

SCHEME = (
    "paired " + SPEAKER_SCHEME + "; the same draws weight every system's trials, and the correction is "
    "applied to the replicate differences of each metric; replicates without a target or a nontarget "
    "trial are redrawn"
)
P_VALUE = "p = min(1, 2*min(share of replicate differences <= 0, share >= 0)), two-sided"
HOLM = "Holm's step-down correction over the systems compared with the baseline, per metric"


@dataclass(frozen=True)
class MetricKey:
    """A compared figure: 'eer' (percent), 'min_dcf' or 'act_dcf' at (p_target, c_miss, c_fa), 'cllr'."""

    metric: str
    p_target: float | None = None
    c_miss: float | None = None
    c_fa: float | None = None

    def label(self) -> str:
        if self.p_target is None:
            return {"eer": "EER %", "cllr": "Cllr"}[self.metric]
        name = {"min_dcf": "minDCF", "act_dcf": "actDCF"}[self.metric]
        return f"{name} ({self.p_target:g}:{self.c_miss:g}:{self.c_fa:g})"


@dataclass(frozen=True)
class SystemScores:
    """One system: its name, scores aligned to the list's trials, and whether they are LLRs."""

    name: str
    scores: np.ndarray
    llr: bool = False


@dataclass(frozen=True)
class MetricComparison:
    key: MetricKey
    baseline: float
    system: float
    difference: float
    ci: tuple[float, float]
    p_value: float
    p_holm: float
    flips: float  # share of replicates whose ranking of the two differs from the full list's


@dataclass(frozen=True)
class Comparison:
    system: str
    baseline: str
    metrics: tuple[MetricComparison, ...]


@dataclass(frozen=True)
class Resampling:
    """How the replicates were drawn (for the provenance)."""

    n: int
    seed: int
    level: float
    n_speakers: int
    n_redrawn: int
    scheme: str = SCHEME


@dataclass(frozen=True)
class ComparisonResult:
    comparisons: tuple[Comparison, ...]
    resampling: Resampling


def min_replicates(level: float) -> int:
    """Fewest replicates whose equal-tailed percentile interval has each end an order statistic of its own
    (numpy puts the lower end at rank (1 − level)/2 · (N − 1)); 41 at 95 %, as `analysis.MIN_REPLICATES`."""
    tail = (1.0 - level) / 2.0
    return int(np.ceil(1.0 / tail - 1e-9)) + 1


def metric_keys(dcfs, llr: bool) -> tuple[MetricKey, ...]:
    keys = [MetricKey("eer")] + [MetricKey("min_dcf", *d) for d in dcfs]
    if llr:
        keys += [MetricKey("cllr")] + [MetricKey("act_dcf", *d) for d in dcfs]
    return tuple(keys)


@dataclass(frozen=True)
class Prepared:
    """What every replicate needs, computed once: speaker pairs, each system's runs in score order, the
    target/nontarget trial counts per pair and, for LLR systems, per-pair sums of Cllr costs and of
    actual-DCF errors."""

    pairs: object  # sveval.stats.bootstrap.SpeakerPairs
    runs: tuple
    n_tar: np.ndarray
    n_non: np.ndarray
    llr_sums: tuple  # per system: (4 per op point + 2, pairs) array, or None
    keys: tuple[MetricKey, ...]
    dcfs: tuple


def prepare(systems, is_target, spk_codes_enroll, spk_codes_test, n_speakers, dcfs, llr) -> Prepared:
    """Sort each system once (stable) and sum what the LLR metrics need per speaker pair."""
    tar = np.asarray(is_target, dtype=bool)
    pairs = speaker_pairs(spk_codes_enroll, spk_codes_test, n_speakers)
    n_pairs = len(pairs.enroll)
    n_tar = np.bincount(pairs.of_trial, weights=tar, minlength=n_pairs)
    n_non = np.bincount(pairs.of_trial, minlength=n_pairs) - n_tar
    runs, sums = [], []
    for system in systems:
        order = np.argsort(system.scores, kind="mergesort")
        runs.append(sorted_runs(tar[order], pairs.of_trial[order]))
        sums.append(_llr_sums(system.scores, tar, pairs.of_trial, n_pairs, dcfs) if llr else None)
    return Prepared(pairs, tuple(runs), n_tar, n_non, tuple(sums), metric_keys(dcfs, llr), tuple(dcfs))


def _llr_sums(s, tar, pair_of, n_pairs, dcfs) -> np.ndarray:
    """Rows: Cllr target cost, Cllr nontarget cost, then per operating point misses and false alarms."""
    with np.errstate(over="ignore"):
        cost = np.where(tar, np.logaddexp(0.0, -s), np.logaddexp(0.0, s)) / np.log(2.0)
    rows = [np.where(tar, cost, 0.0), np.where(tar, 0.0, cost)]
    for p, cm, cf in dcfs:
        theta = bayes_threshold(p, cm, cf)
        rows += [(tar & (s < theta)).astype(float), (~tar & (s >= theta)).astype(float)]
    return np.stack([np.bincount(pair_of, weights=r, minlength=n_pairs) for r in rows])


def weighted_metrics(prep: Prepared, w: np.ndarray) -> np.ndarray:
    """(systems, metrics, replicates) from weights of the speaker pairs (replicates x pairs)."""
    total_t, total_n = w @ prep.n_tar, w @ prep.n_non
    out = np.empty((len(prep.runs), len(prep.keys), len(w)))
    for i, runs in enumerate(prep.runs):
        weights = run_weights(runs, w)
        k = 1 + len(prep.dcfs)
        for j, (p, cm, cf) in enumerate(prep.dcfs):
            eer, dcf = weighted_eer_min_dcf(weights, runs.is_target, p, cm, cf)
            out[i, 1 + j] = dcf
        out[i, 0] = 100.0 * eer
        sums = prep.llr_sums[i]
        if sums is not None:
            s = w @ sums.T  # (replicates, rows)
            out[i, k] = 0.5 * (s[:, 0] / total_t + s[:, 1] / total_n)
            for j, (p, cm, cf) in enumerate(prep.dcfs):
                cost = cm * p * s[:, 2 + 2 * j] / total_t + cf * (1 - p) * s[:, 3 + 2 * j] / total_n
                out[i, k + 1 + j] = cost / min(cm * p, cf * (1 - p))
    return out


def full_list_metrics(system: SystemScores, is_target, keys, dcfs) -> np.ndarray:
    """The figures `sveval metrics` prints (tie-aware sweep; Cllr, actDCF of LLRs), EER in percent."""
    summary = metrics.summarize(system.scores, is_target, ("nist",), tuple(dcfs))
    values = [100.0 * summary.eers[0].value] + [d.min_dcf for d in summary.dcfs]
    if len(keys) > len(values):
        s, tar = system.scores, np.asarray(is_target, dtype=bool)
        with np.errstate(over="ignore"):
            cllr = 0.5 * (np.mean(np.logaddexp(0.0, -s[tar])) + np.mean(np.logaddexp(0.0, s[~tar])))
        values.append(cllr / np.log(2.0))
        for p, cm, cf in dcfs:
            theta = bayes_threshold(p, cm, cf)
            cost = cm * p * np.mean(s[tar] < theta) + cf * (1 - p) * np.mean(s[~tar] >= theta)
            values.append(cost / min(cm * p, cf * (1 - p)))
    return np.array(values)


def p_value(differences: np.ndarray) -> float:
    """Two-sided: min(1, 2·min(share ≤ 0, share ≥ 0)); 1 when every difference is 0."""
    d = np.asarray(differences)
    return float(min(1.0, 2.0 * min(np.mean(d <= 0), np.mean(d >= 0))))


def p_text(p: float, n: int, m: int = 1) -> str:
    """A bootstrap p-value as tables print it. 0 is not printed: it means no replicate difference fell on
    the other side of 0, so p is below the least non-zero value it can take, 2/n (one such replicate);
    after Holm's correction over m systems, below m·2/n."""
    return f"< {min(1.0, 2 * m / n):.2g}" if p == 0 else f"{p:.3f}"


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): sorted ascending, p_(i) · (m − i + 1) (i from 1),
    made non-decreasing by a running maximum and capped at 1; returned in the input order."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out


def flip_share(differences: np.ndarray, full: float) -> float:
    """Share of replicates whose sign of the difference (−, 0, +) is not the full list's."""
    return float(np.mean(np.sign(differences) != np.sign(full)))


def compare(
    systems,
    is_target,
    spk_enroll,
    spk_test,
    baseline: int = 0,
    n: int = 1000,
    seed: int = 0,
    dcfs=((0.01, 1.0, 1.0),),
    level: float = 0.95,
    chunk: int = 32,
) -> ComparisonResult:
    """Each system against `systems[baseline]` (see the module doc). spk_enroll, spk_test: the speaker of
    each trial's two sides (any hashable ids, e.g. from `sveval.speakers.speaker_map().of`). Cllr and
    actDCF are compared when the baseline and the system are both LLRs.

    Raises ValueError for fewer than `min_replicates(level)` replicates, a target trial between two
    speakers, or a list whose draws almost never hold both classes."""
    import pandas as pd

    if not 0.5 <= level < 1:
        raise ValueError(f"level {level:g}: expected a confidence level in [0.5, 1)")
    if n < min_replicates(level):
        raise ValueError(f"{n} replicate(s): a {level:.0%} percentile interval needs {min_replicates(level)}")
    tar = np.asarray(is_target, dtype=bool)
    codes, uniques = pd.factorize(np.concatenate([np.asarray(spk_enroll), np.asarray(spk_test)]))
    n_trials = len(tar)
    code_e, code_t = codes[:n_trials], codes[n_trials:]
    bad = np.flatnonzero(tar & (code_e != code_t))
    if bad.size:
        raise ValueError(
            f"target trial {bad[0] + 1} is between two different speakers ({uniques[code_e[bad[0]]]}, "
            f"{uniques[code_t[bad[0]]]}): the bootstrap resamples speakers"
        )
    llr = all(s.llr for s in systems)
    prep = prepare(systems, tar, code_e, code_t, len(uniques), dcfs, llr)
    rng = np.random.default_rng(seed)
    replicates, n_redrawn = speaker_replicates(prep, len(uniques), n, rng, chunk)
    pair_stage = pair_replicates(prep, n, rng, chunk)
    unit = weighted_metrics(prep, np.ones((1, len(prep.pairs.enroll))))[:, :, 0]
    full = np.stack([full_list_metrics(s, tar, prep.keys, dcfs) for s in systems])
    return ComparisonResult(
        _comparisons(systems, baseline, full, (replicates, pair_stage, unit), prep.keys, level, len(uniques)),
        Resampling(n, seed, level, len(uniques), n_redrawn),
    )


def speaker_replicates(
    prep: Prepared, n_speakers: int, n: int, rng, chunk: int = 32
) -> tuple[np.ndarray, int]:
    """(systems, metrics, n) speaker-stage figures from `n` usable draws of `rng`, and how many draws were
    redrawn."""
    parts, have, redrawn = [], 0, 0
    while have < n:
        copies = draw_copies(rng, n_speakers, min(chunk, n - have))
        w = pair_weights(copies, prep.pairs)
        usable = (w @ prep.n_tar > 0) & (w @ prep.n_non > 0)
        redrawn += int((~usable).sum())
        if redrawn > 10 * n + 100:
            raise ValueError(f"{redrawn:,} draws held no target or no nontarget trial: too few speakers")
        if usable.any():
            parts.append(weighted_metrics(prep, w[usable]))
            have += int(usable.sum())
    return np.concatenate(parts, axis=2), redrawn


def pair_replicates(prep: Prepared, n: int, rng, chunk: int = 32) -> np.ndarray:
    """(systems, metrics, n): the pair stage of the correction (`sveval.stats.bootstrap.draw_pair_copies`)."""
    parts = [
        weighted_metrics(prep, draw_pair_copies(rng, prep.pairs, min(chunk, n - start)))
        for start in range(0, n, chunk)
    ]
    return np.concatenate(parts, axis=2)


def _comparisons(systems, baseline, full, stages, keys, level, n_speakers) -> tuple[Comparison, ...]:
    """stages: the speaker-stage and pair-stage replicates (systems, metrics, replicates) and the
    unit-weight figures (systems, metrics); each difference's replicates are corrected
    (`sveval.stats.bootstrap.corrected_replicates`, for `n_speakers` speakers at `level`) before the interval,
    p-value and flips are taken, so that p < 1 − level exactly where the interval leaves out 0."""
    speaker, pair, unit = stages
    others = [i for i in range(len(systems)) if i != baseline]
    tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    rows: dict[tuple[int, int], dict] = {}
    for i in others:
        for k in range(len(keys)):
            d = corrected_replicates(
                speaker[i, k] - speaker[baseline, k],
                pair[i, k] - pair[baseline, k],
                unit[i, k] - unit[baseline, k],
                n_speakers,
                level,
            )
            lo, hi = np.percentile(d, tails)
            diff = float(full[i, k] - full[baseline, k])
            rows[i, k] = dict(
                baseline=float(full[baseline, k]),
                system=float(full[i, k]),
                difference=diff,
                ci=(float(lo), float(hi)),
                p_value=p_value(d),
                flips=flip_share(d, diff),
            )
    for k in range(len(keys)):  # Holm over the systems, one family per metric
        for i, adjusted in zip(others, holm([rows[i, k]["p_value"] for i in others])):
            rows[i, k]["p_holm"] = float(adjusted)
    return tuple(
        Comparison(
            systems[i].name,
            systems[baseline].name,
            tuple(MetricComparison(key, **rows[i, k]) for k, key in enumerate(keys)),
        )
        for i in others
    )


def comparison_dict(result: ComparisonResult) -> dict:
    """The JSON form: `comparisons`, one object per system against the baseline with `system`, `baseline`
    and `metrics`, each `{metric, baseline, system, difference, ci, p_value, p_holm}` (+ the operating
    point of minDCF/actDCF and `ranking_flips`), EER in percent."""
    out = []
    for c in result.comparisons:
        rows = []
        for m in c.metrics:
            row = {"metric": m.key.metric}
            if m.key.p_target is not None:
                row.update(p_target=m.key.p_target, c_miss=m.key.c_miss, c_fa=m.key.c_fa)
            row.update(
                baseline=m.baseline,
                system=m.system,
                difference=m.difference,
                ci=list(m.ci),
                p_value=m.p_value,
                p_holm=m.p_holm,
                ranking_flips=m.flips,
            )
            rows.append(row)
        out.append({"system": c.system, "baseline": c.baseline, "metrics": rows})
    return {"comparisons": out}


# --- the job: score files or folders in, one result out (files are opened by sveval.io) ---


@dataclass(frozen=True)
class ListInfo:
    """The list every compared system was scored on."""

    name: str
    fingerprint: str
    n_target: int
    n_nontarget: int


@dataclass(frozen=True)
class FileComparison:
    result: ComparisonResult
    trials: ListInfo
    files: tuple[tuple[str, str, bool], ...]  # (system name, score file, read as LLRs)
    speakers: str  # how utterances were mapped to speakers


def score_file_of(system: str, trials_name: str | None = None) -> str:
    """A system given as a score file, or a folder holding exactly one score file (of the list, if named)."""
    import os

    from sveval.errors import InputError
    from sveval.io.folders import scan_folder
    from sveval.io.release import parse_score_name

    if not os.path.isdir(system):
        return system
    files = list(scan_folder(system).score_files)
    if trials_name is not None and len(files) > 1:
        named = [f for f in files if (p := parse_score_name(f.name)) and p.trials == trials_name]
        files = named or files
    if len(files) != 1:
        shown = ", ".join(f.name for f in files[:6]) or "none"
        raise InputError(f"{len(files)} score files here ({shown}): name the one to compare", system)
    return str(files[0])


def compare_files(
    systems,
    trials_spec=None,
    utt2spk=None,
    baseline: str | None = None,
    n: int = 1000,
    seed: int = 0,
    dcfs=((0.01, 1.0, 1.0),),
    level: float = 0.95,
) -> FileComparison:
    """`sveval compare`: read each system (a score file or a folder), check that all were scored on one
    list (same fingerprint; with `trials_spec` each is joined to that list), map speakers, compare."""
    import os

    from sveval.errors import InputError
    from sveval.io.catalog import load_manifest, load_trials
    from sveval.io.release import parse_score_name
    from sveval.io.scores import read_score_file, require_finite
    from sveval.io.trials import fingerprint
    from sveval.pair_join import match_trials
    from sveval.speakers import speaker_map

    names = [s.rstrip("/") or s for s in systems]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InputError("a system is given twice: " + ", ".join(twice))
    base = 0 if baseline is None else _baseline_index(names, baseline)
    trials = load_trials(trials_spec, progress=True) if trials_spec else None
    if trials is not None and not trials.labelled:
        raise InputError("trial list has no labels; a comparison needs them", trials.source)
    paths = [score_file_of(s, trials.builtin if trials else None) for s in names]
    read, listed = [], None
    for name, path in zip(names, paths):
        sf = read_score_file(path)
        require_finite(sf)
        if trials is not None:
            values = match_trials(sf, trials).in_list_order(sf.values)
        else:
            if sf.labels is None:
                raise InputError("3-column score file has no labels; pass --trials NAME|PATH", path)
            values = sf.values
            fp = fingerprint(sf.enroll, sf.test, sf.labels)
            if listed is None:
                listed = (path, sf, fp)
            elif fp != listed[2]:
                raise InputError(_what_differs(listed[1], sf, listed[0]), path)
        llr = bool((p := parse_score_name(os.path.basename(path))) and p.prefix)
        read.append(SystemScores(name, values, llr))
    if trials is not None:
        enroll, test, is_target = trials.enroll, trials.test, trials.is_target
        info = ListInfo(trials.display_name, trials.fingerprint, trials.n_target, trials.n_nontarget)
    else:
        path, sf, fp = listed
        enroll, test, is_target = sf.enroll, sf.test, np.asarray(sf.labels, dtype=bool)
        n_t = int(is_target.sum())
        # a list is known by its content: the built-in name its fingerprint proves, else the file's trials
        known = next((e.name for e in load_manifest()[1].values() if e.fingerprint == fp), None)
        name = known or f"{os.path.basename(path)} (as scored)"
        info = ListInfo(name, fp, n_t, len(is_target) - n_t)
    if info.n_target == 0 or info.n_nontarget == 0:
        raise InputError("the list needs target and nontarget trials", paths[0])
    speakers = speaker_map(utt2spk)
    spk = speakers.of(
        np.concatenate([np.asarray(enroll, dtype=object), np.asarray(test, dtype=object)]),
        where=trials.source if trials is not None else paths[0],
    )
    try:
        result = compare(read, is_target, spk[: len(enroll)], spk[len(enroll) :], base, n, seed, dcfs, level)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    files = tuple((s.name, p, s.llr) for s, p in zip(read, paths))
    return FileComparison(result, info, files, speakers.describe())


def _baseline_index(names, baseline: str) -> int:
    from sveval.errors import InputError

    wanted = baseline.rstrip("/") or baseline
    if wanted in names:
        return names.index(wanted)
    import os

    by_base = [i for i, n in enumerate(names) if os.path.basename(n) == wanted]
    if len(by_base) == 1:
        return by_base[0]
    raise InputError(f"--baseline {baseline!r} is not one of the systems ({', '.join(names)})")


def _what_differs(first, other, first_path: str) -> str:
    """Why two score files are not on one list: counts, trials in one only, labels, or only the order."""
    from sveval.pair_join import join

    def pair(sf, line) -> str:
        return f"{sf.enroll[line]} {sf.test[line]}"

    joined = join(other, first)
    only_here, only_there = joined.extra_lines, joined.missing
    head = f"not scored on the same list as {first_path} (fingerprints differ): "
    if only_here.size or only_there.size:
        parts = [f"{len(other):,} trials against {len(first):,}"]
        if only_here.size:
            parts.append(f"{only_here.size:,} only here, e.g. {pair(other, only_here[0])}")
        if only_there.size:
            parts.append(f"{only_there.size:,} only there, e.g. {pair(first, only_there[0])}")
        return head + "; ".join(parts)
    if joined.duplicated.size:
        return head + f"{len(other):,} lines against {len(first):,} (repeated trials)"
    if joined.label_lines.size:
        wrong = joined.label_lines
        return head + f"{wrong.size:,} trial(s) labelled otherwise, e.g. {pair(other, wrong[0])}"
    return head + "the same trials and labels in another order; give --trials LIST to align them by the list"
