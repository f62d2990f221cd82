"""Utterance embeddings from Kaldi scp/ark, .npz or .npy (+ id list), and utt2spk files.

    xvector.scp / .ark   Kaldi vectors (kaldiio), in file order
    .npz                 one array per id, or arrays `ids` and `vectors`
    .npy                 an (n, d) array with a sidecar id list (`<name>.ids` or `<name>.txt`, one id a line)
    a folder             holding xvector.scp (WeSpeaker's embeddings/<set>/ layout)

One reader, `read_embedding_blocks`, reads every format a block of rows at a time (for cohorts too large
to hold whole); `read_embeddings` is that reader with the whole file as one block. It refuses duplicate
ids, vectors of another dimension, NaN/inf and all-zero vectors, naming the file and the id.

    for block in read_embedding_blocks("exp/embeddings/vox2_dev/xvector.scp", rows=65536):
        ...  # block: an Embeddings of `rows` rows (the last may be shorter), in file order
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sveval.errors import InputError
from sveval.io.fields import Column, fixed_layout, read_columns
from sveval.types import Embeddings

SIDE_CARS = (".ids", ".txt")


def read_embeddings(path: str | os.PathLike) -> Embeddings:
    """Read and check an embedding file (see the module docstring for the formats): the whole file as
    `read_embedding_blocks` reads it in one block."""
    (block,) = read_embedding_blocks(path, rows=None)
    return block


def read_embedding_blocks(path: str | os.PathLike, rows: int | None = 65536) -> Iterator[Embeddings]:
    """Yield the file's embeddings `rows` at a time (None: all in one block), in file order, checked.

    The checks that need the whole file (duplicate ids, NaN/inf, all-zero vectors) are collected while
    reading and raised after the last block, so a consumer must read to the end before trusting what it
    summed. Memory: one block of vectors and the ids read so far; plain binary Kaldi arks are read through
    a fresh memory map per block, .npy files through one read-only map."""
    path = embedding_file(path)
    source = str(path)
    ids_seen: list[np.ndarray] = []
    bad: list[np.ndarray] = []
    zero: list[np.ndarray] = []
    n = 0
    first_dim = None
    for ids, vectors in _raw_blocks(path, rows):
        ids = np.asarray([str(x) for x in ids], dtype=object)
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or len(ids) != len(vectors):
            raise InputError(
                f"expected one vector per id, got {len(ids)} ids and an array of shape {vectors.shape}",
                source,
            )
        if not len(ids):
            continue
        if not np.issubdtype(vectors.dtype, np.floating):
            raise InputError(f"embeddings must be floating point, found {vectors.dtype}", source)
        first_dim = vectors.shape[1] if first_dim is None else first_dim
        if vectors.shape[1] != first_dim:  # kaldiio blocks are stacked per block: compare across blocks
            raise InputError(
                f"entry {ids[0]!r} has {vectors.shape[1]} dimensions, the first entry {first_dim}", source
            )
        block_bad, block_zero = bad_vectors(vectors)
        bad.append(block_bad + n)
        zero.append(block_zero + n)
        ids_seen.append(ids)
        n += len(ids)
        yield Embeddings(ids, vectors)
    if n == 0:
        raise InputError("no embeddings in the file", source)
    all_ids = np.concatenate(ids_seen)
    refuse_duplicates(all_ids, source)
    refuse_bad_vectors(all_ids, np.concatenate(bad), np.concatenate(zero), source)


def _raw_blocks(path: Path, rows: int | None):
    """(ids, vectors) blocks of `rows` entries (None: one block) as the file's format gives them."""
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy"):
        ids, vectors = _read_npz(path) if suffix == ".npz" else _read_npy(path, mmap=rows is not None)
        if rows is None:
            yield ids, vectors
            return
        for lo in range(0, len(ids), rows):
            yield ids[lo : lo + rows], np.array(vectors[lo : lo + rows])
        return
    plan = scp_plan(path) if suffix == ".scp" else None
    if plan is not None:
        step = rows or max(len(plan.keys), 1)
        for lo in range(0, len(plan.keys), step):
            hi = min(lo + step, len(plan.keys))
            yield plan.keys[lo:hi], plan.rows(lo, hi)
        return
    yield from _kaldiio_blocks(path, suffix, rows)


def embedding_file(path: str | os.PathLike) -> Path:
    """The file to read for `path`: a folder's xvector.scp, else `path`; errors if it does not exist or
    has an unknown suffix."""
    path = Path(path)
    if path.is_dir():
        if not (path / "xvector.scp").is_file():
            raise InputError(
                "folder has no xvector.scp (expected WeSpeaker's embeddings/<set>/ layout)", str(path)
            )
        path = path / "xvector.scp"
    if not path.exists():
        raise InputError("embedding file not found", str(path))
    if path.suffix.lower() not in (".npz", ".npy", ".scp", ".ark"):
        raise InputError("unknown embedding format: expected .scp, .ark, .npz, .npy or a folder", str(path))
    return path


