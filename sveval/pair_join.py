"""The one join of (enroll, test) pairs: the lines of a file against those of a list (a trial list, or the
first system's score file for fusion), in memory bounded by design. Every command that matches pairs
(metrics, det, ape, report, validate, compare, calibrate, fuse) goes through `join`, whose `Join` says
everything they report: for each file line its list line or none, list lines not found, pairs found too
often and the lines holding them, labels that disagree.

Pairs are compared as int64 keys, equal exactly for equal pairs: over the list's id codes when both sides
were read with codes (the file's ids mapped into the list's table), else over factorized id strings. A file
in the list's own order (what WeSpeaker writes) is recognised slice by slice, without a sort. Otherwise the
list's keys are sorted once, with the line of each; the file's keys are looked up in slices of `CHUNK`
lines, each sorted first, so that the binary searches walk the sorted list in order instead of jumping at
random (a random probe order is about ten times slower on 60 M trials). Memory is 12 bytes per list trial
(sorted keys, int32 lines), one bool per list trial (which were found), the result (4 or 8 bytes per file
line) and about 40 bytes per line of one slice: no hash table (a pandas Index of 60 M keys holds about 2 GB).

A list may repeat a pair (WeSpeaker's calibration lists do). The file is then matched to it as a multiset:
the k-th file line with a pair finds the list's k-th line with it, so that a file in list order and the
same file shuffled get one answer, and "holds the list's trials" means each pair as often as listed.

Sorting uses numpy's vectorised sort on keys packed with their positions (key << bits | position) when the
keys leave room for that, which orders equal keys by position for free and is several times faster than
an argsort; else a stable argsort.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np  # (pandas is imported where used: 0.4 s of every `sveval metrics` start)

from sveval.errors import InputError, shown_id
from sveval.io.vocabulary import NotCompact, lookup_rows
from sveval.types import PairCodes, ScoreFile, TrialList

CHUNK = 1 << 22  # file lines looked up at a time: bounds the slice's temporaries to about 160 MB

Side = ScoreFile | TrialList  # either side of a join: what is matched, and what it is matched against
# what the key join finds: Join's index, missing, duplicated and duplicate_lines
Found = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class Join:
    """How the (enroll, test) pairs of a file meet a list; lines are 0-based, the arrays of lines ascending.

    index: per file line, the list line of its pair, or -1 for a pair the list does not hold (int32 when
        the list has fewer than 2**31 lines, else int64). Of the file lines with a pair the list holds c
        times, the k-th finds the list's k-th line with it, those after the c-th its c-th line.
    extra_lines: file lines whose pair is not in the list.
    missing: list lines no file line found (of a repeated pair: those beyond the file's count of it).
    duplicated: list lines (the first of each pair) whose pair the file holds more often than the list.
    duplicate_lines: every file line holding one of those pairs.
    label_lines: file lines whose label disagrees with the list's (checked on every line that found its
        list line, only when both sides carry labels).
    """

    index: np.ndarray
    extra_lines: np.ndarray
    missing: np.ndarray
    duplicated: np.ndarray
    duplicate_lines: np.ndarray
    label_lines: np.ndarray

    @property
    def complete(self) -> bool:
        """The file holds the list's pairs, each as often as listed, and nothing else."""
        return not (self.extra_lines.size or self.missing.size or self.duplicated.size)

    def in_list_order(self, values: np.ndarray) -> np.ndarray:
        """`values` (one per file line) rearranged into the list's order; for a complete join only."""
        out = np.empty_like(values)
        out[self.index] = values
        return out


@dataclass(frozen=True, eq=False)
class SortedPairs:
    """A list's pair keys in ascending order (int64, (n,)) and the 0-based list line of each
    (`line_dtype(n)`); equal keys keep list order."""

    keys: np.ndarray
    lines: np.ndarray


