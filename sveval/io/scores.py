"""WeSpeaker score files: read (3, 4 or 8 columns), align to a trial list, write.

cosine       `enroll test score label`                      score as %.5f
normalised   `enroll test score label |e| |t| mu_e mu_t`    %.5f, then four %.4f
bare         `enroll test score`                            labels come from a trial list
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np  # (pandas is imported where used: 0.4 s of every `sveval metrics` start)

from sveval.errors import InputError, shown_id
from sveval.io.atomic import atomic_path
from sveval.io.fields import Column, Layout, Table, field_count, parse_columns, read_columns
from sveval.io.score_text import coded_score_chunks as coded_score_chunks
from sveval.io.score_text import decimal_integers as decimal_integers
from sveval.io.score_text import format_coded_score_bytes as format_coded_score_bytes
from sveval.io.score_text import format_score_bytes as format_score_bytes
from sveval.io.score_text import format_score_lines as format_score_lines
from sveval.io.score_text import id_byte_table as id_byte_table
from sveval.io.score_text import score_chunks
from sveval.io.trials import KALDI_LABELS, pair_keys, trial_keys
from sveval.io.vocabulary import NotCompact, lookup_rows
from sveval.pair_join import CHUNK, join, line_dtype, sort_pairs
from sveval.types import PairCodes, ScoreFile, TrialList

SCORE_WIDTHS = (3, 4, 8)
ID_CHOICES = ("strings", "codes", "none")


def score_layout(first_row: list[str], ids: str = "strings") -> Layout:
    """The columns of a score file whose first line is `first_row` (3, 4 or 8 fields)."""
    width = len(first_row)
    if width not in SCORE_WIDTHS:
        raise InputError(
            "expected `enroll test score [target|nontarget [|e| |t| mu_e mu_t]]` (3, 4 or 8 fields), "
            f"found {field_count(width)}: {' '.join(first_row)!r}"
        )
    id_column = Column("skip" if ids == "none" else "id")
    columns = [id_column, id_column, Column("float", "score")]
    if width >= 4:
        columns.append(Column("label", labels=KALDI_LABELS, complaint=_label_complaint))
    columns += [Column("float", "statistic")] * (width - 4)

    def wrong_width(row: list[str]) -> str:
        found = f"found {field_count(len(row))}: {' '.join(row)!r}"
        return f"expected score line like line 1 ({width} fields), {found}"

    return Layout(columns, wrong_width)


def _label_complaint(token: str, count: int) -> str:
    return f"label {token!r} is not target or nontarget"


def parse_score_file(text: str, source: str) -> ScoreFile:
    """Parse score-file text (see `read_score_file`)."""
    return _score_file(parse_columns(text, source, "score file", score_layout), source, "strings")


def read_score_file(path: str | os.PathLike, ids: str = "strings") -> ScoreFile:
    """Read a 3, 4 or 8-column score file (UTF-8; a byte-order mark is ignored; plain, gzip or `-` for
    standard input) in bounded memory.

    ids: "strings" gives enroll/test as object arrays of interned str (one str per distinct id) and the
    codes in `pairs`; "codes" only `pairs` (enroll/test None: 8 bytes per line less); "none" neither
    (for metrics of a labelled file without a trial list: ids are checked to be there, never hashed).
    Memory: 8 bytes per line for the score, 1 for the label, 32 for the statistics, 8 for codes, 16 for
    strings, plus one block (fields.CHUNK_BYTES) of temporaries. Raises InputError naming file and line.
    """
    if ids not in ID_CHOICES:
        raise ValueError(f"ids must be one of {ID_CHOICES}, got {ids!r}")
    table = read_columns(path, "score file", lambda row: score_layout(row, ids))
    return _score_file(table, str(path), ids)


def _score_file(table: Table, source: str, ids: str) -> ScoreFile:
    columns = table.columns
    labels = columns[3] if len(columns) >= 4 else None
    extra = np.stack(columns[4:8], axis=1) if len(columns) == 8 else None
    pairs = enroll = test = None
    if ids != "none":
        pairs = PairCodes(table.vocabulary.table, columns[0], columns[1])
    if ids == "strings":
        enroll, test = pairs.ids.take(pairs.enroll), pairs.ids.take(pairs.test)
    return ScoreFile(source, enroll, test, columns[2], labels, extra, pairs)


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

    A file in the list's own order (what WeSpeaker writes) is recognised slice by slice, without a sort;
    any other order goes through `sveval.pair_join` (memory bounded by design: about 13 bytes per list
    trial plus the result). Pairs are compared as int64 keys over the list's id codes when both sides were
    read with codes, else over factorized strings.
    """
    n_scores, n_trials = len(scores), len(trials)
    score_chunks_, trial_chunks = _key_chunks(scores, trials)
    if n_scores == n_trials and all(np.array_equal(a, b) for a, b in zip(score_chunks_(), trial_chunks())):
        index = np.arange(n_scores, dtype=line_dtype(n_trials))
        none = np.zeros(0, dtype=np.int64)
        return Coverage(index, none, none, none, none, _label_lines(scores, trials, index))
    list_keys = np.empty(n_trials, dtype=np.int64)
    for start, keys in zip(range(0, n_trials, CHUNK), trial_chunks()):
        list_keys[start : start + len(keys)] = keys
    table = sort_pairs(list_keys)
    joined = join(table, score_chunks_(), n_scores)
    del table
    index = joined.index
    return Coverage(
        index,
        np.flatnonzero(index < 0),
        joined.missing,
        joined.twice,
        _lines_scoring(index, joined.twice, n_trials),
        _label_lines(scores, trials, index),
    )


