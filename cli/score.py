"""`sveval score`: cosine, s-norm and AS-norm scores of trial lists, written as a WeSpeaker scores/ folder
(the job: `sveval.app.score`)."""

from __future__ import annotations

import dataclasses
import shlex
import sys

import click

COMPAT = ("exact", "wespeaker")

# score audio instead of embeddings (`sveval.app.extract.AudioSource`); torch is imported only with --model
AUDIO_OPTIONS = (
    click.option(
        "--model",
        "model",
        help="Score audio: checkpoint file or model folder, .onnx file or published name to embed with.",
    ),
    click.option("--arch", help="With --model: architecture [default: config.yaml, else the keys]."),
    click.option(
        "--wav-scp", type=click.Path(dir_okay=False), help="With --model: eval audio, Kaldi wav.scp."
    ),
    click.option(
        "--wav-dir",
        type=click.Path(file_okay=False),
        help="With --model: eval audio folder (ids spk/video/00001.wav).",
    ),
    click.option(
        "--cohort-wav-scp",
        type=click.Path(dir_okay=False),
        help="With --model: cohort audio, Kaldi wav.scp (speakers: --cohort-utt2spk or the id's first "
        "path component).",
    ),
    click.option(
        "--cohort-wav-dir", type=click.Path(file_okay=False), help="With --model: cohort audio folder."
    ),
    click.option("--device", help="With --model: auto, cpu, cuda or cuda:N [default: auto]."),
    click.option(
        "--batch-size",
        type=int,
        help="With --model: at most this many utterances per batch [default: none on GPU, 1 on CPU].",
    ),
    click.option(
        "--precision",
        type=click.Choice(["fp32", "tf32", "bf16"]),
        help="With --model: fp32, tf32 or bf16 (see sveval extract --help) [default: fp32].",
    ),
    click.option(
        "--num-workers",
        type=int,
        help="With --model: audio-decoding processes [default: cores on GPU, 2 on CPU; 0: inline].",
    ),
    click.option("--skip-bad", is_flag=True, help="With --model: skip unreadable or too-short audio."),
)


def _audio_options(func):
    for option in reversed(AUDIO_OPTIONS):
        func = option(func)
    return func


def _top_n(ctx, param, value):
    if value is not None and value < 2:  # before any work: AS-norm divides by the spread of the top N
        raise click.BadParameter(
            f"{value}: AS-norm divides by the spread (std) of each utterance's top-N cohort scores, and the "
            "spread of fewer than 2 values is zero; use 2 or more",
            ctx,
            param,
        )
    return value


