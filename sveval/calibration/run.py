"""`sveval calibrate` and `sveval fuse` composed: features from score files, training, applying, metrics.

Methods (definitions in `sveval.calibration.linear` and `sveval.calibration.qmf`):
  linear   llr = a·score + b                        prior-weighted logistic regression (BOSARIS)
  fusion   llr = Σ a_k·score_k + b over k systems   the same objective; the systems' files must hold the same
                                                    trials (compared as (enroll, test) keys)
  qmf      llr = w·[score, quality features] + b    Cllr (prior ½) as WeSpeaker; `fit="wespeaker"` runs its
                                                    own torch L-BFGS schedule on its '%.4f'-rounded features
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np

from sveval.calibration.linear import CalibrationModel, fit_logistic, training_info
from sveval.calibration.qmf import MAX_DUR, durations_of, feature_names, qmf_features, require_qmf_columns
from sveval.errors import InputError
from sveval.io.calibration_files import (
    MODEL_FILE,
    PREFIX,
    SUMMARY_FILE,
    calibrated_name,
    result_name,
    write_calibrated_scores,
    write_json,
    write_llr_result,
)
from sveval.io.trials import fingerprint
from sveval.metrics import detection as m
from sveval.metrics.llr import llr_summary
from sveval.pair_join import join
from sveval.scoring.cosine import round_half_even_decimal
from sveval.types import ScoreFile, TrialList


@dataclass(frozen=True)
class CalibrationOptions:
    """prior None: the first operating point's p_target for linear/fusion, ½ (plain Cllr) for QMF."""

    method: str = "linear"
    prior: float | None = None
    fit: str = "scipy"
    max_dur: float = MAX_DUR
    operating_points: tuple[tuple[float, float, float], ...] = ((0.01, 1.0, 1.0),)

    @property
    def training_prior(self) -> float:
        if self.prior is not None:
            return self.prior
        return 0.5 if self.method == "qmf" else self.operating_points[0][0]


def align(files: list[ScoreFile]) -> np.ndarray:
    """(n, k) scores of k files on the trials of files[0], in its order. Every file must hold the first's
    (enroll, test) pairs, each as often (a repeated pair is one trial: the k-th line with it meets the
    first's k-th), with the same labels. InputError naming the file that differs."""
    first = files[0]
    columns = [first.values]
    for other in files[1:]:
        joined = _exact_join(
            other,
            first,
            lambda missing, extra: f"keys do not match {first.path}: {missing:,} of its trial(s) missing "
            f"here, {extra:,} extra; fusion needs every system scored on exactly the same trials",
            str(first.path),
        )
        columns.append(joined.in_list_order(other.values))
    return np.stack(columns, axis=1)


def label_from_list(scores: ScoreFile, trials: TrialList) -> ScoreFile:
    """`scores` with the labels of a calibration list (`read_calibration_trials`: repeats allowed). The file
    must hold the list's trials with their repeats: each pair exactly as often as in the list, in any order.
    Labels already in the file must agree. InputError naming the score file otherwise."""
    joined = _exact_join(
        scores,
        trials,
        lambda missing, extra: f"does not hold the trials of the calibration list {trials.source}: "
        f"{missing:,} of its lines missing here, {extra:,} extra (pairs counted with their repeats)",
        f"the calibration list {trials.source}",
    )
    return replace(scores, labels=trials.is_target[joined.index])


def _exact_join(file: ScoreFile, listed, mismatch, labels_of: str):
    """`join(file, listed)` where the file must hold the listed pairs exactly (each as often) with the
    same labels: else InputError naming the file, `mismatch(missing, extra)` for the pairs, or the count
    of labels that disagree with `labels_of` and the first such line."""
    joined = join(file, listed)
    if not joined.complete:
        missing = joined.missing.size
        raise InputError(mismatch(missing, len(file) - (len(listed) - missing)), file.path)
    if joined.label_lines.size:
        raise InputError(
            f"{joined.label_lines.size:,} label(s) disagree with {labels_of}",
            file.path,
            int(joined.label_lines[0]) + 1,
        )
    return joined


