"""Whitespace-separated text tables (trial lists, score files) parsed fast and strictly.

Every line must have the expected number of fields; a blank line in the middle is an error (only
trailing blank lines are tolerated), so no line is ever dropped without the user hearing of it.
"""

from __future__ import annotations

import numpy as np

from sveval.errors import InputError


def split_rows(text: str, source: str, what: str) -> list[list[str]]:
    """Split `text` into rows of fields, refusing an empty file and blank lines between data lines."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise InputError(f"empty {what}", source)
    rows = [line.split() for line in lines]
    widths = row_widths(rows)
    blank = np.flatnonzero(widths == 0)
    if blank.size:
        raise InputError(f"blank line inside the {what}", source, int(blank[0]) + 1)
    return rows


def row_widths(rows: list[list[str]]) -> np.ndarray:
    return np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))


def require_width(rows: list[list[str]], widths: np.ndarray, width: int, source: str, expected: str) -> None:
    """Raise naming the first line whose field count is not `width`."""
    bad = np.flatnonzero(widths != width)
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"expected {expected} ({width} fields), found {widths[i]} fields: {' '.join(rows[i])!r}",
            source,
            i + 1,
        )


def column(rows: list[list[str]], index: int) -> np.ndarray:
    """Field `index` of every row as an object array of str."""
    out = np.empty(len(rows), dtype=object)
    out[:] = [row[index] for row in rows]
    return out


def parse_floats(values: np.ndarray, source: str, what: str, first_line: int = 1) -> np.ndarray:
    """Convert an object array of str to float64, naming the first line that is not a number."""
    try:
        return values.astype(np.float64)
    except ValueError:
        for i, value in enumerate(values):
            try:
                float(value)
            except ValueError:
                raise InputError(f"{what} is not a number: {value!r}", source, i + first_line) from None
        raise


_OTHER_BREAKS = np.zeros(256, dtype=bool)
_OTHER_BREAKS[[11, 12, 13, 28, 29, 30, 31]] = True  # whitespace/line breaks other than ' ', '\t', '\n'


def uniform_table(text: str, width: int) -> np.ndarray | None:
    """The (n, width) object array of fields that `split_rows` + `column` give, computed without a Python
    loop over lines, when the text is plain ASCII with '\\n' line ends and every line has exactly `width`
    fields (trailing blank lines allowed). None otherwise: the caller then takes the strict per-line path,
    which says what is wrong and where."""
    if width < 1 or not text.isascii():
        return None
    data = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    if _OTHER_BREAKS[data].any():
        return None
    space = (data == 32) | (data == 9) | (data == 10)
    starts = np.flatnonzero(~space & np.concatenate([[True], space[:-1]]))
    if not len(starts):
        return None
    line_of_start = np.searchsorted(np.flatnonzero(data == 10), starts)
    counts = np.bincount(line_of_start)
    if (counts != width).any():  # a blank or short/long line before the last field
        return None
    tokens = text.split()
    out = np.empty(len(tokens), dtype=object)
    out[:] = tokens
    return out.reshape(-1, width)
