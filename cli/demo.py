"""`sveval demo`: the whole pipeline, offline, on a built-in synthetic Vox1-like setup."""

from __future__ import annotations

import contextlib
import shlex
import time
from pathlib import Path

import click

from sveval.errors import Interrupted, Terminated

DEFAULT_OUT = "sveval-demo"


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
    "trials_spec",
    metavar="NAME|PATH",
    help="Score this list instead of the synthetic one (e.g. vox1_O_cleaned, or veri_test2.txt): "
    "embeddings are then made up for its utterances.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic setup.")
@click.option("--no-plots", is_flag=True, help="Skip the DET plots.")
@click.option("--quiet", is_flag=True, help="No progress messages.")
def command(out, trials_spec, seed, no_plots, quiet):
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
    from sveval.cli.output_folder import one_writer

    from sveval.demo_calibration import calibrate_demo
    from sveval.io import embeddings as emb_io
    from sveval.io.atomic import check_writable_dir
    from sveval.io.catalog import load_trials
    from sveval.io.demo_files import write_demo_inputs
    from sveval.io.score_folder import RESULTS_JSON, write_score_folder
    from sveval.report import results_table
    from sveval.score_outputs import REPORT, finish_score_folder
    from sveval.score_run import Cohort, ScoreOptions, score_lists
    from sveval.synthetic import demo_setup
    from sveval.systems import load_system, system_name

    started = time.perf_counter()
    say = (lambda text: None) if quiet else (lambda text: click.echo(text, err=True))
    earlier = Path(out).is_dir() and any(Path(out).iterdir())
    out_dir = check_writable_dir(out)
    given = load_trials(trials_spec, progress=not quiet) if trials_spec else None
    say("making the synthetic setup")
    setup = demo_setup(seed=seed, trials=given)
    # The demo writes its files in place (they are inputs it reads back, and paths it records): a stop
    # half-way says so rather than leave a folder that looks complete.
    with _incomplete_if_stopped(out_dir, earlier):
        paths = write_demo_inputs(out_dir, setup, trials_spec)
        say(f"wrote the inputs under {out_dir}/embeddings" + ("" if given else f" and {paths['trials']}"))

        # From here on, what `sveval score` does with these files.
        evaluation = emb_io.read_embeddings(paths["eval"])
        cohort_embeddings = emb_io.read_embeddings(paths["cohort"])
        cohort = Cohort(
            "synthetic_vox2_dev",
            cohort_embeddings,
            emb_io.speakers_from_ids(cohort_embeddings.ids, str(paths["cohort"])),
        )
        trials = given if given is not None else load_trials(str(paths["trials"]))
        options = ScoreOptions(methods=("cos", "snorm", "asnorm"), top_n=300, eval_name="synthetic_vox1")
        run = score_lists(evaluation, [trials], options, cohort=cohort, progress=not quiet)
        scores_dir = out_dir / "scores"
        # the scores folder is written as `sveval score` writes one (sveval.io.output_folder)
        with one_writer(scores_dir, RESULTS_JSON) as folder:
            command = demo_command(out, trials_spec, seed, no_plots)
            write_score_folder(run, folder.stage, command=command)
            say("scored; calibrating the AS-norm scores on a synthetic calibration list")
            calibrate_demo(run, cohort, options, out_dir, folder.stage, seed, shown_scores=scores_dir)
            say(
                "calibrated; drawing DET plots and writing the report"
                if not no_plots
                else "calibrated; writing the report"
            )
            finish_score_folder(
                run, folder.stage, plots=not no_plots, name=system_name(scores_dir), shown=str(scores_dir)
            )
            folder.publish()
        report = scores_dir / REPORT
    click.echo(results_table([load_system(scores_dir, name="synthetic demo")]), nl=False)
    click.echo(
        "EER in %, minDCF at p_target 0.01 (normalised); cosine, s-norm and AS-norm against the synthetic "
        "5,994-speaker cohort; 'calibrated': AS-norm scores mapped to log-likelihood ratios by a linear "
        "calibration trained on a synthetic calibration list (actDCF and Cllr in the report)."
    )
    say(f"done in {time.perf_counter() - started:.1f} s")
    click.echo(f"report: {report}")


def demo_command(out, trials_spec, seed, no_plots) -> str:
    """The demo's command line rebuilt from its options (defaults left out), recorded in results.json."""
    words = ["sveval", "demo"]
    if out != DEFAULT_OUT:
        words += ["--out", str(out)]
    if trials_spec:
        words += ["--trials", trials_spec]
    if seed:
        words += ["--seed", str(seed)]
    if no_plots:
        words.append("--no-plots")
    return shlex.join(words)


@contextlib.contextmanager
def _incomplete_if_stopped(out_dir, earlier: bool):
    try:
        yield
    except (KeyboardInterrupt, Interrupted) as exc:  # Ctrl-C or SIGTERM (as the scores folder said it)
        mixed = " (this run's files beside an earlier run's)" if earlier else ""
        raise Interrupted(
            f"{out_dir} is incomplete{mixed}; run the same command again",
            terminated=isinstance(exc, Terminated) or getattr(exc, "terminated", False),
        ) from None
