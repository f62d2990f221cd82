"""A cohort reduced to what scoring needs while it streams: per-speaker sums and counts, and the sum of
all utterance embeddings (for the cohort mean vector). Memory: (speakers + 1) x dim sums, whatever the
number of utterances; the utterance embeddings themselves are never held together.

Bit for bit what `sveval.scoring.cosine.mean_vector` and `sveval.scoring.cosine.speaker_means` give on the
whole
cohort, provided the rows arrive in file order (they may come in blocks of any size; they are regrouped
into the `chunk`-row blocks those functions sum):
    exact       the mean vector is the float64 sum of the rows, row after row (what ndarray.mean(axis=0,
                dtype=float64) does for rows of two or more dimensions), over the count;
                speaker sums: float64, per `chunk` rows a reduceat of the block's rows grouped by speaker
                (stable), added to the running sums
    wespeaker   float32 running sums in file order, for the mean vector and for each speaker (WeSpeaker's
                `mean_vec += vec` and tools/vector_mean.py), over the float32 count
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

CHUNK = 65536  # rows per block of the exact speaker sums (sveval.scoring.cosine.speaker_means's default)


@dataclass(frozen=True, eq=False)
class CohortSums:
    """speakers: names in order of first appearance; counts: utterances per speaker (int64);
    speaker_sums: (n_speakers, dim) sums of their raw embeddings; total: (dim,) sum of all rows.
    float64 sums for compat 'exact', float32 for 'wespeaker'."""

    name: str
    compat: str
    n_utterances: int
    speakers: np.ndarray
    counts: np.ndarray
    speaker_sums: np.ndarray
    total: np.ndarray

    @property
    def n_speakers(self) -> int:
        return len(self.speakers)

    @property
    def dim(self) -> int:
        return self.speaker_sums.shape[1]

    def mean_vector(self) -> np.ndarray:
        """Mean of all utterance embeddings (float64, or float32 in wespeaker mode)."""
        if self.compat == "exact":
            return self.total / self.n_utterances
        return self.total / np.float32(self.n_utterances)

    def speaker_means(self) -> np.ndarray:
        """(n_speakers, dim) mean raw embedding of each speaker, rows in `speakers` order."""
        if self.compat == "exact":
            return self.speaker_sums / self.counts[:, None]
        return self.speaker_sums / self.counts[:, None].astype(np.float32)


def sum_cohort(
    blocks: Iterable[tuple[np.ndarray, np.ndarray]], name: str, compat: str, chunk: int = CHUNK
) -> CohortSums:
    """CohortSums of (vectors (n, d), speakers (n,)) blocks in file order (see the module docstring).

    Raises ValueError for an empty cohort or blocks of different dimensions."""
    if compat not in ("exact", "wespeaker"):
        raise ValueError(f"compat must be exact or wespeaker, got {compat!r}")
    dtype = np.float64 if compat == "exact" else np.float32
    code_of: dict = {}
    sums = counts = total = None
    n = 0
    for vectors, speakers in _regroup(blocks, chunk):
        vectors = np.asarray(vectors, dtype=dtype)
        if total is None:
            total = np.zeros(vectors.shape[1], dtype=dtype)
            sums, counts = np.zeros((0, vectors.shape[1]), dtype=dtype), np.zeros(0, dtype=np.int64)
        elif vectors.shape[1] != len(total):
            raise ValueError(f"cohort blocks of {len(total)} and {vectors.shape[1]} dimensions")
        codes = _codes(speakers, code_of)
        if len(code_of) > len(counts):
            grow = len(code_of) - len(counts)
            sums = np.vstack([sums, np.zeros((grow, sums.shape[1]), dtype=dtype)])
            counts = np.concatenate([counts, np.zeros(grow, dtype=np.int64)])
        # row after row, carried over from the previous block (add.reduce along axis 0 of a C array
        # adds the rows in order; the same summation as ndarray.mean / WeSpeaker's loop)
        total = np.add.reduce(np.vstack([total[None], vectors]), axis=0, dtype=dtype)
        if compat == "exact":
            order = np.argsort(codes, kind="stable")
            present, first = np.unique(codes[order], return_index=True)
            sums[present] += np.add.reduceat(vectors[order], first, axis=0)
            np.add.at(counts, codes, 1)
        else:
            _running_sums(vectors, codes, sums, counts)
        n += len(vectors)
    if total is None:
        raise ValueError("a cohort of no utterances")
    speakers = np.empty(len(code_of), dtype=object)
    speakers[:] = list(code_of)
    return CohortSums(name, compat, n, speakers, counts, sums, total)


def _codes(speakers, code_of: dict) -> np.ndarray:
    """Codes of the block's speakers; new speakers get the next codes in order of first appearance."""
    local, uniques = pd.factorize(np.asarray(speakers, dtype=object))
    for speaker in uniques:
        code_of.setdefault(speaker, len(code_of))
    return np.array([code_of[s] for s in uniques], dtype=np.int64)[local]


def _running_sums(vectors, codes, sums, counts) -> None:
    """sums[c] += row for every row in order, in float32; a speaker's first row is copied, not added."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    occurrence = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    for k in range(int(occurrence.max()) + 1):
        at = order[occurrence == k]  # rows that are the k-th of their speaker in this block
        c = codes[at]
        rows = vectors[at]
        fresh = counts[c] == 0
        sums[c] = np.where(fresh[:, None], rows, sums[c] + rows)
        counts[c] += 1


def _regroup(blocks, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The rows of `blocks` again, in blocks of exactly `chunk` rows (the last may be shorter)."""
    held_v: list = []
    held_s: list = []
    size = 0
    for vectors, speakers in blocks:
        if len(vectors) == chunk and not held_v:
            yield vectors, speakers
            continue
        held_v.append(vectors)
        held_s.append(np.asarray(speakers, dtype=object))
        size += len(vectors)
        while size >= chunk:
            v, s = np.concatenate(held_v), np.concatenate(held_s)
            yield v[:chunk], s[:chunk]
            held_v, held_s, size = [v[chunk:]], [s[chunk:]], size - chunk
    if size:
        yield np.concatenate(held_v), np.concatenate(held_s)


def cohort_blocks(vectors: np.ndarray, speakers: np.ndarray, chunk: int = CHUNK):
    """(vectors, speakers) of an in-memory cohort, `chunk` rows at a time (for sum_cohort)."""
    for lo in range(0, len(vectors), chunk):
        yield vectors[lo : lo + chunk], speakers[lo : lo + chunk]
