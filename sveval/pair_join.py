"""Joining the (enroll, test) pairs of a score file to a trial list, in memory bounded by design.

Pairs arrive as int64 keys, equal exactly for equal pairs (see `sveval.io.trials.pair_keys`). The list's
keys are sorted once, with the line of each; the file's keys are looked up in slices of `CHUNK` lines, each
sorted first, so that the binary searches walk the sorted list in order instead of jumping at random (a
random probe order is about ten times slower on 60 M trials). Memory is 12 bytes per list trial (sorted
keys, int32 lines), one bool per list trial (which were scored), the result (4 or 8 bytes per file line)
and about 40 bytes per line of one slice: no hash table (a pandas Index of 60 M keys holds about 2 GB).

Sorting uses numpy's vectorised sort on keys packed with their positions (key << bits | position) when the
keys leave room for that, which orders equal keys by position for free and is several times faster than
an argsort; else a stable argsort.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

CHUNK = 1 << 22  # file lines looked up at a time: bounds the slice's temporaries to about 160 MB


@dataclass(frozen=True, eq=False)
class SortedPairs:
    """A trial list's pair keys in ascending order (int64, (n,)) and the 0-based list line of each
    (int32 when the list has fewer than 2**31 lines, else int64); equal keys keep list order."""

    keys: np.ndarray
    lines: np.ndarray


@dataclass(frozen=True, eq=False)
class Join:
    """index: per file line, the list line of its pair, or -1 (dtype of `SortedPairs.lines`); a pair the
    list holds more than once finds its first line. missing: list lines no file line found, ascending.
    twice: list lines found by more than one file line, ascending."""

    index: np.ndarray
    missing: np.ndarray
    twice: np.ndarray


def line_dtype(n: int) -> type:
    return np.int32 if n < 2**31 else np.int64


def sort_with_lines(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(`keys` ascending, the position of each before the sort); equal keys keep their original order.

    keys: int64 (n,); consumed: its buffer may be reused for the sorted keys. Positions have
    `line_dtype(n)`.
    """
    n = len(keys)
    bits = max((n - 1).bit_length(), 1)
    if n and keys.min() >= 0 and int(keys.max()) < 1 << (63 - bits):
        for start in range(0, n, CHUNK):  # key << bits | position, in place and slice by slice
            part = keys[start : start + CHUNK]
            np.left_shift(part, bits, out=part)
            part |= np.arange(start, start + len(part), dtype=np.int64)
        keys.sort()
        positions = np.empty(n, dtype=line_dtype(n))
        mask = (1 << bits) - 1
        for start in range(0, n, CHUNK):
            part = keys[start : start + CHUNK]
            np.bitwise_and(part, mask, out=positions[start : start + CHUNK], casting="unsafe")
            np.right_shift(part, bits, out=part)
        return keys, positions
    order = np.argsort(keys, kind="stable")
    return keys[order], order.astype(line_dtype(n), copy=False)


def sort_pairs(keys: np.ndarray) -> SortedPairs:
    """The list side of a join, from its keys (int64 (n,), >= 0; consumed)."""
    return SortedPairs(*sort_with_lines(keys))


def look_up(table: SortedPairs, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each key (int64 (m,), any order; consumed), the list line holding it or -1.

    Returns (lines per key, the list lines found in sorted key order, whether each found line repeats the
    key before it in that order), the last two for counting how often each trial was scored.
    """
    found_lines = np.full(len(keys), -1, dtype=table.lines.dtype)
    if not len(table.keys) or not len(keys):
        empty = np.zeros(0, dtype=table.lines.dtype)
        return found_lines, empty, np.zeros(0, dtype=bool)
    sorted_keys, order = sort_with_lines(keys)
    position = np.searchsorted(table.keys, sorted_keys)
    np.minimum(position, len(table.keys) - 1, out=position)
    hit = table.keys[position] == sorted_keys
    lines = table.lines[position[hit]]
    found_lines[order[hit]] = lines
    hit_keys = sorted_keys[hit]
    repeats = np.zeros(len(hit_keys), dtype=bool)
    np.equal(hit_keys[1:], hit_keys[:-1], out=repeats[1:])
    return found_lines, lines, repeats


def join(table: SortedPairs, key_chunks: Iterable[np.ndarray], n_lines: int) -> Join:
    """Look up every file line's key (given as consecutive slices totalling `n_lines`) in the list."""
    index = np.empty(n_lines, dtype=table.lines.dtype)
    scored = np.zeros(len(table.keys), dtype=bool)
    twice = []
    start = 0
    for keys in key_chunks:
        found, lines, repeats = look_up(table, keys)
        index[start : start + len(found)] = found
        start += len(found)
        again = scored[lines] | repeats
        if again.any():
            twice.append(lines[again])
        scored[lines] = True
    if start != n_lines:
        raise ValueError(f"key slices hold {start} keys, expected {n_lines}")
    missing = np.flatnonzero(~scored)
    twice_lines = np.unique(np.concatenate(twice)) if twice else np.zeros(0, dtype=np.int64)
    return Join(index, missing, twice_lines)
