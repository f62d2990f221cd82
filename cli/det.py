"""`sveval det`: DET plots of score files, one per file or all on one (--overlay)."""

from __future__ import annotations

import click

from .options import SCORE_FILE_TRIALS

LABELS = click.option(
    "--label",
    "curve_labels",
    multiple=True,
    metavar="TEXT",
    help="The curve's name in the legend, once per score file in the same order. Default: the file name, "
    "or where files share one, the folders in which their paths differ.",
)


@click.command("det")
@click.argument("score_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out",
    metavar="FILE_OR_DIR",
    help="Image file (.png, .svg or .pdf: format by extension) when one plot is drawn, else a folder. "
    "Default: beside each score file.",
)
@click.option("--overlay", is_flag=True, help="Draw all files on one plot (default name overlay.det.png).")
@click.option("--title", help="Plot title.")
@LABELS
@SCORE_FILE_TRIALS
@click.option("--p-target", type=float, default=0.01, show_default=True, help="p_target of the minDCF point.")
@click.option("--quiet", is_flag=True, help="Do not print the paths written.")
def command(score_files, out, overlay, title, curve_labels, trials_spec, p_target, quiet):
    """DET plots (probit axes, ticks in percent) with the EER and minDCF points marked.

    One plot per score file, named `<score file without .score>.det.png` beside it or in --out; --overlay
    draws every file on one plot, for comparing systems or normalisations. The legend gives each curve's
    EER (NIST/WeSpeaker, %) and minDCF (p_target 0.01, c_miss 1, c_fa 1 unless --p-target), the numbers of
    `sveval metrics`. The window is 0.05 %-50 % on both axes, widened when a marked point lies outside.

    \b
    Examples:
      sveval det exp/scores/vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score
      sveval det exp/scores/*vox1_O_cleaned.kaldi.score --overlay --out compare.svg --title "Vox1-O"
      sveval det bare3col.score --trials vox1_O_cleaned --out plots/
      sveval det a/vox1_O.kaldi.score b/vox1_O.kaldi.score --overlay --out cmp.png   # legend: a, b
      sveval det a/vox1_O.kaldi.score b/vox1_O.kaldi.score --overlay --label "DF-ResNet60" --label "ours"
    """
    from sveval.app.plots import PlotJob, run

    job = PlotJob(
        "det", tuple(score_files), out, overlay, title, tuple(curve_labels), trials_spec, p_target, not quiet
    )
    for image in run(job):
        if not quiet:
            click.echo(str(image))
