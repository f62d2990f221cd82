"""`sveval calibrate`: turn scores into calibrated log-likelihood ratios (linear or WeSpeaker's QMF)."""

from __future__ import annotations

import click
from click.core import ParameterSource

from sveval import calibration_run as run
from sveval.calibration import CalibrationModel, FitError
from sveval.errors import InputError
from sveval.io.calibration_files import MODEL_FILE, SUMMARY_FILE, read_model_json
from sveval.io.durations import merge_durations, read_utt2dur, wav_scp_durations

from . import json_output
from .calibration_common import (
    labels_for,
    print_outcome,
    read_scores,
    training_files,
    warn_decreasing,
    warn_trained_on_applied,
)
from .options import dcf_option
from .output_folder import one_writer, refuse_collisions


@click.command("calibrate")
@click.option(
    "--train", "train_path", type=click.Path(dir_okay=False), help="Labelled calibration score file."
)
@click.option(
    "--model", "model_path", type=click.Path(dir_okay=False), help="calibration_model.json to reuse."
)
@click.option(
    "--apply",
    "apply_paths",
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
@click.option(
    "--trials", "trials_spec", metavar="NAME|PATH", help="Trial list the --apply files must cover (labels)."
)
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Output folder.")
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
    "utt2dur_paths",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="QMF durations, `<utt> <seconds>` per line; repeatable.",
)
@click.option(
    "--wav-scp",
    "wav_scp_paths",
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
def command(
    train_path,
    model_path,
    apply_paths,
    train_trials,
    trials_spec,
    out_dir,
    method,
    prior,
    compat,
    utt2dur_paths,
    wav_scp_paths,
    max_dur,
    dcfs,
    as_json,
    quiet,
):
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
    if (train_path is None) == (model_path is None):
        raise InputError("give exactly one of --train (fit a model) and --model (reuse one)")
    if model_path and (method != "linear" or compat != "none" or prior is not None or train_trials):
        raise InputError(
            "--method, --compat, --prior and --train-trials describe training; a --model already fixes them"
        )
    if click.get_current_context().get_parameter_source("max_dur") != ParameterSource.DEFAULT:
        if model_path:  # the model's own cap is applied: a different one would go unused
            raise InputError("--max-dur is part of a QMF model's training; a --model already fixes it")
        if method != "qmf":
            raise InputError("--max-dur caps QMF durations: use it with --method qmf")
    if compat == "wespeaker" and method != "qmf":
        raise InputError("--compat wespeaker reproduces WeSpeaker's QMF training: use it with --method qmf")
    if (utt2dur_paths or wav_scp_paths) and method != "qmf" and not model_path:
        raise InputError("--utt2dur and --wav-scp give QMF durations: use them with --method qmf")
    refuse_collisions(apply_paths, [run.output_names(p) for p in apply_paths])
    operating_points = dcfs or ((0.01, 1.0, 1.0),)
    inputs = [train_path, model_path, train_trials, *apply_paths, *utt2dur_paths, *wav_scp_paths]
    with one_writer(out_dir, SUMMARY_FILE, inputs) as folder:
        names = [n for p in apply_paths for n in run.output_names(p)]
        folder.refuse_replacing_inputs([*names, SUMMARY_FILE, MODEL_FILE])
        # every input is read and checked before the fit, which can take minutes
        durations = None
        if utt2dur_paths or wav_scp_paths:
            sources = [(p, read_utt2dur(p)) for p in utt2dur_paths] + [
                (p, wav_scp_durations(p)) for p in wav_scp_paths
            ]
            durations = merge_durations(sources)
        groups = [[s] for s in read_scores(apply_paths)]
        labels = labels_for(groups, trials_spec)
        train_list = None
        if model_path:
            model = CalibrationModel.from_dict(read_model_json(model_path), model_path)
        else:
            train_files, train_list = training_files([train_path], train_trials)
            run.check_applicable(method, compat == "wespeaker", groups, durations)
            options = run.CalibrationOptions(
                method, prior, "wespeaker" if compat == "wespeaker" else "scipy", max_dur, operating_points
            )
            model = _train_with_progress(options, train_files, durations, quiet)
        applied = run.write_folder(
            folder.stage, model, groups, labels, operating_points, durations, train_list=train_list
        )
        folder.publish(inputs)
    # a reused model was fitted elsewhere: name it, and the file it was trained on
    sources = model.training.sources or ("?",)
    warn_trained_on_applied([train_path], apply_paths)
    warn_decreasing(model, [train_path] if train_path else [f"{model_path} (trained on {sources[0]})"])
    if as_json:
        summary = {"model": model.to_dict(), **({"train_list": train_list} if train_list else {})}
        click.echo(json_output.dumps({**summary, "files": [a.__dict__ for a in applied]}, indent=2))
        return
    print_outcome(model, applied, out_dir)


def _train_with_progress(options, files, durations, quiet=False):
    """WeSpeaker's torch schedule can take minutes: a bar over its (at most 50) steps on stderr."""
    if options.fit != "wespeaker":
        return run.train(options, files, durations)
    from sveval.progress import progress

    bar = progress(total=50, desc="WeSpeaker L-BFGS steps", unit="step", disable=quiet, leave=False)
    with bar:

        def step(k, loss):
            bar.set_postfix(cllr=f"{loss:.4f}")
            bar.update(1)

        try:
            return run.train(options, files, durations, step)
        except FitError as exc:  # the torch schedule sees features, not files: name the training file
            raise InputError(str(exc), files[0].path) from None
