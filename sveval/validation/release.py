"""Checks of released score folders: do the files say what the quoted numbers say?

Every check gives one `Check(name, status, file, message)`; status is `pass`, `fail` or `not-checkable`
(with the reason: a missing trial list is never a pass). Checks, in order:

  file         (fails only) an entry validation would read is a symbolic link leaving the folder (not
               followed), a broken link, a FIFO, socket, device or folder: it is never opened
  name         (fails only) a score file's name says no trial list (`cali_.score`)
  parse        the score file parses (3, 4 or 8 columns; the first malformed line is named)
  finite       every score is a finite number
  trials       the trial list its name gives (`..._vox1_O_cleaned.kaldi.score` -> vox1_O_cleaned) is found
               and verified (never downloaded)
  coverage     it scores every trial of that list exactly once and nothing else
  labels       its target/nontarget column agrees with the list
  result       a result file of its method holds a block for it (`vox2_dev_asnorm300_...` goes into
               `<eval>_asnorm300_result`; a `sveval calibrate`/`fuse` output `cali_<name>`/`fused_<name>`
               into its own `cali_<name without .score>.result`)
  result-file  each result file parses and its name says the method
  metrics      each block's EER and minDCF equal the recomputed ones to the printed decimals: WeSpeaker's
               definitions (NIST interpolated EER, minDCF at the block's operating point, per-trial sweep
               in score-file order, labels from the score file); blocks for unreleased files: not checkable.
               A calibrated output's block also has its actDCF, Cllr and minCllr recomputed (the scores
               read as natural-log LLRs, `sveval.metrics.llr`)
  duplicates   a block appended twice (`tee -a`) prints the same numbers each time
  published    (with a table) the result files' numbers equal the published ones for the model the folder
               name or config.yaml names
  config       config.yaml names a known architecture with feat_dim 80 and embed_dim 256
  checkpoint   each checkpoint loads into that architecture (needs torch and sveval.models)
  onnx         each .onnx file keeps WeSpeaker's runtime contract and runs (needs onnxruntime)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sveval.errors import InputError, NotTheList
from sveval.io.release import (
    CALIBRATED_PREFIXES,
    ReleaseFolder,
    ResultEntry,
    ScoreName,
    expected_result_name,
    guess_eval_name,
    is_result_file,
    list_for,
    only_list,
    parse_result_name,
    parse_score_name,
    read_result_entries,
    resolve_trials,
    result_matches_score,
)
from sveval.io.score_folder import record_from_document
from sveval.io.scores import read_score_file
from sveval.pair_join import coverage_problem, join, label_problem
from sveval.types import TrialList
from sveval.validation.checks import FAIL, NOT_CHECKABLE, PASS, STATUSES, Check, ValidationReport
from sveval.validation.model import check_checkpoint, check_config, check_onnx, check_published

__all__ = ["FAIL", "NOT_CHECKABLE", "PASS", "STATUSES", "Check", "ValidationReport", "validate_release"]


@dataclass(eq=False)
class _Scored:
    """What one score file turned out to be; filled step by step while its checks run."""

    path: Path
    name: ScoreName | None  # None: the name says no trial list, nothing else is checked
    unusable: str = ""  # why its blocks' metrics cannot be recomputed, when known before reading it
    values: np.ndarray | None = None  # kept instead of the whole ScoreFile: three Vox1 files are large
    finite: bool = False
    is_target: np.ndarray | None = None  # labels the metrics use: the file's own, else the list's
    why_no_labels: str = ""
    # what is computed once per file for all its blocks and checks, by kind of key: ("sorted", numpy order)
    # the sorted scores, (p_target, c_miss, c_fa, sweep) the metrics, ("llr", p_target, c_miss, c_fa) the
    # calibration summary
    computed: dict = field(default_factory=dict)


def validate_release(
    release: ReleaseFolder,
    trials_dir: str | None = None,
    published: str | None = None,
    progress: Callable[[Iterable], Iterable] = lambda it: it,
    on_scores: Callable[[str, np.ndarray | None, np.ndarray | None], None] | None = None,
    trials: tuple[TrialList, ...] = (),
) -> ValidationReport:
    """Run every check on a discovered release folder. `progress` wraps the loop over score files;
    `on_scores(file name, scores, is_target)` is called once per score file (arrays None when the file
    gave no finite, labelled scores), e.g. to redraw its DET plot while the scores are in memory."""
    checks = [Check("file", FAIL, r.name, r.reason) for r in release.refused]
    entries, result_file_checks = _read_results(release.result_files)
    # names a missing result file as the run did (its record), else as the folder's result files do
    eval_name = _recorded_eval_name(release) or guess_eval_name(release.result_files)
    scored = {}
    named = [p for p in release.score_files if parse_score_name(p.name) is not None]
    for path in release.score_files:
        if path not in named:
            message = "the name says no trial list (expected [cali_|fused_]<list>.score)"
            checks.append(Check("name", FAIL, path.name, message))
            scored[path.name] = _Scored(path, None, unusable="its score file's name says no trial list")
    # Trial lists are read in a background thread, one ahead of the score file being checked: both spend
    # much of their time in pandas' tokenizer, which runs without the GIL. A list is dropped after its last
    # use, so at most two 0.5 M-trial lists are in memory.
    order = [parse_score_name(p.name).list_name for p in named]
    uses = Counter(order)
    with ThreadPoolExecutor(max_workers=1) as pool:
        lists: dict = {}
        for path, name in zip(named, order):  # --trials: the lists given, matched as report matches them
            parsed = parse_score_name(path.name)
            if (given := list_for(parsed, trials) or only_list(parsed, trials)) is not None:
                lists[name] = done = Future()
                done.set_result(given)
        for i, path in enumerate(progress(named)):
            for name in (order[i], next((n for n in order[i:] if n != order[i]), None)):
                if name is not None and name not in lists and uses[name]:
                    lists[name] = pool.submit(_load_list, name, trials_dir)
            item, item_checks = _check_score_file(path, lists)
            scored[item.name.file] = item  # (x.score.gz holds x.score: result blocks name that)
            if on_scores is not None:
                usable = item.finite and item.is_target is not None
                on_scores(path.name, *((item.values, item.is_target) if usable else (None, None)))
            uses[order[i]] -= 1
            if not uses[order[i]]:
                del lists[order[i]]
            checks += item_checks + [_check_placement(item, entries, release, eval_name)]
    for result_check in result_file_checks:
        checks.append(result_check)
        blocks = entries.get(result_check.file, [])
        checks += [_check_block(result_check.file, e, scored.get(e.score_file)) for e in blocks]
        checks += _misplaced_unreleased(result_check.file, blocks, scored)
        checks += _check_duplicates(result_check.file, blocks)
    config_model = None
    if release.config is not None:
        config_check, config_model = check_config(release)
        checks.append(config_check)
        checks += [check_checkpoint(path, config_model) for path in release.checkpoints]
    checks += [check_onnx(path, config_model) for path in release.onnx_files]
    if published:
        checks += check_published(release, published, entries, config_model)
    return ValidationReport(str(release.root), tuple(checks))


def _recorded_eval_name(release: ReleaseFolder) -> str | None:
    """The eval set's name in the run record of sveval's own folder (`sveval score`'s results.json); None
    for a folder without one (a released folder, or one whose results.json is another tool's)."""
    record = record_from_document(release.record) if release.record is not None else None
    return record.eval.name if record is not None and record.eval is not None else None


# ---- score files ------------------------------------------------------------------------------------


def _check_score_file(path: Path, lists) -> tuple[_Scored, list[Check]]:
    file = path.name
    item = _Scored(path, parse_score_name(file))
    try:
        scores = read_score_file(path, ids="codes")
    except InputError as exc:
        return item, [Check("parse", FAIL, file, str(exc))] + [
            Check(name, NOT_CHECKABLE, file, "the file does not parse") for name in ("coverage", "labels")
        ]
    item.values = scores.values
    width = 3 if scores.labels is None else (8 if scores.extra is not None else 4)
    checks = [Check("parse", PASS, file, f"{len(scores):,} lines, {width} columns")]
    bad = np.flatnonzero(~np.isfinite(scores.values))
    item.finite = not bad.size
    if bad.size:
        shown = "; ".join(f"line {i + 1}: {scores.values[i]}" for i in bad[:3])
        checks.append(Check("finite", FAIL, file, f"{bad.size:,} score(s) not finite, e.g. {shown}"))
    else:
        checks.append(Check("finite", PASS, file, f"all {len(scores):,} scores are finite numbers"))
    item.is_target = scores.labels
    item.why_no_labels = "" if scores.labels is not None else "3-column file and no verified trial list"
    trials_check = _resolve(item.name.list_name, lists)
    if isinstance(trials_check, Check):
        return item, checks + [
            Check("trials", trials_check.status, file, f"{item.name.describe}: {trials_check.message}"),
            Check("coverage", NOT_CHECKABLE, file, "no verified trial list"),
            Check("labels", NOT_CHECKABLE, file, "no verified trial list"),
        ]
    trials = trials_check
    checks.append(
        Check(
            "trials",
            PASS,
            file,
            f"{item.name.describe}: {trials.source} ({len(trials):,} trials, "
            f"fingerprint {trials.short_fingerprint})",
        )
    )
    joined = join(scores, trials)
    problem = coverage_problem(joined, scores, trials)
    if problem:
        checks.append(Check("coverage", FAIL, file, problem))
    else:
        checks.append(Check("coverage", PASS, file, f"every trial of {trials.name} scored exactly once"))
    if scores.labels is None or not trials.labelled:
        why = "the file has no label column" if scores.labels is None else "the list has no labels"
        checks.append(Check("labels", NOT_CHECKABLE, file, why))
        if scores.labels is None and trials.labelled and joined.complete:
            item.is_target = trials.is_target[joined.index]
    else:
        wrong = label_problem(joined, scores, trials)
        status, message = (FAIL, wrong) if wrong else (PASS, f"all labels agree with {trials.name}")
        checks.append(Check("labels", status, file, message))
    return item, checks


def _load_list(list_name: str, trials_dir) -> TrialList | InputError:
    try:
        return resolve_trials(list_name, trials_dir)
    except InputError as exc:
        return exc


def _resolve(list_name: str, lists) -> TrialList | Check:
    """The verified list, or a not-checkable Check saying why (each list is read once: they are large)."""
    found = lists[list_name].result()
    if isinstance(found, NotTheList):  # a wrong file under a built-in name is bad input, not "not checkable"
        raise found
    if isinstance(found, InputError):
        return Check("trials", NOT_CHECKABLE, "", str(found))
    return found


# ---- result files -----------------------------------------------------------------------------------


def _read_results(paths) -> tuple[dict[str, list[ResultEntry]], list[Check]]:
    entries, checks = {}, []
    for path in paths:
        name = parse_result_name(path.name)
        try:
            entries[path.name] = read_result_entries(path)
        except InputError as exc:
            checks.append(Check("result-file", FAIL, path.name, str(exc)))
            continue
        n = len(entries[path.name])
        if name is None:
            expected = "<eval>_cos_result, <eval>_snorm<N>_result or <eval>_asnorm<N>_result"
            checks.append(Check("result-file", FAIL, path.name, f"name does not say the method ({expected})"))
        elif name.score_file is not None:
            message = f"{n} block(s) with actDCF, Cllr and minCllr, for {name.score_file}"
            checks.append(Check("result-file", PASS, path.name, message))
        else:
            checks.append(Check("result-file", PASS, path.name, f"{n} block(s), {name.method} scoring"))
    return entries, checks


def _check_placement(item: _Scored, entries, release: ReleaseFolder, eval_name: str) -> Check:
    """The score file has a block, in a result file of its own method (a calibrated output: its own)."""
    file = item.path.name
    result_paths = release.result_files
    homes = [r for r, blocks in entries.items() if any(e.score_file == item.name.file for e in blocks)]
    expected = expected_result_name(item.name, eval_name)
    prefix = item.name.prefix
    kind = f"this {CALIBRATED_PREFIXES[prefix]} output" if prefix else f"{item.name.method} scoring"
    # no result file at all (Kaldi's folders, another toolkit's labelled scores): nothing printed to check.
    # A folder that has result files but none for this file's method fails below, and so does one whose
    # result files are refused (sveval's record lists one deleted since, a link leaving the folder)
    if not homes and not result_paths and not any(is_result_file(r.name) for r in release.refused):
        message = "the folder has no result files: no printed figure to check"
        return Check("result", NOT_CHECKABLE, file, message)
    if not homes:
        names = [parse_result_name(p.name) for p in result_paths]
        if not any(n is not None and result_matches_score(n, item.name) for n in names):
            if prefix and item.why_no_labels:  # sveval calibrate/fuse measure only what has labels
                message = f"no label column: {kind} has no result file to check (none is written unlabelled)"
                return Check("result", NOT_CHECKABLE, file, message)
            message = f"no result file for {kind} in the folder (expected {expected})"
        else:
            message = f"no block for it in any result file (expected one in {expected})"
        return Check("result", FAIL, file, message)
    wrong = [
        r for r in homes if (n := parse_result_name(r)) is None or not result_matches_score(n, item.name)
    ]
    if wrong:
        home = "its own result file" if prefix else f"a {item.name.method} result file"
        message = f"its block is in {', '.join(wrong)}, not {home} (expected {expected})"
        return Check("result", FAIL, file, message)
    return Check("result", PASS, file, f"block in {', '.join(homes)}")


def _misplaced_unreleased(result_file: str, blocks: list[ResultEntry], scored) -> list[Check]:
    """Blocks of score files that were not released but whose names say another method than the result
    file's (released ones get this from their own `result` check)."""
    result = parse_result_name(result_file)
    checks = []
    for entry in blocks:
        name = parse_score_name(entry.score_file)
        if result is None or name is None or name.file in scored or result_matches_score(result, name):
            continue
        where = f"{name.file} (line {entry.line})"
        own = "" if result.score_file is None else f" ({result.score_file}'s own)"
        message = (
            f"{where}: a {name.prefix}{name.method} score file's block in a {result.method} result file{own}"
        )
        checks.append(Check("result", FAIL, result_file, message))
    return checks


def _check_block(result_file: str, entry: ResultEntry, item: _Scored | None) -> Check:
    block = entry.block
    where = f"{block.score_file} (line {entry.line})"
    if item is None:
        return Check("metrics", NOT_CHECKABLE, result_file, f"{where}: score file not released")
    if item.unusable:
        return Check("metrics", NOT_CHECKABLE, result_file, f"{where}: {item.unusable}")
    if item.values is None:
        return Check("metrics", NOT_CHECKABLE, result_file, f"{where}: its score file does not parse")
    if not item.finite:
        return Check("metrics", NOT_CHECKABLE, result_file, f"{where}: its score file has non-finite scores")
    if item.is_target is None:
        return Check("metrics", NOT_CHECKABLE, result_file, f"{where}: no labels ({item.why_no_labels})")
    printed = (entry.eer_text, entry.min_dcf_text)
    stable = _recompute(item, entry, "per-trial")
    point = f"NIST EER, minDCF p_target {block.p_target:g} c_miss {block.c_miss:g} c_fa {block.c_fa:g}"
    how = f"{point}, per-trial sweep in file order"
    llr_agrees, llr_wrong = _check_llr_figures(item, entry)
    if stable == printed and not llr_wrong:
        return Check(
            "metrics",
            PASS,
            result_file,
            f"{where}: EER {stable[0]}, minDCF {stable[1]}{llr_agrees} recomputed ({how})",
        )
    for sweep, way in (
        ("tie-aware", "one threshold per distinct score (sveval's default sweep)"),
        ("wespeaker", "WeSpeaker's own unstable order of tied scores (np.argsort)"),
    ):
        if not llr_wrong and _recompute(item, entry, sweep) == printed:
            message = (
                f"{where}: EER {printed[0]}, minDCF {printed[1]}{llr_agrees} recomputed with {way}; the "
                f"per-trial sweep in file order gives EER {stable[0]}, minDCF {stable[1]}"
            )
            return Check("metrics", PASS, result_file, message)
    if stable == printed or any(_recompute(item, entry, s) == printed for s in ("tie-aware", "wespeaker")):
        return Check("metrics", FAIL, result_file, f"{where}: {'; '.join(llr_wrong)} (natural-log LLRs)")
    wrong = []
    if stable[0] != printed[0]:
        wrong.append(f"EER printed {printed[0]}, recomputed {stable[0]}{_eer_hint(item, entry)}")
    if stable[1] != printed[1]:
        wrong.append(f"minDCF printed {printed[1]}, recomputed {stable[1]}")
    blame = _tie_order_blame(item, entry, stable)
    if blame:
        wrong.append(blame)
    wrong += llr_wrong
    return Check("metrics", FAIL, result_file, f"{where}: {'; '.join(wrong)} ({how})")


def _check_llr_figures(item: _Scored, entry: ResultEntry) -> tuple[str, list[str]]:
    """A calibrated output's actDCF, Cllr and minCllr (bits) recomputed from its scores read as natural-log
    LLRs (`sveval.metrics.llr`, as `sveval calibrate` computes them): (', actDCF x, Cllr y, minCllr
    z' when all agree, the disagreements). ('', []) for a WeSpeaker block, which has none of them."""
    if entry.act_dcf_text is None:
        return "", []
    from sveval.metrics.llr import llr_summary

    block = entry.block
    key = ("llr", block.p_target, block.c_miss, block.c_fa)
    if key not in item.computed:
        # LLRs beyond exp's range (1e308 confidently wrong) make Cllr overflow to inf: expected, and shown
        # as a recomputed `inf` that no printed number equals
        with np.errstate(over="ignore"):
            item.computed[key] = llr_summary(item.values, item.is_target, (key[1:],))
    llr = item.computed[key]
    figures = (
        ("actDCF", entry.act_dcf_text, llr.act_dcfs[0].act_dcf),
        ("Cllr", entry.cllr_text, llr.cllr),
        ("minCllr", entry.min_cllr_text, llr.min_cllr),
    )
    wrong = [
        f"{name} printed {text}, recomputed {_printed(value, text)}"
        for name, text, value in figures
        if _printed(value, text) != text
    ]
    return "".join(f", {name} {text}" for name, text, _ in figures), wrong


def _tie_order_blame(item: _Scored, entry: ResultEntry, stable: tuple[str, str]) -> str:
    """Blame the order of tied trials only when every differing printed number lies within the range the
    per-trial sweep takes over all orders of tied trials (so some order does print it)."""
    block = entry.block
    low, high = _sorted(item, "per-trial").tie_order_range(block.p_target, block.c_miss, block.c_fa)
    ranges = (
        (entry.eer_text, stable[0], 100 * low.eer, 100 * high.eer),
        (entry.min_dcf_text, stable[1], low.min_dcf, high.min_dcf),
    )
    inside = []
    for text, recomputed, lowest, highest in ranges:
        if text == recomputed:
            continue
        lo, hi = _printed(lowest, text), _printed(highest, text)
        if not float(lo) <= float(text) <= float(hi):
            return ""
        inside.append(f"{lo}-{hi}")
    return (
        f"another order of tied trials (WeSpeaker's unstable np.argsort on another machine) could print it: "
        f"over all orders of tied scores the per-trial sweep gives {', '.join(inside)}"
    )


def _recompute(item: _Scored, entry: ResultEntry, sweep: str) -> tuple[str, str]:
    """(EER %, minDCF) at the block's operating point, printed with the block's decimals; cached."""
    block = entry.block
    key = (block.p_target, block.c_miss, block.c_fa, sweep)
    if key not in item.computed:
        item.computed[key] = _sorted(item, sweep).evaluate(*key)
    m = item.computed[key]
    return _printed(100 * m.eer, entry.eer_text), _printed(m.min_dcf, entry.min_dcf_text)


def _sorted(item: _Scored, sweep: str):
    """The file's `SortedScores` for `sweep`, made once per file for all its blocks and checks (numpy's
    order of tied trials for the wespeaker sweep, the stable order for the others)."""
    from sveval.metrics.detection import SortedScores

    key = ("sorted", sweep == "wespeaker")
    if key not in item.computed:
        item.computed[key] = SortedScores.of(item.values, item.is_target, sweep)
    return item.computed[key]


def _printed(value: float, like: str) -> str:
    """`value` with as many decimals as the printed number `like` has (WeSpeaker prints 3)."""
    decimals = len(like.split(".", 1)[1]) if "." in like else 0
    return f"{value:.{decimals}f}"


def _eer_hint(item: _Scored, entry: ResultEntry) -> str:
    """Name another EER definition that gives the printed number, if one does: a common mix-up."""
    for definition, sweep in (("kaldi", "per-trial"), ("nist", "tie-aware"), ("rocch", "per-trial")):
        value = _sorted(item, sweep).eer(definition, sweep).value
        if _printed(100 * value, entry.eer_text) == entry.eer_text:
            return f" (the printed value is the {definition} EER with a {sweep} sweep)"
    return ""


def _check_duplicates(result_file: str, blocks: list[ResultEntry]) -> list[Check]:
    """Blocks for one score file at one operating point appearing more than once (`tee -a`): fine if they
    print the same numbers. Blocks at other operating points (`sveval calibrate --dcf` twice) are not copies.
    """
    checks = []
    seen: dict[tuple, list[ResultEntry]] = {}
    for entry in blocks:
        seen.setdefault(
            (entry.score_file, entry.block.p_target, entry.block.c_miss, entry.block.c_fa), []
        ).append(entry)
    for (score_file, *_), copies in seen.items():
        if len(copies) < 2:
            continue
        lines = ", ".join(str(e.line) for e in copies)
        numbers = {(e.eer_text, e.min_dcf_text, e.act_dcf_text) for e in copies}
        if len(numbers) == 1:
            message = f"{score_file}: block appears {len(copies)} times (lines {lines}), same numbers"
            checks.append(Check("duplicates", PASS, result_file, message))
        else:
            shown = "; ".join(f"line {e.line}: EER {e.eer_text} minDCF {e.min_dcf_text}" for e in copies)
            message = f"{score_file}: {len(copies)} blocks disagree ({shown})"
            checks.append(Check("duplicates", FAIL, result_file, message))
    return checks
