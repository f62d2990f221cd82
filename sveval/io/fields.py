"""The one reader of line-oriented text (trial lists, score files, utt2spk, utt2dur, id lists; the line
splitting of scp, meta and result files too): bytes in, typed columns out, never one Python string per
field, from a plain file, a gzip file (by its magic bytes or a `.gz` name) or standard input (`-`).

Why: a tokenizer that turns every field into a Python string costs ~330 bytes and ~2.5 us per score line;
a 59 M-line file then needs ~19 GB. Here the text is read in blocks of CHUNK_BYTES * ARROW_CHUNKS bytes of
whole lines (one reused buffer, `blocks`), and each block takes one of two paths:
- pyarrow's CSV reader (`fields_arrow`: ids dictionary-encoded, numbers and labels typed), for a block it
  is certain to read as Python's str.split() and float() would: ASCII, one space (or one tab) between
  fields, lines ended by \n or \r\n; it steps aside (returns None) anywhere else;
- the slow path (`_python_chunk`), in pieces of about CHUNK_BYTES: lines at \n only, fields with
  str.split(), numbers with float(). Its job is the blocks pyarrow steps aside from: it finds and names the
  bad line (blank line, wrong field count, a number or label it cannot read, a character that breaks lines
  elsewhere: `text_lines`), and reads the odd but valid block (runs of spaces, tabs and spaces mixed,
  non-ASCII ids, "1_0") the same way. Nothing is dropped.
Ids become int32 codes into one exact `Vocabulary` (one Python string per distinct id, never one per field).
Memory: the outputs (4 bytes per id field, 8 per number, 1 per label) plus one block and its temporaries.

Problems are collected while reading and the one a whole-file reader would raise first is raised at the
end, in its order: not UTF-8, other line break, blank line, first line not a known layout, wrong field
count, then column by column (first bad line of each column, with a count of such lines).
A UTF-8 byte-order mark at the start is skipped, as if absent.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from sveval.errors import InputError, quoted
from sveval.io.atomic import read_errors
from sveval.io.fields_arrow import arrow_chunk, release_arrow_memory
from sveval.io.vocabulary import Vocabulary, padded_rows
from sveval.memory import release_freed_memory

CHUNK_BYTES = 1 << 23
ARROW_CHUNKS = 8  # the file is read in blocks of 8 chunks: pyarrow takes such a block whole when it can
FIRST_BYTES = 1 << 20  # the block buffer's first size (`blocks`)
BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"
TRAILING_WHITESPACE = " \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f"  # tolerated at a file end
_TRAILING_SPACE = TRAILING_WHITESPACE.encode("ascii")
# Whitespace that Python's str.split()/splitlines() would break a line or a field at, but that is neither a
# field separator (space, tab) nor a line end (\n, with one \r before it tolerated): form feed, vertical
# tab, \x1c-\x1f, U+0085, U+00A0, U+2028, U+2029 and the Unicode spaces, and a \r elsewhere; and NUL,
# which no id can hold (C tools end a string there; the vocabulary pads ids with it).
_OTHER_BREAKS = re.compile(r"[^\S \t\n\r]|\r(?!\n|\Z)|\x00")


@contextlib.contextmanager
def open_source(path: str | os.PathLike, what: str = "file") -> Iterator[BinaryIO]:
    """`path` opened for reading bytes: standard input for `-`, decompressed when it is gzip (its first
    bytes, or a `.gz` name whose content is not gzip: then gzip's error says so). OS and gzip errors (on
    opening and reading) become an InputError naming it, worded as `atomic.read_text` words them."""
    with read_errors(path, what), contextlib.ExitStack() as stack:
        if str(path) == STDIN:
            raw = _standard_input(what)
        else:
            raw = stack.enter_context(open(path, "rb", buffering=1 << 16))
        compressed = raw.peek(len(GZIP_MAGIC))[: len(GZIP_MAGIC)] == GZIP_MAGIC or str(path).endswith(".gz")
        yield stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")) if compressed else raw


def _standard_input(what: str) -> BinaryIO:
    """sys.stdin's bytes; a closed or absent one is an InputError. (A `-` given twice in one command is
    refused by the command line before anything is read: the first reader would use the stream up.)"""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None or stream.closed:
        raise InputError(f"standard input ('-', the {what}) is closed: nothing to read")
    # gzip is told by peeking at the first bytes: a stream that cannot peek (an in-memory one, as test
    # runners and embedding programs give) gets a buffer that can
    return stream if hasattr(stream, "peek") else io.BufferedReader(stream)


def read_source_text(path: str | os.PathLike, what: str = "file") -> str:
    """The whole text of a small file (wav.scp, metadata, result files) through `open_source`: plain, gzip
    or `-`; UTF-8, a byte-order mark dropped. Errors name the file."""
    with open_source(path, what) as handle:
        return handle.read().decode("utf-8").removeprefix("\ufeff")


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


def field_count(count: int) -> str:
    """'1 field', '2 fields': a field count as messages say it."""
    return f"{count} field" if count == 1 else f"{count} fields"


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


def fixed_layout(columns: list[Column], expected: str) -> Callable[[list[str]], Layout]:
    """The layout of a table whose columns do not depend on its first line (utt2spk, utt2dur, id lists):
    a line with another field count is "expected <expected> (<n> fields), found ..."."""

    def wrong_width(row: list[str]) -> str:
        found = f"found {field_count(len(row))}: {quoted(' '.join(row))}"
        return f"expected {expected} ({len(columns)} fields), {found}"

    return lambda first_row: Layout(columns, wrong_width)


@dataclass(eq=False)
class Table:
    """What `read_table` returns: per column int32 codes (ids), float64 values, bool labels, or None
    (a "skip" column)."""

    n: int
    columns: list[np.ndarray]
    vocabulary: Vocabulary

    def strings(self, k: int) -> np.ndarray:
        """Column k (an id column) as an object array of interned str (one str per distinct id)."""
        return self.vocabulary.strings().take(self.columns[k])


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
    costs more in page faults than parsing it. The buffer starts at FIRST_BYTES and grows eightfold while
    the file fills it, up to `size`: a 64 MB bytearray costs 42 ms to make (its bytes are zeroed), which
    each small file read (a trial list, an utt2spk) paid before.

    A byte-order mark at the start is dropped, and so is the whitespace at the end of the file (trailing
    blank lines are tolerated; blank blocks followed by more text are kept, as copies, and reported).
    """
    buf = bytearray(min(size, FIRST_BYTES))
    n, eof = _fill(readinto, buf, 0)
    while not eof and len(buf) < size:  # (the buffer is full: no block has been given out yet)
        grown = bytearray(min(size, 8 * len(buf)))
        grown[:n] = buf
        buf = grown
        n, eof = _fill(readinto, buf, n)
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


