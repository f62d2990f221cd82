"""`sveval ape`: normalised Bayes error-rate plots (actual and minimum DCF against the prior log-odds)."""

from __future__ import annotations

import click

from .det import LABELS
from .options import SCORE_FILE_TRIALS


@click.command("ape")
@click.argument("score_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out",
    metavar="FILE_OR_DIR",
    help="Image file (.png, .svg or .pdf) when one plot is drawn, else a folder. Default: beside each file.",
)
@click.option("--overlay", is_flag=True, help="Draw all files on one plot (default name overlay.ape.png).")
@click.option("--title", help="Plot title.")
@LABELS
@SCORE_FILE_TRIALS
@click.option("--quiet", is_flag=True, help="Do not print the paths written.")
def command(score_files, out, overlay, title, curve_labels, trials_spec, quiet):
    """Bayes error-rate ("APE") plots of scores read as natural-log likelihood ratios (BOSARIS).

    Per prior log-odds logit(p) from -7 to 7: the actual DCF at the Bayes threshold -logit(p) (solid) and the
    minimum DCF over all thresholds (dashed), c_miss = c_fa = 1, normalised by min(p, 1-p). The gap is the
    calibration loss; the dotted line at 1 is a system that always answers with the prior. The legend gives
    Cllr, minCllr and the ROCCH EER. Files are named `<score file without .score>.ape.png`.

    \b
    Examples:
      sveval ape cal/cali_vox1_O_cleaned.kaldi.score
      sveval ape scores/vox1_O_cleaned.kaldi.score cal/cali_vox1_O_cleaned.kaldi.score --overlay --out ape.svg
    """
    from sveval.app.plots import PlotJob, run

    job = PlotJob(
        "ape", tuple(score_files), out, overlay, title, tuple(curve_labels), trials_spec, progress=not quiet
    )
    for image in run(job):
        if not quiet:
            click.echo(str(image))
