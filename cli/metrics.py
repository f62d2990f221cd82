"""`sveval metrics`: EER and minDCF of score files, printed as WeSpeaker prints them."""

from __future__ import annotations

import json
import os

import click

from sveval import metrics as m
from sveval.calibration_metrics import llr_summary
from sveval.errors import InputError
from sveval.io.calibration_files import act_dcf_line, cllr_line
from sveval.io.catalog import load_trials
from sveval.io.results import format_block
from sveval.io.scores import match_trials, read_score_file, require_finite
from sveval.signature import dcf_tag, make_signature, trials_tag
from sveval.types import ResultBlock

from .options import DCF, SCORE_FILE_TRIALS

EER_CHOICES = ("nist", "kaldi", "rocch", "all")
EER_LABELS = {"kaldi": "EER (kaldi compute-eer)", "rocch": "EER (rocch)"}


@click.command("metrics")
@click.argument("score_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@SCORE_FILE_TRIALS
@click.option(
    "--eer",
    "eer_choice",
    type=click.Choice(EER_CHOICES),
    default="nist",
    show_default=True,
    help="EER definition: nist (= WeSpeaker, interpolated), kaldi (compute-eer), rocch, or all.",
)
@click.option(
    "--dcf",
    "dcfs",
    type=DCF,
    multiple=True,
    help="Operating point P[:CMISS[:CFA]], repeatable. Default 0.01:1:1 (WeSpeaker).",
)
@click.option(
    "--sweep",
    type=click.Choice(m.SWEEPS),
    default="per-trial",
    show_default=True,
    help="per-trial: one operating point per trial, ties in file order (Kaldi's compute_min_dcf.py); "
    "tie-aware: one per distinct score (independent of trial order); wespeaker: ties in numpy's unstable "
    "argsort order, as WeSpeaker's scripts (reproduces them on the same numpy build only).",
)
@click.option(
    "--llr",
    is_flag=True,
    help="Read the scores as natural-log likelihood ratios: also print the actual DCF at each operating "
    "point (Bayes threshold log(c_fa(1-p)/(c_miss p))), Cllr and minCllr in bits.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per file.")
@click.option(
    "--signature",
    "show_signature",
    is_flag=True,
    help="Also print the signature line (definitions, trial-list fingerprint, version).",
)
def command(score_files, trials_spec, eer_choice, dcfs, sweep, llr, as_json, show_signature):
    """EER and minDCF of WeSpeaker score files.

    By default the output is WeSpeaker's compute_metrics.py block, byte for byte: EER in percent by the
    NIST/WeSpeaker interpolation, minDCF normalised, both to 3 decimals, operating point p_target 0.01,
    c_miss 1, c_fa 1. Scores are swept in file order, as WeSpeaker and Kaldi do.

    \b
    Examples:
      sveval metrics exp/scores/vox1_O_cleaned.kaldi.score
      sveval metrics scores/*.score --trials vox1_O_cleaned --eer all --dcf 0.01 --dcf 0.05
      sveval metrics my.score --json
      sveval metrics cali_vox1_O_cleaned.kaldi.score --llr     # + actDCF, Cllr, minCllr
    """
    dcfs = dcfs or ((0.01, 1.0, 1.0),)
    definitions = ("nist", "kaldi", "rocch") if eer_choice == "all" else (eer_choice,)
    trials = load_trials(trials_spec, progress=True) if trials_spec else None
    if trials is not None and not trials.labelled:
        raise InputError("trial list has no labels; metrics need target/nontarget labels", trials.source)
    reports = []
    for path in score_files:
        scores = read_score_file(path)
        require_finite(scores)
        is_target = scores.labels
        if trials is not None:
            index = match_trials(scores, trials)
            is_target = trials.is_target[index]
        elif is_target is None:
            raise InputError("3-column score file has no labels; pass --trials NAME|PATH", path)
        reports.append(_measure(path, scores.values, is_target, definitions, dcfs, sweep, trials))
        if llr:
            _add_llr(reports[-1], scores.values, is_target, dcfs)
    if as_json:
        click.echo(json.dumps(reports, indent=2))
        return
    for report in reports:
        click.echo(_text(report, definitions, show_signature), nl=False)


def _measure(path, values, is_target, definitions, dcfs, sweep, trials) -> dict:
    summary = m.summarize(values, is_target, definitions, dcfs, sweep)
    report = {"file": path, "n_target": summary.n_target, "n_nontarget": summary.n_nontarget}
    for eer in summary.eers:
        key = "eer" if eer.definition == "nist" else f"eer_{eer.definition}"
        report[key] = 100 * eer.value
        if eer.definition != "rocch":
            report[f"{key}_threshold"] = eer.threshold
    report["dcf"] = [
        {
            "p_target": d.p_target,
            "c_miss": d.c_miss,
            "c_fa": d.c_fa,
            "min_dcf": d.min_dcf,
            "threshold": d.threshold,
        }
        for d in summary.dcfs
    ]
    report["signature"] = make_signature(
        eer="+".join(definitions),
        dcf=",".join(dcf_tag(*d) for d in dcfs),
        sweep=sweep,
        trials=trials_tag(trials),
    )
    return report


def _text(report: dict, definitions, show_signature: bool) -> str:
    out = []
    for dcf in report["dcf"]:
        block = ResultBlock(
            os.path.basename(report["file"]),
            report.get("eer", float("nan")),
            dcf["min_dcf"],
            dcf["p_target"],
            dcf["c_miss"],
            dcf["c_fa"],
        )
        header, eer_line, dcf_line = format_block(block).splitlines()
        lines = [header]
        if "nist" in definitions:
            lines.append(eer_line)
        lines += [f"{EER_LABELS[d]} = {report[f'eer_{d}']:.3f}" for d in definitions if d != "nist"]
        lines.append(dcf_line)
        if "act_dcf" in dcf:
            lines.append(act_dcf_line(dcf["p_target"], dcf["c_miss"], dcf["c_fa"], dcf["act_dcf"]))
        out.append("\n".join(lines) + "\n")
    if "cllr" in report:
        out.append(cllr_line(report["cllr"], report["min_cllr"]) + "\n")
    if show_signature:
        out.append(f"signature: {report['signature']}\n")
    return "".join(out)


def _add_llr(report: dict, values, is_target, dcfs) -> None:
    """actDCF per operating point, Cllr and minCllr (sveval.calibration_metrics); `llr` in the signature."""
    summary = llr_summary(values, is_target, dcfs)
    for entry, act in zip(report["dcf"], summary.act_dcfs):
        entry["act_dcf"] = act.act_dcf
        entry["bayes_threshold"] = act.threshold
    report["cllr"] = summary.cllr
    report["min_cllr"] = summary.min_cllr
    report["signature"] = report["signature"].replace("|v:", "|llr:natural-log|v:")
