"""`sveval metrics`: EER and minDCF of score files, printed as WeSpeaker prints them."""

from __future__ import annotations

import click
import numpy as np

from sveval import json_output
from sveval.errors import InputError
from sveval.io.calibration_files import act_dcf_line, cllr_line
from sveval.io.catalog import load_trials
from sveval.io.folders import read_labelled_scores
from sveval.io.results import format_block
from sveval.metrics import detection as m
from sveval.metrics.llr import llr_summary
from sveval.reporting.labels import file_labels
from sveval.signature import Signature, dcf_tag, trials_tag
from sveval.types import ResultBlock

from .options import SCORE_FILE_TRIALS, dcf_option

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
@dcf_option("Operating point P[:CMISS[:CFA]], repeatable (each point once). Default 0.01:1:1 (WeSpeaker).")
@click.option(
    "--sweep",
    type=click.Choice(m.SWEEPS),
    default="tie-aware",
    show_default=True,
    help="tie-aware: one operating point per distinct score (independent of trial order); per-trial: one "
    "per trial, ties in file order (Kaldi's compute_min_dcf.py, WeSpeaker with a stable sort); wespeaker: "
    "ties in numpy's unstable argsort order, as WeSpeaker's scripts (reproduces them on the same numpy "
    "build only). Without tied scores all three agree.",
)
@click.option(
    "--llr",
    is_flag=True,
    help="Read the scores as natural-log likelihood ratios: also print the actual DCF at each operating "
    "point (Bayes threshold log(c_fa(1-p)/(c_miss p))), Cllr and minCllr in bits.",
)
@click.option(
    "--json", "as_json", is_flag=True, help=f"Print a JSON array, one object per file. {json_output.HELP}"
)
@click.option(
    "--signature",
    "show_signature",
    is_flag=True,
    help="Also print the signature line (definitions, trial-list fingerprint, version).",
)
@click.option("--quiet", is_flag=True, help="No progress (downloading a built-in --trials list).")
def command(score_files, trials_spec, eer_choice, dcfs, sweep, llr, as_json, show_signature, quiet):
    """EER and minDCF of WeSpeaker score files.

    By default the output is WeSpeaker's compute_metrics.py block: EER in percent by the NIST/WeSpeaker
    interpolation, minDCF normalised, both to 3 decimals, operating point p_target 0.01, c_miss 1, c_fa 1.
    Thresholds sit between distinct scores only (--sweep tie-aware), so the numbers never depend on line
    order; where tied scores make the per-trial sweep of WeSpeaker and Kaldi print a different number, a
    warning on stderr (and "warnings" in --json) gives that number. With several --dcf, EER is printed once
    per file, then one minDCF line per operating point. Files of the same name are told apart by the
    folders in which their paths differ (`---- a/x.score -----`, and "label" in --json).

    \b
    Examples:
      sveval metrics exp/scores/vox1_O_cleaned.kaldi.score
      sveval metrics scores/*.score --trials vox1_O_cleaned --eer all --dcf 0.01 --dcf 0.05
      sveval metrics my.score --json
      sveval metrics my.score --sweep per-trial      # Kaldi's / WeSpeaker's rule, ties in file order
      sveval metrics cali_vox1_O_cleaned.kaldi.score --llr     # + actDCF, Cllr, minCllr
    """
    dcfs = dcfs or ((0.01, 1.0, 1.0),)
    definitions = ("nist", "kaldi", "rocch") if eer_choice == "all" else (eer_choice,)
    trials = load_trials(trials_spec, progress=not quiet) if trials_spec else None
    if trials is not None and not trials.labelled:
        raise InputError("trial list has no labels; metrics need target/nontarget labels", trials.source)
    reports = []
    for path, label in zip(score_files, file_labels(score_files, suffix="", folders_alone=False)):
        values, is_target = read_labelled_scores(path, trials)
        # one sort for the summary and the tie check, which says where the per-trial rule of Kaldi and
        # WeSpeaker prints otherwise (tie-aware sweep only)
        summary = m.SortedScores.of(values, is_target, sweep).summary(definitions, dcfs, tie_check=True)
        report = _measure(path, label, summary, dcfs, sweep, trials, llr)
        report["warnings"] = list(summary.tie_warnings)
        if llr:
            _add_llr(report, values, is_target, dcfs)
        reports.append(report)
    for report in reports:
        for warning in report["warnings"]:
            click.echo(f"sveval: warning: {report['file']}: {warning}", err=True)
    if as_json:
        click.echo(json_output.dumps(reports, indent=2))
        return
    for report in reports:
        click.echo(_text(report, definitions, show_signature), nl=False)


