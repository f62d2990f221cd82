"""`sveval demo`: the whole pipeline, offline, on a built-in synthetic Vox1-like setup (the job:
`sveval.app.demo`, a preset of `sveval score`)."""

from __future__ import annotations

import time

import click

from sveval.app.demo import DEFAULT_OUT

from .options import SEED


@click.command("demo")
@click.option(
    "--out",
    default=DEFAULT_OUT,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the synthetic inputs and the score folder.",
)
@click.option(
    "--trials",
    metavar="NAME|PATH",
    help="Score this list instead of the synthetic one (e.g. vox1_O_cleaned, or veri_test2.txt): "
    "embeddings are then made up for its utterances.",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the synthetic setup.")
@click.option("--no-plots", is_flag=True, help="Skip the DET plots.")
@click.option("--quiet", is_flag=True, help="No progress messages.")
def command(no_plots, quiet, **options):
    """Run sveval end to end on synthetic data: no download, no model, same result on every run.

    Makes a Vox1-like setup (40 test speakers, 4,874 utterances, a Vox1-O-shaped list of 37,611 balanced
    trials, a 5,994-speaker cohort; embeddings with session and per-utterance variability, so that s-norm
    and AS-norm matter), writes it under --out as ordinary files (.npz embeddings, a Kaldi trial list), then
    does what `sveval score` does with such files: cosine, s-norm and AS-norm (top 300) scores, result
    files, results.json, DET plots and report.md in OUT/scores. Prints the table and the report's path.

    \b
    Examples:
      sveval demo
      sveval demo --out /tmp/demo --seed 1
      sveval demo --trials vox1_O_cleaned       # the real Vox1-O list, synthetic embeddings
    """
    from sveval.app.demo import DemoJob, run  # noqa: PLC0415
    from sveval.reporting.markdown import results_table  # noqa: PLC0415
    from sveval.reporting.systems import load_system  # noqa: PLC0415

    say = (lambda text: None) if quiet else (lambda text: click.echo(text, err=True))
    outcome = run(DemoJob(**options, plots=not no_plots, progress=not quiet), say)
    click.echo(results_table([load_system(outcome.scores, name="synthetic demo")]), nl=False)
    click.echo(
        "EER in %, minDCF at p_target 0.01 (normalised); cosine, s-norm and AS-norm against the synthetic "
        "5,994-speaker cohort; 'calibrated': AS-norm scores mapped to log-likelihood ratios by a linear "
        "calibration trained on a synthetic calibration list (actDCF and Cllr in the report)."
    )
    say(f"done in {time.perf_counter() - outcome.started:.1f} s")
    click.echo(f"report: {outcome.report}")
