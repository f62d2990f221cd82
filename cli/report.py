"""`sveval report`: a markdown report (and JSON) from existing score folders, released ones included."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click

from sveval.analysis import MIN_REPLICATES
from sveval.errors import InputError
from sveval.subgroups import MIN_SPEAKERS, MIN_TRIALS

from . import json_output


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
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
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
def command(
    folders,
    out,
    names,
    published,
    meta,
    bootstrap,
    seed,
    trials_specs,
    utt2spk,
    plots,
    groups,
    utt2dur,
    duration_edges,
    min_speakers,
    min_trials,
    baseline,
    title,
    as_json,
    quiet,
):
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
    from sveval import __version__
    from sveval.io.atomic import write_text
    from sveval.io.catalog import load_trials
    from sveval.io.meta import read_speaker_genders
    from sveval.io.output_folder import RECORDS, refuse_output_over_input, refuse_replacing_foreign
    from sveval.published import published_table
    from sveval.report import ReportInfo, render_markdown, report_dict
    from sveval.speakers import speaker_map
    from sveval.systems import load_system

    if names and len(names) != len(folders):
        raise InputError(
            f"--name given {len(names)} time(s) for {len(folders)} folder(s); give one per folder"
        )
    if 0 < bootstrap < MIN_REPLICATES:
        raise InputError(
            f"--bootstrap {bootstrap} is too few replicates for a 95 % percentile interval: it needs at "
            f"least {MIN_REPLICATES} (see --help)"
        )
    out_path = Path(out) if out else (Path(folders[0]) if len(folders) == 1 else Path(".")) / "report.md"
    if out_path.suffix.lower() != ".md":
        raise InputError("--out must be a markdown file ending in .md", str(out_path))
    refuse_output_over_input(out_path, [meta, utt2spk, utt2dur, *trials_specs])
    refuse_replacing_foreign(out_path, b"\nGenerated by sveval ")  # (a user's report.md, a link)
    if as_json:
        if out_path.with_suffix(".json").name in RECORDS:  # (--out DIR/results.md)
            raise InputError("--json would write over a folder's record: name the report otherwise", str(out))
        refuse_replacing_foreign(out_path.with_suffix(".json"), b'"systems"', "--json's output")
    genders = read_speaker_genders(meta) if meta else None
    spec = subgroup_spec(
        groups, meta, genders, utt2dur, duration_edges, min_speakers, min_trials, bootstrap, seed
    )
    if spec is not None and "gender" in spec.groupings:
        genders = None  # the Subgroups section replaces the gender-pairing section
    speakers = speaker_map(utt2spk) if utt2spk else None
    trials = tuple(load_trials(spec, progress=not quiet) for spec in dict.fromkeys(trials_specs))
    progress = None if quiet else (lambda path: click.echo(f"reading {path}", err=True))
    systems = [
        load_system(
            folder,
            name=names[i] if names else None,
            report_dir=out_path.parent,
            genders=genders,
            bootstrap=bootstrap,
            seed=seed,
            curves=plots,
            progress=progress,
            trials=trials,
            speakers=speakers,
            subgroups=spec,
        )
        for i, folder in enumerate(folders)
    ]
    if not any(system.rows for system in systems):
        reasons = [note for system in systems for note in system.notes]
        raise InputError(
            "nothing to report: no score file gave numbers and no result file holds any"
            + (f" ({reasons[0]}" + (f"; and {len(reasons) - 1} more note(s))" if len(reasons) > 1 else ")"))
            if reasons
            else ""
        )
    paired = ()
    if baseline is not None:
        n_paired = bootstrap or 1000
        paired = paired_tables(systems, folders, baseline, trials, trials_specs, utt2spk, n_paired, seed)
    options = {"trials": trials_specs, "utt2spk": utt2spk}
    if spec is not None:
        options["groups"] = (groups, utt2dur, duration_edges, min_speakers, min_trials)
    if baseline is not None:
        options["baseline"] = baseline
    command_line = _command_line(
        folders, names, out, published, meta, bootstrap, seed, plots, title, as_json, **options
    )
    info = ReportInfo(__version__, command_line, report_date(), title)
    table = published_table(published) if published else None
    images = draw_overlays(systems, out_path) if plots else ()
    write_text(out_path, render_markdown(systems, info, table, images, paired))
    if as_json:
        write_text(
            out_path.with_suffix(".json"),
            json_output.dumps(report_dict(systems, info, table, paired), indent=2) + "\n",
        )
    from sveval.report import results_table

    click.echo(results_table(systems, table), nl=False)
    click.echo(f"report: {out_path}")


def report_date() -> str:
    """UTC now, or the time in $SOURCE_DATE_EPOCH when it is set (see sveval.report.now_utc)."""
    from sveval.clock import now_utc

    try:
        return now_utc().strftime("%Y-%m-%d %H:%M UTC")
    except ValueError as exc:
        raise InputError(str(exc)) from None


def draw_overlays(systems, out_path: Path) -> tuple[str, ...]:
    """One DET plot per trial list with every system's and method's curve: `<report stem>.<list>.det.png`
    beside the report. Returns the image paths relative to the report."""
    from dataclasses import replace

    from sveval.io.figures import PNG_SIGNATURE, write_det_plot
    from sveval.io.output_folder import refuse_replacing_foreign
    from sveval.report import list_title, method_title

    by_list: dict[str, list] = {}
    for system in systems:
        for row in system.rows:
            if row.curve is not None:
                label = method_title(row.method, row.top_n)
                label = f"{system.name}, {label}" if len(systems) > 1 else label
                by_list.setdefault(row.trials, []).append(replace(row.curve, label=label))
    images = []
    for trials, curves in by_list.items():
        slug = re.sub(r"[^\w.-]+", "_", trials).strip("_")  # `x (custom)` -> `x_custom`: no spaces in names
        path = out_path.with_name(f"{out_path.stem}.{slug}.det.png")
        refuse_replacing_foreign(path, PNG_SIGNATURE, "--plots")  # (a user's image, a link)
        write_det_plot(curves, path, title=f"{list_title(trials)} ({trials})")
        images.append(path.name)
    return tuple(images)


def _command_line(
    folders,
    names,
    out,
    published,
    meta,
    bootstrap,
    seed,
    plots,
    title,
    as_json,
    trials=(),
    utt2spk=None,
    groups=None,
    baseline=None,
) -> str:
    """The command, rebuilt from the parsed options in a fixed order (defaults left out)."""
    words = ["sveval", "report", *folders]
    for name in names:
        words += ["--name", name]
    for spec in dict.fromkeys(trials):
        words += ["--trials", str(spec)]
    options = (("--out", out), ("--published", published), ("--meta", meta), ("--utt2spk", utt2spk))
    for option, value in options:
        if value:
            words += [option, str(value)]
    if bootstrap:
        words += ["--bootstrap", str(bootstrap), "--seed", str(seed)]
    if groups is not None:
        names_, utt2dur, edges, min_speakers, min_trials = groups
        words += ["--groups", names_] + (["--utt2dur", str(utt2dur)] if utt2dur else [])
        if edges != "5,10,20":
            words += ["--duration-edges", edges]
        if min_speakers != MIN_SPEAKERS:
            words += ["--min-speakers", str(min_speakers)]
        if min_trials != MIN_TRIALS:
            words += ["--min-trials", str(min_trials)]
    if baseline is not None:
        words += ["--baseline", baseline]
    if plots:
        words.append("--plots")
    if title != "sveval report":
        words += ["--title", title]
    if as_json:
        words.append("--json")
    return shlex.join(words)


def subgroup_spec(groups, meta, genders, utt2dur, edges, min_speakers, min_trials, bootstrap, seed):
    """The SubgroupSpec of --groups (None without it): each grouping's data read and checked here."""
    from sveval.io.meta import read_speaker_column
    from sveval.subgroups import GROUPINGS, SubgroupSpec

    if groups is None:
        if utt2dur:
            raise InputError("--utt2dur is only used by --groups duration")
        return None
    names = tuple(dict.fromkeys(g.strip() for g in groups.split(",") if g.strip()))
    unknown = [g for g in names if g not in GROUPINGS]
    if not names or unknown:
        raise InputError(f"--groups {groups!r}: expected a comma-separated list of {', '.join(GROUPINGS)}")
    if {"gender", "nationality"} & set(names) and not meta:
        raise InputError("--groups gender/nationality need the speaker metadata: give --meta vox1_meta.csv")
    if "duration" in names and not utt2dur:
        raise InputError("--groups duration needs the utterance durations: give --utt2dur FILE")
    if utt2dur and "duration" not in names:
        raise InputError("--utt2dur is only used by --groups duration")
    try:
        cuts = tuple(float(x) for x in edges.split(","))
    except ValueError:
        raise InputError(f"--duration-edges {edges!r}: expected seconds, e.g. 5,10,20") from None
    if not cuts or cuts[0] <= 0 or any(b <= a for a, b in zip(cuts, cuts[1:])):
        raise InputError(f"--duration-edges {edges!r}: expected increasing positive seconds, e.g. 5,10,20")
    nationalities = durations = None
    if "nationality" in names:

        nationalities = read_speaker_column(meta, "Nationality")
    if "duration" in names:
        from sveval.io.durations import read_utt2dur

        ids, seconds = read_utt2dur(utt2dur)
        durations = dict(zip(ids.tolist(), seconds.tolist()))
    return SubgroupSpec(
        names, genders, nationalities, durations, cuts, min_speakers, min_trials, bootstrap, seed
    )


