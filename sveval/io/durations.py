"""Utterance durations for QMF calibration and calibration lists: WeSpeaker `utt2dur` files or audio headers.

utt2dur (WeSpeaker `tools/wav2dur.py`, Kaldi `utt2dur`): `<utt> <seconds>` per line.
"""

from __future__ import annotations

import os

import numpy as np

from sveval.errors import InputError
from sveval.io.audio import audio_info, read_wav_scp
from sveval.io.fields import Column, Table, fixed_layout, parse_columns, read_columns

_LAYOUT = fixed_layout([Column("id"), Column("float", "duration")], "`<utt> <duration in seconds>`")


def parse_utt2dur(text: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, seconds) in file order. Malformed lines, non-positive or non-finite durations and repeated ids
    are InputErrors naming the line."""
    return _durations(parse_columns(text, source, "utt2dur file", _LAYOUT), source)


def read_utt2dur(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """`parse_utt2dur` of a file (plain, gzip or `-` for standard input)."""
    return _durations(read_columns(path, "utt2dur file", _LAYOUT), str(path))


def _durations(table: Table, source: str) -> tuple[np.ndarray, np.ndarray]:
    ids, seconds = table.strings(0), table.columns[1]
    bad = np.flatnonzero(~np.isfinite(seconds) | (seconds <= 0))
    if bad.size:
        raise InputError(
            f"duration {seconds[bad[0]]} is not a positive number of seconds", source, bad[0] + 1
        )
    _refuse_repeats(ids, source)
    return ids, seconds


def _refuse_repeats(ids: np.ndarray, source: str) -> None:
    _, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        twice = ids[first[counts > 1][0]]
        lines = np.flatnonzero(ids == twice) + 1
        raise InputError(
            f"utterance {twice!r} listed more than once (lines {', '.join(map(str, lines[:5]))})",
            source,
            int(lines[1]),
        )


def wav_scp_durations(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(ids, seconds) from the audio headers of the files a wav.scp lists (frames / sample rate, as
    WeSpeaker's wav2dur.py computes them, without decoding)."""
    import soundfile

    utts = read_wav_scp(path)
    seconds = []
    for utt in utts:
        audio_info(utt.path)  # raises an InputError naming an unreadable file
        info = soundfile.info(utt.path)
        seconds.append(info.frames / float(info.samplerate))
    return np.array([u.utt for u in utts], dtype=object), np.array(seconds, dtype=np.float64)


def merge_durations(sources: list[tuple[str, tuple[np.ndarray, np.ndarray]]]) -> dict[str, float]:
    """One {utt: seconds} from several files; an utterance given two different durations is an error."""
    out: dict[str, float] = {}
    for source, (ids, seconds) in sources:
        for utt, sec in zip(ids.tolist(), seconds.tolist()):
            if out.get(utt, sec) != sec:
                raise InputError(
                    f"utterance {utt!r} has duration {sec} here but {out[utt]} in an earlier file", source
                )
            out[utt] = sec
    return out
