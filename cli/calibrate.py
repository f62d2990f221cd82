"""`sveval calibrate`: turn scores into calibrated log-likelihood ratios (linear or WeSpeaker's QMF); the job:
`sveval.app.calibrate`. The printed outcome is `sveval fuse`'s too."""

from __future__ import annotations

import click
from click.core import ParameterSource

from sveval import json_output
from sveval.io.results import format_metric

from .options import dcf_option


@click.command("calibrate")
@click.option("--train", type=click.Path(dir_okay=False), help="Labelled calibration score file.")
@click.option("--model", type=click.Path(dir_okay=False), help="calibration_model.json to reuse.")
@click.option(
    "--apply",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Score file to calibrate, repeatable.",
)
@click.option(
    "--train-trials",
    metavar="PATH",
    help="Calibration list labelling a 3-column --train file (e.g. WeSpeaker's vox2_cali.kaldi); its "
    "repeated pairs and self-pairs are counted and used.",
)
@click.option("--trials", metavar="NAME|PATH", help="Trial list the --apply files must cover (labels).")
@click.option("--out", required=True, type=click.Path(), help="Output folder.")
@click.option("--method", type=click.Choice(("linear", "qmf")), default="linear", show_default=True)
@click.option(
    "--prior",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Training prior. Default: the first --dcf p_target (linear), 0.5 = plain Cllr (qmf).",
)
@click.option(
    "--compat",
    type=click.Choice(("none", "wespeaker")),
    default="none",
    show_default=True,
    help="wespeaker: QMF trained and applied exactly as WeSpeaker's score_calibration.py.",
)
@click.option(
    "--utt2dur",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="QMF durations, `<utt> <seconds>` per line; repeatable.",
)
@click.option(
    "--wav-scp",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="QMF durations from the audio headers of a wav.scp; repeatable.",
)
@click.option(
    "--max-dur",
    type=click.FloatRange(0, min_open=True),
    default=20.0,
    show_default=True,
    help="QMF: durations are capped at this many seconds.",
)
@dcf_option("Operating point P[:CMISS[:CFA]]; default 0.01.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print calibration.json's content instead of the table."
)
@click.option("--quiet", is_flag=True, help="No progress (the WeSpeaker fit's steps).")
def command(dcfs, as_json, quiet, max_dur, **options):
    """Calibrate scores into natural-log likelihood ratios and measure them (EER, minDCF, actDCF, Cllr).

    linear: llr = a*score + b by prior-weighted logistic regression (BOSARIS) at --prior. qmf: WeSpeaker's
    quality-measure calibration on an 8-column AS-norm file: the score plus min/max/difference/ratio of the
    pair's durations (with --utt2dur/--wav-scp, capped at --max-dur), magnitudes and cohort means, fitted to
    Cllr. The training file carries labels, or a 3-column one takes them from --train-trials; repeated pairs
    and self-pairs (WeSpeaker's generator makes them) are counted and used. Writes DIR/cali_<name> per
    --apply file, its result file, the model (calibration_model.json, reusable with --model) and
    calibration.json.

    DIR has one writer at a time (a second run into it exits 2). The new files are made in a hidden stage
    inside DIR and renamed into place at the end: a failed or interrupted run leaves DIR as it was. The
    previous calibration's outputs (listed in its calibration.json) are replaced as a set; files sveval did
    not write are never replaced (a name taken by one is refused), and DIR's other files stay.

    \b
    Examples:
      sveval calibrate --train scores/vox2_cali.score --apply scores/vox1_O_cleaned.kaldi.score --out cal/
      sveval calibrate --train scores/vox2_cali.kaldi.score --train-trials data/vox2_cali.kaldi \\
          --apply scores/vox1_O_cleaned.kaldi.score --out cal/   # 3-column file labelled by its list
      sveval calibrate --method qmf --compat wespeaker \\
          --utt2dur data/vox1/utt2dur --utt2dur data/vox2_dev/utt2dur \\
          --train scores/vox2_dev_asnorm300_vox2_cali.kaldi.score \\
          --apply scores/vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score --out scores/
      sveval calibrate --model cal/calibration_model.json --apply other.score --out cal2/
    """
    from sveval.app.calibrate import CalibrateJob, calibrate  # noqa: PLC0415

    given = click.get_current_context().get_parameter_source("max_dur") != ParameterSource.DEFAULT
    max_dur = max_dur if given else None  # (not given: a reused model's own cap, or QMF's default)
    job = CalibrateJob(**options, max_dur=max_dur, operating_points=dcfs, progress=not quiet)
    outcome = calibrate(job, say=lambda line: click.echo(line, err=True))
    show_outcome(outcome, options["out"], as_json)


# the printed table: after calibration, then the input scores read as LLRs. Fusion has several inputs and
# `sveval.calibration.run` measures none of them ("before" is None): "-", and `sveval metrics` of each
# input says
_COLUMNS = ("EER %", "minDCF", "actDCF", "Cllr", "minCllr")
_HEADER = [*_COLUMNS, *(f"{c} before" for c in ("EER %", "minDCF", "actDCF", "Cllr"))]


def _cells(metrics) -> list[str]:
    if metrics is None:
        return ["-"] * len(_COLUMNS)
    dcf = metrics["dcf"][0]
    values = (metrics["eer"], dcf["min_dcf"], dcf["act_dcf"], metrics["cllr"], metrics["min_cllr"])
    return [format_metric(v) for v in values]


def show_outcome(outcome, out_dir: str, as_json: bool) -> None:
    """calibration.json's content (--json), or the model line and the table of the outputs."""
    if as_json:
        click.echo(json_output.dumps(outcome.summary(), indent=2))
    else:
        print_outcome(outcome.model, outcome.applied, out_dir)


def print_outcome(model, applied, out_dir: str) -> None:
    info = model.training
    # separable data is an error (sveval.calibration.linear.check_fit): what is left is an iteration limit
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
