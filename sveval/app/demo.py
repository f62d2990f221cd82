"""`sveval demo` as a job: a preset of `sveval.app.score` on synthetic files, plus a calibration step.

The synthetic Vox1-like setup is written under OUT as ordinary files (.npz embeddings, a Kaldi trial list),
then scored by the score job exactly as `sveval score` scores such files, into OUT/scores. Between the
scoring and the report, the calibration step: WeSpeaker's recipe calibrates on a list drawn from
VoxCeleb2-dev, scored and AS-normalised against the VoxCeleb2-dev cohort itself
(`local/score_calibration.sh`). The demo does the same with its synthetic cohort: a balanced list of
2 x 2,000 trials over the cohort utterances (`sveval.synthetic.vox1_like_trials`) and its AS-norm scores
written to OUT/calibration/, a linear calibration trained on that file at p_target 0.01, and the demo
list's AS-norm file calibrated into the score folder (`cali_<name>`, its result file, calibration.json and
calibration_model.json), where report.md shows its actDCF and Cllr.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from sveval.app import score
from sveval.app.output_folder import stderr_line
from sveval.errors import Interrupted, Terminated

DEFAULT_OUT = "sveval-demo"
EVAL_NAME = "synthetic_vox1"
COHORT_NAME = "synthetic_vox2_dev"
CALIBRATION_LIST = "synthetic_vox2_cali"
TRIALS_PER_CLASS = 2000


@dataclass(frozen=True)
class DemoJob:
    """`sveval demo`'s options. trials: a list (built-in name or path) to score instead of the synthetic
    one, with embeddings made up for its utterances."""

    out: str = DEFAULT_OUT
    trials: str | None = None
    seed: int = 0
    plots: bool = True
    progress: bool = True

    @property
    def command(self) -> str:
        """The demo's command line rebuilt from its options (defaults left out), recorded in results.json."""
        words = ["sveval", "demo"]
        if self.out != DEFAULT_OUT:
            words += ["--out", str(self.out)]
        if self.trials:
            words += ["--trials", self.trials]
        if self.seed:
            words += ["--seed", str(self.seed)]
        if not self.plots:
            words.append("--no-plots")
        return shlex.join(words)


@dataclass(frozen=True)
class DemoOutcome:
    """The score folder, its report, and when the demo started (`time.perf_counter`)."""

    scores: Path
    report: Path
    started: float


def run(job: DemoJob, say=stderr_line) -> DemoOutcome:
    """Make, write and score the synthetic setup. `say` takes the progress messages (the score job's
    warnings go to stderr whatever it is).

    One writer per folder: the demo holds the lock of its --out from before it writes anything to the end
    (a second demo into the same folder exits 2 and touches nothing), and writes its inputs only where
    `sveval.io.demo_files.refuse_foreign` allows (absent, or written by an earlier demo and unchanged
    since), checked for all of them first; the score folder is the score job's (its own lock, stage and
    record)."""
    from sveval.io.atomic import check_writable_dir  # noqa: PLC0415
    from sveval.io.catalog import load_trials  # noqa: PLC0415
    from sveval.io.demo_files import refuse_foreign, write_demo_inputs  # noqa: PLC0415
    from sveval.io.lock import check_unlocked, folder_lock, stale_message  # noqa: PLC0415
    from sveval.io.output_folder import refuse_output_over_input  # noqa: PLC0415
    from sveval.scoring.outputs import REPORT  # noqa: PLC0415
    from sveval.synthetic import demo_setup  # noqa: PLC0415

    started = time.perf_counter()
    earlier = Path(job.out).is_dir() and any(Path(job.out).iterdir())
    out_dir = check_writable_dir(job.out)
    scores_dir = out_dir / "scores"
    names = input_names(synthetic_list=not job.trials)
    with folder_lock(out_dir) as lock:
        if (line := stale_message(lock)) is not None:
            say(f"sveval: {line}")
        check_unlocked(scores_dir)  # (a `score` run into OUT/scores would refuse ours after the inputs)
        refuse_foreign(out_dir, names.values())
        for name in names.values() if job.trials else ():
            refuse_output_over_input(out_dir / name, [job.trials], name)  # (the list is read, then written)
        given = load_trials(job.trials, progress=job.progress) if job.trials else None
        say("making the synthetic setup")
        setup = demo_setup(seed=job.seed, trials=given)
        # The demo writes its files in place (they are inputs it reads back, and paths it records): a stop
        # half-way says so rather than leave a folder that looks complete.
        with _incomplete_if_stopped(out_dir, earlier):
            paths = write_demo_inputs(out_dir, setup, names)
            say(f"wrote the inputs under {out_dir}/embeddings" + ("" if given else f" and {paths['trials']}"))
            preset = score.ScoreJob(
                trials=(given if given is not None else str(paths["trials"]),),
                eval_path=str(paths["eval"]),
                cohort_path=str(paths["cohort"]),
                cohort_name=COHORT_NAME,
                eval_name=EVAL_NAME,
                methods=("cos", "snorm", "asnorm"),
                out=str(scores_dir),
                plots=job.plots,
                progress=job.progress,
                command=job.command,
                after_scoring=partial(_calibration_step, job, out_dir, paths["cohort"], scores_dir, say),
            )
            score.run(preset)
    return DemoOutcome(scores_dir, scores_dir / REPORT, started)