def join(file: Side, listed: Side) -> Join:
    """Match the pairs of `file` to those of `listed`. Pure: never raises on a mismatch (`match_trials`
    does)."""
    n_file, n_list = len(file), len(listed)
    file_keys, list_keys = _key_chunks(file, listed)
    if n_file == n_list and all(np.array_equal(a, b) for a, b in zip(file_keys(), list_keys())):
        index = np.arange(n_file, dtype=line_dtype(n_list))
        none = np.zeros(0, dtype=np.int64)
        return Join(index, none, none, none, none, _label_lines(file, listed, index))
    keys = np.empty(n_list, dtype=np.int64)
    for start, part in zip(range(0, n_list, CHUNK), list_keys()):
        keys[start : start + len(part)] = part
    table = sort_pairs(keys)
    del keys  # (sorted in place into the table, or copied by the argsort: either way not kept twice)
    index, missing, duplicated, duplicate_lines = join_keys(table, file_keys(), n_file)
    del table  # 12 bytes a trial, let go before the label check
    extra = np.flatnonzero(index < 0)
    return Join(index, extra, missing, duplicated, duplicate_lines, _label_lines(file, listed, index))


def match_trials(scores: ScoreFile, trials: TrialList) -> Join:
    """The join of a score file with a trial list it must cover exactly: every trial scored exactly once and
    nothing else scored; labels in the score file, if any, must agree with the list. Errors say how many
    trials are missing/extra/duplicated and show a few. `join` gives the same facts without raising.
    """
    joined = join(scores, trials)
    problem = coverage_problem(joined, scores, trials)
    if problem:
        raise InputError(problem, scores.path)
    wrong = label_problem(joined, scores, trials)
    if wrong:
        raise InputError(wrong, scores.path, int(joined.label_lines[0]) + 1)
    return joined


def labels_from_list(scores: ScoreFile, trials: TrialList) -> np.ndarray:
    """Target labels of a score file's lines, from the list: the file must cover it exactly and labels it
    carries must agree (`match_trials`). What every command that reads score files against a list (metrics,
    det, ape, report, calibrate, fuse) labels them by."""
    if not trials.labelled:
        raise InputError("trial list has no labels; metrics need target/nontarget labels", trials.source)
    return trials.is_target[match_trials(scores, trials).index]


def coverage_problem(joined: Join, scores: ScoreFile, trials: TrialList) -> str | None:
    """What keeps the file from covering the list exactly, or None: one clause per kind of problem (extra,
    missing, duplicated pairs), with counts and a few examples."""
    problems = []
    if joined.extra_lines.size:
        shown = _pairs(scores, joined.extra_lines)
        problems.append(f"{joined.extra_lines.size:,} scored pair(s) not in {trials.name}, e.g. {shown}")
    if joined.missing.size:
        shown = "; ".join(_shown_pair(trials, i) for i in joined.missing[:3])
        problems.append(f"{joined.missing.size:,} trial(s) of {trials.name} not scored, e.g. {shown}")
    if joined.duplicated.size:
        shown = _pairs(scores, joined.duplicate_lines)
        problems.append(f"{joined.duplicated.size:,} trial(s) scored more than once, e.g. {shown}")
    return "does not match the trial list: " + "; ".join(problems) if problems else None


def label_problem(joined: Join, scores: ScoreFile, trials: TrialList) -> str | None:
    if not joined.label_lines.size:
        return None
    shown = _pairs(scores, joined.label_lines)
    return f"{joined.label_lines.size:,} label(s) disagree with {trials.name}, e.g. {shown}"


def trial_keys(enroll: np.ndarray, test: np.ndarray) -> np.ndarray:
    """One int64 key per (enroll, test) pair of id strings, equal keys exactly for equal pairs within one
    call."""
    import pandas as pd

    codes, uniques = pd.factorize(np.concatenate([enroll, test]))
    n = len(enroll)
    return codes[:n].astype(np.int64) * len(uniques) + codes[n:]