def refuse_duplicates(ids: np.ndarray, source: str) -> None:
    dup = pd.Series(ids, dtype=object).duplicated(keep=False).to_numpy()  # (object: see speakers.speaker_map)
    if dup.any():
        first = ids[np.flatnonzero(dup)[0]]
        rows = np.flatnonzero(ids == first)
        n = len(pd.unique(ids[dup]))
        raise InputError(
            f"duplicate id {first!r} (entries {', '.join(str(i + 1) for i in rows[:5])}); "
            f"{n} id(s) appear more than once",
            source,
        )


def bad_vectors(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (indices) holding NaN/inf, and all-zero rows."""
    return np.flatnonzero(~np.isfinite(vectors).all(axis=1)), np.flatnonzero(~vectors.any(axis=1))


def refuse_bad_vectors(ids: np.ndarray, bad: np.ndarray, zero: np.ndarray, source: str) -> None:
    """bad, zero: row indices into ids (see bad_vectors), in file order."""
    if bad.size:
        raise InputError(
            f"embedding of {ids[bad[0]]!r} contains NaN or inf ({bad.size} such vector(s))", source
        )
    if zero.size:
        raise InputError(f"embedding of {ids[zero[0]]!r} is all zeros ({zero.size} such vector(s))", source)


def _read_npz(path: Path):
    _require_magic(path, b"PK", "an .npz archive (numpy.savez: a zip of .npy arrays)")
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.keys())
            if "ids" in keys and "vectors" in keys:
                return data["ids"], data["vectors"]
            if "ids" in keys or "vectors" in keys:  # half of the (ids, vectors) layout
                missing = "vectors" if "ids" in keys else "ids"
                raise InputError(
                    f".npz has an array `{'ids' if missing == 'vectors' else 'vectors'}` but no `{missing}`: "
                    "expected arrays `ids` and `vectors`, or one vector per id",
                    str(path),
                )
            if not keys:
                raise InputError("empty .npz", str(path))
            arrays = [data[k] for k in keys]
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read .npz: {' '.join(str(exc).split())}", str(path)) from exc
    except (EOFError, zipfile.BadZipFile, zlib.error) as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"cannot read .npz (truncated or damaged?): {why}", str(path)) from exc
    return keys, _stack(keys, arrays, str(path))


def _require_magic(path: Path, magic: bytes, what: str) -> None:
    """InputError unless the file starts as `what` does: numpy's own message for another file (a text
    file) is that it holds pickled data, which is not what is wrong."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(magic))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", str(path)) from exc
    if head != magic:
        raise InputError(f"not {what}", str(path))


def _read_npy(path: Path, mmap: bool = False):
    sidecar = next((path.with_suffix(s) for s in SIDE_CARS if path.with_suffix(s).is_file()), None)
    if sidecar is None:
        names = " or ".join(str(path.with_suffix(s)) for s in SIDE_CARS)
        raise InputError(f"a .npy file needs its id list beside it ({names}, one id a line)", str(path))
    _require_magic(path, b"\x93NUMPY", "a .npy array (numpy.save)")
    try:
        vectors = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read .npy: {exc}", str(path)) from exc
    ids = read_columns(sidecar, "id list", fixed_layout([Column("id")], "one id per line")).strings(0)
    if vectors.ndim != 2 or len(ids) != len(vectors):
        raise InputError(
            f"{sidecar.name} lists {len(ids)} ids but the array has shape {vectors.shape}", str(path)
        )
    return ids, vectors


_SCP_LAYOUT = fixed_layout([Column("id"), Column("id")], "`<key> <ark>:<offset>`")
_BINARY_VECTOR = {b"FV \x04": np.dtype("<f4"), b"DV \x08": np.dtype("<f8")}


@dataclass(frozen=True, eq=False)
class ScpPlan:
    """Where each entry of an scp of plain binary vectors lies: keys, ark file and byte offset of each
    entry (file order), one dtype and dimension for all. `rows(lo, hi)` copies entries lo..hi-1."""

    keys: list
    arks: np.ndarray  # ark path (str) of each entry
    offsets: np.ndarray  # int64 byte offset of each entry's binary header
    dtype: np.dtype
    dim: int

    def rows(self, lo: int, hi: int) -> np.ndarray:
        out = np.empty((hi - lo, self.dim), dtype=self.dtype)
        arks, offsets = self.arks[lo:hi], self.offsets[lo:hi]
        for ark in pd.unique(arks):
            where = np.flatnonzero(arks == ark)
            # a fresh map per call, dropped on return: the pages read leave this process's RSS with it
            data = np.memmap(ark, dtype=np.uint8, mode="r")
            width = self.dim * self.dtype.itemsize
            _copy_runs(data, offsets[where] + 10, width, self.dtype, out, where, ark)
            del data
        return out


