"""Whitespace-separated text tables (trial lists, score files) parsed fast and strictly.

Every line must have the expected number of fields; a blank line in the middle is an error (only
trailing blank lines are tolerated), so no line is ever dropped without the user hearing of it.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata

import numpy as np

from sveval.errors import InputError

# Whitespace that Python's str.split()/splitlines() would break a line or a field at, but that is neither a
# field separator (space, tab) nor a line end (\n, with one \r before it tolerated): form feed, vertical
# tab, \x1c-\x1f, U+0085, U+00A0, U+2028, U+2029 and the Unicode spaces, and a \r elsewhere.
_OTHER_BREAKS = re.compile(r"[^\S \t\n\r]|\r(?!\n|\Z)")


TRAILING_WHITESPACE = " \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f"  # tolerated at a file end (fields.blocks too)


def text_lines(text: str, source: str, first_line: int = 1, at_end: bool = True) -> list[str]:
    """The lines of `text`, split at \n only (a \r before it dropped), as a list of str.

    Any other line-breaking or space character (see _OTHER_BREAKS) is refused with InputError naming its
    line: kept inside an id, other tools (Kaldi, WeSpeaker's `line.split()`) would split the id there and
    disagree with us about which utterance it is; splitting at it would change the line numbers and field
    counts. Ids stay exactly the bytes between spaces/tabs."""
    other = _OTHER_BREAKS.search(text.rstrip(TRAILING_WHITESPACE) if at_end else text)
    if other:
        char = other.group()
        name = unicodedata.name(char, "a control character")
        raise InputError(
            f"character U+{ord(char):04X} ({name}) inside a line: fields are separated by spaces or tabs "
            "and lines by \\n only, and an id cannot hold it",
            source,
            first_line + text.count("\n", 0, other.start()),
        )
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def split_rows(text: str, source: str, what: str) -> list[list[str]]:
    """Split `text` into rows of fields, refusing an empty file and blank lines between data lines."""
    lines = text_lines(text, source)
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


def field_count(count: int) -> str:
    """'1 field', '2 fields': a field count as messages say it."""
    return f"{count} field" if count == 1 else f"{count} fields"


def require_width(rows: list[list[str]], widths: np.ndarray, width: int, source: str, expected: str) -> None:
    """Raise naming the first line whose field count is not `width`."""
    bad = np.flatnonzero(widths != width)
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"expected {expected} ({width} fields), found {field_count(int(widths[i]))}: "
            f"{' '.join(rows[i])!r}",
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


# Characters that Python's str.split()/splitlines() treat as whitespace or line breaks but pandas' tokenizer
# does not: text containing any of them (or any non-ASCII character) takes the line-by-line path.
_NOT_PLAIN = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x00")


def fast_columns(text: str) -> list[np.ndarray] | None:
    """The columns (object arrays of str) of a plain table, split by pandas' C tokenizer, or None.

    Plain means: ASCII, and every line, blank lines included, has the same number of space/tab separated
    fields as the first. Then the result equals `[column(rows, k) ...]` of `split_rows` (Python's split()
    on the same text), several times faster on the 0.5 M-line Vox1-E/H files. Anything else gives None
    and the caller parses line by line, which names the offending line; nothing is ever dropped here.
    """
    if not text.isascii() or any(c in text for c in _NOT_PLAIN):
        return None
    body = text.rstrip()  # trailing blank lines are tolerated, as in split_rows
    if not body:
        return None
    # Single spaces (what WeSpeaker and the VoxCeleb lists write) tokenize fastest with sep=" "; a double,
    # leading or trailing space then shows up as an empty field and the whitespace-run split is tried.
    seps = (r"\s+",) if "\t" in body else (" ", r"\s+")
    lines = body.count("\n") + 1
    data = body.encode("ascii")  # a BytesIO holds 1 byte per character, a StringIO up to 4
    del body
    for sep in seps:
        columns = _tokenize(data, lines, sep)
        if columns is not None:
            return columns
    return None


def _tokenize(data: bytes, lines: int, sep: str) -> list[np.ndarray] | None:
    import pandas as pd

    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=sep,
            header=None,
            index_col=False,
            dtype=object,
            na_filter=False,
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
            engine="c",
        )
    except (ValueError, pd.errors.ParserError):  # a line with more fields than the first
        return None
    columns = [frame[k].to_numpy() for k in frame.columns]
    # Short lines, blank lines and (with sep=" ") repeated spaces give empty strings, which a
    # whitespace split never yields; a skipped line would show in the count.
    if len(frame) != lines or any((col == "").any() for col in columns):
        return None
    return columns
