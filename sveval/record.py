"""The record of a scoring run: what results.json holds, as one frozen dataclass.

`run_record` makes it from a `sveval.scoring.run.ScoringRun`; `sveval.io.score_folder` writes it
(`write_run_record`) and reads it back (`read_run_record`), the only two places that know its JSON.
The report is rendered from the record the run holds (`sveval.reporting.systems.load_system(record=...)`), and
`sveval report` on a folder reads the same object from its results.json.

Records of earlier sveval versions (still `sveval.score/1`) and hand-made ones lack fields: such a field
is None ("not recorded"), never a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from sveval import __version__
from sveval.clock import now_utc
from sveval.signature import Signature
from sveval.types import custom_list_label

SCHEMA = "sveval.score/1"
SKIPPED = "skipped: the list has no target/nontarget labels (or only one class)"


@dataclass(frozen=True)
class MethodMetrics:
    """The numbers of one score file, as its result block prints them (eer in percent)."""

    n_target: int
    n_nontarget: int
    eer: float | None = None
    eer_threshold: float | None = None
    min_dcf: float | None = None
    min_dcf_threshold: float | None = None  # None: the minimum is "accept every trial" (threshold -inf)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class MethodRecord:
    """One method's score file of a list; metrics None when the list has no labels (or one class)."""

    method: str
    score_file: str | None
    signature: Signature | None
    metrics: MethodMetrics | None


@dataclass(frozen=True)
class ListRecord:
    """One trial list of the run, named by content: the built-in name its fingerprint proves, else its
    file's stem, marked custom."""

    name: str | None
    custom: bool | None = None
    builtin: str | None = None
    source: str | None = None
    fingerprint: str | None = None
    n_trials: int | None = None
    n_scored: int | None = None
    n_dropped: int | None = None
    missing_utterances: tuple[str, ...] = ()
    n_missing_utterances: int | None = None
    labelled: bool | None = None
    methods: tuple[MethodRecord, ...] = ()

    @property
    def label(self) -> str:
        """The list as tables show it (`list_test_hard2 (custom)` when marked custom)."""
        return custom_list_label(str(self.name)) if self.custom else str(self.name)


@dataclass(frozen=True)
class EvalSet:
    name: str | None
    utterances: int | None
    scored_utterances: int | None


@dataclass(frozen=True)
class CohortSet:
    """The cohort of s-norm / AS-norm; all None in a record whose cohort field is missing."""

    name: str | None
    utterances: int | None
    speakers: int | None

    @property
    def recorded(self) -> bool:
        return (self.name, self.utterances, self.speakers) != (None, None, None)


NOT_RECORDED = CohortSet(None, None, None)


@dataclass(frozen=True)
class Definitions:
    eer: str | None
    min_dcf: str | None
    normalised_score: str | None


@dataclass(frozen=True)
class RunRecord:
    """results.json. `cohort` None: the run had none (cosine only). `model`: what made the embeddings when
    sveval extracted them (`score --model`), else None. `artifacts`: kind -> {key: file} of the files later
    stages added (DET plots, report.md). `written` and `inputs_in_folder`: what the output folder adds when
    it publishes the run (`sveval.io.output_folder`), None before."""

    schema: str | None
    sveval_version: str | None
    command: str | None
    date: str | None
    eval: EvalSet | None
    cohort: CohortSet | None
    model: dict | None
    dim: int | None
    methods: tuple[str, ...]
    top_n: int | None
    mean: str | None
    compat: str | None
    precision: str | None
    definitions: Definitions
    allow_missing: bool | None
    lists: tuple[ListRecord, ...]
    notes: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    artifacts: dict[str, dict[str, str]] = field(default_factory=dict)
    written: dict | None = None
    inputs_in_folder: dict | None = None

    def with_artifacts(self, kind: str, files: dict[str, str]) -> RunRecord:
        """The record with files another stage wrote into the folder, e.g.
        `record.with_artifacts("det_plots", {score_file: det_plot_name(score_file)})`."""
        kinds = {k: dict(v) for k, v in self.artifacts.items()}
        kinds.setdefault(kind, {}).update(files)
        return replace(self, artifacts=kinds)

    def counts(self) -> dict[str, tuple[int, int]]:
        """Score file -> (n_target, n_nontarget) as recorded."""
        return {
            m.score_file: (m.metrics.n_target, m.metrics.n_nontarget)
            for lst in self.lists
            for m in lst.methods
            if m.score_file is not None and m.metrics is not None
        }

    def dropped(self) -> dict[str, int]:
        """Score file -> trials of its list dropped by --allow-missing."""
        return {
            m.score_file: lst.n_dropped
            for lst in self.lists
            if lst.n_dropped
            for m in lst.methods
            if m.score_file is not None
        }


def run_record(run, command: str, files: list[str], model: dict | None = None) -> RunRecord:
    """The record of a `sveval.scoring.run.ScoringRun`: provenance, definitions, and per list and method the
    numbers. files: the names written so far; model: see `RunRecord`."""
    opts = run.options
    lists = []
    for lst in run.lists:
        methods = []
        for res in lst.methods:
            numbers = None
            if res.metrics is not None:
                mt = res.metrics
                numbers = MethodMetrics(
                    n_target=int(mt.n_target),
                    n_nontarget=int(mt.n_nontarget),
                    eer=100 * float(mt.eer),
                    eer_threshold=float(mt.eer_threshold),
                    min_dcf=float(mt.min_dcf),
                    # -inf: the minimum is "accept every trial" (JSON has no infinity)
                    min_dcf_threshold=float(mt.min_dcf_threshold)
                    if math.isfinite(mt.min_dcf_threshold)
                    else None,
                    warnings=tuple(res.warnings),
                )
            methods.append(MethodRecord(res.method, res.score_file, res.signature, numbers))
        lists.append(
            ListRecord(
                name=lst.trials.identity,
                custom=lst.trials.custom,
                builtin=lst.trials.builtin,
                source=lst.trials.source,
                fingerprint=lst.trials.fingerprint,
                n_trials=len(lst.trials),
                n_scored=int(lst.kept.sum()),
                n_dropped=lst.n_dropped,
                missing_utterances=tuple(lst.missing_ids[:20]),
                n_missing_utterances=len(lst.missing_ids),
                labelled=lst.trials.labelled,
                methods=tuple(methods),
            )
        )
    cohort = None
    if run.cohort_name is not None:
        cohort = CohortSet(run.cohort_name, run.n_cohort_utterances, run.n_cohort_speakers)
    return RunRecord(
        schema=SCHEMA,
        sveval_version=__version__,
        command=command,
        date=now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),  # honours SOURCE_DATE_EPOCH
        eval=EvalSet(run.eval_name, run.n_eval, run.n_scored_utterances),
        cohort=cohort,
        model=model,
        dim=run.dim,
        methods=tuple(run.methods),
        top_n=opts.top_n,
        mean=run.mean,
        compat=opts.compat,
        precision=run.precision,
        definitions=Definitions(
            eer="percent, NIST SRE / WeSpeaker interpolation, from the scores as printed in the score "
            "file (5 decimals); one threshold per distinct score, independent of line order (exact), or tied "
            "scores in numpy argsort order as WeSpeaker (wespeaker); see the signature's sweep",
            min_dcf=f"normalised, p_target {opts.p_target} c_miss {opts.c_miss} c_fa {opts.c_fa}",
            normalised_score="0.5*((s-mu_e)/sigma_e + (s-mu_t)/sigma_t), population std",
        ),
        allow_missing=opts.allow_missing,
        lists=tuple(lists),
        notes=tuple(run.notes),
        files=tuple(files),
    )