def paired_tables(systems, folders, baseline, trials, trials_specs, utt2spk, n, seed):
    """`--baseline`: for every method and list of the baseline's rows, the other systems with a score file
    of the same method and list compared with it by `sveval.compare.compare_files` (its bootstrap); a
    refusal (e.g. not the same trials) becomes the table's note."""
    from dataclasses import replace

    from sveval.compare import compare_files
    from sveval.io.folders import scan_folder
    from sveval.io.release import list_for, only_list, parse_score_name
    from sveval.report import PairedTable

    wanted = baseline.rstrip("/") or baseline
    index = next(
        (i for i, s in enumerate(systems) if wanted in (s.name, folders[i].rstrip("/") or folders[i])), None
    )
    if index is None:
        shown = ", ".join(s.name for s in systems)
        raise InputError(f"--baseline {baseline!r} is not one of the systems ({shown})")
    if len(systems) < 2:
        raise InputError("--baseline needs at least two systems to compare")
    paths = [{p.name: p for p in scan_folder(folder).score_files} for folder in folders]
    specs = list(dict.fromkeys(trials_specs))

    def key(row):
        return (row.method, row.top_n, row.cohort, row.trials)

    out = []
    for row in systems[index].rows:
        if row.score_file not in paths[index] or row.n_target is None:
            continue
        members, files = [index], [str(paths[index][row.score_file])]
        for i, system in enumerate(systems):
            same = [r for r in system.rows if key(r) == key(row) and r.score_file in paths[i]]
            if i != index and same and same[0].n_target is not None:
                members.append(i)
                files.append(str(paths[i][same[0].score_file]))
        if len(members) < 2:
            continue
        parsed = parse_score_name(row.score_file)
        listed = list_for(parsed, trials) or only_list(parsed, trials)
        spec = specs[trials.index(listed)] if listed is not None else None
        point = ((row.p_target, row.c_miss, row.c_fa),)
        table = PairedTable(row.method, row.top_n, row.trials)
        try:
            done = compare_files(files, spec, utt2spk, files[0], n, seed, point)
        except InputError as exc:
            out.append(replace(table, note=str(exc)))
            continue
        names = {f: systems[i].name for f, i in zip(files, members)}
        comparisons = tuple(
            replace(c, system=names[c.system], baseline=names[c.baseline]) for c in done.result.comparisons
        )
        result = replace(done.result, comparisons=comparisons)
        out.append(replace(table, result=result, speakers=done.speakers))
    return tuple(out)
