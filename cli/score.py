"""`sveval score`: cosine, s-norm and AS-norm scores of trial lists, written as a WeSpeaker scores/ folder."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import click
from sveval.cli.model_source import Sets, check_name_part, model_options, set_name

from sveval.errors import InputError

COMPAT = ("exact", "wespeaker")


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
    "mean_spec",
    metavar="cohort|none|FILE.npy",
    help="Mean vector subtracted from every embedding [default: cohort if there is one, else none].",
)
@click.option(
    "--trials",
    "trial_specs",
    multiple=True,
    required=True,
    metavar="NAME|PATH",
    help="Trial list (built-in name or file), repeatable.",
)
@click.option(
    "--norm",
    "norm",
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
@click.option(
    "--out", "out_dir", type=click.Path(), help="Output folder [--exp-dir: EXP/scores]."
)
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
@model_options
def command(
    eval_path,
    cohort_path,
    cohort_utt2spk,
    cohort_name,
    mean_spec,
    trial_specs,
    norm,
    top_n,
    compat,
    cohort_precision,
    eval_name,
    out_dir,
    exp_dir,
    allow_missing,
    no_plots,
    quiet,
    model_source,
):
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

    from sveval.cli.output_folder import one_writer  # noqa: PLC0415

    from sveval.io.score_folder import RESULTS_JSON  # noqa: PLC0415
    from sveval.score_run import resolve_methods  # noqa: PLC0415

    model_source.check(eval_path=eval_path, cohort_path=cohort_path, exp_dir=exp_dir)
    check_name_part(eval_name, "--eval-name")
    check_name_part(cohort_name, "--cohort-name")
    if exp_dir:
        exp = Path(exp_dir)
        eval_path = eval_path or str(exp / "embeddings" / "vox1" / "xvector.scp")
        if cohort_path is None and (exp / "embeddings" / "vox2_dev" / "xvector.scp").is_file():
            cohort_path = str(exp / "embeddings" / "vox2_dev" / "xvector.scp")
        out_dir = out_dir or str(exp / "scores")
    if not eval_path and not model_source.used:
        raise InputError("pass --embeddings EVAL, --model M --wav-scp EVAL_SCP, or --exp-dir EXP")
    if not out_dir:
        raise InputError("pass --out DIR (or --exp-dir EXP, which writes EXP/scores)")
    if cohort_utt2spk and not (cohort_path or model_source.cohort_audio):
        raise InputError("--cohort-utt2spk needs --cohort (or, with --model, --cohort-wav-scp)")
    methods = tuple(x.strip() for x in norm.split(",") if x.strip()) if norm else None
    resolved = resolve_methods(methods, bool(cohort_path or model_source.cohort_audio))  # before any work
    if mean_spec not in (None, "cohort", "none") and not os.path.lexists(mean_spec):  # (a FIFO: its reader)
        raise InputError("mean vector file not found (--mean takes cohort, none or a .npy file)", mean_spec)
    out = Path(out_dir)
    kept = " (the embeddings extracted so far are kept in its embeddings/ cache: a rerun resumes)"
    inputs = [eval_path, cohort_path, cohort_utt2spk, mean_spec, *trial_specs, *model_source.inputs]
    inputs = [p for p in inputs if p and os.path.exists(p)]
    # everything after the cheap option checks: read, score, write into the folder's stage, publish
    with one_writer(out, RESULTS_JSON, inputs, kept if model_source.used else "") as folder:
        from sveval.cohort_run import read_cohort_sums  # noqa: PLC0415
        from sveval.io import embeddings as emb_io  # noqa: PLC0415
        from sveval.io.catalog import load_trials  # noqa: PLC0415
        from sveval.io.score_folder import write_score_folder  # noqa: PLC0415
        from sveval.score_outputs import finish_score_folder, output_names  # noqa: PLC0415
        from sveval.score_run import Cohort, ScoreOptions, score_lists  # noqa: PLC0415
        from sveval.systems import system_name  # noqa: PLC0415

        progress = not quiet
        # a list given by name is recorded by that name, not by where it was found on this machine
        trial_lists = [
            t if os.path.exists(spec) else replace(t, source=spec)
            for spec, t in ((spec, load_trials(spec, progress=progress)) for spec in trial_specs)
        ]
        names = [t.basename for t in trial_lists]
        if len(set(names)) != len(names):
            raise InputError(f"two trial lists would write the same score file: {', '.join(names)}")
        if model_source.used:
            sets = model_source.extract(
                out,
                trial_lists,
                eval_name=eval_name,
                cohort_name=cohort_name,
                cohort_utt2spk=cohort_utt2spk,
                allow_missing=allow_missing,
                progress=progress,
                asnorm_top_n=top_n if "asnorm" in resolved else None,
            )
        else:
            sets = _read_sets(eval_path, cohort_path, eval_name, cohort_name)
        folder.refuse_replacing_inputs(
            output_names(trial_lists, resolved, sets.cohort_name, top_n, sets.eval_name)
        )  # before the scoring (publish checks again)
        evaluation = sets.evaluation
        cohort = None
        if sets.cohort is not None:
            if cohort_utt2spk:
                utts, spks = emb_io.read_utt2spk(cohort_utt2spk)
                speakers = emb_io.speakers_from_utt2spk(sets.cohort.ids, utts, spks, cohort_utt2spk)
            else:
                speakers = emb_io.speakers_from_ids(sets.cohort.ids, sets.cohort_source)
            cohort = Cohort(sets.cohort_name, sets.cohort, speakers)
        elif sets.cohort_source is not None:  # a cohort file: streamed into per-speaker sums, not held whole
            cohort = read_cohort_sums(
                sets.cohort_source,
                sets.cohort_name,
                compat,
                utt2spk=cohort_utt2spk,
                dim=evaluation.dim,
                dim_error=f"dimension mismatch: the eval embeddings ({eval_path}) have {evaluation.dim} "
                f"dimensions, the cohort ({sets.cohort_source}) {{cohort_dim}}; "
                "both must come from the same model",
                progress=progress,
            )

        mean_mode, mean_vector, mean_source = mean_spec or ("cohort" if cohort else "none"), None, ""
        if mean_mode not in ("cohort", "none"):
            mean_source = mean_mode
            mean_vector = emb_io.read_mean_vector(mean_mode, evaluation.dim)
            mean_mode = "given"

        options = ScoreOptions(
            methods=methods,
            top_n=top_n,
            compat=compat,
            mean=mean_mode,
            mean_vector=mean_vector,
            mean_source=mean_source,
            eval_name=sets.eval_name,
            allow_missing=allow_missing,
            cohort_precision=cohort_precision,
        )
        run = score_lists(evaluation, trial_lists, options, cohort=cohort, progress=progress)
        for lst in run.lists:
            if lst.n_dropped:
                click.echo(
                    f"sveval: dropped {lst.n_dropped:,} trial(s) of {lst.trials.display_name}: "
                    f"{len(lst.missing_ids):,} utterance(s) without an embedding, "
                    f"e.g. {', '.join(lst.missing_ids[:3])}",
                    err=True,
                )
        for note in run.notes:
            click.echo(f"sveval: note: {note}", err=True)
        for res in (res for lst in run.lists for res in lst.methods):
            for warning in res.warnings:
                click.echo(f"sveval: warning: {res.score_file}: {warning}", err=True)
        command_line = shlex.join(["sveval", *sys.argv[1:]])
        write_score_folder(run, folder.stage, command=command_line, progress=progress, model=sets.model)
        finish_score_folder(run, folder.stage, plots=not no_plots, name=system_name(out), shown=str(out))
        folder.publish()
        click.echo(_table(run, out))
        click.echo(f"report: {out / 'report.md'}")


def _read_sets(eval_path, cohort_path, eval_name, cohort_name) -> Sets:
    from sveval.io.embeddings import embedding_file, read_embeddings  # noqa: PLC0415

    evaluation = read_embeddings(eval_path)
    if cohort_path:
        embedding_file(cohort_path)  # exists, known format: refused before any scoring work
    return Sets(  # the cohort file is streamed later (read_cohort_sums), not read here
        evaluation=evaluation,
        eval_name=eval_name or set_name(Path(eval_path)),
        cohort=None,
        cohort_name=(cohort_name or set_name(Path(cohort_path))) if cohort_path else None,
        cohort_source=cohort_path,
        model=None,
    )


def _table(run, out: Path) -> str:
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