def _measure(path, label, summary, dcfs, sweep, trials, llr: bool) -> dict:
    definitions = tuple(e.definition for e in summary.eers)
    report = {"file": path, "label": label, "n_target": summary.n_target, "n_nontarget": summary.n_nontarget}
    if trials is not None:  # named by content: a built-in name only when the fingerprint proves it
        identity = {"name": trials.identity, "custom": trials.custom, "fingerprint": trials.fingerprint}
        report["trials"] = identity
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
            "threshold": d.threshold if np.isfinite(d.threshold) else None,  # -inf: accept every trial
        }
        for d in summary.dcfs
    ]
    parts = {
        "eer": "+".join(definitions),
        "dcf": ",".join(dcf_tag(*d) for d in dcfs),
        "sweep": sweep,
        "trials": trials_tag(trials),
    }
    if llr:  # the scores read as natural-log LLRs (`_add_llr`)
        parts["llr"] = "natural-log"
    report["signature"] = Signature.of(**parts).format()
    return report


def _text(report: dict, definitions, show_signature: bool) -> str:
    """WeSpeaker's block (header, EER line(s), minDCF line), with one minDCF line per operating point."""
    dcf_lines = []
    for dcf in report["dcf"]:
        block = ResultBlock(
            report["label"],  # the file name, or where several share it, the folders that differ
            report.get("eer", float("nan")),
            dcf["min_dcf"],
            dcf["p_target"],
            dcf["c_miss"],
            dcf["c_fa"],
        )
        header, eer_line, dcf_line = format_block(block).splitlines()
        dcf_lines.append(dcf_line)
        if "act_dcf" in dcf:
            dcf_lines.append(act_dcf_line(dcf["p_target"], dcf["c_miss"], dcf["c_fa"], dcf["act_dcf"]))
    lines = [header]
    if "nist" in definitions:
        lines.append(eer_line)
    lines += [f"{EER_LABELS[d]} = {report[f'eer_{d}']:.3f}" for d in definitions if d != "nist"]
    out = ["\n".join(lines + dcf_lines) + "\n"]
    if "cllr" in report:
        out.append(cllr_line(report["cllr"], report["min_cllr"]) + "\n")
    if show_signature:
        out.append(f"signature: {report['signature']}\n")
    return "".join(out)


def _add_llr(report: dict, values, is_target, dcfs) -> None:
    """actDCF per operating point, Cllr and minCllr (sveval.metrics.llr); `_measure` puts `llr` in
    the signature."""
    with np.errstate(over="ignore"):  # an overflowing Cllr is expected here: said in a warning below
        summary = llr_summary(values, is_target, dcfs)
    for entry, act in zip(report["dcf"], summary.act_dcfs):
        entry["act_dcf"] = act.act_dcf
        entry["bayes_threshold"] = act.threshold
    report["cllr"] = summary.cllr
    report["min_cllr"] = summary.min_cllr
    if not np.isfinite(summary.cllr):
        report["warnings"].append(
            f"Cllr is {summary.cllr}: the per-trial costs overflow a float (scores read as natural-log "
            f"LLRs, largest |score| {np.max(np.abs(values)):.3g}); are these scores LLRs?"
        )
