"""`sveval fuse`: linear logistic-regression fusion of several systems scored on the same trials."""

from __future__ import annotations

import dataclasses

import click

from sveval import calibration_run as run
from sveval.errors import InputError
from sveval.io.calibration_files import MODEL_FILE, SUMMARY_FILE

from . import json_output
from .calibration_common import (
    labels_for,
    print_outcome,
    read_scores,
    training_files,
    warn_decreasing,
    warn_trained_on_applied,
)
from .labels import file_labels
from .options import dcf_option
from .output_folder import one_writer, refuse_collisions


@click.command("fuse")
@click.option(
    "--train",
    "train_paths",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="One labelled calibration score file per system, repeatable (at least two).",
)
@click.option(
    "--apply",
    "apply_specs",
    multiple=True,
    metavar="A.score,B.score,...",
    help="The systems' score files of one list, comma-separated in --train order; repeatable. "
    "Separate --apply options, one per system, are one list when none has a comma.",
)
@click.option(
    "--train-trials",
    metavar="PATH",
    help="Calibration list labelling 3-column --train files; repeated pairs and self-pairs are counted "
    "and used.",
)
@click.option(
    "--trials", "trials_spec", metavar="NAME|PATH", help="Trial list the --apply files must cover (labels)."
)
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Output folder.")
@click.option(
    "--prior",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Training prior (default: the first --dcf p_target).",
)
@dcf_option("Operating point P[:CMISS[:CFA]]; default 0.01.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print calibration.json's content instead of the table."
)
def command(train_paths, apply_specs, train_trials, trials_spec, out_dir, prior, dcfs, as_json):
    """Fuse systems: llr = sum_k w_k * score_k + b, prior-weighted logistic regression (BOSARIS).

    The training files (one per system) and each --apply group must hold exactly the same trials, compared as
    (enroll, test) keys; any difference is an error naming the file. Writes DIR/fused_<first file name> per
    group, its result file (EER, minDCF, actDCF, Cllr), calibration_model.json and calibration.json.
    DIR follows `sveval calibrate`'s rules: one writer, staged inside DIR and renamed into place, the
    previous fusion's outputs replaced as a set, files sveval did not write never replaced.

    Each option takes one value (click options have a fixed number of values), so the files are given as
    `--train A --train B` and `--apply A,B` (or `--apply A --apply B` for a single list).

    \b
    Examples:
      sveval fuse --train a/vox2_cali.score --train b/vox2_cali.score \\
          --apply a/vox1_O_cleaned.kaldi.score,b/vox1_O_cleaned.kaldi.score --out fused/
      sveval fuse --train a/cal.score --train b/cal.score --apply a/O.score --apply b/O.score --out fused/
    """
    if len(train_paths) < 2:
        raise InputError("fusion needs at least two systems (--train once per system)")
    groups_paths = _groups(apply_specs, len(train_paths))
    firsts = [paths[0] for paths in groups_paths]
    refuse_collisions(firsts, [run.output_names(p, "fused_") for p in firsts])
    operating_points = dcfs or ((0.01, 1.0, 1.0),)
    inputs = [*train_paths, train_trials, *(p for g in groups_paths for p in g)]
    with one_writer(out_dir, SUMMARY_FILE, inputs) as folder:
        names = [n for p in firsts for n in run.output_names(p, "fused_")]
        folder.refuse_replacing_inputs([*names, SUMMARY_FILE, MODEL_FILE])
        groups = [read_scores(paths) for paths in groups_paths]
        for files in groups:
            run.align(files)  # cheap check of every group before training
        labels = labels_for(groups, trials_spec)
        train_files, train_list = training_files(train_paths, train_trials)
        options = run.CalibrationOptions("fusion", prior, "scipy", operating_points=operating_points)
        model = _named(run.train(options, train_files), train_paths)
        applied = run.write_folder(
            folder.stage, model, groups, labels, operating_points, prefix="fused_", train_list=train_list
        )
        folder.publish(inputs)
    warn_trained_on_applied(train_paths, [p for group in groups_paths for p in group])
    warn_decreasing(model, train_paths)
    if as_json:
        summary = {"model": model.to_dict(), **({"train_list": train_list} if train_list else {})}
        click.echo(json_output.dumps({**summary, "files": [a.__dict__ for a in applied]}, indent=2))
        return
    print_outcome(model, applied, out_dir)



def _named(model, train_paths):
    """Systems whose --train files share a name are named by the folders in which their paths differ
    (`a/x.score`, `b/x.score`), in the model's features, its training sources, the signature and the table:
    `x.score, x.score` cannot say which weight is whose."""
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
