"""`sveval report`: a markdown report (and JSON) from existing score folders, released ones included."""

from __future__ import annotations

import click

from sveval import json_output
from sveval.stats.bootstrap import MIN_REPLICATES
from sveval.stats.subgroups import MIN_SPEAKERS, MIN_TRIALS

from .options import SEED


@click.command("report")
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option(
    "--out",
    metavar="FILE",
    help="Markdown file to write. Default: report.md in the folder (one folder) or here (several).",
)
@click.option(
    "--name", "names", multiple=True, help="System name per folder, in order (default: folder name)."
)
@click.option(
    "--published",
    type=click.Choice(["golden-gemini"]),
    help="Add the published rows of a release for reference "
    "(golden-gemini: DF-ResNet60/114/183, AS-norm 300).",
)
@click.option(
    "--meta",
    type=click.Path(dir_okay=False),
    help="Speaker metadata (vox1_meta.csv, vox2_meta.csv) for EER/minDCF by gender pairing.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="95 % confidence intervals from N speaker-clustered bootstrap replicates (e.g. 1000); 0: none. "
    f"A percentile interval needs at least {MIN_REPLICATES} usable replicates (both ends then lie inside "
    "the replicates, never at the smallest or largest); replicates that draw no target or no nontarget "
    "trial are dropped, and the report says how many.",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option(
    "--trials",
    "trials_specs",
    multiple=True,
    metavar="NAME|PATH",
    help="Trial list (repeatable, one per list): score files named after it (`*vox1_O_cleaned.kaldi.score`, "
    "`<file name>.score`) must cover it exactly, and 3-column files (`enroll test score`, as Kaldi writes "
    "them) take their labels from it. Given once, it is also the list of 3-column files whose names point to "
    "no built-in list.",
)
@click.option(
    "--utt2spk",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Kaldi utt2spk (`<utterance> <speaker>` per line): the speakers of the bootstrap and of the --meta "
    "breakdown. Default: the first path component of VoxCeleb ids (`id10270/x6uYqmx31kE/00001.wav`); ids "
    "without '/' (`id10270_x6uYqmx31kE_00001`) then have no speaker, and those analyses are skipped with a "
    "note.",
)
@click.option(
    "--plots",
    is_flag=True,
    help="Draw one DET overlay per trial list (every system and method) beside the report and embed it.",
)
@click.option(
    "--groups",
    metavar="LIST",
    help="Subgroup results and fairness figures (FDR, GARBE, max/min ratios) for a comma-separated LIST of "
    "gender, nationality (both from --meta), duration (shorter side of the trial, from --utt2dur) and video "
    "(same- vs different-video target trials, from VoxCeleb ids). Replaces the --meta gender section when it "
    "holds gender. Intervals from --bootstrap N.",
)
@click.option(
    "--utt2dur",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="`<utterance> <seconds>` per line: the durations of --groups duration.",
)
@click.option(
    "--duration-edges",
    default="5,10,20",
    show_default=True,
    metavar="SECONDS",
    help="Band edges of --groups duration (comma-separated seconds; an edge goes to the upper band).",
)
@click.option(
    "--min-speakers",
    type=click.IntRange(min=1),
    default=MIN_SPEAKERS,
    show_default=True,
    metavar="N",
    help="A subgroup with fewer speakers is listed with its counts only (no numbers, no fairness figures).",
)
@click.option(
    "--min-trials",
    type=click.IntRange(min=1),
    default=MIN_TRIALS,
    show_default=True,
    metavar="N",
    help="A subgroup with fewer target or fewer nontarget trials is listed with its counts only.",
)
@click.option(
    "--baseline",
    metavar="NAME",
    help="Add a 'Paired comparisons' section: every other system against this one (a --name or folder) on "
    "each method and list they share, paired speaker-clustered bootstrap of `sveval compare` with "
    "--bootstrap N replicates (1000 if not given) and --seed.",
)
@click.option("--title", default="sveval report", show_default=True, help="Report title.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help=f"Also write the report as JSON beside the markdown. {json_output.HELP}",
)
@click.option("--quiet", is_flag=True, help="No progress messages.")
def command(folders, trials_specs, quiet, **options):
    """Report of one or more score folders: a table like the released READMEs, trial counts, DET plots,
    provenance.

    A folder is a `sveval score` output folder or a released one (its `scores/` subfolder is searched
    too). The table shows one row per system and method with `Vox1-O EER | Vox1-O MinDCF | ...`: the
    numbers of the result files (EER %, minDCF, 3 decimals); score files without a result block are
    computed with WeSpeaker's definitions and marked so. Provenance comes from results.json where present;
    for other folders the report says what is unknown. Set SOURCE_DATE_EPOCH for a fixed date.

    \b
    Examples:
      sveval report exp/scores
      sveval report run_a/scores run_b/scores --name baseline --name new --out compare.md
      sveval report Gemini_df_resnet110 --published golden-gemini
      sveval report exp/scores --meta vox1_meta.csv --bootstrap 1000
      sveval report kaldi_scores --trials vox1_O_cleaned      # 3-column `enroll test score` files
      sveval report kaldi_scores --trials vox1_O_cleaned --utt2spk data/vox1/utt2spk --bootstrap 1000
      sveval report kaldi_scores --trials trials.kaldi --utt2spk utt2spk --meta vox1_meta.csv
      sveval report a b c --meta vox1_meta.csv --groups gender,nationality,video --bootstrap 1000 --baseline a
    """
    from sveval.app.report import ReportJob, run  # noqa: PLC0415

    # every other option is the job's field of the same name
    job = ReportJob(folders=folders, trials=trials_specs, progress=not quiet, **options)
    outcome = run(job, say=lambda line: click.echo(line, err=True))
    click.echo(outcome.table, nl=False)
    click.echo(f"report: {outcome.path}")
