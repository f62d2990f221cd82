"""One scoring run: embeddings + trial lists (+ cohort) -> scores, cohort statistics and metrics per list
and method. Pure computation; `sveval.io.score_folder.write_score_folder` writes the result.

    run = score_lists(evaluation, [load_trials("vox1_O_cleaned")], ScoreOptions(...), cohort=cohort)
    write_score_folder(run, "exp/scores")

Statistics belong to utterances: they are computed once per unique utterance over every list of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sveval.errors import InputError, shown_id
from sveval.io.score_folder import score_file_name
from sveval.scoring import cosine as scoring
from sveval.scoring.cohort import CohortSums, cohort_blocks, sum_cohort
from sveval.signature import Signature, dcf_tag, trials_tag
from sveval.types import Embeddings, TrialList

PRECISION = {
    "exact/float64": "float64 throughout: mean vector, speaker means, cosine, cohort products, top-N and "
    "s-norm mean/std, normalisation; cosine scores are not rounded before normalisation",
    "exact/float32": "float64 throughout (mean vector, speaker means, cosine, s-norm statistics from the "
    "cohort Gram matrix, normalisation; cosine not rounded before normalisation) except the AS-norm cohort "
    "products: exact products of the unit vectors rounded to multiples of 2^-26 (error <= 2.4e-7, ~6e-9 "
    "typical, each; the same bits whatever else is scored), top-N mean/std in float64",
    "wespeaker": "WeSpeaker's float32 arithmetic (score.py + score_norm.py, numpy 1.x promotion): float32 "
    "mean vector and speaker means (running sums), float32 cosine, cosine rounded to 5 decimals before "
    "normalisation, float32 top-N mean/std, normalisation formula in float64",
}


@dataclass(frozen=True, eq=False)
class Cohort:
    """Utterance-level cohort embeddings and the speaker of each utterance (same order)."""

    name: str
    embeddings: Embeddings
    speakers: np.ndarray

    @property
    def n_speakers(self) -> int:
        return len(pd.unique(self.speakers))

    def sums(self, compat: str) -> CohortSums:
        """The cohort reduced to its sums (what scoring uses), as a streamed cohort file gives them."""
        blocks = cohort_blocks(self.embeddings.vectors, self.speakers)
        return sum_cohort(blocks, self.name, compat)


@dataclass(frozen=True, eq=False)
class ScoreOptions:
    """methods: subset of ('cos', 'snorm', 'asnorm') (None: all three with a cohort, cos without);
    mean: 'cohort', 'none' or 'given' (mean_vector; mean_source names its file); None: cohort if there
    is one, else none. cohort_precision: dtype of the AS-norm cohort products in exact mode."""

    methods: tuple[str, ...] | None = None
    top_n: int = 300
    compat: str = "exact"
    mean: str | None = None
    mean_vector: np.ndarray | None = None
    mean_source: str = ""
    eval_name: str = "vox1"
    allow_missing: bool = False
    cohort_precision: str = "float32"
    p_target: float = 0.01
    c_miss: float = 1.0
    c_fa: float = 1.0

    @property
    def sweep(self) -> str:
        """How tied scores are swept for EER/minDCF: one threshold per distinct score (order-free) by
        default; numpy's unstable argsort order, as WeSpeaker's compute_metrics.py sorts, in wespeaker mode
        (see sveval.metrics.detection)."""
        return "wespeaker" if self.compat == "wespeaker" else "tie-aware"


@dataclass(frozen=True, eq=False)
class MethodResult:
    """Scores of one list by one method, in trial order of the kept trials.

    values: float64 (exact mode: full precision; wespeaker mode: exactly the printed values);
    norms, cohort_mean: for normalised scores, |x - m| and mu_x of every utterance of the run (rows of
    `ScoringRun.utterances`; `ListResult.extra(result)` gives the per-trial |e| |t| mu_e mu_t), else None;
    metrics: a `sveval.metrics.detection.Metrics` of the scores as printed in the score file (5 decimals, both
    modes), or None for unlabelled lists; warnings: their `Summary.tie_warnings`.
    """

    method: str
    score_file: str
    values: np.ndarray
    norms: np.ndarray | None
    cohort_mean: np.ndarray | None
    metrics: object | None
    signature: Signature
    warnings: tuple[str, ...] = ()  # where the per-trial sweep (Kaldi, WeSpeaker) would print otherwise


@dataclass(frozen=True, eq=False)
class ListResult:
    """trials: the list as given; kept: bool per trial (all True unless --allow-missing dropped some);
    enroll_index / test_index: per kept trial, the row of its utterances in `ScoringRun.utterances`."""

    trials: TrialList
    kept: np.ndarray
    missing_ids: tuple[str, ...]
    methods: tuple[MethodResult, ...]
    enroll_index: np.ndarray
    test_index: np.ndarray

    @property
    def n_dropped(self) -> int:
        return int((~self.kept).sum())

    @property
    def enroll(self) -> np.ndarray:
        return self.trials.enroll[self.kept]

    @property
    def test(self) -> np.ndarray:
        return self.trials.test[self.kept]

    @property
    def is_target(self) -> np.ndarray | None:
        return None if self.trials.is_target is None else self.trials.is_target[self.kept]

    def extra(self, result: MethodResult) -> np.ndarray | None:
        """(n, 4) float64 |e| |t| mu_e mu_t per kept trial (the 8-column statistics), None for cosine."""
        if result.norms is None:
            return None
        e, t = self.enroll_index, self.test_index
        columns = [result.norms[e], result.norms[t], result.cohort_mean[e], result.cohort_mean[t]]
        return np.stack(columns, axis=1).astype(np.float64)


@dataclass(frozen=True, eq=False)
class ScoringRun:
    """utterances: ids of every utterance scored (the rows of all statistics); methods: as run."""

    eval_name: str
    cohort_name: str | None
    n_eval: int
    n_cohort_utterances: int
    n_cohort_speakers: int
    dim: int
    n_scored_utterances: int
    options: ScoreOptions
    mean: str
    methods: tuple[str, ...]
    utterances: np.ndarray
    precision: str
    lists: tuple[ListResult, ...]
    notes: tuple[str, ...] = field(default=())


def resolve_methods(methods: tuple[str, ...] | None, has_cohort: bool) -> tuple[str, ...]:
    if not methods:
        return scoring.METHODS if has_cohort else ("cos",)
    unknown = [m for m in methods if m not in scoring.METHODS]
    if unknown:
        raise InputError(f"unknown scoring method(s) {', '.join(unknown)}; choose from cos, snorm, asnorm")
    if not has_cohort and any(m != "cos" for m in methods):
        raise InputError("s-norm and AS-norm need a cohort (--cohort)")
    return tuple(m for m in scoring.METHODS if m in methods)


def _locate(trials: TrialList, index: pd.Index, allow_missing: bool):
    """(enroll rows, test rows) of each trial in the eval set, int32 (-1: no embedding), the kept mask and
    the missing ids; InputError for missing ids unless allowed."""
    if trials.pairs is not None:  # look up each distinct id once, then gather by code
        rows = index.get_indexer(trials.pairs.ids).astype(np.int32)  # (4 bytes a trial: lists can be huge)
        enroll, test = rows[trials.pairs.enroll], rows[trials.pairs.test]
    else:
        enroll = index.get_indexer(trials.enroll).astype(np.int32)
        test = index.get_indexer(trials.test).astype(np.int32)
    kept = (enroll >= 0) & (test >= 0)
    missing: tuple[str, ...] = ()
    if not kept.all():
        ids = pd.unique(np.concatenate([trials.enroll[enroll < 0], trials.test[test < 0]]))
        missing = tuple(str(x) for x in ids)
        if not allow_missing:
            raise InputError(
                f"{(~kept).sum():,} trial(s) name {len(ids):,} utterance(s) without an embedding, e.g. "
                f"{', '.join(map(shown_id, missing[:5]))} (--allow-missing drops those trials)",
                trials.source,
            )
    return enroll, test, kept, missing


def score_lists(
    evaluation: Embeddings,
    trial_lists: list[TrialList],
    options: ScoreOptions,
    cohort: Cohort | CohortSums | None = None,
    progress: bool = False,
) -> ScoringRun:
    """Score every list with every method of `options`; see the module docstring. cohort: in memory, or
    already reduced to its sums (`sveval.scoring.cohort_stream.read_cohort_sums` streams a cohort file into
    them;
    their compat must be options.compat)."""
    from sveval.metrics import detection as m  # noqa: PLC0415 (kept lazy: metrics is only needed for labelled lists)

    compat = options.compat
    methods = resolve_methods(options.methods, cohort is not None)
    needs_cohort_stats = any(x != "cos" for x in methods)
    if "asnorm" in methods and options.top_n < 2:
        raise InputError(
            f"--top-n {options.top_n}: AS-norm divides by the spread (std) of each utterance's top-N cohort "
            "scores, and the spread of fewer than 2 values is zero; use --top-n 2 or more"
        )
    if isinstance(cohort, Cohort):
        cohort = cohort.sums(compat)
    if cohort is not None and cohort.compat != compat:
        raise ValueError(f"cohort sums are for compat {cohort.compat}, the run is {compat}")
    if cohort is not None and cohort.dim != evaluation.dim:
        raise InputError(
            f"dimension mismatch: eval embeddings have {evaluation.dim} dimensions, cohort {cohort.dim}"
        )
    index = pd.Index(evaluation.ids, dtype=object)  # (object: see sveval.speakers.speaker_map)
    located = [_locate(t, index, options.allow_missing) for t in trial_lists]
    scored = np.zeros(len(evaluation), dtype=bool)
    for enroll, test, kept, _ in located:
        scored[enroll[kept]] = True
        scored[test[kept]] = True
    used = np.flatnonzero(scored)
    row_of = np.full(len(evaluation), -1, dtype=np.int32)
    row_of[used] = np.arange(len(used))
    if used.size == 0:
        raise InputError("no trial can be scored: none of the listed utterances has an embedding")
    dtype = np.float64 if compat == "exact" else np.float32
    mean = _mean(options, cohort, dtype)
    centred = np.asarray(evaluation.vectors[used], dtype=dtype)
    centred -= mean
    norms = scoring.row_norms(centred, compat)
    if not (norms > 0).all():
        first = evaluation.ids[used[np.flatnonzero(~(norms > 0))[0]]]
        raise InputError(f"the embedding of {first} equals the mean vector: its cosine is undefined")
    if compat == "exact":  # in place: one float64 copy of the scored utterances, no more
        unit_cos = queries = centred
        unit_cos /= norms[:, None]
    else:  # WeSpeaker normalises twice, differently: sklearn's einsum norms, score_norm's np.sum
        unit_cos = scoring.normalise_rows(centred, "sklearn")
        queries = scoring.normalise_rows(centred, "score_norm") if needs_cohort_stats else None
    del centred

    stats: dict[int, scoring.CohortStats] = {}
    n_speakers = 0
    if needs_cohort_stats:
        speakers = cohort.speakers
        n_speakers = len(speakers)
        top_ns = tuple(
            sorted({scoring.SNORM if x == "snorm" else options.top_n for x in methods if x != "cos"})
        )
        if "asnorm" in methods and options.top_n > n_speakers:
            raise InputError(
                f"--top-n {options.top_n} is larger than the cohort "
                f"({n_speakers:,} speakers in {cohort.name})"
            )
        spk = cohort.speaker_means() - mean
        flat = np.flatnonzero(~np.abs(spk).any(axis=1))
        if flat.size:
            raise InputError(f"cohort speaker {speakers[flat[0]]}'s mean embedding equals the mean vector")
        how = "exact" if compat == "exact" else "score_norm"
        stats = scoring.cohort_statistics(
            queries,
            scoring.normalise_rows(spk, how),
            top_ns,
            compat,
            product_dtype=np.dtype(options.cohort_precision),
            progress=progress,
        )
        for s in stats.values():
            bad = np.flatnonzero(~(s.std > 0))
            if bad.size:
                raise InputError(
                    f"cohort statistics are degenerate (std {s.std[bad[0]]}) for utterance "
                    f"{evaluation.ids[used[bad[0]]]}: the cohort scores of {bad.size} utterance(s) "
                    "do not vary"
                )

    results = []
    for trials in trial_lists:
        enroll, test, kept, missing = located.pop(0)  # (the rows are dropped once e and t are made)
        labels = trials.is_target
        if not kept.all():  # (when every trial is kept, nothing is copied)
            enroll, test = enroll[kept], test[kept]
            labels = None if labels is None else labels[kept]
        e, t = row_of[enroll], row_of[test]
        del enroll, test
        cos = scoring.pair_dots(unit_cos, e, t, compat)
        if compat == "wespeaker":
            cos = scoring.round_half_even_decimal(cos, 5)
        per_method = []
        for method in methods:
            utterance_norms = cohort_mean = None
            values = np.asarray(cos, dtype=np.float64)
            if method != "cos":
                s = stats[scoring.SNORM if method == "snorm" else options.top_n]
                values = scoring.normalise_scores(cos, e, t, s)
                if compat == "wespeaker":
                    values = scoring.round_half_even_decimal(values, 5)
                utterance_norms, cohort_mean = norms, s.mean
            metrics, warnings = None, ()
            if labels is not None and labels.any() and (~labels).any():
                # from the scores as printed (5 decimals), as WeSpeaker computes them from its files: the
                # result files and results.json can then be recomputed from the score files
                printed = values if compat == "wespeaker" else scoring.round_half_even_decimal(values, 5)
                point = (options.p_target, options.c_miss, options.c_fa)
                summary = m.SortedScores.of(printed, labels, options.sweep).summary(
                    ("nist",), (point,), tie_check=True
                )
                metrics, warnings = m.Metrics.of(summary), summary.tie_warnings
            name = score_file_name(method, trials.basename, cohort.name if cohort else None, options.top_n)
            per_method.append(
                MethodResult(
                    method,
                    name,
                    values,
                    utterance_norms,
                    cohort_mean,
                    metrics,
                    _signature(method, trials, kept, cohort, n_speakers, options),
                    warnings,
                )
            )
        results.append(ListResult(trials, kept, missing, tuple(per_method), e, t))
    notes = tuple(
        f"{r.trials.display_name}: unlabelled, scores written, metrics skipped"
        if not r.trials.labelled
        else f"{r.trials.display_name}: {int(r.kept.sum()):,} trial(s) scored, not both classes: "
        "metrics skipped"
        for r in results
        if r.methods[0].metrics is None
    )
    return ScoringRun(
        eval_name=options.eval_name,
        cohort_name=cohort.name if cohort else None,
        n_eval=len(evaluation),
        n_cohort_utterances=cohort.n_utterances if cohort else 0,
        n_cohort_speakers=n_speakers or (cohort.n_speakers if cohort else 0),
        dim=evaluation.dim,
        n_scored_utterances=int(used.size),
        options=options,
        mean=mean_label(options, cohort),
        methods=methods,
        utterances=evaluation.ids[used],
        precision=PRECISION[compat if compat == "wespeaker" else f"exact/{options.cohort_precision}"],
        lists=tuple(results),
        notes=notes,
    )


def mean_label(options: ScoreOptions, cohort: Cohort | CohortSums | None) -> str:
    """'cohort', 'none' or 'file:<source>': which mean vector a run subtracts."""
    mode = options.mean or ("cohort" if cohort is not None else "none")
    return f"file:{options.mean_source}" if mode == "given" else mode


def _mean(options: ScoreOptions, cohort: CohortSums | None, dtype) -> np.ndarray | float:
    mode = mean_label(options, cohort)
    if mode == "none":
        return dtype(0.0)
    if mode.startswith("file:"):
        return np.asarray(options.mean_vector, dtype=dtype)
    if mode != "cohort":
        raise InputError(f"--mean must be cohort, none or a .npy file, got {options.mean!r}")
    if cohort is None:
        raise InputError("--mean cohort needs a cohort (--cohort); use --mean none or --mean FILE.npy")
    return cohort.mean_vector()


def _signature(method, trials, kept, cohort, n_speakers, options) -> Signature:
    parts = {"score": method}
    if method == "asnorm":
        parts["top_n"] = str(options.top_n)
    if method != "cos":
        parts["cohort"] = f"{cohort.name}:{n_speakers}spk"
    parts["mean"] = mean_label(options, cohort)
    parts["compat"] = options.compat
    tag = trials_tag(trials)
    dropped = int((~kept).sum())
    parts["trials"] = tag + (f"-dropped{dropped}" if dropped else "")
    parts["eer"] = "nist"
    parts["dcf"] = dcf_tag(options.p_target, options.c_miss, options.c_fa)
    parts["sweep"] = options.sweep
    return Signature.of(**parts)
