"""`sveval trials`: the built-in Vox1 lists, where they are, and verified downloads."""

from __future__ import annotations

import os

import click
import numpy as np

from sveval import json_output
from sveval.calibration.trials import calibration_trials
from sveval.io.catalog import (
    base_url,
    cache_dir,
    check_against_manifest,
    fetch,
    load_manifest,
    load_trials,
    locate,
)
from sveval.io.durations import merge_durations, read_utt2dur
from sveval.io.trials import read_trials, write_kaldi_trials

from .options import SEED


@click.group("trials")
def command():
    """Built-in trial lists (Vox1-O/E/H, original and cleaned): list, fetch, identify.

    \b
    Look-up order for a name: an explicit path, $SVEVAL_TRIALS_DIR (source file or <name>.kaldi),
    the cache (~/.cache/sveval/trials, or $SVEVAL_CACHE_DIR/trials), then a verified download
    ($SVEVAL_TRIALS_URL overrides the base URL).

    \b
    Examples:
      sveval trials list
      sveval trials fetch vox1_H_cleaned
      sveval trials info my_trials.txt
    """


@command.command("list")
@click.option("--verify", is_flag=True, help="Parse every list found and check counts and fingerprint.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(verify, as_json):
    """Every built-in name, its counts and where it was found (or that it is missing)."""
    rows = []
    for entry in load_manifest()[1].values():
        location = locate(entry)
        row = {
            "name": entry.name,
            "source": entry.source,
            "trials": entry.trials,
            "target": entry.target,
            "nontarget": entry.nontarget,
            "path": str(location.path) if location.path else None,
            "found_in": location.where,
        }
        if verify and location.path:
            trials = read_trials(location.path, name=entry.name, basename=entry.kaldi_name)
            check_against_manifest(trials, entry)
            row["fingerprint"] = trials.fingerprint
        rows.append(row)
    if as_json:
        click.echo(json_output.dumps(rows, indent=2))
        return
    click.echo(f"{'name':<16} {'source file':<20} {'trials':>9} {'target':>9} {'nontarget':>9}  found")
    for row in rows:
        where = f"{row['found_in']}: {row['path']}" if row["path"] else "missing (sveval trials fetch NAME)"
        if "fingerprint" in row:
            where += "  [verified]"
        click.echo(
            f"{row['name']:<16} {row['source']:<20} {row['trials']:>9,} {row['target']:>9,} "
            f"{row['nontarget']:>9,}  {where}"
        )
    click.echo(f"\ncache: {cache_dir()}   base URL: {base_url()}")


@command.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--base-url", "url", help="Download from this base URL instead of the manifest's.")
@click.option("--force", is_flag=True, help="Download again even if a copy is already found.")
@click.option("--quiet", is_flag=True, help="No download progress.")
def fetch_command(names, url, force, quiet):
    """Download built-in lists into the cache, keeping them only if they verify. NAME may be `all`."""
    manifest = load_manifest()[1]
    if "all" in names:
        names = tuple(manifest)
    unknown = [n for n in names if n not in manifest]
    if unknown:
        raise click.BadParameter(f"unknown list(s) {', '.join(unknown)}; known: {', '.join(manifest)}")
    for name in names:
        entry = manifest[name]
        location = locate(entry)
        if location.path and not force:
            click.echo(f"{name}: already in {location.where} ({location.path})")
            continue
        path = fetch(entry, url_base=url, progress=not quiet)
        click.echo(f"{name}: verified {entry.trials:,} trials -> {path}")


@command.command("info")
@click.argument("spec", metavar="NAME|PATH")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info_command(spec, as_json):
    """Counts, format and fingerprint of a list, and which built-in list it is, if any."""
    trials = load_trials(spec, download=False)
    info = {
        "name": trials.identity,  # by content: a built-in name only when the fingerprint proves it
        "custom": trials.custom,
        "source": trials.source,
        "trials": len(trials),
        "target": trials.n_target if trials.labelled else None,
        "nontarget": trials.n_nontarget if trials.labelled else None,
        "fingerprint": trials.fingerprint,
        "builtin": trials.builtin,
    }
    if as_json:
        click.echo(json_output.dumps(info, indent=2))
        return
    for key, value in info.items():
        click.echo(f"{key:<12} {value if value is not None else '-'}")


@command.command("make-calibration")
@click.option(
    "--utt2dur",
    "utt2dur_paths",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="`<utt> <seconds>` per line (WeSpeaker's data/vox2_dev/utt2dur); repeatable.",
)
@click.option(
    "--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Kaldi trial list to write."
)
@click.option(
    "--trials-per-kind",
    type=click.IntRange(min=2),
    default=10000,
    show_default=True,
    help="Trials of each kind (short-short, short-long, long-long), half of them target.",
)
@click.option("--seed", type=SEED, default=0, show_default=True)
def make_calibration_command(utt2dur_paths, out_path, trials_per_kind, seed):
    """Write a short/long calibration trial list as WeSpeaker's generate_calibration_trial.py does,
    seeded, without self-pairs and without repeated pairs.

    \b
    Examples:
      sveval trials make-calibration --utt2dur data/vox2_dev/utt2dur --out data/vox1/trials/vox2_cali.kaldi
      sveval trials make-calibration --utt2dur utt2dur --out cali.kaldi --trials-per-kind 2000 --seed 3
    """
    from sveval.io.output_folder import refuse_output_over_input

    refuse_output_over_input(out_path, utt2dur_paths)
    durations = merge_durations([(p, read_utt2dur(p)) for p in utt2dur_paths])
    ids = np.array(list(durations), dtype=object)
    seconds = np.array(list(durations.values()), dtype=np.float64)
    trials = calibration_trials(ids, seconds, trials_per_kind, seed, name=os.path.basename(out_path))
    write_kaldi_trials(out_path, trials)
    click.echo(
        f"{out_path}: {len(trials):,} trials ({trials.n_target:,} target / {trials.n_nontarget:,} "
        f"nontarget), seed {seed}, fingerprint {trials.short_fingerprint}"
    )