def check_applicable(
    method: str, wespeaker: bool, groups: list[list[ScoreFile]], durations, features_named=None
) -> None:
    """Before training: the input errors applying a `method` model to `groups` would meet (QMF columns and
    durations, WeSpeaker's labelled output, a reused model's features), so that no fit is wasted."""
    for files in groups:
        first = files[0]
        if wespeaker and first.labels is None:
            raise InputError(
                "WeSpeaker's calibrated files carry labels: the score file needs them", first.path
            )
        if method != "qmf":
            continue
        require_qmf_columns(first)
        if durations is not None:
            durations_of(np.concatenate([first.enroll, first.test]), durations, first.path)
        if features_named is not None:
            _same_features(features_named, feature_names(durations is not None), first.path)


def _same_features(expected, names, source: str) -> None:
    if tuple(names) != tuple(expected):
        raise InputError(
            f"the model's features are {', '.join(expected)}; these inputs give {', '.join(names)} "
            "(durations given for one and not the other?)",
            source,
        )


def features(method: str, files: list[ScoreFile], durations, max_dur: float, rounded: bool) -> np.ndarray:
    if method == "fusion":
        return align(files)
    if method == "qmf":
        return qmf_features(files[0], durations, max_dur, rounded)
    return files[0].values[:, None]


def feature_list(method: str, files: list[ScoreFile], durations) -> tuple[str, ...]:
    if method == "fusion":
        return tuple(os.path.basename(f.path) for f in files)
    if method == "qmf":
        return feature_names(durations is not None)
    return ("score",)


def train(
    options: CalibrationOptions, files: list[ScoreFile], durations=None, progress=None
) -> CalibrationModel:
    """Fit a model on labelled score file(s) (one per system for fusion). Repeated pairs and self-pairs (as
    WeSpeaker's calibration-list generator makes them) are used like any trial and counted. progress: for the
    WeSpeaker fit, callable(step, loss) after each of its (at most 50) steps."""
    first = files[0]
    for scores in files:  # fusion: every system's file, whose labels `align` checks against the first's
        if scores.labels is None:
            raise InputError(
                "the training score file needs a label column (enroll test score target|nontarget), or "
                "--train-trials to label it",
                scores.path,
                1,
            )
    wespeaker = options.fit == "wespeaker"
    if wespeaker and options.method != "qmf":
        raise InputError("--compat wespeaker reproduces WeSpeaker's QMF training: use it with --method qmf")
    x = features(options.method, files, durations, options.max_dur, rounded=wespeaker)
    prior = options.training_prior
    if wespeaker:
        from sveval.models import qmf_wespeaker

        weights, offset, iterations = qmf_wespeaker.train(x, first.labels, progress)
        converged, prior = True, 0.5
    else:
        try:
            weights, offset, iterations, converged = fit_logistic(x, first.labels, prior)
        except ValueError as exc:
            raise InputError(str(exc), first.path) from None
    llrs = x @ weights + offset
    info = training_info(
        [os.path.basename(f.path) for f in files],
        first.enroll,
        first.test,
        first.labels,
        first.values,
        llrs,
        iterations,
        converged,
        fingerprint(first.enroll, first.test, first.labels),
    )
    return CalibrationModel(
        method=options.method,
        features=feature_list(options.method, files, durations),
        weights=tuple(float(w) for w in weights),
        offset=float(offset),
        prior=prior,
        fit=options.fit,
        training=info,
        max_dur=options.max_dur if options.method == "qmf" and durations is not None else None,
    )


def apply(model: CalibrationModel, files: list[ScoreFile], durations=None) -> np.ndarray:
    """(n,) LLRs for the trials of files[0] (one file per system for fusion, in the training order)."""
    names = feature_list(model.method, files, durations)
    if model.method == "fusion" and len(files) != len(model.features):
        raise InputError(f"the fusion model takes {len(model.features)} systems, {len(files)} files given")
    if model.method == "qmf":
        _same_features(model.features, names, files[0].path)
    wespeaker = model.fit == "wespeaker"
    x = features(model.method, files, durations, model.max_dur or MAX_DUR, rounded=wespeaker)
    if wespeaker:
        from sveval.models import qmf_wespeaker

        return qmf_wespeaker.infer(x, model.weights, model.offset)
    return model.apply(x)


