"""Turn a score folder into a `sveval.reporting.markdown.System`: result-file numbers, trial counts and
fingerprints
from the score files, DET images found beside them, provenance from results.json where there is one.

The table's numbers are always the result files' (origin names the file); a score file without a result
block gets numbers computed here with `sveval.metrics.detection` (WeSpeaker's definitions), and says so.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from sveval.errors import InputError
from sveval.io.catalog import builtin, load_manifest
from sveval.io.folders import read_results, scan_folder
from sveval.io.release import ScoreName, list_for, only_list, parse_score_name
from sveval.io.score_folder import read_run_record, record_from_document
from sveval.io.scores import read_score_file, require_finite
from sveval.io.trials import fingerprint
from sveval.metrics import detection as metrics
from sveval.metrics.llr import llr_summary
from sveval.pair_join import labels_from_list
from sveval.record import RunRecord
from sveval.reporting.det import det_plot_curve
from sveval.reporting.markdown import LIST_TITLES, Row, System
from sveval.speakers import SpeakerMap, SpeakersUnknown, speaker_map
from sveval.stats.bootstrap import gender_breakdown, speaker_bootstrap
from sveval.stats.subgroups import SubgroupSpec, subgroups_of
from sveval.types import TrialList, custom_list_label

NOT_RECORDED = "unknown: the folder has no results.json (it was not written by `sveval score`)"


def load_system(
    folder: str | os.PathLike,
    name: str | None = None,
    report_dir: str | os.PathLike = ".",
    genders: dict[str, str] | None = None,
    bootstrap: int = 0,
    seed: int = 0,
    curves: bool = False,
    progress=None,
    shown: str | None = None,
    trials: tuple[TrialList, ...] = (),
    speakers: SpeakerMap | None = None,
    subgroups: SubgroupSpec | None = None,
    record: RunRecord | None = None,
) -> System:
    """Read a folder into a System. Image paths are made relative to `report_dir` (where report.md goes);
    shown: the folder as the report names it (default: `folder` as given).

    genders: speaker -> 'm'/'f' for the gender breakdown; bootstrap: replicates for CIs (0 = none);
    curves: attach each score file's DET curve to its row (for drawing).
    progress: optional callable(str) told which file is being read.
    trials: lists (`--trials`) that score files must cover exactly and that give 3-column files their
    labels; a file is matched to a list by name (`list_for`).
    speakers: how ids map to speakers for the bootstrap and the gender breakdown (default: the first path
    component of VoxCeleb ids). Without a utt2spk, ids it cannot place skip those analyses for the file, and
    a note says so; with one, an id it lacks is an input error.
    subgroups: the groupings of `sveval report --groups` (sveval.stats.subgroups), carried in each row.
    record: the folder's run record as the run that is writing the folder holds it (`sveval score`'s own
    report); default: read from the folder's results.json, where there is one.
    """
    speakers = speakers or speaker_map()
    by_speaker = genders is not None or bool(bootstrap) or subgroups is not None
    skipped: list[tuple[str, SpeakersUnknown]] = []
    contents = scan_folder(folder)
    if record is None and contents.results_document is not None:  # sveval's record, parsed by the scan
        record = record_from_document(contents.results_document)
    elif record is None and contents.results_json is not None:  # another tool's results.json
        record = read_run_record(contents.results_json)
    rows: dict[str, Row] = {}
    recorded = record.counts() if record is not None else {}
    dropped = record.dropped() if record is not None else {}
    for result_name, blocks in read_results(contents).items():
        for block in blocks:
            parsed = parse_score_name(block.score_file)
            if parsed is None:
                raise InputError(f"cannot tell method and trial list from {block.score_file!r}", result_name)
            rows[block.score_file] = Row(
                parsed.prefix + parsed.method,
                list_identity(parsed),  # checked against the score file's counts below, where there is one
                block.eer_percent,
                block.min_dcf,
                f"`{result_name}`",
                block.p_target,
                block.c_miss,
                block.c_fa,
                parsed.top_n,
                parsed.cohort,
                block.score_file,
            )
    images = {p.name: p for p in contents.images}
    fingerprints: dict[str, str] = {}
    notes: list[str] = list(contents.notes)
    for path in contents.score_files:
        if progress:
            progress(str(path))
        parsed, prefix = _parse_score_name(path.name)
        if parsed is None:
            continue
        file_name = parsed.file  # (a `.score.gz` shows as the score file it holds)
        row = rows.get(file_name)
        image = images.pop(file_name.removesuffix(".score") + ".det.png", None)
        counts = recorded.get(file_name)
        listed = list_for(parsed, trials)
        fast = row is not None and counts is not None and listed is None
        if fast and genders is None and not bootstrap and not curves and subgroups is None:
            # sveval's own folder: results.json, written with this score file, already holds what the table
            # needs; re-reading a 580k-line file for two counts would cost seconds per file
            extra = {
                "n_target": counts[0],
                "n_nontarget": counts[1],
                "trials": list_identity(parsed, *counts),
            }
            if image is not None:
                extra["det_image"] = os.path.relpath(image, report_dir)
            rows[file_name] = replace(row, **extra, n_dropped=dropped.get(file_name, 0))
            continue
        scores = read_score_file(path)  # a malformed file is an error, never skipped
        require_finite(scores)
        if scores.labels is None and listed is None:
            listed = only_list(parsed, trials)
        if listed is not None:
            is_target = labels_from_list(scores, listed)  # the file covers the list exactly, labels agree
        elif scores.labels is None:
            notes.append(unlabelled_note(file_name, parsed, trials))
            if row is not None:
                read = f"{len(scores):,} read; no labels (3-column file, no --trials list for it)"
                rows[file_name] = replace(row, counts_note=read, n_dropped=dropped.get(file_name, 0))
            continue
        else:
            is_target = scores.labels
        values, enroll, test = scores.values, scores.enroll, scores.test
        n_target = int(is_target.sum())
        if listed is not None:
            identity, fp = listed.builtin or custom_list_label(listed.name), listed.fingerprint
        else:
            fp = fingerprint(enroll, test, is_target)
            identity = list_identity(parsed, n_target, len(is_target) - n_target, fp)
        fingerprints.setdefault(identity, fp)
        extra = {"n_target": n_target, "n_nontarget": len(is_target) - n_target, "trials": identity}
        if is_target.all() or not is_target.any():
            notes.append(
                f"`{file_name}` has only {'target' if is_target.all() else 'nontarget'} trials: no metrics"
            )
            if row is not None:
                rows[file_name] = replace(row, **extra, n_dropped=dropped.get(file_name, 0))
            continue
        if row is None:
            m = metrics.evaluate(values, is_target)
            row = Row(
                prefix + parsed.method,
                identity,
                100 * m.eer,
                m.min_dcf,
                f"computed by sveval from `{file_name}` (no result block)",
                top_n=parsed.top_n,
                cohort=parsed.cohort,
                score_file=file_name,
            )
        if prefix:
            llr = llr_summary(values, is_target, ((row.p_target, row.c_miss, row.c_fa),))
            extra.update(act_dcf=llr.act_dcfs[0].act_dcf, cllr=llr.cllr, min_cllr=llr.min_cllr)
        if image is not None:
            extra["det_image"] = os.path.relpath(image, report_dir)
        if curves:
            sorted_scores = metrics.SortedScores.of(values, is_target)
            extra["curve"] = det_plot_curve(sorted_scores, file_name, row.p_target, row.c_miss, row.c_fa)
        try:
            if genders is not None:
                try:
                    extra["genders"] = gender_breakdown(
                        values, is_target, enroll, test, genders, row.p_target, speakers, file_name
                    )
                except KeyError as exc:
                    raise InputError(f"--meta: {exc.args[0]}", str(path)) from None
            if bootstrap:
                try:
                    point = (row.p_target, row.c_miss, row.c_fa)
                    extra["bootstrap"] = speaker_bootstrap(
                        values, is_target, enroll, test, bootstrap, seed, *point, speakers=speakers,
                        where=file_name,
                    )
                except SpeakersUnknown:
                    raise
                except ValueError as exc:
                    raise InputError(f"--bootstrap: {exc}", str(path)) from None
            if subgroups is not None:
                extra["subgroups"] = _subgroups(
                    values, is_target, enroll, test, subgroups, speakers, path, row
                )
        except SpeakersUnknown as exc:
            if speakers.source is not None:  # a utt2spk that lacks ids of the list: the user's file is wrong
                raise
            extra.pop("genders", None)
            extra.pop("subgroups", None)
            skipped.append((file_name, exc))
        rows[file_name] = replace(row, **extra, n_dropped=dropped.get(file_name, 0))
    if skipped:
        notes.append(skipped_note(skipped, genders is not None, bool(bootstrap), subgroups is not None))
    if record is not None:
        recorded_fps = _recorded_fingerprints(record)
        fingerprints.update({k: v for k, v in recorded_fps.items() if k not in fingerprints})
    overlays = tuple(os.path.relpath(p, report_dir) for p in images.values())
    origin = provenance(record, rows.values())
    if by_speaker:
        used = speakers.describe()
        if skipped:
            used += f"; speaker-level analyses skipped for {len(skipped)} score file(s), see the notes"
        origin += (("speakers", used),)
    if trials:
        origin += (("trial lists (--trials)", "; ".join(_list_shown(t) for t in trials)),)
    return System(
        name=name or system_name(contents.root),
        folder=shown or str(folder),
        rows=tuple(sorted(rows.values(), key=_row_order)),
        provenance=origin,
        overlays=overlays,
        fingerprints=fingerprints,
        notes=tuple(notes),
        speakers=speakers.describe() if by_speaker else "",
    )


def _subgroups(values, is_target, enroll, test, spec: SubgroupSpec, speakers: SpeakerMap, path, row):
    """Subgroup rows and fairness figures of one score file at its row's operating point."""
    both = speakers.of(
        np.concatenate([np.asarray(enroll, dtype=object), np.asarray(test, dtype=object)]), path.name
    )
    point = (row.p_target, row.c_miss, row.c_fa)
    try:
        return subgroups_of(
            values, is_target, enroll, test, both[: len(enroll)], both[len(enroll) :], spec, point
        )
    except KeyError as exc:
        option = "--utt2dur" if "utt2dur" in str(exc.args[0]) else "--meta"
        raise InputError(f"{option}: {exc.args[0]}", str(path)) from None
    except ValueError as exc:
        raise InputError(f"--groups: {exc}", str(path)) from None


