"""WeSpeaker score files: read (3, 4 or 8 columns), align to a trial list, write.

cosine       `enroll test score label`                      score as %.5f
normalised   `enroll test score label |e| |t| mu_e mu_t`    %.5f, then four %.4f
bare         `enroll test score`                            labels come from a trial list
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from sveval.errors import InputError
from sveval.io.atomic import atomic_path, read_text
from sveval.io.table import column, fast_columns, parse_floats, require_width, row_widths, split_rows
from sveval.io.trials import KALDI_LABELS, trial_keys
from sveval.types import ScoreFile, TrialList

SCORE_WIDTHS = (3, 4, 8)


def parse_score_file(text: str, source: str) -> ScoreFile:
    columns = fast_columns(text)
    if columns is None or len(columns) not in SCORE_WIDTHS:
        columns = _strict_columns(text, source)
    width = len(columns)
    values = parse_floats(columns[2], source, "score")
    labels = None
    if width >= 4:
        names = columns[3]
        labels = names == KALDI_LABELS[1]
        bad = np.flatnonzero(~labels & (names != KALDI_LABELS[0]))
        if bad.size:
            i = int(bad[0])
            raise InputError(f"label {names[i]!r} is not target or nontarget", source, i + 1)
        labels = labels.astype(bool)
    extra = None
    if width == 8:
        extra = np.stack([parse_floats(columns[k], source, "statistic") for k in range(4, 8)], axis=1)
    return ScoreFile(source, columns[0], columns[1], values, labels, extra)


def _strict_columns(text: str, source: str) -> list[np.ndarray]:
    """Line-by-line split that names the first line with a wrong number of fields."""
    rows = split_rows(text, source, "score file")
    widths = row_widths(rows)
    width = int(widths[0])
    if width not in SCORE_WIDTHS:
        raise InputError(
            "expected `enroll test score [target|nontarget [|e| |t| mu_e mu_t]]` (3, 4 or 8 fields), "
            f"found {width} fields: {' '.join(rows[0])!r}",
            source,
            1,
        )
    require_width(rows, widths, width, source, "score line like line 1")
    return [column(rows, k) for k in range(width)]


def read_score_file(path: str | os.PathLike) -> ScoreFile:
    return parse_score_file(read_text(path, "score file"), str(path))


def require_finite(scores: ScoreFile) -> None:
    bad = np.flatnonzero(~np.isfinite(scores.values))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"score is {scores.values[i]} ({bad.size} non-finite score(s) in the file)", scores.path, i + 1
        )


@dataclass(frozen=True, eq=False)
class Coverage:
    """How a score file covers a trial list; all positions are 0-based.

    index: per score line, the index of its trial in the list, or -1 for a pair the list does not have.
    extra_lines: score lines whose pair is not in the list.
    missing: trials (list positions) that no line scores.
    duplicated: trials scored more than once; duplicate_lines: every line scoring one of them.
    label_lines: lines whose label disagrees with the list (checked on every line that found its trial,
        only when both the file and the list carry labels).
    """

    index: np.ndarray
    extra_lines: np.ndarray
    missing: np.ndarray
    duplicated: np.ndarray
    duplicate_lines: np.ndarray
    label_lines: np.ndarray

    @property
    def complete(self) -> bool:
        """Every trial scored exactly once and nothing else scored."""
        return not (self.extra_lines.size or self.missing.size or self.duplicated.size)


def coverage(scores: ScoreFile, trials: TrialList) -> Coverage:
    """Compare the (enroll, test) pairs of a score file with a trial list. Pure: never raises on a mismatch.

    A file in the list's own order (what WeSpeaker writes) is recognised without hashing any string.
    """
    none = np.zeros(0, dtype=np.int64)
    n_scores = len(scores)
    if n_scores == len(trials) and _same(scores.enroll, trials.enroll) and _same(scores.test, trials.test):
        index = np.arange(n_scores, dtype=np.int64)
        return Coverage(index, none, none, none, none, _label_lines(scores, trials, index))
    keys = trial_keys(
        np.concatenate([scores.enroll, trials.enroll]), np.concatenate([scores.test, trials.test])
    )
    score_keys, trial_keys_ = keys[:n_scores], keys[n_scores:]
    order = np.argsort(trial_keys_, kind="stable")
    pos = np.searchsorted(trial_keys_[order], score_keys)
    pos[pos == len(order)] = 0
    found = trial_keys_[order][pos] == score_keys
    index = np.where(found, order[pos], -1)
    seen = np.bincount(index[found], minlength=len(trials))
    missing = np.flatnonzero(seen == 0)
    twice = np.flatnonzero(seen > 1)
    duplicate_lines = np.flatnonzero(np.isin(index, twice)) if twice.size else none
    return Coverage(
        index, np.flatnonzero(~found), missing, twice, duplicate_lines, _label_lines(scores, trials, index)
    )


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool((a == b).all())


def _label_lines(scores: ScoreFile, trials: TrialList, index: np.ndarray) -> np.ndarray:
    if scores.labels is None or trials.is_target is None:
        return np.zeros(0, dtype=np.int64)
    found = index >= 0
    wrong = scores.labels != trials.is_target[np.where(found, index, 0)]
    return np.flatnonzero(wrong & found)


def coverage_problems(cov: Coverage, scores: ScoreFile, trials: TrialList) -> list[str]:
    """One sentence per kind of problem (extra, missing, duplicated pairs), with counts and a few examples."""
    problems = []
    if cov.extra_lines.size:
        shown = _pairs(scores, cov.extra_lines)
        problems.append(f"{cov.extra_lines.size:,} scored pair(s) not in {trials.name}, e.g. {shown}")
    if cov.missing.size:
        shown = "; ".join(f"{trials.enroll[i]} {trials.test[i]}" for i in cov.missing[:3])
        problems.append(f"{cov.missing.size:,} trial(s) of {trials.name} not scored, e.g. {shown}")
    if cov.duplicated.size:
        shown = _pairs(scores, cov.duplicate_lines)
        problems.append(f"{cov.duplicated.size:,} trial(s) scored more than once, e.g. {shown}")
    return problems


def label_problem(cov: Coverage, scores: ScoreFile, trials: TrialList) -> str | None:
    if not cov.label_lines.size:
        return None
    shown = _pairs(scores, cov.label_lines)
    return f"{cov.label_lines.size:,} label(s) disagree with {trials.name}, e.g. {shown}"


def match_trials(scores: ScoreFile, trials: TrialList) -> np.ndarray:
    """For each score line, the index of its trial in `trials`.

    Every trial must be scored exactly once and nothing else may be scored; labels in the score file, if
    any, must agree with the list. Errors say how many trials are missing/extra/duplicated and show a few.
    `coverage` gives the same facts without raising.
    """
    cov = coverage(scores, trials)
    problems = coverage_problems(cov, scores, trials)
    if problems:
        raise InputError("does not match the trial list: " + "; ".join(problems), scores.path)
    wrong = label_problem(cov, scores, trials)
    if wrong:
        raise InputError(wrong, scores.path, int(cov.label_lines[0]) + 1)
    return cov.index


def _pairs(scores: ScoreFile, lines: np.ndarray, limit: int = 3) -> str:
    return "; ".join(f"line {i + 1}: {scores.enroll[i]} {scores.test[i]}" for i in lines[:limit])


def format_score_lines(
    enroll: np.ndarray,
    test: np.ndarray,
    values: np.ndarray,
    is_target: np.ndarray | None,
    extra: np.ndarray | None = None,
) -> str:
    """Score-file text: `%.5f` scores and, with `extra` (n x 4), four `%.4f` statistics per line.

    Formatting goes through Python's `%` operator, which rounds the exact binary value correctly, so the
    text equals what WeSpeaker's `'{:.5f}'.format` writes.
    """
    if is_target is None:
        if extra is not None:
            raise ValueError("an 8-column score file needs labels")
        return "".join(f"{e} {t} {s:.5f}\n" for e, t, s in zip(enroll, test, values.tolist()))
    labels = np.where(is_target, "target", "nontarget")
    if extra is None:
        return "".join(
            f"{e} {t} {s:.5f} {lab}\n" for e, t, s, lab in zip(enroll, test, values.tolist(), labels)
        )
    rows = zip(enroll, test, values.tolist(), labels, extra.tolist())
    return "".join(
        f"{e} {t} {s:.5f} {lab} {x[0]:.4f} {x[1]:.4f} {x[2]:.4f} {x[3]:.4f}\n" for e, t, s, lab, x in rows
    )


def write_score_file(
    path: str | os.PathLike,
    enroll: np.ndarray,
    test: np.ndarray,
    values: np.ndarray,
    is_target: np.ndarray | None,
    extra: np.ndarray | None = None,
) -> None:
    """Write a score file atomically (see `format_score_lines`)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        out.write(format_score_lines(enroll, test, values, is_target, extra))
