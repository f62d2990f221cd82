"""The small frozen objects that flow between modules.

Arrays inside frozen dataclasses are not copied or frozen; treat them as read-only by convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

LIST_FILE_SUFFIXES = (".kaldi", ".txt", ".lst", ".trials")


def list_stem(file_name: str) -> str:
    """A trial file's stem, as a custom list is named: `list_test_hard2.txt` -> `list_test_hard2`."""
    stem = file_name
    for suffix in LIST_FILE_SUFFIXES:
        stem = stem.removesuffix(suffix)
    return stem


def custom_list_label(file_name: str) -> str:
    """How a list that is no built-in one is shown to a person: its stem, marked.

    `list_test_hard2.txt` -> `list_test_hard2 (custom)`."""
    return f"{list_stem(file_name)} (custom)"


def decode_id_rows(rows: np.ndarray) -> np.ndarray:
    """Object array of str from NUL-padded UTF-8 rows (n, width) uint8, one str per row."""
    out = np.empty(len(rows), dtype=object)
    if not (rows >= 128).any():  # ASCII: numpy decodes the whole table at once
        out[:] = np.ascontiguousarray(rows).view(f"S{max(rows.shape[1], 1)}").ravel().astype(str).tolist()
    else:
        out[:] = [row.tobytes().rstrip(b"\0").decode("utf-8") for row in rows]
    return out


@dataclass(frozen=True, eq=False)
class PairCodes:
    """The compact form of (enroll, test) columns: int32 row numbers into a table of distinct ids.

    id_bytes: (distinct ids, width) uint8, the UTF-8 bytes of each distinct id once, NUL padded; enroll,
    test: int32 (n,) codes (rows of id_bytes), so pairs compare as integers. `ids` gives the ids as str,
    decoded on first use: matching a file to a list needs only the bytes (8.6 M distinct ids cost 3.5 s and
    about 0.6 GB as Python strings).
    """

    id_bytes: np.ndarray
    enroll: np.ndarray
    test: np.ndarray

    @cached_property
    def ids(self) -> np.ndarray:
        """Object array of str, one per code."""
        return decode_id_rows(self.id_bytes)


@dataclass(frozen=True, eq=False)
class TrialList:
    """A verification trial list in file order.

    name: the built-in name (`vox1_O_cleaned`) or the file name of an explicit path.
    basename: what score files are named after (`<basename>.score`), WeSpeaker style: built-in lists use
        `<name>.kaldi` whatever file they were read from, explicit paths their own file name.
    is_target: bool per trial, or None for an unlabelled list (scores possible, metrics not).
    fingerprint: `sha256:` + hex of the canonical Kaldi form (`enroll test target|nontarget\\n` per trial in
        file order, or `enroll test\\n` when unlabelled), so reports can say exactly which list was used.
    builtin: the built-in name whose fingerprint this list has, if any (also for explicit paths).
    pairs: the same enroll/test columns as codes (set by the readers; None for lists built in memory).
    enroll_ids, test_ids: object arrays of str per trial as stored; the readers store None and keep the
        codes only (8 bytes a trial less: 0.96 GB on a 60 M-trial list), and `enroll` / `test` give the ids
        from `pairs` on each access.
    """

    name: str
    basename: str
    enroll_ids: np.ndarray | None
    test_ids: np.ndarray | None
    is_target: np.ndarray | None
    fingerprint: str
    source: str
    builtin: str | None = None
    pairs: PairCodes | None = None

    @property
    def enroll(self) -> np.ndarray:
        """Enroll id of each trial: object array of str (shared str objects when read from a file)."""
        return self.pairs.ids.take(self.pairs.enroll) if self.enroll_ids is None else self.enroll_ids

    @property
    def test(self) -> np.ndarray:
        """Test id of each trial, as `enroll`."""
        return self.pairs.ids.take(self.pairs.test) if self.test_ids is None else self.test_ids

    def __len__(self) -> int:
        return len(self.pairs.enroll) if self.enroll_ids is None else len(self.enroll_ids)

    @property
    def labelled(self) -> bool:
        return self.is_target is not None

    @property
    def n_target(self) -> int:
        return int(self.is_target.sum()) if self.is_target is not None else 0

    @property
    def n_nontarget(self) -> int:
        return len(self) - self.n_target if self.is_target is not None else 0

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint.split(":", 1)[-1][:12]

    @property
    def custom(self) -> bool:
        """True unless the content (fingerprint) proves this list a built-in one, whatever its file name."""
        return self.builtin is None

    @property
    def identity(self) -> str:
        """The list's name by content: the built-in name its fingerprint proves, else its file's stem
        (`list_test_hard2` for a few trials saved as `list_test_hard2.txt`; see `custom`)."""
        return self.builtin or list_stem(self.name)

    @property
    def display_name(self) -> str:
        """How tables, titles and messages name the list: `vox1_H_cleaned`, or `list_test_hard2 (custom)`."""
        return self.builtin or custom_list_label(self.name)


@dataclass(frozen=True, eq=False)
class ScoreFile:
    """A WeSpeaker score file as read: trials in file order.

    labels: bool per trial when the file has a label column, else None (3-column files).
    extra: for 8-column normalised files, an (n, 4) float array |e| |t| mu_e mu_t, else None.
    enroll, test: object arrays of str, or None when read with `ids="codes"` or `ids="none"`.
    pairs: the enroll/test columns as codes (None when built in memory or read with `ids="none"`).
    """

    path: str
    enroll: np.ndarray
    test: np.ndarray
    values: np.ndarray
    labels: np.ndarray | None
    extra: np.ndarray | None = None
    pairs: PairCodes | None = None

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class ResultBlock:
    """One block of a WeSpeaker result file: EER in percent, minDCF normalised."""

    score_file: str
    eer_percent: float
    min_dcf: float
    p_target: float = 0.01
    c_miss: float = 1.0
    c_fa: float = 1.0


@dataclass(frozen=True, eq=False)
class Embeddings:
    """Utterance (or speaker) embeddings: ids[i] names vectors[i]."""

    ids: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])
