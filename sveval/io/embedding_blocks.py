"""Embedding files read a block of rows at a time (for cohorts too large to hold whole).

    for block in read_embedding_blocks("exp/embeddings/vox2_dev/xvector.scp", rows=65536):
        ...  # block: an Embeddings of `rows` rows (the last may be shorter), in file order

Same formats and the same checks, with the same messages, as `sveval.io.embeddings.read_embeddings`
(duplicate ids, NaN/inf, all-zero vectors, mixed dimensions): they are collected while reading and raised
after the last block, so a consumer must read to the end before trusting what it summed. Memory: one
block of vectors and the ids read so far (kept for the duplicate check); plain binary Kaldi arks are read
through a fresh memory map per block, .npy files through one read-only map.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from sveval.errors import InputError
from sveval.io import embeddings as whole
from sveval.types import Embeddings


def read_embedding_blocks(path: str | os.PathLike, rows: int = 65536) -> Iterator[Embeddings]:
    """Yield the file's embeddings `rows` at a time (see the module docstring); InputError as
    read_embeddings raises, the whole-file checks after the last block."""
    path = whole.embedding_file(path)
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
        if not np.issubdtype(vectors.dtype, np.floating):
            raise InputError(f"embeddings must be floating point, found {vectors.dtype}", source)
        first_dim = vectors.shape[1] if first_dim is None else first_dim
        if vectors.shape[1] != first_dim:  # kaldiio blocks are stacked per block: compare across blocks
            raise InputError(
                f"entry {ids[0]!r} has {vectors.shape[1]} dimensions, the first entry {first_dim}", source
            )
        block_bad, block_zero = whole.bad_vectors(vectors)
        bad.append(block_bad + n)
        zero.append(block_zero + n)
        ids_seen.append(ids)
        n += len(ids)
        yield Embeddings(ids, vectors)
    if n == 0:
        raise InputError("no embeddings in the file", source)
    all_ids = np.concatenate(ids_seen)
    whole.refuse_duplicates(all_ids, source)
    whole.refuse_bad_vectors(all_ids, np.concatenate(bad), np.concatenate(zero), source)


def _raw_blocks(path, rows: int):
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy"):
        ids, vectors = whole._read_npz(path) if suffix == ".npz" else whole._read_npy(path, mmap=True)
        for lo in range(0, len(ids), rows):
            yield ids[lo : lo + rows], np.array(vectors[lo : lo + rows])
        return
    plan = whole.scp_plan(path) if suffix == ".scp" else None
    if plan is not None:
        for lo in range(0, len(plan.keys), rows):
            hi = min(lo + rows, len(plan.keys))
            yield plan.keys[lo:hi], plan.rows(lo, hi)
        return
    yield from _kaldiio_blocks(path, suffix, rows)


def _kaldiio_blocks(path, suffix: str, rows: int):
    import kaldiio  # noqa: PLC0415

    ids, arrays, last = [], [], None
    try:
        reader = kaldiio.load_scp_sequential(str(path)) if suffix == ".scp" else kaldiio.load_ark(str(path))
        for key, array in reader:
            ids.append(key)
            arrays.append(array)
            last = key
            if len(ids) == rows:
                yield ids, whole._stack(ids, arrays, str(path))
                ids, arrays = [], []
    except InputError:
        raise
    except Exception as exc:  # kaldiio raises many kinds of errors for broken files
        where = f" after entry {last!r}" if last is not None else ""
        raise InputError(f"cannot read Kaldi {suffix[1:]}{where}: {exc}", str(path)) from exc
    if ids:
        yield ids, whole._stack(ids, arrays, str(path))