def read_columns(path: str | os.PathLike, what: str, layout: Callable[[list[str]], Layout]) -> Table:
    """`read_table` of the file, gzip file or standard input `path` (see `open_source`)."""
    with open_source(path, what) as handle:
        return read_table(handle.readinto, str(path), what, layout)


def parse_columns(text: str, source: str, what: str, layout: Callable[[list[str]], Layout]) -> Table:
    """`read_table` of text already in memory (a download, a test)."""
    return read_table(io.BytesIO(text.encode("utf-8")).readinto, source, what, layout)


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
            for k, pieces in enumerate(parsed[1]):
                if pieces is not None:
                    parts[k] += pieces
            line0 += parsed[0]
            continue
        for start, chunk, last_piece in _pieces(bytes(block), CHUNK_BYTES):
            n_lines, raw = _python_chunk(
                chunk, offset + start, last and last_piece, line0, shape, source, what, problems
            )
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
        release_arrow_memory()  # (pieces that were views of pyarrow's buffers)
    release_freed_memory()
    return Table(line0, arrays, vocab)


def _pieces(block: bytes, size: int) -> Iterator[tuple[int, bytes, bool]]:
    """(start, piece, last): `block` cut into pieces of whole lines of about `size` bytes (a longer line is a
    piece of its own), so that the slow path keeps its temporaries small."""
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
    except UnicodeDecodeError as exc:  # in the first line
        raise InputError(f"{what} is not UTF-8 text (byte {offset + exc.start})", source, 1) from exc
    row = text.rstrip("\r").split()  # other line breaks in it: refused by the chunk reader
    if not row:
        return None  # a blank first line: the chunk reader reports it
    try:
        return layout(row)
    except InputError as exc:
        problems.add((LAYOUT, 0), 1, exc)
        return None


def _python_chunk(chunk, offset, last, line0, shape, source, what, problems):
    """The slow path: split a chunk with Python (lines at \\n, fields with str.split()); record the first
    problem of each kind with its line; raw columns as str lists."""
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as exc:  # named by its line, as every other problem of a line is
        line = line0 + 1 + bytes(chunk[: exc.start]).count(b"\n")
        raise InputError(f"{what} is not UTF-8 text (byte {offset + exc.start})", source, line) from exc
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


def _convert(column: Column, k: int, raw: list[str], vocab: Vocabulary, line0: int, problems: _Problems):
    """One column of the slow path typed: codes, labels or numbers; the first bad field is recorded with
    its line (and the count of bad fields for labels)."""
    if column.kind == "id":
        return vocab.encode(padded_rows([s.encode("utf-8") for s in raw]))
    tokens = np.array(raw, dtype=object)
    if column.kind == "label":
        positive, negative = tokens == column.labels[1], tokens == column.labels[0]
        bad = np.flatnonzero(~(positive | negative))
        if bad.size:
            token = raw[bad[0]]
            complaint = column.complaint
            problems.add((VALUE, k), line0 + int(bad[0]) + 1, lambda n: complaint(token, n), int(bad.size))
        return positive.astype(bool)
    try:
        return tokens.astype(np.float64)  # float() of each str: Python's forms and rounding
    except ValueError:
        for i, text in enumerate(raw):
            try:
                float(text)
            except ValueError:
                problems.add((VALUE, k), line0 + i + 1, f"{column.what} is not a number: {quoted(text)}")
                break
        return np.zeros(len(raw))
