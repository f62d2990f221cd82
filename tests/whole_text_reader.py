"""The reference the reader is tested against: the whole-text, line-by-line reader sveval once had (one
Python str per field, Python's str.split() and float()), kept here as the oracle of what every file
means, line numbers and messages included. Never used by the library."""

from __future__ import annotations

import os

import numpy as np

from sveval.errors import InputError
from sveval.io.fields import field_count, text_lines
from sveval.io.scores import SCORE_WIDTHS
from sveval.io.trials import (
    FORMATS,
    KALDI_LABELS,
    VOXCELEB_LABELS,
    _refuse_duplicates,
    _refuse_scp,
    detect_format,
    fingerprint,
)
from sveval.types import ScoreFile, TrialList


def split_rows(text: str, source: str, what: str) -> list[list[str]]:
    """Rows of fields, refusing an empty file and blank lines between data lines."""
    lines = text_lines(text, source)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise InputError(f"empty {what}", source)
    rows = [line.split() for line in lines]
    for i, row in enumerate(rows):
        if not row:
            raise InputError(f"blank line inside the {what}", source, i + 1)
    return rows


def require_width(rows: list[list[str]], width: int, source: str, expected: str) -> None:
    for i, row in enumerate(rows):
        if len(row) != width:
            found = f"found {field_count(len(row))}: {' '.join(row)!r}"
            raise InputError(f"expected {expected} ({width} fields), {found}", source, i + 1)


def column(rows: list[list[str]], index: int) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    out[:] = [row[index] for row in rows]
    return out


def parse_floats(values: np.ndarray, source: str, what: str) -> np.ndarray:
    for i, value in enumerate(values):
        try:
            float(value)
        except ValueError:
            raise InputError(f"{what} is not a number: {value!r}", source, i + 1) from None
    return values.astype(np.float64)


def _labels(labels: np.ndarray, allowed: tuple[str, str], source: str, complaint) -> np.ndarray:
    is_target = labels == allowed[1]
    bad = np.flatnonzero(~is_target & (labels != allowed[0]))
    if bad.size:
        raise InputError(complaint(labels[bad[0]], bad.size), source, int(bad[0]) + 1)
    return is_target.astype(bool)


def score_file(text: str, source: str) -> ScoreFile:
    rows = split_rows(text, source, "score file")
    width = len(rows[0])
    if width not in SCORE_WIDTHS:
        raise InputError(
            "expected `enroll test score [target|nontarget [|e| |t| mu_e mu_t]]` (3, 4 or 8 fields), "
            f"found {field_count(width)}: {' '.join(rows[0])!r}",
            source,
            1,
        )
    require_width(rows, width, source, "score line like line 1")
    columns = [column(rows, k) for k in range(width)]
    values = parse_floats(columns[2], source, "score")
    labels = extra = None
    if width >= 4:
        labels = _labels(
            columns[3], KALDI_LABELS, source, lambda t, n: f"label {t!r} is not target or nontarget"
        )
    if width == 8:
        extra = np.stack([parse_floats(columns[k], source, "statistic") for k in range(4, 8)], axis=1)
    return ScoreFile(source, columns[0], columns[1], values, labels, extra)


def trial_list(text: str, source: str) -> TrialList:
    rows = split_rows(text, source, "trial list")
    fmt = detect_format(rows[0], source)
    width, expected = FORMATS[fmt]
    require_width(rows, width, source, f"{fmt} trial line {expected}")
    columns = [column(rows, k) for k in range(width)]
    allowed = KALDI_LABELS if fmt == "kaldi" else VOXCELEB_LABELS

    def complaint(token, count):
        named = " or ".join(allowed[::-1])
        return f"label {token!r} is not {named} (expected {expected}); {count} such line(s)"

    if fmt == "kaldi":
        enroll, test, labels = columns
        is_target = _labels(labels, allowed, source, complaint)
    elif fmt == "voxceleb":
        labels, enroll, test = columns
        is_target = _labels(labels, allowed, source, complaint)
    else:
        enroll, test = columns
        is_target = None
        _refuse_scp(enroll, test, source)
    _refuse_duplicates(enroll, test, is_target, source)
    name = os.path.basename(source)
    return TrialList(name, name, enroll, test, is_target, fingerprint(enroll, test, is_target), source)