def _key_chunks(scores: ScoreFile, trials: TrialList):
    """Two functions giving the int64 pair keys of the score file and of the list in `CHUNK`-line slices
    (fresh arrays: the join consumes them): equal keys exactly for equal pairs. Over the list's id codes
    when both sides have codes (a file id the list lacks gets a key no list pair has), else over the
    factorized id strings of both."""
    sp, tp = scores.pairs, trials.pairs
    if sp is not None and tp is not None:
        width = len(tp.id_bytes)
        try:  # by hashes and bytes: a hash table of Python strings took 15 s for 8.6 M distinct ids
            remap = lookup_rows(tp.id_bytes, sp.id_bytes)
        except NotCompact:
            import pandas as pd

            remap = pd.Index(tp.ids).get_indexer(sp.ids).astype(np.int64)
        absent = width * width  # above every list key

        def score_keys():
            for start in range(0, len(sp.enroll), CHUNK):
                enroll, test = remap[sp.enroll[start : start + CHUNK]], remap[sp.test[start : start + CHUNK]]
                keys = enroll * width + test
                keys[(enroll < 0) | (test < 0)] = absent
                yield keys

        def list_keys():
            for start in range(0, len(tp.enroll), CHUNK):
                yield pair_keys(tp, slice(start, start + CHUNK))

        return score_keys, list_keys
    n_scores = len(scores)
    keys = trial_keys(
        np.concatenate([_column(scores, "enroll"), trials.enroll]),
        np.concatenate([_column(scores, "test"), trials.test]),
    )
    return (
        lambda: (keys[s : min(s + CHUNK, n_scores)].copy() for s in range(0, n_scores, CHUNK)),
        lambda: (keys[s : s + CHUNK].copy() for s in range(n_scores, len(keys), CHUNK)),
    )


def _column(scores: ScoreFile, which: str) -> np.ndarray:
    """The enroll or test ids of a score file as str, from its codes when it was read without strings."""
    ids = getattr(scores, which)
    if ids is None:
        ids = scores.pairs.ids.take(getattr(scores.pairs, which))
    return ids


def _lines_scoring(index: np.ndarray, twice: np.ndarray, n_trials: int) -> np.ndarray:
    """The file lines whose trial is among `twice` (0-based, ascending)."""
    if not twice.size:
        return np.zeros(0, dtype=np.int64)
    marked = np.zeros(n_trials + 1, dtype=bool)  # the last slot is where -1 (not in the list) lands
    marked[twice] = True
    return np.flatnonzero(marked[index])


def _label_lines(scores: ScoreFile, trials: TrialList, index: np.ndarray) -> np.ndarray:
    """File lines whose label disagrees with the list's, checked slice by slice (no full-size temporaries)."""
    if scores.labels is None or trials.is_target is None:
        return np.zeros(0, dtype=np.int64)
    wrong = []
    for start in range(0, len(index), CHUNK):
        rows = index[start : start + CHUNK]
        found = rows >= 0
        listed = trials.is_target[np.where(found, rows, 0)]
        wrong.append(np.flatnonzero((scores.labels[start : start + CHUNK] != listed) & found) + start)
    return np.concatenate(wrong) if wrong else np.zeros(0, dtype=np.int64)


def coverage_problems(cov: Coverage, scores: ScoreFile, trials: TrialList) -> list[str]:
    """One sentence per kind of problem (extra, missing, duplicated pairs), with counts and a few examples."""
    problems = []
    if cov.extra_lines.size:
        shown = _pairs(scores, cov.extra_lines)
        problems.append(f"{cov.extra_lines.size:,} scored pair(s) not in {trials.name}, e.g. {shown}")
    if cov.missing.size:
        enroll, test = trials.enroll, trials.test  # (each access gives them from the codes anew)
        shown = "; ".join(f"{shown_id(enroll[i])} {shown_id(test[i])}" for i in cov.missing[:3])
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
    def pair(i: int) -> str:
        return f"line {i + 1}: {shown_id(_id(scores, 'enroll', i))} {shown_id(_id(scores, 'test', i))}"

    return "; ".join(pair(i) for i in lines[:limit])


def _id(scores: ScoreFile, which: str, line: int) -> str:
    ids = getattr(scores, which)
    return ids[line] if ids is not None else scores.pairs.ids[getattr(scores.pairs, which)[line]]


def write_score_file(
    path: str | os.PathLike,
    enroll: np.ndarray,
    test: np.ndarray,
    values: np.ndarray,
    is_target: np.ndarray | None,
    extra: np.ndarray | None = None,
) -> None:
    """Write a score file atomically (see `format_score_lines`), chunk by chunk."""
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.writelines(score_chunks(enroll, test, values, is_target, extra))