def unlabelled_note(file: str, parsed: ScoreName, trials: tuple[TrialList, ...]) -> str:
    """Why a 3-column score file gave no numbers, and what would."""
    head = f"`{file}` has no label column (3 columns: enroll test score): no metrics, no counts"
    if not trials:
        return f"{head}; give its trial list with --trials NAME|PATH (labels come from the list)"
    given = ", ".join(f"`{_list_shown(t)}`" for t in trials)
    return (
        f"{head}; its name points to `{parsed.trials}`, which is none of the --trials lists ({given}): "
        f"add --trials {parsed.trials}"
    )


def skipped_note(
    skipped: list[tuple[str, SpeakersUnknown]], genders: bool, bootstrap: bool, subgroups: bool = False
) -> str:
    """One note for the score files whose speakers are unknown (ids without '/' and no --utt2spk)."""
    what = " and ".join(
        w
        for w, on in (
            ("bootstrap intervals (--bootstrap)", bootstrap),
            ("gender breakdown (--meta)", genders),
            ("subgroups (--groups)", subgroups),
        )
        if on
    )
    files = ", ".join(f"`{f}`" for f, _ in skipped[:5]) + (
        f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    )
    return f"{what} skipped for {files}: speakers unknown: {skipped[0][1]}"


def _list_shown(trials: TrialList) -> str:
    """A --trials list as the report's tables name it (no path: reports do not depend on where files are)."""
    return trials.builtin or custom_list_label(trials.name)


