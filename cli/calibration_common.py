"""What `sveval calibrate` and `sveval fuse` share: reading score files with labels, the printed summary."""

from __future__ import annotations

import os

import click

from sveval import calibration_run as run
from sveval.calibration import CalibrationModel
from sveval.errors import InputError
from sveval.io.catalog import load_trials
from sveval.io.results import format_metric
from sveval.io.scores import read_score_file, require_finite
from sveval.io.trials import read_calibration_trials
from sveval.pair_join import labels_from_list


def training_files(paths, list_path: str | None) -> tuple[list, dict | None]:
    """The training score files, labelled by the calibration list `list_path` when given (read with its
    repeated pairs and self-pairs, which are reported on stderr), and that list's description for the JSON."""
    files = read_scores(paths)
    if list_path is None:
        return files, None
    trials, n_repeated, n_self = read_calibration_trials(list_path)
    files = [run.label_from_list(f, trials) for f in files]
    click.echo(
        f"sveval: note: calibration list {list_path}: {len(trials):,} trials, {n_repeated:,} repeating an "
        f"earlier pair, {n_self:,} self-pair(s) (WeSpeaker's generator makes both); all used as listed",
        err=True,
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
    out = []
    for path in paths:
        scores = read_score_file(path)
        require_finite(scores)
        out.append(scores)
    return out


def labels_for(groups, trials_spec):
    """Per group, the labels of its trials: from --trials (which each file must cover exactly), else from
    the first file's label column, else None (the output is written, but cannot be measured)."""
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


def warn_decreasing(model: CalibrationModel, names) -> None:
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
        click.echo(f"sveval: warning: {name}: {line}; check the sign of its scores", err=True)


# the printed table: after calibration, then the input scores read as LLRs. Fusion has several inputs and
# `calibration_run` measures none of them ("before" is None): "-", and `sveval metrics` of each input says
_COLUMNS = ("EER %", "minDCF", "actDCF", "Cllr", "minCllr")
_HEADER = [*_COLUMNS, *(f"{c} before" for c in ("EER %", "minDCF", "actDCF", "Cllr"))]


def warn_trained_on_applied(train_paths, apply_paths) -> None:
    """A warning when a file is both trained on and applied to: its calibrated figures then measure the
    map on the trials it was fitted to, which flatters it."""
    trained = {os.path.realpath(p) for p in train_paths if p}
    for path in dict.fromkeys(p for p in apply_paths if os.path.realpath(p) in trained):
        click.echo(
            f"sveval: warning: {path} is also a training file: its calibrated figures are measured on the "
            "trials the map was fitted to (optimistic); apply the model to held-out trials",
            err=True,
        )


def _cells(metrics) -> list[str]:
    if metrics is None:
        return ["-"] * len(_COLUMNS)
    dcf = metrics["dcf"][0]
    values = (metrics["eer"], dcf["min_dcf"], dcf["act_dcf"], metrics["cllr"], metrics["min_cllr"])
    return [format_metric(v) for v in values]


def print_outcome(model: CalibrationModel, applied, out_dir: str) -> None:
    info = model.training
    # separable data is an error (sveval.calibration.check_fit): what is left is an iteration limit
    warning = "" if info.converged else f"; NOT converged in {info.iterations:,} iterations"
    sources = ", ".join(info.sources)
    click.echo(
        f"model: {model.method}, fit {model.fit}, prior {model.prior:g}; trained on {sources} "
        f"({info.n_target:,} target / {info.n_nontarget:,} nontarget, {info.n_repeated:,} repeated pair(s), "
        f"{info.n_self_pairs:,} self-pair(s)): Cllr {format_metric(info.cllr_before)} -> "
        f"{format_metric(info.cllr_after)} bits (minCllr {format_metric(info.min_cllr)}){warning}"
    )
    if not applied:
        return
    dcf = next((a.after["dcf"][0] for a in applied if a.after), {"p_target": 0.01})
    width = max(len("output"), *(len(a.output) for a in applied))
    widths = [max(7, len(h)) for h in _HEADER]
    before = "the input scores read as LLRs" if model.method != "fusion" else "- for fusion (several inputs)"
    click.echo(f"\nDCF at p_target {dcf['p_target']:g}; Cllr in bits; before = {before}")
    click.echo(f"{'output':<{width}}  " + "  ".join(f"{h:>{w}}" for h, w in zip(_HEADER, widths)))
    for a in applied:
        cells = _cells(a.after) + _cells(a.before)[:4]
        click.echo(f"{a.output:<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
    rose = [a.output for a in applied if a.after and a.before and a.after["cllr"] > a.before["cllr"]]
    if rose:  # not a failed fit: the two costs weigh the classes differently
        click.echo(
            f"\nCllr rose on {', '.join(rose)}: the map minimises the cross-entropy at prior "
            f"{model.prior:g} on the training trials, while Cllr weighs targets and nontargets as at prior "
            "0.5 (actDCF at the prior is the figure the fit aims at); a training list unlike these trials "
            "also costs"
        )
    click.echo(f"\nwritten to {out_dir}; signature: {model.signature}")
