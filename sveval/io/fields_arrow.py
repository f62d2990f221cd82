"""A block of a score file or trial list parsed by pyarrow's CSV reader (multithreaded C++), when that is
certain to give what `sveval.io.fields` gives: parsing is most of the cost of large files, and
`benchmarks/bench_scale.py` measured pyarrow well ahead of a numpy splitter of our own. Ids come back as one
dictionary per column, each distinct id encoded once into the exact vocabulary.

The block must be plain in the strictest sense: ASCII, a single space (or a single tab, in a block
without spaces) between fields, no control byte but the line feed and a CR right before it (checked by
counting: bytes below 33 or above 127, CRs aside = pyarrow's fields; where there are CRs, line feeds =
its rows). Python's str.split() and a one-delimiter CSV dialect then cut every line at the same places;
anything else (tabs and spaces mixed, runs of spaces, a CR inside a line, blank lines, Unicode text)
returns None and the block goes through the slow path of `sveval.io.fields`, which also words every
error. So does a block that pyarrow refuses (a field count, a number it cannot read, a label column
holding another token than the two: labels are read as pyarrow booleans whose only true and false
values are those two tokens, about 5 ms of CPU a 64 MB block where a dictionary of strings took 20): this
module never raises InputError itself, and never reads a number differently: pyarrow converts decimal text
to the nearest float64 (correct rounding, as Python's float()); a form it does not accept
("1_0") falls back to float() and its rules, and so does any non-finite value ("nan(1)" is one pyarrow
accepts and float() refuses; tests/test_io_fields_arrow.py tries every odd form we know).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np

from sveval.io.vocabulary import Vocabulary, gather_rows

if TYPE_CHECKING:
    from sveval.io.fields import Column

_SLICE_BYTES = 1 << 20
_BLOCK_BYTES = 1 << 22  # what one pyarrow thread parses at a time (4 MB measured best of 1, 4, 16 MB)


def arrow_chunk(
    chunk, columns: list[Column], vocab: Vocabulary
) -> tuple[int, list[list[np.ndarray] | None]] | None:
    """(lines, per column the pieces of its values: int32 codes into `vocab` for "id", float64 for
    "float", bool for "label", None for "skip"), or None when this chunk (bytes or a memoryview) is not
    for pyarrow (see the module docstring). The pieces are pyarrow's (one per block of _BLOCK_BYTES; the
    numbers are views of its buffers): the reader joins them once, for the whole file, instead of once
    per chunk and again at the end (each join of fresh memory costs its page faults: 12 ms a 64 MB
    chunk of scores). `vocab` only grows once every other check has passed; ids get their codes column
    by column (first sight in the enroll column, then in the test column)."""
    if not len(chunk) or len({c.labels for c in columns if c.kind == "label"}) > 1:
        return None  # (one pair of label tokens per read: pyarrow's true and false values)
    buf = np.frombuffer(chunk, dtype=np.uint8)
    counted = _counts(buf)
    if counted is None:
        return None
    (gaps, crs), delimiter = counted
    import pyarrow as pa
    import pyarrow.csv as pcsv

    wanted = {f"c{k}": c for k, c in enumerate(columns) if c.kind != "skip"}
    try:
        table = pcsv.read_csv(pa.py_buffer(chunk), *_options(len(columns), wanted, len(chunk), delimiter))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a line with another field count, a number or label pyarrow cannot read
    unterminated = int(chunk[-1] != 10)
    rows = table.num_rows
    if gaps != rows * len(columns) - unterminated:
        return None  # a tab, control or non-ASCII byte inside what pyarrow took for a field
    if crs and np.count_nonzero(buf == 10) != rows - unterminated:
        return None  # a CR that pyarrow took for a line break (without CRs, its rows are the line feeds)
    out: list[list[np.ndarray] | None] = []
    for k, column in enumerate(columns):
        got = None
        if column.kind == "label":
            got = _booleans(table.column(f"c{k}"))
        elif column.kind == "float":
            got = _floats(table.column(f"c{k}"))
            if got is None:
                return None
        out.append(got)
    if any(column.kind == "id" for column in columns):
        table = table.unify_dictionaries()  # one dictionary per column: each distinct id is encoded once
    for k, column in enumerate(columns):
        if column.kind == "id":
            values = table.column(f"c{k}")
            codes = vocab.encode(_id_rows(values.chunk(0).dictionary)) if values.num_chunks else None
            out[k] = [codes[_numbers(block.indices, np.int32)] for block in values.chunks]
    return rows, out


def release_arrow_memory() -> None:
    """Hand the memory pyarrow's allocator (mimalloc) holds freed back to the system, if pyarrow is in
    use: it keeps the buffers of a file's pieces once they are joined otherwise, and with them the peak
    of what comes next (`sveval metrics` of a 60 M-line file: 1,745 MB instead of 1,242 MB)."""
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()


def _id_rows(dictionary) -> np.ndarray:
    """(n, 8*m) NUL-padded uint8 rows of a pyarrow string array's values (ASCII here), for Vocabulary."""
    offsets = _numbers(dictionary, np.int32, buffer=1, extra=1).astype(np.int64)
    data = np.frombuffer(dictionary.buffers()[2], dtype=np.uint8)
    lengths = np.diff(offsets)
    width = max(8, -(-int(lengths.max(initial=1)) // 8) * 8)
    return gather_rows(data, offsets[:-1], lengths, width)


def _counts(buf: np.ndarray) -> tuple[tuple[int, int], str] | None:
    """((bytes below 33 or above 127 but CRs, CRs), the field delimiter) of the chunk, or None when it
    has two such bytes in a row other than CR LF, or one at its start (an empty field, a blank line, a
    space next to a line break). A CR is then always at the end of a line, where str.split() drops it; a
    CR not followed by LF makes pyarrow count one row more than the line feeds, which `arrow_chunk`
    refuses; a byte above 127 is counted as a separator that pyarrow does not see, which it refuses too.
    The delimiter is the chunk's first separator, a tab or else a space: a separator of the other kind
    inside a line then makes pyarrow see fewer fields than counted here, which `arrow_chunk` refuses. In
    slices that stay in the cache, whose temporaries the allocator reuses."""
    gaps = crs = 0
    delimiter = ""
    for lo in range(0, len(buf), _SLICE_BYTES):
        part = buf[lo : lo + _SLICE_BYTES + 1]  # one byte more: a pair across the edge is seen too
        below = part.view(np.int8) < 33  # bytes above 127 are negative as int8
        if lo == 0 and below[0]:
            return None
        here = int(np.count_nonzero(part[:_SLICE_BYTES] == 13))
        pairs = below[1:] & below[:-1]
        if pairs.any() and (not here or (pairs & ~((part[:-1] == 13) & (part[1:] == 10))).any()):
            return None
        gaps += int(np.count_nonzero(below[:_SLICE_BYTES]))
        crs += here
        if not delimiter and below.any():
            delimiter = "\t" if part[np.argmax(below)] == 9 else " "
    return (gaps - crs, crs), delimiter or " "


def _options(width: int, wanted: dict, size: int, delimiter: str):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    kinds = {"float": pa.float64(), "label": pa.bool_(), "id": pa.dictionary(pa.int32(), pa.string())}
    types = {name: kinds[c.kind] for name, c in wanted.items()}  # ids as dictionaries: each id once a block
    false, true = next((c.labels for c in wanted.values() if c.kind == "label"), ("", ""))
    read = pcsv.ReadOptions(
        column_names=[f"c{k}" for k in range(width)], block_size=_BLOCK_BYTES, use_threads=size > _BLOCK_BYTES
    )
    parse = pcsv.ParseOptions(
        delimiter=delimiter,
        quote_char=False,
        escape_char=False,
        double_quote=False,
        newlines_in_values=False,
        ignore_empty_lines=False,
    )
    convert = pcsv.ConvertOptions(
        column_types=types,
        include_columns=list(wanted),
        null_values=[],
        true_values=[true] if true else [],
        false_values=[false] if false else [],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    return read, parse, convert


def _floats(values) -> list[np.ndarray] | None:
    """float64 values, as views of pyarrow's buffers; None when any is not finite: pyarrow reads "nan(1)"
    where float() refuses it, and a non-finite score is an error anyway, worded by the reference reader."""
    parts = [_numbers(chunk, np.float64) for chunk in values.chunks]
    return parts if all(np.isfinite(part).all() for part in parts) else None


def _booleans(values) -> list[np.ndarray]:
    """A pyarrow boolean column (bit-packed, least significant bit first) as numpy bools."""
    parts = []
    for chunk in values.chunks:
        bits = np.unpackbits(np.frombuffer(chunk.buffers()[1], dtype=np.uint8), bitorder="little")
        parts.append(bits[chunk.offset : chunk.offset + len(chunk)].view(bool))
    return parts


def _numbers(array, dtype, buffer: int = 1, extra: int = 0) -> np.ndarray:
    """A null-free pyarrow array's buffer as a numpy view (pyarrow's own to_numpy imports pandas, 0.4 s
    that `sveval metrics` does not otherwise pay). extra: items past the end (a string array's offsets)."""
    assert array.null_count == 0  # read with null_values=[]: the CSV reader makes no nulls
    view = np.frombuffer(array.buffers()[buffer], dtype=dtype)
    return view[array.offset : array.offset + len(array) + extra]