def input_names(synthetic_list: bool = True) -> dict[str, str]:
    """The files the demo writes under its --out besides the score folder, by role, relative to it: the
    embeddings, the synthetic list (unless --trials names one) and the calibration list with its scores."""
    from sveval.io.score_folder import score_file_name  # noqa: PLC0415
    from sveval.synthetic import DEMO_LIST  # noqa: PLC0415

    calibration_list = f"{CALIBRATION_LIST}.kaldi"
    names = {
        "eval": f"embeddings/{EVAL_NAME}/embeddings.npz",
        "cohort": f"embeddings/{COHORT_NAME}/embeddings.npz",
        "trials": f"trials/{DEMO_LIST}.kaldi",
        "calibration list": f"calibration/{calibration_list}",
        "calibration scores": "calibration/"
        + score_file_name("asnorm", calibration_list, COHORT_NAME, score.ScoreJob.top_n),
    }
    return names if synthetic_list else {k: v for k, v in names.items() if k != "trials"}


def _calibration_step(job: DemoJob, out_dir: Path, cohort_path, scores_dir: Path, say, run, stage) -> None:
    say("scored; calibrating the AS-norm scores on a synthetic calibration list")
    calibrate_demo(run, cohort_path, out_dir, stage, job.seed, shown_scores=scores_dir)
    say(
        "calibrated; drawing DET plots and writing the report"
        if job.plots
        else "calibrated; writing the report"
    )


def calibrate_demo(
    run, cohort_path, out_dir: Path, scores_dir: Path, seed: int, shown_scores: Path | None = None
) -> list:
    """run: the demo's ScoringRun (its first list is the one calibrated); cohort_path: its cohort file;
    scores_dir: where the scores are read and the calibrated ones written (a stage), shown_scores: that
    folder as the records name it (default: scores_dir). Returns the calibrated outputs
    (`sveval.calibration.run.AppliedFile`)."""
    from sveval.calibration import run as cal  # noqa: PLC0415
    from sveval.io import embeddings as emb_io  # noqa: PLC0415
    from sveval.io.demo_files import kaldi_bytes, write_recorded  # noqa: PLC0415
    from sveval.io.score_text import score_chunks  # noqa: PLC0415
    from sveval.io.scores import read_score_file  # noqa: PLC0415
    from sveval.scoring.run import Cohort, score_lists  # noqa: PLC0415
    from sveval.speakers import speaker_map  # noqa: PLC0415
    from sveval.synthetic import vox1_like_trials  # noqa: PLC0415

    embeddings = emb_io.read_embeddings(cohort_path)
    cohort = Cohort(run.cohort_name, embeddings, speaker_map().of(embeddings.ids, str(cohort_path)))
    trials = vox1_like_trials(
        embeddings.ids, TRIALS_PER_CLASS, TRIALS_PER_CLASS, seed=seed, name=CALIBRATION_LIST
    )
    write_recorded(out_dir, input_names()["calibration list"], kaldi_bytes(trials))
    scored = score_lists(embeddings, [trials], replace(run.options, methods=("asnorm",)), cohort=cohort)
    listed = scored.lists[0]
    result = listed.methods[0]
    chunks = score_chunks(listed.enroll, listed.test, result.values, listed.is_target, listed.extra(result))
    train_path = write_recorded(out_dir, f"calibration/{result.score_file}", b"".join(chunks))
    model = cal.train(cal.CalibrationOptions(), [read_score_file(train_path)])
    asnorm = next(m for m in run.lists[0].methods if m.method == "asnorm")
    evaluation = read_score_file(scores_dir / asnorm.score_file)
    evaluation = replace(evaluation, path=str((shown_scores or scores_dir) / asnorm.score_file))
    return cal.write_folder(str(scores_dir), model, [[evaluation]], [evaluation.labels], ((0.01, 1.0, 1.0),))


@contextlib.contextmanager
def _incomplete_if_stopped(out_dir, earlier: bool):
    try:
        yield
    except (KeyboardInterrupt, Interrupted) as exc:  # Ctrl-C or SIGTERM (as the scores folder said it)
        mixed = " (this run's files beside an earlier run's)" if earlier else ""
        raise Interrupted(
            f"{out_dir} is incomplete{mixed}; run the same command again",
            terminated=isinstance(exc, Terminated) or getattr(exc, "terminated", False),
        ) from None