def scp_plan(path: Path, check_rows: int = 65536) -> ScpPlan | None:
    """The ScpPlan of an scp whose entries are all plain binary float/double vectors of one dimension in
    readable arks; None otherwise (kaldiio then reads it). Headers are checked `check_rows` at a time,
    each batch through its own memory map, so that checking never maps the whole ark at once."""
    try:
        table = read_columns(path, "scp file", _SCP_LAYOUT)
    except InputError:  # (a pipe has more fields) kaldiio reads it, and words the error
        return None
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    keys = table.strings(0).tolist()
    # `<ark>:<offset>` split at its last colon by pyarrow (a Python loop took 0.35 s of 153 k Vox1 lines)
    places = pc.split_pattern(pa.array(table.strings(1), pa.string()), ":", max_splits=1, reverse=True)
    del table
    if not pc.all(pc.equal(pc.list_value_length(places), 2)).as_py():
        return None  # (no colon: not an ark offset)
    try:
        offsets = pc.cast(pc.list_element(places, 1), pa.int64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    arks = pc.list_element(places, 0).to_numpy(zero_copy_only=False).astype(object)
    kind = None
    for ark in pd.unique(arks):
        ark_path = Path(ark) if Path(ark).is_absolute() or Path(ark).exists() else path.parent / ark
        arks[arks == ark] = str(ark_path)
        where = np.flatnonzero(arks == str(ark_path))
        for lo in range(0, len(where), check_rows):
            found = _check_headers(ark_path, offsets[where[lo : lo + check_rows]])
            if found is None or (kind is not None and found != kind):
                return None
            kind = found
    return ScpPlan(keys, arks, offsets, *kind)


def _check_headers(ark_path: Path, off: np.ndarray):
    """(dtype, dim) shared by the binary vector entries at `off`, or None."""
    try:
        data = np.memmap(ark_path, dtype=np.uint8, mode="r")  # pages, not a second copy
    except (OSError, ValueError):  # missing or empty ark: kaldiio's error message names it
        return None
    if off.min() < 0 or off.max() + 10 > len(data):
        return None
    header = data[off[:, None] + np.arange(10)]
    tag = bytes(header[0, :6])
    if (header[:, :6] != header[0, :6]).any() or tag[:2] != b"\0B" or tag[2:] not in _BINARY_VECTOR:
        return None
    dtype = _BINARY_VECTOR[tag[2:]]
    dims = np.unique(header[:, 6:10].copy().view("<i4"))
    if len(dims) != 1 or off.max() + 10 + int(dims[0]) * dtype.itemsize > len(data):
        return None
    return dtype, int(dims[0])


def _copy_runs(data: np.ndarray, starts: np.ndarray, width: int, dtype, out: np.ndarray, rows, ark: str):
    """out[rows[i]] = data[starts[i] : starts[i] + width] as dtype. Entries whose keys have equal length
    sit at a constant stride in the ark: each such run is copied as one strided view."""
    order = np.argsort(starts, kind="stable")
    starts, rows = starts[order], rows[order]
    if len(starts) > 1 and np.diff(starts).min() < width:
        raise InputError("two scp entries point at overlapping bytes of this ark (a line listed twice?)", ark)
    breaks = (
        np.flatnonzero(np.diff(starts, n=2) != 0) + 2 if len(starts) > 2 else np.array([], dtype=np.int64)
    )
    bounds = [0, *(b for b in breaks.tolist()), len(starts)]
    first = 0
    for end in bounds[1:]:
        if end - first == 0:
            continue
        stride = int(starts[first + 1] - starts[first]) if end - first > 1 else width
        view = np.lib.stride_tricks.as_strided(
            data[starts[first] :], shape=(end - first, width), strides=(stride, 1), writeable=False
        )
        out[rows[first:end]] = view.view(dtype)
        first = end


def _kaldiio_blocks(path: Path, suffix: str, rows: int | None):
    """What kaldiio reads (compressed or matrix entries, pipes, text arks: anything `scp_plan` does not
    take), stacked `rows` entries at a time."""
    import kaldiio  # noqa: PLC0415

    if suffix == ".scp":
        _refuse_pipes(path)
    ids, arrays, last = [], [], None
    try:
        reader = kaldiio.load_scp_sequential(str(path)) if suffix == ".scp" else kaldiio.load_ark(str(path))
        for key, array in reader:
            ids.append(key)
            arrays.append(array)
            last = key
            if len(ids) == rows:
                yield ids, _stack(ids, arrays, str(path))
                ids, arrays = [], []
    except InputError:
        raise
    except Exception as exc:  # kaldiio raises many kinds of errors for broken files
        where = f" after entry {last!r}" if last is not None else ""
        why = " ".join(str(exc).split()) or type(exc).__name__  # (kaldiio's messages may be empty or 2 lines)
        raise InputError(f"cannot read Kaldi {suffix[1:]}{where}: {why}", str(path)) from exc
    if ids:
        yield ids, _stack(ids, arrays, str(path))


def _refuse_pipes(path: Path) -> None:
    """InputError naming the line where an scp entry is a command: kaldiio runs a location holding a `|`
    in a shell (Kaldi's `cmd |`, but also `|cmd`, `cmd |:offset`), and an embedding list is no place for
    commands (pipes in --wav-scp are refused alike). No ark path sveval or WeSpeaker writes holds one."""
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, 1):
            fields = line.split(None, 1)
            if len(fields) > 1 and b"|" in fields[1]:
                raise InputError(
                    "command pipes are not run; write the vectors to an ark file (copy-vector) and list it",
                    str(path),
                    number,
                )


