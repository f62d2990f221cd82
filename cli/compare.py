"""`sveval compare`: is system B better than A? Paired, speaker-clustered bootstrap on one trial list."""

from __future__ import annotations

import shlex

import click

from sveval import json_output

from .options import SEED, dcf_option


@click.command("compare")
@click.argument("systems", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option(
    "--trials",
    "trials_spec",
    metavar="NAME|PATH",
    help="Trial list every system must cover exactly (files are aligned by it; labels from it). Without "
    "it the score files must hold the same labelled trials in the same order (same fingerprint).",
)
@click.option(
    "--utt2spk",
    type=click.Path(dir_okay=False, exists=True, allow_dash=True),
    help="Speaker of every utterance (Kaldi utt2spk). Default: the first path component of VoxCeleb ids.",
)
@click.option(
    "--baseline", metavar="SYSTEM", help="The system the others are compared with (default: the first)."
)
@click.option(
    "--bootstrap",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    metavar="N",
    help="Paired speaker-clustered bootstrap replicates (a 95 % interval needs at least 41, so that both "
    "ends lie inside the replicates; more for a higher --level).",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the bootstrap.")
@dcf_option("Operating point P[:CMISS[:CFA]] of minDCF (and actDCF), repeatable (each once); default 0.01.")
@click.option(
    "--level",
    type=click.FloatRange(0.5, 1.0, max_open=True),
    default=0.95,
    show_default=True,
    help="Confidence level of the percentile intervals.",
)
@click.option("--json", "as_json", is_flag=True, help=f"Print JSON instead of the table. {json_output.HELP}")
def command(systems, trials_spec, utt2spk, baseline, bootstrap, seed, dcfs, level, as_json):
    """Compare two or more systems scored on the same trial list with the baseline (the first system or
    --baseline): difference in EER (percentage points), minDCF at each --dcf and, for LLR scores (`cali_*`,
    `fused_*` files), Cllr and actDCF; a percentile interval and a two-sided p-value from a paired
    speaker-clustered bootstrap (every replicate draws the speakers once and weights every system's trials
    alike: a nontarget trial between speakers a and b m_a*m_b times, a target trial m_a times; the
    replicate differences are then rescaled about the list's difference to the pair-corrected variance,
    docs/compare.md), Holm's correction over the systems, and the share of replicates where the ranking
    flips.

    A SYSTEM is a score file or a folder holding one score file (of the --trials list, if several). Lists
    that differ (fingerprint) are refused, saying what differs. p = min(1, 2 min(share of replicate
    differences <= 0, share >= 0)).

    \b
    Examples:
      sveval compare base/vox1_O.kaldi.score new/vox1_O.kaldi.score
      sveval compare base new other --trials vox1_O --bootstrap 2000 --seed 1 --dcf 0.01 --dcf 0.05
      sveval compare A B --baseline B --utt2spk data/vox1/utt2spk --json
    """
    from sveval import __version__
    from sveval.errors import InputError
    from sveval.stats.compare import HOLM, P_VALUE, compare_files, comparison_dict, min_replicates

    if len(systems) < 2:
        raise InputError("compare needs at least two systems")
    if bootstrap < min_replicates(level):
        raise InputError(
            f"--bootstrap {bootstrap} is too few replicates for a {level:.0%} percentile interval: it needs "
            f"at least {min_replicates(level)}"
        )
    dcfs = dcfs or ((0.01, 1.0, 1.0),)
    done = compare_files(systems, trials_spec, utt2spk, baseline, bootstrap, seed, dcfs, level)
    r = done.result.resampling
    provenance = {
        "resampling": r.scheme,
        "replicates": r.n,
        "seed": r.seed,
        "redrawn": r.n_redrawn,
        "level": r.level,
        "speakers": done.speakers,
        "n_speakers": r.n_speakers,
        "interval": "percentiles of the replicate differences (numpy linear interpolation)",
        "p_value": P_VALUE,
        "holm": HOLM,
        "sweep": "replicates: per-trial sweep in stable score order; full-list values: tie-aware",
        "sveval_version": __version__,
        "command": _command_line(
            systems, trials_spec, utt2spk, baseline, bootstrap, seed, dcfs, level, as_json
        ),
    }
    if as_json:
        out = comparison_dict(done.result)
        out["trials"] = {
            "name": done.trials.name,
            "fingerprint": done.trials.fingerprint,
            "n_target": done.trials.n_target,
            "n_nontarget": done.trials.n_nontarget,
        }
        out["systems"] = [{"system": n, "score_file": p, "llr": llr} for n, p, llr in done.files]
        out["provenance"] = provenance
        click.echo(json_output.dumps(out, indent=2))
        return
    click.echo(_text(done, provenance), nl=False)


def _text(done, provenance) -> str:
    from sveval.reporting.labels import file_labels
    from sveval.stats.compare import p_text

    t, r = done.trials, done.result.resampling
    # the table names systems by the parts of their paths that differ (as det's legends); the paths once
    shown = dict(zip((n for n, _, _ in done.files), file_labels([p for _, p, _ in done.files])))
    lines = [
        f"trials: {t.name}, {t.n_target + t.n_nontarget:,} ({t.n_target:,} target, "
        f"{t.n_nontarget:,} nontarget), fingerprint {t.fingerprint.split(':', 1)[-1][:12]}",
        "systems: " + "; ".join(f"{shown[n]} = {p}" for n, p, _ in done.files),
        f"bootstrap: {r.n:,} paired replicates, seed {r.seed}, {r.n_speakers:,} speakers resampled "
        f"({done.speakers}); {r.n_redrawn:,} draws without both classes redrawn",
        "",
    ]
    level = f"{r.level:.0%} CI"
    header = [
        "System",
        "Baseline",
        "Metric",
        "Baseline value",
        "System value",
        "Difference",
        level,
        "p",
        "p (Holm)",
    ]
    rows = []
    for c in done.result.comparisons:
        for m in c.metrics:
            rows.append(
                [
                    shown.get(c.system, c.system),
                    shown.get(c.baseline, c.baseline),
                    m.key.label(),
                    f"{m.baseline:.3f}",
                    f"{m.system:.3f}",
                    f"{m.difference:+.3f}",
                    f"[{m.ci[0]:+.3f}, {m.ci[1]:+.3f}]",
                    p_text(m.p_value, r.n),
                    p_text(m.p_holm, r.n, len(done.result.comparisons)),
                ]
                + [f"{100 * m.flips:.1f} %"]
            )
    header.append("Ranking flips")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += [
        "",
        "Difference = system - baseline (EER in percentage points); lower is better for every metric.",
        f"p-value: {provenance['p_value']}; p (Holm): {provenance['holm']}.",
        "Ranking flips: share of replicates whose order of the two systems differs from the full list's.",
    ]
    return "\n".join(lines) + "\n"


def _command_line(systems, trials_spec, utt2spk, baseline, bootstrap, seed, dcfs, level, as_json) -> str:
    """The command, rebuilt from the parsed options in a fixed order."""
    words = ["sveval", "compare", *systems]
    for option, value in (("--trials", trials_spec), ("--utt2spk", utt2spk), ("--baseline", baseline)):
        if value:
            words += [option, str(value)]
    words += ["--bootstrap", str(bootstrap), "--seed", str(seed)]
    for p, cm, cf in dcfs:
        words += ["--dcf", f"{p:g}:{cm:g}:{cf:g}"]
    words += ["--level", f"{level:g}"] + (["--json"] if as_json else [])
    return shlex.join(words)
