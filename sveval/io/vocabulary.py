"""Exact interning of ids given as NUL-padded byte rows: one code per distinct id, in order of first sight.

Lookups go through a 64-bit hash of the row (vectorised), and every field is then compared byte for byte
with the one row kept per code, so two ids that happen to share a hash can never share a code: such a
collision (about 1 in 10**19 per pair of ids) makes the vocabulary hash everything again with another
seed, which separates them (ids hold no NUL byte: the reader refuses one, `fields.text_lines`).
"""

from __future__ import annotations

import numpy as np  # (pandas is imported where used: 0.4 s of every `sveval metrics` start)
from numpy.lib.stride_tricks import sliding_window_view

from sveval.types import decode_id_rows

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)


class NotCompact(RuntimeError):
    """A table `lookup_rows` cannot search exactly: two of its rows with the same 64-bit hash."""


class _Collision(Exception):
    """Two different ids with one hash under the vocabulary's current seed."""


def padded_rows(ids: list[bytes]) -> np.ndarray:
    """(n, 8*m) uint8: each id's bytes, NUL padded to a common multiple of 8 bytes."""
    width = -(-max(map(len, ids), default=1) // 8) * 8
    return np.array(ids, dtype=f"S{max(width, 8)}").view(np.uint8).reshape(len(ids), -1)


def gather_rows(buf, starts, lengths, width) -> np.ndarray:
    """(n, width) uint8: field i's bytes buf[starts[i] : starts[i] + lengths[i]], NUL padded.

    Rows are copied whole out of a sliding-window view of the buffer (a memcpy per row, several times
    faster than indexing byte by byte), then the bytes past each field's end are zeroed."""
    if len(starts) and int(starts[-1]) + width > len(buf):  # starts ascend: only the last can overrun
        buf = np.concatenate([buf, np.zeros(width, dtype=np.uint8)])
    rows = sliding_window_view(buf, width)[starts]
    rows *= np.arange(width) < lengths[:, None]
    return rows


def row_hashes(rows: np.ndarray, seed: int = 0) -> np.ndarray:
    """uint64 hash of each NUL-padded row (width a multiple of 8); padding words do not change it (an id
    has no NUL byte, so a zero word is padding), so the same id hashes alike in rows of any width."""
    words = np.ascontiguousarray(rows).view(np.uint64)
    h = np.full(len(rows), seed, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            word = words[:, j]
            mixed = (h ^ word) * _MULTIPLIER
            h = np.where(word != 0, mixed ^ (mixed >> np.uint64(31)), h)
        h = (h ^ (h >> np.uint64(30))) * _MIX
    return h ^ (h >> np.uint64(27))


def lookup_rows(table: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """int64 (len(queries),): the row of `table` holding the same id as each row of `queries`, -1 where
    none does. Both are NUL-padded id rows (`Vocabulary.table`, `PairCodes.id_bytes`; widths may differ).

    Exact, with no Python strings: hashes are matched by a sorted search and each match is then compared
    byte for byte. Distinct ids of one table never share a hash (a Vocabulary refuses that), so a query
    whose bytes differ from the one row of its hash is in no row. Raises NotCompact when `table` holds two
    rows with one hash (not a Vocabulary's table)."""
    table_hashes = row_hashes(table)
    order = np.argsort(table_hashes)
    sorted_hashes = table_hashes[order]
    if len(sorted_hashes) > 1 and (sorted_hashes[1:] == sorted_hashes[:-1]).any():
        raise NotCompact("two rows of the table share a 64-bit hash")
    found = np.full(len(queries), -1, dtype=np.int64)
    if not len(table) or not len(queries):
        return found
    query_hashes = row_hashes(queries)
    asked = np.argsort(query_hashes)  # sorted queries walk the table in order: 4x faster than at random
    at = np.empty(len(queries), dtype=np.int64)
    at[asked] = np.searchsorted(sorted_hashes, query_hashes[asked])
    np.minimum(at, len(table) - 1, out=at)
    hit = np.flatnonzero(sorted_hashes[at] == query_hashes)
    rows = order[at[hit]]
    width = min(table.shape[1], queries.shape[1])  # beyond it, the wider side must be padding
    same = (table[rows, :width] == queries[hit, :width]).all(axis=1)
    same &= ~table[rows, width:].any(axis=1) & ~queries[hit, width:].any(axis=1)
    found[hit[same]] = rows[same]
    return found


class Vocabulary:
    """Distinct ids seen so far. `encode` gives int32 codes; `table` and `strings` give the ids back."""

    def __init__(self) -> None:
        self._hashes = np.zeros(0, dtype=np.uint64)  # sorted, with the code of each
        self._codes = np.zeros(0, dtype=np.int64)
        self._table = np.zeros((0, 8), dtype=np.uint8)
        self._n = 0
        self._seed = 0

    def __len__(self) -> int:
        return self._n

    @property
    def table(self) -> np.ndarray:
        """(len, width) uint8: the UTF-8 bytes of each id, NUL padded (row = code)."""
        return self._table[: self._n]

    def strings(self) -> np.ndarray:
        """Object array of str, one per code."""
        return decode_id_rows(self.table)

    def encode(self, rows: np.ndarray) -> np.ndarray:
        """int32 code of each row (n, 8*m) uint8 (ids without NUL bytes), adding new ids."""
        while True:
            try:
                return self._encode(rows)
            except _Collision:  # (never seen: about 1 in 10**19 per pair of ids) another seed separates them
                self._seed += 1
                self._hashes = row_hashes(self.table, self._seed)
                order = np.argsort(self._hashes)
                self._hashes, self._codes = self._hashes[order], order.astype(np.int64)

    def _encode(self, rows: np.ndarray) -> np.ndarray:
        import pandas as pd

        if not len(rows):
            return np.zeros(0, dtype=np.int32)
        hashes = row_hashes(rows, self._seed)
        local, uniques = pd.factorize(hashes)
        first = np.zeros(len(uniques), dtype=np.int64)
        first[local[::-1]] = np.arange(len(local))[::-1]  # first line of each distinct hash
        representatives = rows[first]
        words = rows.view(np.uint64)
        if not (words == words[first][local]).all():
            raise _Collision
        codes = self._lookup(uniques)
        known = np.flatnonzero(codes >= 0)
        self._check(representatives[known], codes[known])
        new = np.flatnonzero(codes < 0)
        if new.size:
            codes[new] = self._append(representatives[new], uniques[new])
        return codes[local].astype(np.int32)

    def _append(self, rows: np.ndarray, hashes: np.ndarray) -> np.ndarray:
        n, width = len(rows), max(rows.shape[1], self._table.shape[1])
        if self._n + n > len(self._table) or width > self._table.shape[1]:
            grown = np.zeros((max(2 * len(self._table), self._n + n, 1024), width), dtype=np.uint8)
            grown[: self._n, : self._table.shape[1]] = self.table
            self._table = grown
        self._table[self._n : self._n + n, : rows.shape[1]] = rows
        codes = np.arange(self._n, self._n + n)
        order = np.argsort(hashes)
        at = np.searchsorted(self._hashes, hashes[order])
        self._hashes = np.insert(self._hashes, at, hashes[order])
        self._codes = np.insert(self._codes, at, codes[order])
        self._n += n
        return codes

    def _lookup(self, hashes: np.ndarray) -> np.ndarray:
        """The code of each hash, -1 for hashes not seen yet."""
        if not len(self._hashes):
            return np.full(len(hashes), -1, dtype=np.int64)
        order = np.argsort(hashes)  # sorted queries walk the table in order (cache friendly)
        at = np.minimum(np.searchsorted(self._hashes, hashes[order]), len(self._hashes) - 1)
        codes = np.empty(len(hashes), dtype=np.int64)
        codes[order] = np.where(self._hashes[at] == hashes[order], self._codes[at], -1)
        return codes

    def _check(self, rows: np.ndarray, codes: np.ndarray) -> None:
        """Raise _Collision unless each row holds the bytes of the id its hash found."""
        width = rows.shape[1]
        kept = self._table[codes].view(np.uint64)
        words = np.ascontiguousarray(rows).view(np.uint64)
        if kept.shape[1] < words.shape[1]:  # a wider row than any id kept: its extra words must be padding
            if words[:, kept.shape[1] :].any():
                raise _Collision
            words = words[:, : kept.shape[1]]
        same = (kept[:, : width // 8] == words).all() and not kept[:, width // 8 :].any()
        if not same:
            raise _Collision
