"""Reading and writing trial lists, with format auto-detection and strict checks.

Formats (per file, decided by the first line, then required on every line):
  kaldi       `enroll test target|nontarget`   (WeSpeaker's vox1_O_cleaned.kaldi)
  voxceleb    `1|0 enroll test`                 (veri_test2.txt, list_test_all2.txt, ...)
  unlabelled  `enroll test`                     (scores can be produced, metrics cannot)
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator

import numpy as np  # (pandas is imported where used: 0.4 s of every `sveval metrics` start)

from sveval.errors import InputError, quoted
from sveval.io.atomic import write_text
from sveval.io.fields import Column, Layout, Table, field_count, parse_columns, read_columns
from sveval.pair_join import pair_keys, trial_keys
from sveval.types import PairCodes, TrialList, decode_id_rows

KALDI_LABELS = ("nontarget", "target")
VOXCELEB_LABELS = ("0", "1")
FORMATS = {
    "kaldi": (3, "`enroll test target|nontarget`"),
    "voxceleb": (3, "`1|0 enroll test`"),
    "unlabelled": (2, "`enroll test`"),
}


def detect_format(first_row: list[str], source: str) -> str:
    if len(first_row) == 3 and first_row[2] in KALDI_LABELS:
        return "kaldi"
    if len(first_row) == 3 and first_row[0] in VOXCELEB_LABELS:
        return "voxceleb"
    if len(first_row) == 2:
        return "unlabelled"
    raise InputError(
        "not a trial list: expected `enroll test target|nontarget` (Kaldi), `1|0 enroll test` (VoxCeleb) "
        f"or `enroll test` (unlabelled), found {quoted(' '.join(first_row))}",
        source,
        1,
    )


def trial_layout(first_row: list[str], source: str) -> Layout:
    """The columns of a trial list whose first line is `first_row` (see FORMATS)."""
    fmt = detect_format(first_row, source)
    width, expected = FORMATS[fmt]
    allowed = KALDI_LABELS if fmt == "kaldi" else VOXCELEB_LABELS

    def complaint(token: str, count: int) -> str:
        return (
            f"label {quoted(token)} is not {' or '.join(allowed[::-1])} (expected {expected}); "
            f"{count} such line(s)"
        )

    label = Column("label", labels=allowed, complaint=complaint)
    ids = [Column("id"), Column("id")]
    columns = {"kaldi": [*ids, label], "voxceleb": [label, *ids], "unlabelled": ids}[fmt]

    def wrong_width(row: list[str]) -> str:
        found = f"found {field_count(len(row))}: {quoted(' '.join(row))}"
        return f"expected {fmt} trial line {expected} ({width} fields), {found}"

    return Layout(columns, wrong_width)


def parse_trials(text: str, source: str, name: str | None = None, basename: str | None = None) -> TrialList:
    """Parse trial-list text. Raises InputError naming `source` and the line for anything malformed."""
    return _trial_list(parse_columns(text, source, "trial list", _layout(source)), source, name, basename)


def read_trials(path: str | os.PathLike, name: str | None = None, basename: str | None = None) -> TrialList:
    """Read a trial list in any of FORMATS (UTF-8; a byte-order mark is ignored; plain, gzip or `-` for
    standard input), in bounded memory: ids are interned (one str per distinct id; enroll/test hold
    references) and also kept as int32 codes."""
    source = str(path)
    return _trial_list(read_columns(path, "trial list", _layout(source)), source, name, basename)


def read_calibration_trials(path: str | os.PathLike) -> tuple[TrialList, int, int]:
    """A calibration trial list as WeSpeaker's `generate_calibration_trial.py` writes it: labelled, and
    repeated pairs and self-pairs allowed (its generator draws with replacement and never checks). Returns
    (list, repeated lines, self-pair lines); a line repeating an earlier (enroll, test) pair counts once per
    extra occurrence. Every other rule of `read_trials` holds, and a pair listed as both target and nontarget
    is still an InputError. Only calibration training reads lists this way: everywhere else a repeated trial
    is an error."""
    source = str(path)
    table = read_columns(path, "trial list", _layout(source))
    trials = _trial_list(table, source, None, None, repeats=True)
    if trials.is_target is None:
        raise InputError("a calibration list needs labels (`enroll test target|nontarget`)", source)
    keys = trial_keys(trials.enroll, trials.test)
    n_repeated = int(keys.size - np.unique(keys).size)
    return trials, n_repeated, int(np.count_nonzero(trials.enroll == trials.test))


def _layout(source: str):
    return lambda row: trial_layout(row, source)


def _trial_list(
    table: Table, source: str, name: str | None, basename: str | None, repeats: bool = False
) -> TrialList:
    columns = table.columns
    if len(columns) == 3 and columns[0].dtype == bool:
        is_target, enroll, test = columns
    elif len(columns) == 3:
        enroll, test, is_target = columns
    else:
        (enroll, test), is_target = columns, None
    pairs = PairCodes(table.vocabulary.table, enroll, test)
    if is_target is None:
        first = decode_id_rows(pairs.id_bytes[[enroll[0], test[0]]])
        _refuse_scp(first[:1], first[1:], source)
    _refuse_duplicate_codes(pairs, is_target, source, repeats)
    file_name = os.path.basename(source)
    return TrialList(
        name=name or file_name,
        basename=basename or file_name,
        enroll_ids=None,  # given from the codes on demand
        test_ids=None,
        is_target=is_target,
        fingerprint=coded_fingerprint(pairs, is_target),
        source=source,
        pairs=pairs,
    )


# What the second column of a Kaldi scp holds: an ark offset or a command (`... |`), or a file of audio /
# features / embeddings where the first column is a bare id (trial lists may name `id/vid/00001.wav` ids).
_ARK_OR_PIPE = re.compile(r"(\.ark:\d+|\|)$")
_FILE = re.compile(r"\.(wav|flac|mp3|m4a|ogg|sph|ark|npy|npz|pt)$", re.IGNORECASE)


def _refuse_scp(enroll: np.ndarray, test: np.ndarray, source: str) -> None:
    """An scp (`utt path` or `utt file.ark:offset`) parses as an unlabelled trial list; say what it is."""
    if not len(test):
        return
    first, second = str(enroll[0]), str(test[0])
    if _ARK_OR_PIPE.search(second) or (_FILE.search(second) and not _FILE.search(first)):
        raise InputError(
            f"not a trial list: line 1 ({first} {second}) looks like an scp entry (an utterance id, "
            "then a file or ark offset); a trial list has `enroll test target|nontarget`, "
            "`1|0 enroll test` or `enroll test` per line",
            source,
            1,
        )


def _refuse_duplicate_codes(
    pairs: PairCodes, is_target: np.ndarray | None, source: str, repeats: bool = False
) -> None:
    keys = pair_keys(pairs)
    keys.sort()  # in place: no second copy of 8 bytes per trial
    if len(keys) < 2 or (keys[1:] != keys[:-1]).all():  # the usual case, decided by one sort in place
        return
    _refuse_duplicates(pairs.ids.take(pairs.enroll), pairs.ids.take(pairs.test), is_target, source, repeats)


def _refuse_duplicates(
    enroll: np.ndarray, test: np.ndarray, is_target: np.ndarray | None, source: str, repeats: bool = False
) -> None:
    """InputError for a pair listed twice; with `repeats` (calibration lists) only for one listed with two
    different labels."""
    import pandas as pd

    if len(set(zip(enroll, test))) == len(enroll):  # the usual case, decided without factorizing
        return
    keys = trial_keys(enroll, test)
    dup = pd.Series(keys).duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    lines = np.flatnonzero(dup)
    if repeats:
        lines = _conflicting(keys, is_target, lines)
        if not lines.size:
            return
    first = int(lines[0])
    twins = lines[keys[lines] == keys[first]]
    where = ", ".join(str(int(i) + 1) for i in twins[:5])
    pair = f"{enroll[first]} {test[first]}"
    n_pairs = len(np.unique(keys[lines]))
    if is_target is not None and len(set(is_target[twins].tolist())) > 1:
        raise InputError(
            f"trial {pair!r} is listed as both target and nontarget (lines {where})", source, first + 1
        )
    raise InputError(
        f"duplicate trial {pair!r} (lines {where}); {n_pairs} pair(s) appear more than once",
        source,
        first + 1,
    )


def _conflicting(keys: np.ndarray, is_target: np.ndarray | None, lines: np.ndarray) -> np.ndarray:
    """Of the repeated lines, those whose pair also occurs with the other label (in file order)."""
    import pandas as pd

    if is_target is None:
        return lines[:0]
    table = pd.DataFrame({"key": keys[lines], "target": is_target[lines]})
    mixed = table.groupby("key")["target"].transform("nunique").to_numpy() > 1
    return lines[mixed]


def canonical_text(enroll: np.ndarray, test: np.ndarray, is_target: np.ndarray | None) -> str:
    """The Kaldi form of a list, one line per trial in file order (unlabelled: `enroll test`), built with
    str.join (faster than a line at a time on 0.5 M-trial lists)."""
    if not len(enroll):
        return ""
    if is_target is None:
        return "\n".join(map(" ".join, zip(enroll, test))) + "\n"
    names = np.where(is_target, "target", "nontarget").astype(object)
    return "\n".join(map(" ".join, zip(enroll, test, names))) + "\n"


def fingerprint(enroll: np.ndarray, test: np.ndarray, is_target: np.ndarray | None) -> str:
    """`sha256:<hex>` of the canonical Kaldi form: the same list in any of the formats gets the same print."""
    digest = hashlib.sha256(canonical_text(enroll, test, is_target).encode("utf-8"))
    return "sha256:" + digest.hexdigest()


def coded_fingerprint(pairs: PairCodes, is_target: np.ndarray | None) -> str:
    """`fingerprint` computed from codes, the canonical text built and hashed in chunks of lines."""
    digest = hashlib.sha256()
    for chunk in canonical_chunks(pairs.id_bytes, pairs.enroll, pairs.test, is_target):
        digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def canonical_chunks(
    id_bytes: np.ndarray,
    enroll: np.ndarray,
    test: np.ndarray,
    is_target: np.ndarray | None,
    chunk: int = 1 << 18,
) -> Iterator[bytes]:
    """The canonical Kaldi text (see `canonical_text`) as UTF-8 bytes, `chunk` lines at a time, from ids
    given as row numbers of `id_bytes` (NUL-padded UTF-8, as `PairCodes.id_bytes`)."""
    width = id_bytes.shape[1]
    names = np.array([b" nontarget", b" target"]).view(np.uint8).reshape(2, 10)
    row_width = 2 * width + 2 + (10 if is_target is not None else 0)
    for start in range(0, len(enroll), chunk):
        stop = min(start + chunk, len(enroll))
        rows = np.zeros((stop - start, row_width), dtype=np.uint8)
        rows[:, :width] = id_bytes[enroll[start:stop]]
        rows[:, width] = ord(" ")
        rows[:, width + 1 : 2 * width + 1] = id_bytes[test[start:stop]]
        if is_target is not None:
            rows[:, 2 * width + 1 : -1] = names[is_target[start:stop].astype(np.intp)]
        rows[:, -1] = ord("\n")
        flat = rows.ravel()
        yield flat[flat != 0].tobytes()


def write_kaldi_trials(path: str | os.PathLike, trials: TrialList) -> None:
    write_text(path, canonical_text(trials.enroll, trials.test, trials.is_target))