def pair_keys(pairs: PairCodes, lines: slice = slice(None)) -> np.ndarray:
    """One int64 key per (enroll, test) pair of `lines` (default all): equal keys exactly for equal pairs,
    in [0, distinct ids ** 2)."""
    return pairs.enroll[lines].astype(np.int64) * len(pairs.id_bytes) + pairs.test[lines]


def _key_chunks(file: Side, listed: Side) -> tuple[Callable[[], Iterator], Callable[[], Iterator]]:
    """Two functions giving the int64 pair keys of the file and of the list in `CHUNK`-line slices (fresh
    arrays: the join consumes them): equal keys exactly for equal pairs. Over the list's id codes when both
    sides have codes (a file id the list lacks gets a key no list pair has), else over the factorized id
    strings of both."""
    fp, lp = file.pairs, listed.pairs
    if fp is not None and lp is not None:
        width = len(lp.id_bytes)
        try:  # by hashes and bytes: a hash table of Python strings took 15 s for 8.6 M distinct ids
            remap = lookup_rows(lp.id_bytes, fp.id_bytes)
        except NotCompact:
            import pandas as pd

            remap = pd.Index(lp.ids).get_indexer(fp.ids).astype(np.int64)
        absent = width * width  # above every list key

        def file_keys():
            for start in range(0, len(fp.enroll), CHUNK):
                enroll, test = remap[fp.enroll[start : start + CHUNK]], remap[fp.test[start : start + CHUNK]]
                keys = enroll * width + test
                keys[(enroll < 0) | (test < 0)] = absent
                yield keys

        def list_keys():
            for start in range(0, len(lp.enroll), CHUNK):
                yield pair_keys(lp, slice(start, start + CHUNK))

        return file_keys, list_keys
    n_file = len(file)
    keys = trial_keys(
        np.concatenate([_ids(file, "enroll"), _ids(listed, "enroll")]),
        np.concatenate([_ids(file, "test"), _ids(listed, "test")]),
    )
    return (
        lambda: (keys[s : min(s + CHUNK, n_file)].copy() for s in range(0, n_file, CHUNK)),
        lambda: (keys[s : s + CHUNK].copy() for s in range(n_file, len(keys), CHUNK)),
    )


def _ids(side: Side, which: str) -> np.ndarray:
    """The enroll or test ids of a side as str, from its codes when it was read without strings."""
    ids = getattr(side, which)
    if ids is None:
        ids = side.pairs.ids.take(getattr(side.pairs, which))
    return ids


def _shown_pair(side: Side, line: int) -> str:
    return f"{shown_id(_id(side, 'enroll', line))} {shown_id(_id(side, 'test', line))}"


def _id(side: Side, which: str, line: int) -> str:
    """One id of one line, decoding nothing else (a read list's `enroll` decodes every line anew)."""
    stored = getattr(side, which if isinstance(side, ScoreFile) else f"{which}_ids")
    return stored[line] if stored is not None else side.pairs.ids[getattr(side.pairs, which)[line]]


def _labels(side: Side) -> np.ndarray | None:
    return side.is_target if isinstance(side, TrialList) else side.labels


def _label_lines(file: Side, listed: Side, index: np.ndarray) -> np.ndarray:
    """File lines whose label disagrees with the list's, checked slice by slice (no full-size temporaries)."""
    file_labels, list_labels = _labels(file), _labels(listed)
    if file_labels is None or list_labels is None:
        return np.zeros(0, dtype=np.int64)
    wrong = []
    for start in range(0, len(index), CHUNK):
        rows = index[start : start + CHUNK]
        found = rows >= 0
        listed_labels = list_labels[np.where(found, rows, 0)]
        wrong.append(np.flatnonzero((file_labels[start : start + CHUNK] != listed_labels) & found) + start)
    return np.concatenate(wrong) if wrong else np.zeros(0, dtype=np.int64)


