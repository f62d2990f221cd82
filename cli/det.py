"""`sveval det`: DET plots of score files, one per file or all on one (--overlay)."""

from __future__ import annotations

from pathlib import Path

import click

from sveval.app.output_folder import refuse_collisions
from sveval.errors import InputError
from sveval.reporting.labels import file_labels

from .options import SCORE_FILE_TRIALS

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
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
    from sveval.io.catalog import load_trials
    from sveval.io.figures import figure_format, write_det_plot
    from sveval.io.folders import read_labelled_scores
    from sveval.io.output_folder import refuse_output_over_input
    from sveval.metrics.detection import SortedScores
    from sveval.reporting.det import det_plot_curve

    if not 0 < p_target < 1:
        raise InputError(f"--p-target must be between 0 and 1, got {p_target}")
    n_plots = 1 if overlay else len(score_files)
    targets = _targets(score_files, out, overlay, n_plots)
    for target in targets:
        figure_format(target)
        refuse_output_over_input(target, [*score_files, trials_spec])
    labels = _curve_labels(score_files, curve_labels)
    trials = load_trials(trials_spec, progress=not quiet) if trials_spec else None
    curves = []
    for path, label in zip(score_files, labels):
        values, is_target = read_labelled_scores(path, trials)
        scores = SortedScores.of(values, is_target)  # one sort for the curve, its numbers and the tie check
        det = scores.det_curve()  # one sweep for them too
        curves.append(det_plot_curve(scores, label, p_target=p_target, det=det))
        point = (p_target, 1.0, 1.0)
        for warning in scores.summary(("nist",), (point,), tie_check=True, curve=det).tie_warnings:
            click.echo(f"sveval: warning: {path}: {warning} (the legend shows the first)", err=True)
    groups = [curves] if overlay else [[c] for c in curves]
    for target, group in zip(targets, groups):
        write_det_plot(group, target, title=title)
        if not quiet:
            click.echo(str(target))


def _targets(score_files, out, overlay, n_plots, kind: str = "det") -> list[Path]:
    """Image paths: --out as one file, or `<score file without .score>.<kind>.png` (`overlay.<kind>.png`) in
    --out or beside each score file."""
    from sveval.io.score_folder import det_plot_name

    def image_name(path) -> str:  # `-` (standard input) is `stdin`; a gzip file is named as the file inside
        name = "stdin.score" if str(path) == "-" else Path(path).name.removesuffix(".gz")
        return det_plot_name(name) if kind == "det" else f"{name.removesuffix('.score')}.{kind}.png"

    if out and Path(out).suffix.lower() in IMAGE_SUFFIXES:
        if n_plots != 1:
            raise InputError(
                f"--out is one file but {n_plots} plots are drawn; give a folder or --overlay", out
            )
        return [Path(out)]
    if out and Path(out).suffix and not Path(out).is_dir():
        raise InputError("--out must end in .png, .svg or .pdf, or be a folder", out)
    if overlay:
        folder = Path(out) if out else Path(score_files[0]).parent
        return [folder / f"overlay.{kind}.png"]
    targets = [(Path(out) if out else Path(p).parent) / image_name(p) for p in score_files]
    refuse_collisions(score_files, targets)  # two plots into one file: one would be lost
    return targets


def _curve_labels(score_files, given=()) -> list[str]:
    """The curves' names: --label (one per file, in order) where given; else `labels.file_labels`: the file
    name without `.score`, and where files share a name, the folders in which their paths differ
    (`a/x.score`, `b/x.score` -> a, b), followed by the file name only where the names differ too."""
    if given:
        if len(given) != len(score_files):
            raise InputError(
                f"--label given {len(given)} time(s) for {len(score_files)} score file(s): one per file"
            )
        return list(given)
    return file_labels(score_files)
