"""WeSpeaker score files: read (3, 4 or 8 columns), write (`sveval.pair_join` matches them to a list).

cosine       `enroll test score label`                      score as %.5f
normalised   `enroll test score label |e| |t| mu_e mu_t`    %.5f, then four %.4f
bare         `enroll test score`                            labels come from a trial list
"""

from __future__ import annotations

import io
import os

import numpy as np  # (pandas is imported where used: 0.4 s of every `sveval metrics` start)

from sveval.errors import InputError
from sveval.io.atomic import atomic_path, open_binary
from sveval.io.fields import Column, Layout, read_table
from sveval.io.score_text import coded_score_chunks as coded_score_chunks
from sveval.io.score_text import decimal_integers as decimal_integers
from sveval.io.score_text import format_coded_score_bytes as format_coded_score_bytes
from sveval.io.score_text import format_score_bytes as format_score_bytes
from sveval.io.score_text import format_score_lines as format_score_lines
from sveval.io.score_text import id_byte_table as id_byte_table
from sveval.io.score_text import score_chunks
from sveval.io.table import (
    column,
    fast_columns,
    field_count,
    parse_floats,
    require_width,
    row_widths,
    split_rows,
)
from sveval.io.trials import KALDI_LABELS
from sveval.io.vocabulary import NotCompact
from sveval.types import PairCodes, ScoreFile

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
    return _read(io.BytesIO(text.encode("utf-8")), source, "strings")


def read_score_file(path: str | os.PathLike, ids: str = "strings") -> ScoreFile:
    """Read a 3, 4 or 8-column score file (UTF-8; a byte-order mark is ignored) in bounded memory.

    ids: "strings" gives enroll/test as object arrays of interned str (one str per distinct id) and the
    codes in `pairs`; "codes" only `pairs` (enroll/test None: 8 bytes per line less); "none" neither
    (for metrics of a labelled file without a trial list: ids are checked to be there, never hashed).
    Memory: 8 bytes per line for the score, 1 for the label, 32 for the statistics, 8 for codes, 16 for
    strings, plus one chunk (fields.CHUNK_BYTES) of temporaries. Raises InputError naming file and line.
    """
    if ids not in ID_CHOICES:
        raise ValueError(f"ids must be one of {ID_CHOICES}, got {ids!r}")
    with open_binary(path, "score file") as handle:
        return _read(handle, str(path), ids)


def _read(handle, source: str, ids: str) -> ScoreFile:
    try:
        table = read_table(handle.readinto, source, "score file", lambda row: score_layout(row, ids))
    except NotCompact:  # a 64-bit hash collision or a NUL byte in an id: the exact whole-text path
        handle.seek(0)
        return _parse_text(handle.read().decode("utf-8").removeprefix("\ufeff"), source)
    columns = table.columns
    labels = columns[3] if len(columns) >= 4 else None
    extra = np.stack(columns[4:8], axis=1) if len(columns) == 8 else None
    pairs = enroll = test = None
    if ids != "none":
        pairs = PairCodes(table.vocabulary.table, columns[0], columns[1])
    if ids == "strings":
        enroll, test = pairs.ids.take(pairs.enroll), pairs.ids.take(pairs.test)
    return ScoreFile(source, enroll, test, columns[2], labels, extra, pairs)


def _parse_text(text: str, source: str) -> ScoreFile:
    """The whole-text reader (one Python str per field); kept for the cases `_read` cannot hold."""
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
            f"found {field_count(width)}: {' '.join(rows[0])!r}",
            source,
            1,
        )
    require_width(rows, widths, width, source, "score line like line 1")
    return [column(rows, k) for k in range(width)]


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
