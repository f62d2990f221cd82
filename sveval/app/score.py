"""`sveval score` as a job: trial lists scored with cosine, s-norm and AS-norm from embeddings (or from audio,
embedded first: `sveval.app.extract`), written as a WeSpeaker scores/ folder with its result files,
results.json, DET plots and report.md. `sveval demo` is this job on synthetic files (`sveval.app.demo`).

    outcome = run(ScoreJob(eval_path="emb/vox1/xvector.scp", trials=("vox1_O_cleaned",), out="scores"))
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sveval.app.extract import AudioSource, Sets, embed_sets, set_name
from sveval.app.output_folder import one_writer, stderr_line
from sveval.errors import InputError

KEPT = " (the embeddings extracted so far are kept in its embeddings/ cache: a rerun resumes)"


@dataclass(frozen=True)
class ScoreJob:
    """`sveval score`'s options. trials: built-in names or paths (a `TrialList` is taken as it is);
    methods None: all three with a cohort, cos without; mean: cohort, none or a .npy file (None: cohort if
    there is one); exp_dir: a WeSpeaker experiment folder supplying the embeddings and the output folder;
    command: the command line recorded in results.json. after_scoring: a step run on the scored run
    before the plots and the report, `(run, stage)` with `stage` the folder being written (the demo's
    calibration)."""

    trials: tuple = ()
    eval_path: str | None = None
    cohort_path: str | None = None
    cohort_utt2spk: str | None = None
    cohort_name: str | None = None
    mean: str | None = None
    methods: tuple[str, ...] | None = None
    top_n: int = 300
    compat: str = "exact"
    cohort_precision: str = "float32"
    eval_name: str | None = None
    out: str | None = None
    exp_dir: str | None = None
    allow_missing: bool = False
    plots: bool = True
    progress: bool = True
    command: str = ""
    audio: AudioSource = field(default_factory=AudioSource)
    after_scoring: Callable | None = None


@dataclass(frozen=True)
class ScoreOutcome:
    """The scored run (`sveval.scoring.run.ScoringRun`) and the folder it was written to."""

    run: object
    out: Path


def check_name_part(name: str | None, option: str) -> None:
    """InputError (exit 2) unless `name` can be one part of an output file's name: the eval and cohort
    names go into file names inside --out, so a '/' or '..' would write elsewhere."""
    if name is None:
        return
    odd = any(c.isspace() or not c.isprintable() for c in name)
    if not name or "/" in name or name in (".", "..") or odd:
        raise InputError(
            f"{option} {name!r} must be a plain name (no '/', spaces or control characters, not '.' or "
            "'..'): it becomes part of the output file names inside --out"
        )


def _resolve(job: ScoreJob) -> tuple[ScoreJob, tuple[str, ...]]:
    """The cheap option checks, before any work: the job with --exp-dir's paths filled in, and the methods
    it runs."""
    from sveval.scoring.run import resolve_methods  # noqa: PLC0415

    audio = job.audio
    audio.check(eval_path=job.eval_path, cohort_path=job.cohort_path, exp_dir=job.exp_dir)
    check_name_part(job.eval_name, "--eval-name")
    check_name_part(job.cohort_name, "--cohort-name")
    eval_path, cohort_path, out = job.eval_path, job.cohort_path, job.out
    if job.exp_dir:
        exp = Path(job.exp_dir)
        eval_path = eval_path or str(exp / "embeddings" / "vox1" / "xvector.scp")
        if cohort_path is None and (exp / "embeddings" / "vox2_dev" / "xvector.scp").is_file():
            cohort_path = str(exp / "embeddings" / "vox2_dev" / "xvector.scp")
        out = out or str(exp / "scores")
    if not eval_path and not audio.used:
        raise InputError("pass --embeddings EVAL, --model M --wav-scp EVAL_SCP, or --exp-dir EXP")
    if not out:
        raise InputError("pass --out DIR (or --exp-dir EXP, which writes EXP/scores)")
    if job.cohort_utt2spk and not (cohort_path or audio.cohort_audio):
        raise InputError("--cohort-utt2spk needs --cohort (or, with --model, --cohort-wav-scp)")
    methods = resolve_methods(job.methods, bool(cohort_path or audio.cohort_audio))
    if job.mean not in (None, "cohort", "none") and not os.path.lexists(job.mean):  # (a FIFO: its reader)
        raise InputError("mean vector file not found (--mean takes cohort, none or a .npy file)", job.mean)
    return replace(job, eval_path=eval_path, cohort_path=cohort_path, out=out), methods


def run(job: ScoreJob, say=stderr_line) -> ScoreOutcome:
    """Score, write and publish the folder `job.out` (one run: see `sveval.app.output_folder.one_writer`).
    What the run finds (dropped trials, notes, tie warnings, the folder's messages) goes to `say`."""
    from sveval.io.score_folder import RESULTS_JSON  # noqa: PLC0415

    job, resolved = _resolve(job)
    audio = job.audio
    out = Path(job.out)
    specs = [t for t in job.trials if isinstance(t, str)]
    inputs = [job.eval_path, job.cohort_path, job.cohort_utt2spk, job.mean, *specs, *audio.inputs]
    inputs = [p for p in inputs if p and os.path.exists(p)]
    # everything after the cheap option checks: read, score, write into the folder's stage, publish
    with one_writer(out, RESULTS_JSON, inputs, KEPT if audio.used else "", say) as folder:
        from sveval.io.score_folder import write_score_folder  # noqa: PLC0415
        from sveval.reporting.systems import system_name  # noqa: PLC0415
        from sveval.scoring.outputs import finish_score_folder, output_names  # noqa: PLC0415
        from sveval.scoring.run import score_lists  # noqa: PLC0415

        trial_lists = _trial_lists(job.trials, job.progress)
        if audio.used:
            sets = embed_sets(
                audio,
                out,
                trial_lists,
                eval_name=job.eval_name,
                cohort_name=job.cohort_name,
                cohort_utt2spk=job.cohort_utt2spk,
                allow_missing=job.allow_missing,
                progress=job.progress,
                asnorm_top_n=job.top_n if "asnorm" in resolved else None,
                say=say,
            )
        else:
            sets = _read_sets(job)
        folder.refuse_replacing_inputs(
            output_names(trial_lists, resolved, sets.cohort_name, job.top_n, sets.eval_name)
        )  # before the scoring (publish checks again)
        cohort = _cohort(job, sets)
        options = _options(job, sets, cohort)
        run = score_lists(sets.evaluation, trial_lists, options, cohort=cohort, progress=job.progress)
        for lst in run.lists:
            if lst.n_dropped:
                say(
                    f"sveval: dropped {lst.n_dropped:,} trial(s) of {lst.trials.display_name}: "
                    f"{len(lst.missing_ids):,} utterance(s) without an embedding, "
                    f"e.g. {', '.join(lst.missing_ids[:3])}"
                )
        for note in run.notes:
            say(f"sveval: note: {note}")
        for res in (res for lst in run.lists for res in lst.methods):
            for warning in res.warnings:
                say(f"sveval: warning: {res.score_file}: {warning}")
        record = write_score_folder(
            run, folder.stage, command=job.command, progress=job.progress, model=sets.model
        )
        if job.after_scoring is not None:
            job.after_scoring(run, folder.stage)
        finish_score_folder(
            run, record, folder.stage, plots=job.plots, name=system_name(out), shown=str(out)
        )
        folder.publish()
    return ScoreOutcome(run, out)


def _trial_lists(trials, progress: bool) -> list:
    from sveval.io.catalog import load_trials  # noqa: PLC0415

    lists = []
    for spec in trials:
        if not isinstance(spec, str):
            lists.append(spec)
            continue
        listed = load_trials(spec, progress=progress)
        # a list given by name is recorded by that name, not by where it was found on this machine
        lists.append(listed if os.path.exists(spec) else replace(listed, source=spec))
    names = [t.basename for t in lists]
    if len(set(names)) != len(names):
        raise InputError(f"two trial lists would write the same score file: {', '.join(names)}")
    return lists


def _read_sets(job: ScoreJob) -> Sets:
    from sveval.io.embeddings import embedding_file, read_embeddings  # noqa: PLC0415

    evaluation = read_embeddings(job.eval_path)
    if job.cohort_path:
        embedding_file(job.cohort_path)  # exists, known format: refused before any scoring work
    return Sets(  # the cohort file is streamed later (read_cohort_sums), not read here
        evaluation=evaluation,
        eval_name=job.eval_name or set_name(Path(job.eval_path)),
        cohort=None,
        cohort_name=(job.cohort_name or set_name(Path(job.cohort_path))) if job.cohort_path else None,
        cohort_source=job.cohort_path,
        model=None,
    )


def _cohort(job: ScoreJob, sets: Sets):
    """The cohort as scoring takes it: embedded audio in memory, or a cohort file streamed into its
    per-speaker sums (never held whole); None without one."""
    from sveval.scoring.cohort_stream import read_cohort_sums  # noqa: PLC0415

    if sets.cohort_source is None:
        return sets.cohort
    dim = sets.evaluation.dim
    return read_cohort_sums(
        sets.cohort_source,
        sets.cohort_name,
        job.compat,
        utt2spk=job.cohort_utt2spk,
        dim=dim,
        dim_error=f"dimension mismatch: the eval embeddings ({job.eval_path}) have {dim} "
        f"dimensions, the cohort ({sets.cohort_source}) {{cohort_dim}}; "
        "both must come from the same model",
        progress=job.progress,
    )


def _options(job: ScoreJob, sets: Sets, cohort):
    from sveval.io import embeddings as emb_io  # noqa: PLC0415
    from sveval.scoring.run import ScoreOptions  # noqa: PLC0415

    mean_mode, mean_vector, mean_source = job.mean or ("cohort" if cohort else "none"), None, ""
    if mean_mode not in ("cohort", "none"):
        mean_source = mean_mode
        mean_vector = emb_io.read_mean_vector(mean_mode, sets.evaluation.dim)
        mean_mode = "given"
    return ScoreOptions(
        methods=job.methods,
        top_n=job.top_n,
        compat=job.compat,
        mean=mean_mode,
        mean_vector=mean_vector,
        mean_source=mean_source,
        eval_name=sets.eval_name,
        allow_missing=job.allow_missing,
        cohort_precision=job.cohort_precision,
    )