@click.command("score")
@click.option(
    "--embeddings",
    "eval_path",
    type=click.Path(),
    help="Eval embeddings: scp/ark, npz, npy (+ids) or folder.",
)
@click.option(
    "--cohort", "cohort_path", type=click.Path(), help="Cohort utterance embeddings (e.g. vox2_dev)."
)
@click.option(
    "--cohort-utt2spk",
    type=click.Path(dir_okay=False),
    help="Speaker of each cohort utterance (default: the first path component of the utterance id).",
)
@click.option("--cohort-name", help="Cohort name in file names [default: the cohort folder name].")
@click.option(
    "--mean",
    metavar="cohort|none|FILE.npy",
    help="Mean vector subtracted from every embedding [default: cohort if there is one, else none].",
)
@click.option(
    "--trials",
    multiple=True,
    required=True,
    metavar="NAME|PATH",
    help="Trial list (built-in name or file), repeatable.",
)
@click.option(
    "--norm",
    metavar="cos,snorm,asnorm",
    help="Methods [default: all three with a cohort, cos without].",
)
@click.option(
    "--top-n",
    type=int,
    default=300,
    show_default=True,
    callback=_top_n,
    help="AS-norm cohort size N (2 or more: AS-norm divides by the std of the N best cohort scores).",
)
@click.option(
    "--compat",
    type=click.Choice(COMPAT),
    default="exact",
    show_default=True,
    help="exact: float64 (AS-norm cohort products: see --cohort-precision), no rounding before "
    "normalisation; wespeaker: reproduce WeSpeaker's "
    "score.py + score_norm.py files line by line (float32, cosine rounded to 5 decimals).",
)
@click.option(
    "--cohort-precision",
    type=click.Choice(("float32", "float64")),
    default="float32",
    show_default=True,
    help="exact mode: AS-norm cohort products. float32: exact products of the unit vectors rounded to "
    "2^-26 (error ~6e-9 each; a line is the same whatever else is scored, on any BLAS); float64: float64 "
    "products in BLAS order, about the same cost. Small --top-n amplifies product errors: see the README's "
    "precision table.",
)
@click.option("--eval-name", help="Eval-set name in result-file names [default: the eval folder name].")
@click.option("--out", type=click.Path(), help="Output folder [--exp-dir: EXP/scores].")
@click.option(
    "--exp-dir",
    type=click.Path(file_okay=False),
    help="WeSpeaker experiment folder: reads "
    "EXP/embeddings/vox1/xvector.scp and EXP/embeddings/vox2_dev/xvector.scp, writes EXP/scores.",
)
@click.option(
    "--allow-missing", is_flag=True, help="Drop (and count) trials whose utterances have no embedding."
)
@click.option("--no-plots", is_flag=True, help="Skip the DET plots (report.md is still written).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@_audio_options
def command(norm, no_plots, quiet, **options):
    """Score trial lists with cosine, s-norm and AS-norm, WeSpeaker style.

    Writes <list>.score, <cohort>_snorm_<list>.score, <cohort>_asnorm<N>_<list>.score, the result files
    <eval>_cos_result, <eval>_snorm<N>_result, <eval>_asnorm<N>_result and results.json (every number
    with its definition and signature). Cohort statistics are computed once per utterance for all lists.
    Then a DET plot per score file and one per list comparing the methods (--no-plots skips them) and
    report.md, the `sveval report` of the folder.

    \b
    Examples:
      sveval score --exp-dir exp/Gemini_df_resnet114 --trials vox1_O_cleaned --trials vox1_E_cleaned
      sveval score --embeddings emb/vox1/xvector.scp --cohort emb/vox2_dev/xvector.scp \\
                   --trials vox1_O_cleaned --out scores/
      sveval score --embeddings vox1.npz --trials my_trials.txt --norm cos --out scores/
      sveval score --exp-dir exp/m --trials vox1_O_cleaned --compat wespeaker   # WeSpeaker's files
      sveval score --model exp/Gemini_df_resnet110 --wav-scp data/vox1/wav.scp \\
                   --cohort-wav-scp data/vox2_dev/wav.scp --cohort-utt2spk data/vox2_dev/utt2spk \\
                   --trials vox1_O_cleaned --out scores/   # embeddings cached in scores/embeddings/

    With --model, the eval (and cohort) audio is embedded into OUT/embeddings/<set>/ first; the next run
    reuses those embeddings (a folder holding another model's embeddings is refused), and a stopped run
    keeps those it finished.

    OUT holds one run: a rerun replaces the files the previous run listed in results.json (another list,
    fewer methods: the old files go) and never touches files sveval did not write; a name taken by one of
    those is refused before anything changes. The files are made in a hidden stage inside OUT and renamed
    into place at the end, so an error or a stop leaves OUT as the previous run left it.
    """
    from sveval.app.extract import AudioSource  # noqa: PLC0415
    from sveval.app.score import ScoreJob, run  # noqa: PLC0415

    audio = AudioSource(**{f.name: options.pop(f.name) for f in dataclasses.fields(AudioSource)})
    job = ScoreJob(
        **options,
        methods=tuple(x.strip() for x in norm.split(",") if x.strip()) if norm else None,
        plots=not no_plots,
        progress=not quiet,
        command=shlex.join(["sveval", *sys.argv[1:]]),
        audio=audio,
    )
    outcome = run(job, say=lambda line: click.echo(line, err=True))
    click.echo(_table(outcome.run, outcome.out))
    click.echo(f"report: {outcome.out / 'report.md'}")


def _table(run, out) -> str:
    rows = [("list", "method", "trials", "EER %", "minDCF", "score file")]
    for lst in run.lists:
        for res in lst.methods:
            mt = res.metrics
            eer = f"{100 * mt.eer:.3f}" if mt else "-"
            dcf = f"{mt.min_dcf:.3f}" if mt else "-"
            method = f"asnorm{run.options.top_n}" if res.method == "asnorm" else res.method
            scored = f"{int(lst.kept.sum()):,}"
            rows.append((lst.trials.display_name, method, scored, eer, dcf, res.score_file))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) if i in (0, 1, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in rows
    ]
    footer = (
        f"minDCF: p_target {run.options.p_target:g}, c_miss 1, c_fa 1; EER: NIST/WeSpeaker interpolation; "
        f"compat: {run.options.compat}. Written to {out}/ (results.json has the signatures)."
    )
    return "\n".join([*lines, footer])
