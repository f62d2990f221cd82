"""Who speaks in an utterance: the one mapping from utterance ids to speakers that every analysis uses
(bootstrap intervals, gender and other breakdowns, paired comparisons).

    speakers = speaker_map(utt2spk_path_or_None)
    spk = speakers.of(enroll_ids, where="scores.txt")      # object array, one speaker per id
    speakers.describe()                                    # for the provenance

Without a utt2spk file the speaker is the first path component of a VoxCeleb-style id
(`id10270/x6uYqmx31kE/00001.wav` -> `id10270`); an id without '/' (Kaldi-style `id10270-x6uYqmx31kE-00001`)
then has no speaker, and `of` raises SpeakersUnknown saying which id and that a utt2spk is needed, so that
callers can skip (and say they skipped) a speaker-level analysis instead of inventing speakers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sveval.errors import InputError


class SpeakersUnknown(InputError):
    """Ids whose speaker cannot be told (no '/' and no utt2spk line)."""


@dataclass(frozen=True)
class SpeakerMap:
    """source: the utt2spk file, or None for the first path component of each id."""

    source: str | None = None
    option: str = "--utt2spk"  # the option that gives the utt2spk file, named where one is needed
    _index: pd.Index | None = field(default=None, repr=False, compare=False)
    _speakers: np.ndarray | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        if self.source is None:
            return "speaker = first path component of the utterance id (VoxCeleb ids)"
        return f"speaker from utt2spk {self.source}"

    def of(self, ids, where: str | None = None) -> np.ndarray:
        """The speaker of each id (object array). `where` names the file the ids come from, in messages.

        Each distinct id is looked up once (a trial list repeats its utterances many times)."""
        ids = np.asarray(ids, dtype=object)
        codes, uniques = pd.factorize(ids)
        uniques = np.asarray(uniques, dtype=object)
        if self._index is not None:
            found = self._index.get_indexer(uniques)
            missing = np.flatnonzero(found < 0)
            if missing.size:
                raise SpeakersUnknown(
                    f"{missing.size:,} utterance(s) of {where or 'the list'} are not in this utt2spk file, "
                    f"e.g. {', '.join(map(str, uniques[missing[:3]]))}",
                    self.source,
                )
            return self._speakers[found][codes]
        parts = pd.Series(uniques, dtype=object).str.split("/", n=1)
        flat = np.flatnonzero(parts.str.len().to_numpy() < 2)
        if flat.size:
            raise SpeakersUnknown(
                f"cannot tell the speaker of {uniques[flat[0]]!r} ({flat.size:,} id(s) without '/', so not "
                f"VoxCeleb-style speaker/video/utterance): give a utt2spk file ({self.option})",
                where,
            )
        return parts.str[0].to_numpy(dtype=object)[codes]


def speaker_map(utt2spk: str | os.PathLike | None = None, option: str = "--utt2spk") -> SpeakerMap:
    """The mapping of a utt2spk file (`<utt> <speaker>` per line, Kaldi's), or of VoxCeleb ids if None;
    `option`: how the user gives the file (`--cohort-utt2spk` for a cohort), for the messages."""
    if utt2spk is None:
        return SpeakerMap(option=option)
    from sveval.io.embeddings import read_utt2spk

    utts, spks = read_utt2spk(utt2spk)
    # dtype=object: with pyarrow installed pandas would copy a million ids into pyarrow strings first
    # (0.19 GB more at the peak of a VoxCeleb2-dev cohort, benchmarks/score_cohort.py)
    index = pd.Index(np.asarray(utts, dtype=object), dtype=object)
    return SpeakerMap(str(utt2spk), option, index, np.asarray(spks, dtype=object))
