"""`sveval fuse`: linear logistic-regression fusion of several systems scored on the same trials (the job:
`sveval.app.calibrate`)."""

from __future__ import annotations

import click

from .calibrate import show_outcome
from .options import dcf_option


@click.command("fuse")
@click.option(
    "--train",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="One labelled calibration score file per system, repeatable (at least two).",
)
@click.option(
    "--apply",
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
@click.option("--trials", metavar="NAME|PATH", help="Trial list the --apply files must cover (labels).")
@click.option("--out", required=True, type=click.Path(), help="Output folder.")
@click.option(
    "--prior",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Training prior (default: the first --dcf p_target).",
)
@dcf_option("Operating point P[:CMISS[:CFA]]; default 0.01.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print calibration.json's content instead of the table."
)
def command(dcfs, as_json, **options):
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
    from sveval.app.calibrate import FuseJob, fuse  # noqa: PLC0415

    job = FuseJob(**options, operating_points=dcfs)
    outcome = fuse(job, say=lambda line: click.echo(line, err=True))
    show_outcome(outcome, options["out"], as_json)