def as_written(llrs: np.ndarray, wespeaker: bool) -> np.ndarray:
    """The values a reader of the calibrated file gets back: `%.5f`, or the exact repr in WeSpeaker mode."""
    return llrs if wespeaker else round_half_even_decimal(llrs, 5)


def evaluate(values, is_target, operating_points) -> dict:
    """EER (percent, NIST), minDCF and actDCF per operating point, Cllr and minCllr (bits); JSON-ready."""
    summary = m.summarize(values, is_target, ("nist",), operating_points)
    llr = llr_summary(values, is_target, operating_points)
    dcfs = [
        {
            "p_target": d.p_target,
            "c_miss": d.c_miss,
            "c_fa": d.c_fa,
            "min_dcf": d.min_dcf,
            "act_dcf": a.act_dcf,
        }
        for d, a in zip(summary.dcfs, llr.act_dcfs)
    ]
    return {
        "n_target": summary.n_target,
        "n_nontarget": summary.n_nontarget,
        "eer": 100 * summary.eers[0].value,
        "dcf": dcfs,
        "cllr": llr.cllr,
        "min_cllr": llr.min_cllr,
        "sweep": summary.sweep,
    }


@dataclass(frozen=True)
class AppliedFile:
    """One calibrated (or fused) output: where it came from, where it went, its metrics before and after
    (None for an unlabelled list; `before` is None for fusion, which has several inputs)."""

    sources: tuple[str, ...]
    output: str
    result: str | None
    before: dict | None
    after: dict | None
    signature: str


def output_names(score_path: str, prefix: str = PREFIX) -> tuple[str, str]:
    """The calibrated score file and the result file that `write_folder` writes for `score_path`."""
    name = calibrated_name(score_path, prefix)
    return name, result_name(name)


def write_folder(
    out_dir: str,
    model: CalibrationModel,
    groups: list[list[ScoreFile]],
    labels: list[np.ndarray | None],
    operating_points,
    durations=None,
    prefix: str = PREFIX,
    train_list: dict | None = None,
) -> list[AppliedFile]:
    """Apply `model` to each group (one file, or one per system for fusion) and write, per group, the
    calibrated score file and (when labelled) its result file into `out_dir`, then the model file and
    calibration.json (the stage of an `sveval.io.output_folder.OutputFolder`, which publishes them as one
    run)."""
    wespeaker = model.fit == "wespeaker"
    check_applicable(model.method, wespeaker, groups, durations, model.features)
    done = []
    for files, is_target in zip(groups, labels):
        llrs = apply(model, files, durations)
        bad = np.flatnonzero(~np.isfinite(llrs))
        if bad.size:
            raise InputError(
                f"the calibration gives {bad.size:,} non-finite LLR(s) (first {llrs[bad[0]]}): scores or "
                "statistics too large for the model",
                files[0].path,
                int(bad[0]) + 1,
            )
        name = calibrated_name(files[0].path, prefix)
        write_calibrated_scores(os.path.join(out_dir, name), files[0], llrs, wespeaker)
        before = after = result = None
        if is_target is not None:
            after = evaluate(as_written(llrs, wespeaker), is_target, operating_points)
            if model.method != "fusion":
                before = evaluate(files[0].values, is_target, operating_points)
            result = result_name(name)
            write_llr_result(os.path.join(out_dir, result), name, after, model.signature)
        done.append(AppliedFile(tuple(f.path for f in files), name, result, before, after, model.signature))
    write_summary(str(out_dir), model, done, train_list)
    return done


def write_summary(
    out_dir: str, model: CalibrationModel, applied: list[AppliedFile], train_list: dict | None = None
) -> None:
    """The model file and calibration.json (model, the calibration list read with --train-trials if any,
    then per output its metrics before and after)."""
    write_json(os.path.join(out_dir, MODEL_FILE), model.to_dict())
    files = [
        {
            "sources": list(a.sources),
            "output": a.output,
            "result": a.result,
            "before": a.before,
            "after": a.after,
        }
        for a in applied
    ]
    summary = {"model": model.to_dict(), **({"train_list": train_list} if train_list else {}), "files": files}
    write_json(os.path.join(out_dir, SUMMARY_FILE), summary)
