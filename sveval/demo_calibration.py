"""The calibration step of `sveval demo`, composed the way a user would run it by hand.

WeSpeaker's recipe calibrates on a list drawn from VoxCeleb2-dev, scored and AS-normalised against the
VoxCeleb2-dev cohort itself (`local/score_calibration.sh`). The demo does the same with its synthetic cohort:
a balanced list of 2 x 2,000 trials over the cohort utterances (`sveval.synthetic.vox1_like_trials`) and its
AS-norm scores written to OUT/calibration/, a linear calibration trained on that file at p_target 0.01, and
the demo list's AS-norm file calibrated into the score folder (`cali_<name>`, its result file,
calibration.json and calibration_model.json), where report.md shows its actDCF and Cllr.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sveval import calibration_run as cal
from sveval.io.scores import read_score_file, write_score_file
from sveval.io.trials import write_kaldi_trials
from sveval.score_run import score_lists
from sveval.synthetic import vox1_like_trials

CALIBRATION_LIST = "synthetic_vox2_cali"
TRIALS_PER_CLASS = 2000


def calibrate_demo(
    run, cohort, options, out_dir: Path, scores_dir: Path, seed: int, shown_scores: Path | None = None
) -> list[cal.AppliedFile]:
    """run: the demo's ScoringRun (its first list is the one calibrated); cohort: its Cohort; scores_dir:
    where the scores are read and the calibrated ones written (a stage), shown_scores: that folder as the
    records name it (default: scores_dir)."""
    trials = vox1_like_trials(
        cohort.embeddings.ids, TRIALS_PER_CLASS, TRIALS_PER_CLASS, seed=seed, name=CALIBRATION_LIST
    )
    write_kaldi_trials(out_dir / "calibration" / f"{CALIBRATION_LIST}.kaldi", trials)
    scored = score_lists(cohort.embeddings, [trials], replace(options, methods=("asnorm",)), cohort=cohort)
    listed = scored.lists[0]
    result = listed.methods[0]
    train_path = out_dir / "calibration" / result.score_file
    train_path.parent.mkdir(parents=True, exist_ok=True)
    write_score_file(
        train_path, listed.enroll, listed.test, result.values, listed.is_target, listed.extra(result)
    )
    model = cal.train(cal.CalibrationOptions(), [read_score_file(train_path)])
    asnorm = next(m for m in run.lists[0].methods if m.method == "asnorm")
    evaluation = read_score_file(scores_dir / asnorm.score_file)
    evaluation = replace(evaluation, path=str((shown_scores or scores_dir) / asnorm.score_file))
    applied = cal.apply_and_write(
        model, [[evaluation]], [evaluation.labels], str(scores_dir), ((0.01, 1.0, 1.0),)
    )
    cal.write_summary(str(scores_dir), model, applied)
    return applied
