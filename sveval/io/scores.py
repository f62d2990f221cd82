"""WeSpeaker score files: read (3, 4 or 8 columns), write (`sveval.pair_join` matches them to a list).

cosine       `enroll test score label`                      score as %.5f
normalised   `enroll test score label |e| |t| mu_e mu_t`    %.5f, then four %.4f
bare         `enroll test score`                            labels come from a trial list
"""

from __future__ import annotations

import os

import numpy as np  # (pandas is imported where used: 0.4 s of every `sveval metrics` start)

from sveval.errors import InputError, quoted
from sveval.io.atomic import atomic_path
from sveval.io.fields import Column, Layout, Table, field_count, parse_columns, read_columns
from sveval.io.score_text import coded_score_chunks as coded_score_chunks
from sveval.io.score_text import decimal_integers as decimal_integers
from sveval.io.score_text import format_coded_score_bytes as format_coded_score_bytes
from sveval.io.score_text import format_score_bytes as format_score_bytes
from sveval.io.score_text import format_score_lines as format_score_lines
from sveval.io.score_text import id_byte_table as id_byte_table
from sveval.io.score_text import score_chunks
from sveval.io.trials import KALDI_LABELS
from sveval.types import PairCodes, ScoreFile

SCORE_WIDTHS = (3, 4, 8)
ID_CHOICES = ("strings", "codes", "none")


def score_layout(first_row: list[str], ids: str = "strings") -> Layout:
    """The columns of a score file whose first line is `first_row` (3, 4 or 8 fields)."""
    width = len(first_row)
    if width not in SCORE_WIDTHS:
        raise InputError(
            "expected `enroll test score [target|nontarget [|e| |t| mu_e mu_t]]` (3, 4 or 8 fields), "
            f"found {field_count(width)}: {quoted(' '.join(first_row))}"
        )
    id_column = Column("skip" if ids == "none" else "id")
    columns = [id_column, id_column, Column("float", "score")]
    if width >= 4:
        columns.append(Column("label", labels=KALDI_LABELS, complaint=_label_complaint))
    columns += [Column("float", "statistic")] * (width - 4)

    def wrong_width(row: list[str]) -> str:
        found = f"found {field_count(len(row))}: {quoted(' '.join(row))}"
        return f"expected score line like line 1 ({width} fields), {found}"

    return Layout(columns, wrong_width)


def _label_complaint(token: str, count: int) -> str:
    return f"label {quoted(token)} is not target or nontarget"


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
