"""Utterance embeddings from Kaldi scp/ark, .npz or .npy (+ id list), and utt2spk files.

    xvector.scp / .ark   Kaldi vectors (kaldiio), in file order
    .npz                 one array per id, or arrays `ids` and `vectors`
    .npy                 an (n, d) array with a sidecar id list (`<name>.ids` or `<name>.txt`, one id a line)
    a folder             holding xvector.scp (WeSpeaker's embeddings/<set>/ layout)

Every reader refuses duplicate ids, vectors of another dimension, NaN/inf and all-zero vectors, naming
the file and the id.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from sveval.errors import InputError
from sveval.io.atomic import read_text
from sveval.io.table import column, require_width, row_widths, split_rows
from sveval.types import Embeddings

SIDE_CARS = (".ids", ".txt")


def read_embeddings(path: str | os.PathLike) -> Embeddings:
    """Read and check an embedding file (see the module docstring for the formats)."""
    path = Path(path)
    if path.is_dir():
        if not (path / "xvector.scp").is_file():
            raise InputError(
                "folder has no xvector.scp (expected WeSpeaker's embeddings/<set>/ layout)", str(path)
            )
        path = path / "xvector.scp"
    if not path.exists():
        raise InputError("embedding file not found", str(path))
    suffix = path.suffix.lower()
    if suffix == ".npz":
        ids, vectors = _read_npz(path)
    elif suffix == ".npy":
        ids, vectors = _read_npy(path)
    elif suffix in (".scp", ".ark"):
        ids, vectors = _read_kaldi(path, suffix)
    else:
        raise InputError("unknown embedding format: expected .scp, .ark, .npz, .npy or a folder", str(path))
    return check_embeddings(ids, vectors, str(path))


def check_embeddings(ids, vectors: np.ndarray, source: str) -> Embeddings:
    ids = np.asarray([str(x) for x in ids], dtype=object)
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(ids) != len(vectors):
        raise InputError(
            f"expected one vector per id, got {len(ids)} ids and an array of shape {vectors.shape}", source
        )
    if len(ids) == 0:
        raise InputError("no embeddings in the file", source)
    if not np.issubdtype(vectors.dtype, np.floating):
        raise InputError(f"embeddings must be floating point, found {vectors.dtype}", source)
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids[np.flatnonzero(dup)[0]]
        rows = np.flatnonzero(ids == first)
        n = len(pd.unique(ids[dup]))
        raise InputError(
            f"duplicate id {first!r} (entries {', '.join(str(i + 1) for i in rows[:5])}); "
            f"{n} id(s) appear more than once",
            source,
        )
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad.size:
        raise InputError(
            f"embedding of {ids[bad[0]]!r} contains NaN or inf ({bad.size} such vector(s))", source
        )
    zero = np.flatnonzero(~vectors.any(axis=1))
    if zero.size:
        raise InputError(f"embedding of {ids[zero[0]]!r} is all zeros ({zero.size} such vector(s))", source)
    return Embeddings(ids, vectors)


def _read_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.keys())
            if "ids" in keys and "vectors" in keys:
                return data["ids"], data["vectors"]
            if not keys:
                raise InputError("empty .npz", str(path))
            arrays = [data[k] for k in keys]
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read .npz: {exc}", str(path)) from exc
    return keys, _stack(keys, arrays, str(path))


def _read_npy(path: Path):
    sidecar = next((path.with_suffix(s) for s in SIDE_CARS if path.with_suffix(s).is_file()), None)
    if sidecar is None:
        names = " or ".join(str(path.with_suffix(s)) for s in SIDE_CARS)
        raise InputError(f"a .npy file needs its id list beside it ({names}, one id a line)", str(path))
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read .npy: {exc}", str(path)) from exc
    rows = split_rows(read_text(sidecar, "id list"), str(sidecar), "id list")
    require_width(rows, row_widths(rows), 1, str(sidecar), "one id per line")
    ids = column(rows, 0)
    if vectors.ndim != 2 or len(ids) != len(vectors):
        raise InputError(
            f"{sidecar.name} lists {len(ids)} ids but the array has shape {vectors.shape}", str(path)
        )
    return ids, vectors


def _read_kaldi(path: Path, suffix: str):
    import kaldiio  # noqa: PLC0415

    ids, arrays = [], []
    try:
        reader = kaldiio.load_scp_sequential(str(path)) if suffix == ".scp" else kaldiio.load_ark(str(path))
        for key, array in reader:
            ids.append(key)
            arrays.append(array)
    except InputError:
        raise
    except Exception as exc:  # kaldiio raises many kinds of errors for broken files
        where = f" after entry {ids[-1]!r}" if ids else ""
        raise InputError(f"cannot read Kaldi {suffix[1:]}{where}: {exc}", str(path)) from exc
    if not ids:
        raise InputError("no embeddings in the file", str(path))
    return ids, _stack(ids, arrays, str(path))


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


def read_utt2spk(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(utterances, speakers) of a Kaldi utt2spk file, in file order; duplicate utterances are errors."""
    source = str(path)
    rows = split_rows(read_text(path, "utt2spk file"), source, "utt2spk file")
    require_width(rows, row_widths(rows), 2, source, "`utterance speaker`")
    utts, spks = column(rows, 0), column(rows, 1)
    dup = pd.Series(utts).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(f"utterance {utts[i]!r} is listed twice", source, i + 1)
    return utts, spks


def speakers_from_utt2spk(ids: np.ndarray, utts: np.ndarray, spks: np.ndarray, source: str) -> np.ndarray:
    """Speaker of every id; an id missing from utt2spk is an error."""
    where = pd.Index(utts).get_indexer(ids)
    missing = np.flatnonzero(where < 0)
    if missing.size:
        raise InputError(
            f"{missing.size:,} cohort utterance(s) are not in the utt2spk file, e.g. "
            + ", ".join(str(ids[i]) for i in missing[:3]),
            source,
        )
    return spks[where]


def speakers_from_ids(ids: np.ndarray, source: str) -> np.ndarray:
    """The first path component of each id (`id00012/21Uxsk56VDQ/00001.wav` -> `id00012`)."""
    parts = pd.Series(ids, dtype=object).str.split("/", n=1)
    flat = parts.str.len().to_numpy() < 2
    if flat.any():
        raise InputError(
            f"cannot tell the speaker of {ids[np.flatnonzero(flat)[0]]!r} (no '/' in the id; "
            f"{flat.sum():,} such id(s)): pass --cohort-utt2spk",
            source,
        )
    return parts.str[0].to_numpy(dtype=object)
