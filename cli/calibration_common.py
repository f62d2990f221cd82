"""What `sveval calibrate` and `sveval fuse` share: reading score files with labels, the printed summary."""

from __future__ import annotations

import click

from sveval.calibration import CalibrationModel
from sveval.errors import InputError
from sveval.io.catalog import load_trials
from sveval.io.scores import match_trials, read_score_file, require_finite


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
        index = match_trials(files[0], trials)
        labels.append(trials.is_target[index])
    return labels


def _cells(metrics) -> list[str]:
    if metrics is None:
        return ["-"] * 5
    dcf = metrics["dcf"][0]
    values = (metrics["eer"], dcf["min_dcf"], dcf["act_dcf"], metrics["cllr"], metrics["min_cllr"])
    return [f"{v:.3f}" for v in values]


def print_outcome(model: CalibrationModel, applied, out_dir: str) -> None:
    info = model.training
    warning = "" if info.converged else "; NOT converged (separable data?)"
    sources = ", ".join(info.sources)
    click.echo(
        f"model: {model.method}, fit {model.fit}, prior {model.prior:g}; trained on {sources} "
        f"({info.n_target:,} target / {info.n_nontarget:,} nontarget, {info.n_repeated:,} repeated pair(s), "
        f"{info.n_self_pairs:,} self-pair(s)): Cllr {info.cllr_before:.3f} -> {info.cllr_after:.3f} bits "
        f"(minCllr {info.min_cllr:.3f}){warning}"
    )
    if not applied:
        return
    dcf = next((a.after["dcf"][0] for a in applied if a.after), {"p_target": 0.01})
    width = max(len("output"), *(len(a.output) for a in applied))
    header = ["EER %", "minDCF", "actDCF", "Cllr", "minCllr", "actDCF before", "Cllr before"]
    click.echo(f"\nDCF at p_target {dcf['p_target']:g}; Cllr in bits; before = the input scores read as LLRs")
    click.echo(f"{'output':<{width}}  " + "  ".join(f"{h:>7}" for h in header))
    for a in applied:
        before = _cells(a.before)
        cells = _cells(a.after) + [before[2], before[3]]
        click.echo(f"{a.output:<{width}}  " + "  ".join(f"{c:>7}" for c in cells))
    click.echo(f"\nwritten to {out_dir}; signature: {model.signature}")