def _pairs(scores: ScoreFile, lines: np.ndarray, limit: int = 3) -> str:
    return "; ".join(f"line {i + 1}: {_shown_pair(scores, i)}" for i in lines[:limit])


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
    """For each key (int64 (m,), any order; consumed), the first list line holding it or -1.

    Returns (lines per key, the list lines found in sorted key order, whether each found line repeats the
    key before it in that order), the last two for counting how often each trial was found.
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


def join_keys(table: SortedPairs, key_chunks: Iterable[np.ndarray], n_lines: int) -> Found:
    """Look up every file line's key (given as consecutive slices totalling `n_lines`) in the list.

    Returns `Join`'s index, missing, duplicated and duplicate_lines.
    """
    index = np.empty(n_lines, dtype=table.lines.dtype)
    found = np.zeros(len(table.keys), dtype=bool)
    twice = []
    start = 0
    for keys in key_chunks:
        lines_of, lines, repeats = look_up(table, keys)
        index[start : start + len(lines_of)] = lines_of
        start += len(lines_of)
        again = found[lines] | repeats
        if again.any():
            twice.append(lines[again])
        found[lines] = True
    if start != n_lines:
        raise ValueError(f"key slices hold {start} keys, expected {n_lines}")
    if _repeats(table.keys):
        return _as_multiset(table, index)
    duplicated = np.unique(np.concatenate(twice)) if twice else np.zeros(0, dtype=np.int64)
    return index, np.flatnonzero(~found), duplicated, _lines_holding(index, duplicated, len(table.keys))


def _repeats(sorted_keys: np.ndarray) -> bool:
    """Whether a sorted key occurs twice, compared slice by slice (no full-size temporary)."""
    n = len(sorted_keys)
    return any(
        (sorted_keys[s + 1 : min(s + CHUNK, n - 1) + 1] == sorted_keys[s : min(s + CHUNK, n - 1)]).any()
        for s in range(0, n - 1, CHUNK)
    )


def _lines_holding(index: np.ndarray, duplicated: np.ndarray, n_list: int) -> np.ndarray:
    """The file lines whose list line is among `duplicated` (0-based, ascending)."""
    if not duplicated.size:
        return np.zeros(0, dtype=np.int64)
    marked = np.zeros(n_list + 1, dtype=bool)  # the last slot is where -1 (not in the list) lands
    marked[duplicated] = True
    return np.flatnonzero(marked[index])


def _as_multiset(table: SortedPairs, index: np.ndarray) -> Found:
    """`join_keys`'s answer for a list that repeats pairs, from `index` (each found file line holding the
    first list line of its pair; rewritten in place to the k-th). A few int64 arrays per list line and per
    found file line: only calibration lists repeat pairs, and they are small."""
    keys, lines = table.keys, table.lines
    n_list = len(keys)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))  # each pair's first position
    listed = np.diff(np.append(starts, n_list))  # how often the list holds each pair
    pair_of_line = np.empty(n_list, dtype=np.int64)
    pair_of_line[lines] = np.repeat(np.arange(len(starts)), listed)
    hits = np.flatnonzero(index >= 0)
    pair = pair_of_line[index[hits]]
    scored = np.bincount(pair, minlength=len(starts))  # how often the file holds each pair
    rank = np.empty(len(hits), dtype=np.int64)  # of each found file line among the file's lines of its pair
    first_of_pair = np.repeat(np.cumsum(scored) - scored, scored)  # in the file lines grouped by pair
    rank[np.argsort(pair, kind="stable")] = np.arange(len(hits)) - first_of_pair
    index[hits] = lines[starts[pair] + np.minimum(rank, listed[pair] - 1)]
    list_rank = np.arange(n_list) - np.repeat(starts, listed)
    missing = np.sort(lines[list_rank >= np.repeat(scored, listed)])
    over = scored > listed
    return index, missing, np.sort(lines[starts[over]]), hits[over[pair]]
