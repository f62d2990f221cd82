"""WeSpeaker score files: read (3, 4 or 8 columns), align to a trial list, write.

cosine       `enroll test score label`                      score as %.5f
normalised   `enroll test score label |e| |t| mu_e mu_t`    %.5f, then four %.4f
bare         `enroll test score`                            labels come from a trial list
"""

from __future__ import annotations

import os

import numpy as np

from sveval.errors import InputError
from sveval.io.atomic import atomic_path, read_text
from sveval.io.table import column, parse_floats, require_width, row_widths, split_rows
from sveval.io.trials import KALDI_LABELS, trial_keys
from sveval.types import ScoreFile, TrialList

SCORE_WIDTHS = (3, 4, 8)


def parse_score_file(text: str, source: str) -> ScoreFile:
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
    values = parse_floats(column(rows, 2), source, "score")
    labels = None
    if width >= 4:
        names = column(rows, 3)
        labels = names == KALDI_LABELS[1]
        bad = np.flatnonzero(~labels & (names != KALDI_LABELS[0]))
        if bad.size:
            i = int(bad[0])
            raise InputError(f"label {names[i]!r} is not target or nontarget", source, i + 1)
        labels = labels.astype(bool)
    extra = None
    if width == 8:
        extra = np.stack([parse_floats(column(rows, k), source, "statistic") for k in range(4, 8)], axis=1)
    return ScoreFile(source, column(rows, 0), column(rows, 1), values, labels, extra)


def read_score_file(path: str | os.PathLike) -> ScoreFile:
    return parse_score_file(read_text(path, "score file"), str(path))


def require_finite(scores: ScoreFile) -> None:
    bad = np.flatnonzero(~np.isfinite(scores.values))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"score is {scores.values[i]} ({bad.size} non-finite score(s) in the file)", scores.path, i + 1
        )


def match_trials(scores: ScoreFile, trials: TrialList) -> np.ndarray:
    """For each score line, the index of its trial in `trials`.

    Every trial must be scored exactly once and nothing else may be scored; labels in the score file, if
    any, must agree with the list. Errors say how many trials are missing/extra/duplicated and show a few.
    """
    n_scores = len(scores)
    keys = trial_keys(
        np.concatenate([scores.enroll, trials.enroll]), np.concatenate([scores.test, trials.test])
    )
    score_keys, trial_keys_ = keys[:n_scores], keys[n_scores:]
    order = np.argsort(trial_keys_, kind="stable")
    pos = np.searchsorted(trial_keys_[order], score_keys)
    pos[pos == len(order)] = 0
    found = trial_keys_[order][pos] == score_keys
    index = np.where(found, order[pos], -1)
    problems = []
    extra = np.flatnonzero(~found)
    if extra.size:
        problems.append(f"{extra.size:,} scored pair(s) not in {trials.name}, e.g. {_pairs(scores, extra)}")
    seen = np.bincount(index[found], minlength=len(trials))
    missing = np.flatnonzero(seen == 0)
    if missing.size:
        shown = "; ".join(f"{trials.enroll[i]} {trials.test[i]}" for i in missing[:3])
        problems.append(f"{missing.size:,} trial(s) of {trials.name} not scored, e.g. {shown}")
    twice = np.flatnonzero(seen > 1)
    if twice.size:
        lines = np.flatnonzero(np.isin(index, twice))
        problems.append(f"{twice.size:,} trial(s) scored more than once, e.g. {_pairs(scores, lines)}")
    if problems:
        raise InputError("does not match the trial list: " + "; ".join(problems), scores.path)
    if scores.labels is not None and trials.is_target is not None:
        wrong = np.flatnonzero(scores.labels != trials.is_target[index])
        if wrong.size:
            raise InputError(
                f"{wrong.size:,} label(s) disagree with {trials.name}, e.g. {_pairs(scores, wrong)}",
                scores.path,
                int(wrong[0]) + 1,
            )
    return index


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
