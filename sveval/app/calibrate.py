"""`sveval calibrate` and `sveval fuse` as jobs: score files read with their labels, a model trained (or a
saved one reused), applied, measured and written into one output folder (calibrated files, their result
files, calibration_model.json and calibration.json). The methods are `sveval.calibration.run`'s.

    outcome = calibrate(CalibrateJob(train="cal.score", apply=("vox1_O.score",), out="cal"))
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from sveval.app.output_folder import one_writer, refuse_collisions, stderr_line
from sveval.calibration import run as cal
from sveval.calibration.qmf import MAX_DUR
from sveval.errors import InputError

DEFAULT_POINTS = ((0.01, 1.0, 1.0),)


@dataclass(frozen=True)
class CalibrateJob:
    """`sveval calibrate`'s options: exactly one of `train` (fit a model) and `model` (a saved one).
    max_dur None: not given (QMF's default cap, MAX_DUR); operating_points empty: p_target 0.01."""

    out: str
    train: str | None = None
    model: str | None = None
    apply: tuple[str, ...] = ()
    train_trials: str | None = None
    trials: str | None = None
    method: str = "linear"
    prior: float | None = None
    compat: str = "none"
    utt2dur: tuple[str, ...] = ()
    wav_scp: tuple[str, ...] = ()
    max_dur: float | None = None
    operating_points: tuple[tuple[float, float, float], ...] = ()
    progress: bool = True


@dataclass(frozen=True)
class FuseJob:
    """`sveval fuse`'s options: one training file per system; apply: per list, its systems' files
    comma-separated in `train` order (or one file per system, without commas, for a single list)."""

    out: str
    train: tuple[str, ...]
    apply: tuple[str, ...] = ()
    train_trials: str | None = None
    trials: str | None = None
    prior: float | None = None
    operating_points: tuple[tuple[float, float, float], ...] = ()


@dataclass(frozen=True)
class CalibrationOutcome:
    """The model (`sveval.calibration.linear.CalibrationModel`), the outputs written
    (`sveval.calibration.run.AppliedFile`) and the calibration list read with --train-trials (None without
    one): what calibration.json holds."""

    model: object
    applied: tuple
    train_list: dict | None

    def summary(self) -> dict:
        listed = {"train_list": self.train_list} if self.train_list else {}
        return {"model": self.model.to_dict(), **listed, "files": [a.__dict__ for a in self.applied]}


def calibrate(job: CalibrateJob, say=stderr_line) -> CalibrationOutcome:
    """Fit (or reuse) a calibration, apply it to every `job.apply` file and write the folder `job.out`."""
    from sveval.calibration.linear import CalibrationModel  # noqa: PLC0415
    from sveval.io.calibration_files import MODEL_FILE, SUMMARY_FILE  # noqa: PLC0415
    from sveval.io.durations import merge_durations, read_utt2dur, wav_scp_durations  # noqa: PLC0415
    from sveval.io.folders import read_json_object  # noqa: PLC0415

    _check_calibrate(job)
    refuse_collisions(job.apply, [cal.output_names(p) for p in job.apply])
    operating_points = job.operating_points or DEFAULT_POINTS
    inputs = [job.train, job.model, job.train_trials, *job.apply, *job.utt2dur, *job.wav_scp]
    with one_writer(job.out, SUMMARY_FILE, inputs, say=say) as folder:
        names = [n for p in job.apply for n in cal.output_names(p)]
        folder.refuse_replacing_inputs([*names, SUMMARY_FILE, MODEL_FILE])
        # every input is read and checked before the fit, which can take minutes
        durations = None
        if job.utt2dur or job.wav_scp:
            sources = [(p, read_utt2dur(p)) for p in job.utt2dur] + [
                (p, wav_scp_durations(p)) for p in job.wav_scp
            ]
            durations = merge_durations(sources)
        groups = [[s] for s in read_scores(job.apply)]
        labels = labels_for(groups, job.trials)
        train_list = None
        if job.model:
            model = CalibrationModel.from_dict(read_json_object(job.model), job.model)
        else:
            train_files, train_list = training_files([job.train], job.train_trials, say)
            cal.check_applicable(job.method, job.compat == "wespeaker", groups, durations)
            options = cal.CalibrationOptions(
                job.method,
                job.prior,
                "wespeaker" if job.compat == "wespeaker" else "scipy",
                MAX_DUR if job.max_dur is None else job.max_dur,
                operating_points,
            )
            model = _train_with_progress(options, train_files, durations, job.progress)
        applied = cal.write_folder(
            folder.stage, model, groups, labels, operating_points, durations, train_list=train_list
        )
        folder.publish(inputs)
    # a reused model was fitted elsewhere: name it, and the file it was trained on
    sources = model.training.sources or ("?",)
    warn_trained_on_applied([job.train], job.apply, say)
    trained_on = [job.train] if job.train else [f"{job.model} (trained on {sources[0]})"]
    warn_decreasing(model, trained_on, say)
    return CalibrationOutcome(model, tuple(applied), train_list)


def _check_calibrate(job: CalibrateJob) -> None:
    """The usage errors (exit 2), before anything is read."""
    if (job.train is None) == (job.model is None):
        raise InputError("give exactly one of --train (fit a model) and --model (reuse one)")
    trains = job.method != "linear" or job.compat != "none" or job.prior is not None or job.train_trials
    if job.model and trains:
        raise InputError(
            "--method, --compat, --prior and --train-trials describe training; a --model already fixes them"
        )
    if job.max_dur is not None:
        if job.model:  # the model's own cap is applied: a different one would go unused
            raise InputError("--max-dur is part of a QMF model's training; a --model already fixes it")
        if job.method != "qmf":
            raise InputError("--max-dur caps QMF durations: use it with --method qmf")
    if job.compat == "wespeaker" and job.method != "qmf":
        raise InputError("--compat wespeaker reproduces WeSpeaker's QMF training: use it with --method qmf")
    if (job.utt2dur or job.wav_scp) and job.method != "qmf" and not job.model:
        raise InputError("--utt2dur and --wav-scp give QMF durations: use them with --method qmf")


def _train_with_progress(options, files, durations, progress: bool):
    """WeSpeaker's torch schedule can take minutes: a bar over its (at most 50) steps on stderr."""
    from sveval.calibration.linear import FitError  # noqa: PLC0415

    if options.fit != "wespeaker":
        return cal.train(options, files, durations)
    from sveval.progress import progress as progress_bar  # noqa: PLC0415

    bar = progress_bar(
        total=50, desc="WeSpeaker L-BFGS steps", unit="step", disable=not progress, leave=False
    )
    with bar:

        def step(k, loss):
            bar.set_postfix(cllr=f"{loss:.4f}")
            bar.update(1)

        try:
            return cal.train(options, files, durations, step)
        except FitError as exc:  # the torch schedule sees features, not files: name the training file
            raise InputError(str(exc), files[0].path) from None


def fuse(job: FuseJob, say=stderr_line) -> CalibrationOutcome:
    """Fuse the systems of `job.train`, apply the fusion to every `job.apply` group, write `job.out`."""
    from sveval.io.calibration_files import MODEL_FILE, SUMMARY_FILE  # noqa: PLC0415

    if len(job.train) < 2:
        raise InputError("fusion needs at least two systems (--train once per system)")
    groups_paths = _groups(job.apply, len(job.train))
    firsts = [paths[0] for paths in groups_paths]
    refuse_collisions(firsts, [cal.output_names(p, "fused_") for p in firsts])
    operating_points = job.operating_points or DEFAULT_POINTS
    inputs = [*job.train, job.train_trials, *(p for g in groups_paths for p in g)]
    with one_writer(job.out, SUMMARY_FILE, inputs, say=say) as folder:
        names = [n for p in firsts for n in cal.output_names(p, "fused_")]
        folder.refuse_replacing_inputs([*names, SUMMARY_FILE, MODEL_FILE])
        groups = [read_scores(paths) for paths in groups_paths]
        for files in groups:
            cal.align(files)  # cheap check of every group before training
        labels = labels_for(groups, job.trials)
        train_files, train_list = training_files(job.train, job.train_trials, say)
        options = cal.CalibrationOptions("fusion", job.prior, "scipy", operating_points=operating_points)
        model = _named(cal.train(options, train_files), job.train)
        applied = cal.write_folder(
            folder.stage, model, groups, labels, operating_points, prefix="fused_", train_list=train_list
        )
        folder.publish(inputs)
    warn_trained_on_applied(job.train, [p for group in groups_paths for p in group], say)
    warn_decreasing(model, job.train, say)
    return CalibrationOutcome(model, tuple(applied), train_list)


def _named(model, train_paths):
    """Systems whose --train files share a name are named by the folders in which their paths differ
    (`a/x.score`, `b/x.score`), in the model's features, its training sources, the signature and the table:
    `x.score, x.score` cannot say which weight is whose."""
    from sveval.reporting.labels import file_labels  # noqa: PLC0415

    names = file_labels(train_paths, suffix="", folders_alone=False)
    if tuple(names) == model.features:
        return model
    training = dataclasses.replace(model.training, sources=tuple(names))
    return dataclasses.replace(model, features=tuple(names), training=training)


def _groups(specs, n_systems: int) -> list[list[str]]:
    if specs and not any("," in s for s in specs) and len(specs) == n_systems:
        return [list(specs)]
    groups = [[p for p in s.split(",") if p] for s in specs]
    for spec, group in zip(specs, groups):
        if len(group) != n_systems:
            raise InputError(
                f"--apply {spec!r} names {len(group)} file(s); the model fuses {n_systems} systems"
            )
    return groups


def training_files(paths, list_path: str | None, say=stderr_line) -> tuple[list, dict | None]:
    """The training score files, labelled by the calibration list `list_path` when given (read with its
    repeated pairs and self-pairs, which are reported through `say`), and that list's description for the
    JSON."""
    from sveval.io.trials import read_calibration_trials  # noqa: PLC0415

    files = read_scores(paths)
    if list_path is None:
        return files, None
    trials, n_repeated, n_self = read_calibration_trials(list_path)
    files = [cal.label_from_list(f, trials) for f in files]
    say(
        f"sveval: note: calibration list {list_path}: {len(trials):,} trials, {n_repeated:,} repeating an "
        f"earlier pair, {n_self:,} self-pair(s) (WeSpeaker's generator makes both); all used as listed"
    )
    info = {
        "source": str(list_path),
        "fingerprint": trials.fingerprint,
        "n_trials": len(trials),
        "n_target": int(trials.is_target.sum()),
        "n_repeated": n_repeated,
        "n_self_pairs": n_self,
    }
    return files, info


def read_scores(paths) -> list:
    from sveval.io.scores import read_score_file, require_finite  # noqa: PLC0415

    out = []
    for path in paths:
        scores = read_score_file(path)
        require_finite(scores)
        out.append(scores)
    return out


def labels_for(groups, trials_spec):
    """Per group, the labels of its trials: from --trials (which each file must cover exactly), else from
    the first file's label column, else None (the output is written, but cannot be measured)."""
    from sveval.io.catalog import load_trials  # noqa: PLC0415
    from sveval.pair_join import labels_from_list  # noqa: PLC0415

    trials = load_trials(trials_spec) if trials_spec else None
    if trials is not None and not trials.labelled:
        raise InputError("trial list has no labels", trials.source)
    labels = []
    for files in groups:
        if trials is None:
            labels.append(files[0].labels)
            continue
        labels.append(labels_from_list(files[0], trials))
    return labels


def warn_decreasing(model, names, say=stderr_line) -> None:
    """A `sveval: warning:` line per system whose score the map decreases in (recorded in calibration.json
    as `CalibrationModel.decreasing_in`). names: the system files as the user gave them, in the order of
    `model.score_weights`. A negative weight is a valid fit, but it reverses that system's ranking: a
    distance-like score calibrated without a word went from EER 97.6 % to 2.4 %, which read as a result."""
    for name, (_, weight) in zip(names, model.score_weights):
        if weight >= 0:
            continue
        inverted = "the system looks inverted (distance-like: higher = less likely the same speaker)"
        if model.method == "fusion":
            # a negative weight can also be a correction against a correlated system: say both
            line = (
                f"its fusion weight is negative ({weight:.4g}), so the fused map is decreasing in its score: "
                f"{inverted}, or the fusion uses it against a correlated system"
            )
        else:
            line = (
                f"the fitted calibration map is decreasing in its score (weight {weight:.4g}): {inverted}, "
                "and calibration reverses its ranking, so EER and minDCF change (before/after in the table "
                "and calibration.json)"
            )
        say(f"sveval: warning: {name}: {line}; check the sign of its scores")


def warn_trained_on_applied(train_paths, apply_paths, say=stderr_line) -> None:
    """A warning when a file is both trained on and applied to: its calibrated figures then measure the
    map on the trials it was fitted to, which flatters it."""
    trained = {os.path.realpath(p) for p in train_paths if p}
    for path in dict.fromkeys(p for p in apply_paths if os.path.realpath(p) in trained):
        say(
            f"sveval: warning: {path} is also a training file: its calibrated figures are measured on the "
            "trials the map was fitted to (optimistic); apply the model to held-out trials"
        )