def _stack(ids, arrays, source: str) -> np.ndarray:
    first = np.asarray(arrays[0])
    for key, array in zip(ids, arrays):
        if np.ndim(array) != 1:
            raise InputError(f"entry {key!r} is not a vector (shape {np.shape(array)})", source)
        if len(array) != len(first):
            raise InputError(
                f"entry {key!r} has {len(array)} dimensions, the first entry {len(first)}", source
            )
    dtype = np.result_type(*{np.asarray(a).dtype for a in arrays[:1000]})
    return np.asarray(arrays, dtype=dtype)


def read_mean_vector(path: str | os.PathLike, dim: int) -> np.ndarray:
    """A `.npy` mean vector (e.g. WeSpeaker's mean_vec.npy): `dim` finite real numbers. Anything else is an
    InputError naming the file: an .npz archive, a pickle or object array (allow_pickle=False: loading one
    could run code), strings, booleans, complex or structured values, another shape, NaN or inf. A FIFO or
    device is refused before it is opened (np.load would block on a FIFO)."""
    import stat
    import zipfile

    from sveval.errors import shown_id

    source = shown_id(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise InputError(f"cannot read the mean vector: {exc.strerror or exc}", source) from None
    if not stat.S_ISREG(mode):
        raise InputError("the mean vector is not a regular file (a FIFO, device or folder?)", source)
    try:
        with open(path, "rb") as handle:
            head = handle.read(6)
        # numpy calls any file that is not .npy, .npz or a pickle (\x80: protocol 2+) pickled data
        if not head.startswith((b"\x93NUMPY", b"PK", b"\x80")):
            raise ValueError("not a file numpy.save wrote (no .npy header)")
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        if "pickle" in why or "Object arrays" in why:  # numpy's text suggests loading it unsafely: no
            why = "it holds pickled (object) data, which is never loaded (unpickling can run code)"
        raise InputError(f"cannot read the mean vector (expected a .npy file): {why}", source) from None
    if isinstance(loaded, np.lib.npyio.NpzFile):  # np.load opens archives whatever the name
        names = ", ".join(loaded.files) or "none"
        loaded.close()
        raise InputError(
            f"is an .npz archive (arrays: {names}), expected a .npy file holding one vector", source
        )
    vector = loaded
    if vector.dtype.kind not in "fiu":  # b(ool), c(omplex), U/S (strings), V (structured), M/m (dates)
        raise InputError(f"mean vector holds {vector.dtype} values, expected real numbers", source)
    if vector.shape != (dim,):
        raise InputError(f"mean vector has shape {vector.shape}, expected ({dim},)", source)
    bad = np.flatnonzero(~np.isfinite(vector))
    if bad.size:
        raise InputError(
            f"mean vector has {bad.size} value(s) that are not finite, e.g. {vector[bad[0]]} at index "
            f"{bad[0]}",
            source,
        )
    return vector


def read_utt2spk(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(utterances, speakers) of a Kaldi utt2spk file (plain, gzip or `-` for standard input), in file
    order; duplicate utterances are errors."""
    source = str(path)
    layout = fixed_layout([Column("id"), Column("id")], "`utterance speaker`")
    table = read_columns(path, "utt2spk file", layout)
    utts, spks = table.strings(0), table.strings(1)
    dup = pd.Series(utts, dtype=object).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(f"utterance {utts[i]!r} is listed twice", source, i + 1)
    return utts, spks