def _parse_score_name(name: str):
    """(ScoreName, prefix): a calibrated/fused file (`cali_<name>`, `fused_<name>`) is parsed without its
    prefix, which is returned so that its row's method says what was done."""
    parsed = parse_score_name(name)
    return parsed, parsed.prefix if parsed is not None else ""


def list_identity(
    parsed: ScoreName, n_target: int | None = None, n_nontarget: int | None = None, fp: str | None = None
) -> str:
    """The list a score file's numbers are shown under, known by content, never by file name alone.

    The built-in name its file name points to (`list_test_hard2.txt.score` -> vox1_H_cleaned) only when the
    file's trial counts (and fingerprint, where known on both sides) are that list's; otherwise the trial
    file's own stem marked as custom (`list_test_hard2 (custom)`, `mine.kaldi.score` -> `mine (custom)`).
    Without counts (a result block whose score file is absent) a built-in name is kept: nothing contradicts
    it.
    """
    entry = builtin(parsed.trials)
    if entry is None:  # a file name of its own: a built-in list all the same when its content is one
        known = next((e.name for e in load_manifest()[1].values() if fp and e.fingerprint == fp), None)
        return known or custom_list_label(parsed.list_basename)
    if n_target is None or n_nontarget is None:
        return parsed.trials
    same_counts = (n_target + n_nontarget, n_target, n_nontarget) == (
        entry.trials,
        entry.target,
        entry.nontarget,
    )
    same_fp = fp is None or entry.fingerprint is None or fp == entry.fingerprint
    if same_counts and same_fp:
        return parsed.trials
    return custom_list_label(parsed.list_basename)


