"""Whitespace-separated tables (trial lists, score files) read from bytes, in blocks, never one Python
string per field.

Why: a tokenizer that turns every field into a Python string costs ~330 bytes and ~2.5 us per score line;
a 59 M-line file then needs ~19 GB. Here the file is read in blocks of CHUNK_BYTES * ARROW_CHUNKS bytes of
whole lines (one reused buffer, `blocks`):
- a plain block (ASCII, one space between fields, only line feeds) is parsed by pyarrow's CSV reader
  (`fields_arrow`), which steps aside (returns None) wherever it could read differently;
- otherwise the block is cut into pieces of about CHUNK_BYTES: a piece of plain lines (ASCII, fields
  separated by one space or tab, every line `width` fields) is split with numpy, numbers cast from bytes by
  numpy (as Python's float() reads them), labels become booleans;
- any other piece (tabs and spaces mixed, runs of spaces, CR, non-ASCII, blank lines, wrong field
  counts) is split line by line: lines at \n only, fields with Python's str.split(), so every message and
  line number stays what it was; other line-breaking characters are refused (`table.text_lines`). Nothing
  is dropped.
Ids become int32 codes into one exact `Vocabulary` (one Python string per distinct id, never one per field).
Memory: the outputs (4 bytes per id field, 8 per number, 1 per label) plus one block and its temporaries.

Problems are collected while reading and the one the whole-file reader raised first is raised at the
end, in its order: not UTF-8, blank line, first line not a known layout, wrong field count, then
column by column (first bad line of each column, with a count of such lines).
A UTF-8 byte-order mark at the start is skipped, as if absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from sveval.errors import InputError
from sveval.io.fields_arrow import arrow_chunk
from sveval.io.table import TRAILING_WHITESPACE, text_lines
from sveval.io.vocabulary import Vocabulary, gather_rows, padded_rows
from sveval.memory import release_freed_memory

CHUNK_BYTES = 1 << 23
ARROW_CHUNKS = 8  # the file is read in blocks of 8 chunks: pyarrow takes such a block whole when it can
BOM = b"\xef\xbb\xbf"
_TRAILING_SPACE = TRAILING_WHITESPACE.encode("ascii")
_MAX_NUMBER_WIDTH = 40  # wider fields (never seen in score files) are converted one by one


@dataclass(frozen=True)
class Column:
    """How one column is read. kind: "id" (codes into the table's vocabulary), "float" or "label".

    what: the noun of "<what> is not a number" for floats. labels: (false, true) tokens of a label column;
    complaint(token, count) words the error for any other token.
    """

    kind: str  # "id", "float", "label", or "skip" (checked for presence only, not kept)
    what: str = ""
    labels: tuple[str, str] = ("", "")
    complaint: Callable[[str, int], str] | None = None


@dataclass(frozen=True)
class Layout:
    """The columns decided by the first line, and the error text for a line with another field count."""

    columns: list[Column]
    wrong_width: Callable[[list[str]], str]


@dataclass(eq=False)
class Table:
    """What `read_table` returns: per column int32 codes (ids), float64 values, bool labels, or None
    (a "skip" column)."""

    n: int
    columns: list[np.ndarray]
    vocabulary: Vocabulary


@dataclass
class _Problems:
    """The first problem of each kind, keyed (rank, column), raised in rank order at the end."""

    found: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)

    def add(self, key: tuple[int, int], line: int, message, count: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + count
        if key not in self.found:
            self.found[key] = (line, message)

    @property
    def structural(self) -> bool:
        """A problem that leaves columns undefined (blank line, unknown layout, wrong field count)."""
        return any(rank < VALUE for rank, _ in self.found)

    def raise_first(self, source: str) -> None:
        if not self.found:
            return
        key = min(self.found)
        line, message = self.found[key]
        if isinstance(message, InputError):  # from the layout: raised as is when it names its place
            raise message if message.path is not None else InputError(str(message), source, line)
        text = message(self.counts[key]) if callable(message) else message
        raise InputError(text, source, line)


BREAK, BLANK, LAYOUT, WIDTH, VALUE = 0, 1, 2, 3, 4


def blocks(readinto: Callable[[memoryview], int], size: int) -> Iterator[tuple[int, memoryview, bool]]:
    """(byte offset, block, last): the file in blocks of whole lines, read with `readinto` (a binary
    file's) into one buffer of `size` bytes (grown for a longer line) that every block reuses: a block is a
    view that stays valid only until the next one is asked for. Why: a fresh 64 MB bytes object per block
    costs more in page faults than parsing it.

    A byte-order mark at the start is dropped, and so is the whitespace at the end of the file (trailing
    blank lines are tolerated; blank blocks followed by more text are kept, as copies, and reported).
    """
    buf = bytearray(size)
    n, eof = _fill(readinto, buf, 0)
    start = offset = len(BOM) if buf[: len(BOM)] == BOM and n >= len(BOM) else 0
    # copies of blocks whose fate is not known yet: blank blocks (reported if text follows) and, first,
    # possibly a text block that only whitespace has followed so far (the file's last, if none comes)
    waiting: list[tuple[int, bytes]] = []
    while True:
        if eof:
            end = _text_end(buf, start, n)
            if end > start:
                for held in waiting:
                    yield (*held, False)
                yield offset, memoryview(buf)[start:end], True
            elif waiting and waiting[0][1].strip(_TRAILING_SPACE):
                yield waiting[0][0], waiting[0][1].rstrip(_TRAILING_SPACE), True
            return
        cut = buf.rfind(b"\n", start, n) + 1
        if cut <= start:  # one line longer than the buffer
            buf = buf[start:n] + bytearray(len(buf))
            n, start = n - start, 0
            n, eof = _fill(readinto, buf, n)
            continue
        end = _text_end(buf, start, cut)
        if end == start:  # blank lines only
            waiting.append((offset, bytes(buf[start:cut])))
        else:
            cut = buf.find(b"\n", end, cut) + 1  # the end of the last line with text
            for held in waiting:
                yield (*held, False)
            waiting = []
            if _text_end(buf, cut, n) > cut:  # text follows: not the last block
                yield offset, memoryview(buf)[start:cut], False
            else:  # only whitespace follows so far: it may end the file, so it waits (as a copy)
                waiting.append((offset, bytes(buf[start:cut])))
        offset += cut - start
        buf[: n - cut] = buf[cut:n]  # the rest moves to the front (same size: views stay valid)
        n, start = n - cut, 0
        n, eof = _fill(readinto, buf, n)


def _fill(readinto, buf: bytearray, n: int) -> tuple[int, bool]:
    """Read into buf[n:] until it is full or the file ends: (bytes in buf, file ended)."""
    with memoryview(buf) as view:
        while n < len(buf):
            got = readinto(view[n:])
            if not got:
                return n, True
            n += got
    return n, False


def _text_end(buf: bytearray, start: int, end: int) -> int:
    """end, less the whitespace that ends buf[start:end] (start when it is all whitespace)."""
    while end > start and buf[end - 1] in _TRAILING_SPACE:
        step = min(end - start, 1 << 16)  # a long run of whitespace: strip it a window at a time
        kept = len(bytes(buf[end - step : end]).rstrip(_TRAILING_SPACE))
        end = end - step + kept
        if kept:
            break
    return end


def read_table(
    readinto: Callable[[memoryview], int],
    source: str,
    what: str,
    layout: Callable[[list[str]], Layout],
) -> Table:
    """Parse the table that `readinto` reads in pieces (a binary file's readinto); the first line decides
    the layout: layout(first_row) returns the Layout or raises InputError (kept for line 1).

    Raises InputError naming `source` and the line, as described in the module docstring.
    """
    problems = _Problems()
    shape, columns, parts = None, [], []
    vocab = Vocabulary()
    line0 = 0
    for offset, block, last in blocks(readinto, CHUNK_BYTES * ARROW_CHUNKS):
        if line0 == 0:  # the first block: its first line decides the layout
            shape = _first_layout(block, offset, source, what, layout, problems)
            columns = shape.columns if shape else []
            parts = [[] for _ in columns]
        if columns and not problems.structural and (parsed := arrow_chunk(block, columns, vocab)) is not None:
            for k, values in enumerate(parsed[1]):
                if values is not None:
                    parts[k].append(values)
            line0 += parsed[0]
            continue
        for start, chunk, last_piece in _pieces(bytes(block), CHUNK_BYTES):
            got = _plain_chunk(chunk, columns) if columns and not problems.structural else None
            if got is None:
                got = _python_chunk(
                    chunk, offset + start, last and last_piece, line0, shape, source, what, problems
                )
            n_lines, raw = got
            if raw is not None and not problems.structural:
                for k, (column, values) in enumerate(zip(columns, raw)):
                    if column.kind != "skip":
                        parts[k].append(_convert(column, k, values, vocab, line0, problems))
            line0 += n_lines
    if not line0:
        raise InputError(f"empty {what}", source)
    problems.raise_first(source)
    # Columns are joined largest first and each one's pieces let go (and handed back to the system) before
    # the next: the peak is the table plus its largest column, not twice the table.
    arrays: list = [None] * len(parts)
    for k in sorted(range(len(parts)), key=lambda k: -sum(p.nbytes for p in parts[k])):
        release_freed_memory()  # (the parser's freed temporaries too, before the first one)
        arrays[k] = np.concatenate(parts[k]) if parts[k] else None
        parts[k].clear()
    release_freed_memory()
    return Table(line0, arrays, vocab)


def _pieces(block: bytes, size: int) -> Iterator[tuple[int, bytes, bool]]:
    """(start, piece, last): `block` cut into pieces of whole lines of about `size` bytes (a longer line is a
    piece of its own), so that the numpy and line-by-line readers keep their small temporaries."""
    start = 0
    while start < len(block):
        stop = block.rfind(b"\n", start, start + size) + 1 if start + size < len(block) else len(block)
        if stop <= start:  # one line longer than `size`
            stop = block.find(b"\n", start + size) + 1 or len(block)
        yield start, block[start:stop], stop == len(block)
        start = stop


def _first_layout(chunk: memoryview, offset: int, source, what, layout, problems) -> Layout | None:
    head, width = b"", 1 << 12
    while b"\n" not in head and len(head) < len(chunk):  # windows that double: a first line may be long
        head, width = bytes(chunk[:width]), 2 * width
    stop = head.find(b"\n")
    head = head[: stop if stop >= 0 else len(head)]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not UTF-8 text (byte {offset + exc.start})", source) from exc
    row = text.rstrip("\r").split()  # other line breaks in it: refused by the chunk reader
    if not row:
        return None  # a blank first line: the chunk reader reports it
    try:
        return layout(row)
    except InputError as exc:
        problems.add((LAYOUT, 0), 1, exc)
        return None


def _plain_chunk(chunk: bytes, columns: list[Column]):
    """(lines, per-column (starts, lengths, bytes)) when the chunk is plain, else None."""
    buf = np.frombuffer(chunk, dtype=np.uint8)
    if buf.max() >= 128:
        return None
    delims = np.flatnonzero(buf < 33)
    kinds = buf[delims]
    is_nl = kinds == 10
    if not (is_nl | (kinds == 32) | (kinds == 9)).all():
        return None
    if buf[-1] != 10:  # the last line of the file has no newline: pretend it has
        delims = np.append(delims, len(buf))
        is_nl = np.append(is_nl, True)
    width = len(columns)
    n_lines = int(is_nl.sum())
    if len(delims) != n_lines * width or not is_nl[width - 1 :: width].all():
        return None
    starts = np.empty_like(delims)
    starts[0] = 0
    starts[1:] = delims[:-1] + 1
    lengths = delims - starts
    if not (lengths > 0).all():
        return None
    raw = [(starts[k::width], lengths[k::width], buf) for k in range(width)]
    return n_lines, raw


def _python_chunk(chunk, offset, last, line0, shape, source, what, problems):
    """Split a chunk with Python as the whole-file reader did; record problems; raw columns as str lists."""
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not UTF-8 text (byte {offset + exc.start})", source) from exc
    try:
        lines = text_lines(text, source, line0 + 1, at_end=last)
    except InputError as exc:  # first of all problems, as the whole-text reader raises it first
        problems.add((BREAK, 0), exc.line, exc)
        return text.count("\n") + (not text.endswith("\n")), None
    n_lines = len(lines)
    if last:
        while lines and not lines[-1].strip():
            lines.pop()
    rows = [line.split() for line in lines]
    for i, row in enumerate(rows):
        if not row:
            problems.add((BLANK, 0), line0 + i + 1, f"blank line inside the {what}")
            break
    if shape is None:
        return n_lines, None
    width = len(shape.columns)
    for i, row in enumerate(rows):
        if len(row) != width and row:
            problems.add((WIDTH, 0), line0 + i + 1, shape.wrong_width(row))
            break
    if problems.structural:
        return n_lines, None
    return n_lines, [[row[k] for row in rows] for k in range(width)]


def _convert(column: Column, k: int, raw, vocab: Vocabulary, line0: int, problems: _Problems) -> np.ndarray:
    if column.kind == "id":
        return vocab.encode(_rows(raw))
    if column.kind == "label":
        return _labels(column, k, raw, line0, problems)
    return _floats(column, k, raw, line0, problems)


def _rows(raw) -> np.ndarray:
    """NUL-padded (n, 8*m) uint8 rows of the fields' UTF-8 bytes."""
    if isinstance(raw, list):
        return padded_rows([s.encode("utf-8") for s in raw])
    starts, lengths, buf = raw
    width = -(-int(lengths.max()) // 8) * 8
    return gather_rows(buf, starts, lengths, width)


def _texts(raw, lines: np.ndarray) -> list[str]:
    if isinstance(raw, list):
        return [raw[i] for i in lines]
    starts, lengths, buf = raw
    return [buf[s : s + n].tobytes().decode("ascii") for s, n in zip(starts[lines], lengths[lines])]


def _labels(column: Column, k: int, raw, line0: int, problems: _Problems) -> np.ndarray:
    if isinstance(raw, list):
        tokens = np.array(raw, dtype=object)
        positive, negative = tokens == column.labels[1], tokens == column.labels[0]
    else:
        width = max(len(t) for t in column.labels)
        starts, lengths, buf = raw
        rows = gather_rows(buf, starts, np.minimum(lengths, width + 1), width + 1)
        patterns = np.zeros((2, width + 1), dtype=np.uint8)
        for j, token in enumerate(column.labels):
            patterns[j, : len(token)] = np.frombuffer(token.encode(), dtype=np.uint8)
        negative = (rows == patterns[0]).all(axis=1)
        positive = (rows == patterns[1]).all(axis=1)
    bad = np.flatnonzero(~(positive | negative))
    if bad.size:
        token = _texts(raw, bad[:1])[0]
        problems.add((VALUE, k), line0 + int(bad[0]) + 1, lambda n: column.complaint(token, n), int(bad.size))
    return positive


def _floats(column: Column, k: int, raw, line0: int, problems: _Problems) -> np.ndarray:
    """float64 of each field. A plain chunk is converted by numpy's bytes-to-float cast, which reads a
    number as Python's float() does (same value, same accepted forms); a chunk where that cast fails, or
    a Python-split chunk, goes field by field through float(), which names the first bad line."""
    if not isinstance(raw, list):
        starts, lengths, buf = raw
        width = int(lengths.max())
        if width <= _MAX_NUMBER_WIDTH:
            rows = gather_rows(buf, starts, lengths, width)
            try:
                return rows.view(f"S{width}").ravel().astype(np.float64)
            except ValueError:
                pass
    values = np.zeros(len(raw[0]) if not isinstance(raw, list) else len(raw))
    lines = np.arange(len(values))
    for i, text in zip(lines, _texts(raw, lines)):
        try:
            values[i] = float(text)
        except ValueError:
            problems.add((VALUE, k), line0 + int(i) + 1, f"{column.what} is not a number: {text!r}")
            break
    return values