def _row_order(row: Row):
    method_rank = {"cos": 0, "snorm": 1, "asnorm": 2}.get(row.method, 3)
    lists = list(LIST_TITLES)
    list_rank = lists.index(row.trials) if row.trials in lists else len(lists)
    return (method_rank, row.top_n or 0, row.cohort or "", list_rank, row.trials)


def system_name(root: Path) -> str:
    """A score folder's system name: its own name, or its parent's for a folder called `scores`."""
    root = root.resolve()
    return root.parent.name if root.name == "scores" else root.name


def _recorded_fingerprints(record: RunRecord) -> dict[str, str]:
    """List name -> fingerprint from the record's lists (by the name score files are named after)."""
    out = {}
    for entry in record.lists:
        if entry.fingerprint:
            name = str(entry.name)
            out[str(entry.builtin or entry.name)] = entry.fingerprint
            out.setdefault(name, entry.fingerprint)
            out.setdefault(name.removesuffix(".kaldi"), entry.fingerprint)
            if not entry.builtin:
                out.setdefault(custom_list_label(name), entry.fingerprint)
    return out


def provenance(record: RunRecord | None, rows) -> tuple[tuple[str, str], ...]:
    """(field, value) pairs: what the run record holds, or what the file names tell for other folders."""
    rows = list(rows)
    cohorts = sorted({r.cohort for r in rows if r.cohort})
    tops = sorted({r.top_n for r in rows if r.top_n})
    if record is None:
        unknown = NOT_RECORDED
        return (
            ("written by", unknown),
            ("command", unknown),
            ("cohort", (", ".join(cohorts) + " (from file names; size unknown)") if cohorts else "none"),
            ("top-N", (", ".join(map(str, tops)) + " (from file names)") if tops else "—"),
            ("mean normalisation", unknown),
            ("EER definition", _eer_definition(rows)),
            ("compat mode", unknown),
            ("date", unknown),
        )
    top_n = _shown(record.top_n) if "asnorm" in record.methods else "— (no AS-norm in this run)"
    dropped = [f"{e.label}: {e.n_dropped:,}" for e in record.lists if e.n_dropped]
    return (
        ("written by", _shown(record.sveval_version, prefix="sveval ")),
        ("command", _shown(record.command, code=True)),
        ("cohort", _cohort(record)),
        ("top-N", top_n),
        ("mean normalisation", _shown(record.mean)),
        ("EER definition", _shown(record.definitions.eer)),
        ("minDCF", _shown(record.definitions.min_dcf)),
        ("compat mode", _shown(record.compat)),
        ("precision", _shown(record.precision)),
        ("trials dropped (--allow-missing)", "; ".join(dropped) if dropped else "none"),
        ("date", _shown(record.date)),
    )


def computed_files(rows) -> list[str]:
    """The score files whose numbers sveval computed (no result block), as `Row.origin` says."""
    return [r.score_file for r in rows if r.origin.startswith("computed by sveval") and r.score_file]


def _eer_definition(rows) -> str:
    """A folder without results.json: the result files' definition, and which numbers sveval computed."""
    printed = "as printed in the result files (WeSpeaker's compute_metrics.py prints NIST)"
    computed = computed_files(rows)
    if not computed:
        return printed
    ours = "NIST/WeSpeaker interpolation, computed by sveval for " + ", ".join(f"`{f}`" for f in computed)
    if len(computed) == len(rows):
        return ours + " (no result files)"
    return f"{printed}; {ours} (no result block)"


def _shown(value, prefix: str = "", code: bool = False) -> str:
    if value is None or value == "":
        return "not recorded in results.json"
    text = f"{prefix}{value}"
    return f"`{text}`" if code else text


def _cohort(record: RunRecord) -> str:
    cohort = record.cohort
    if cohort is None:
        return "none (cosine only)"
    if not cohort.recorded:
        return "not recorded in results.json"
    size = f"{cohort.speakers:,} speakers" if cohort.speakers is not None else "size not recorded"
    size += f", {cohort.utterances:,} utterances" if cohort.utterances is not None else ""
    return f"{cohort.name or '?'} ({size})"
