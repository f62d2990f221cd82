"""A cohort embedding file streamed into its sums (`sveval.scoring.cohort.CohortSums`): `sveval score`'s way
of
reading a cohort, so that a 1.09 M-utterance VoxCeleb2-dev cohort never sits in memory whole.

    sums = read_cohort_sums("exp/embeddings/vox2_dev/xvector.scp", "vox2_dev", "exact")
    run = score_lists(evaluation, lists, ScoreOptions(), cohort=sums)

Errors are those of reading the file whole and then looking up speakers (same messages, same order):
the embedding file's checks, then the speaker of every utterance.
"""

from __future__ import annotations

import os

import numpy as np

from sveval.errors import InputError
from sveval.io.embeddings import read_embedding_blocks
from sveval.progress import progress as progress_bar
from sveval.scoring.cohort import CohortSums, sum_cohort
from sveval.speakers import speaker_map


def read_cohort_sums(
    path: str | os.PathLike,
    name: str,
    compat: str,
    utt2spk: str | os.PathLike | None = None,
    dim: int | None = None,
    dim_error: str = "",
    progress: bool = False,
    rows: int = 65536,
) -> CohortSums:
    """Stream the cohort at `path` (any format `read_embeddings` takes) into CohortSums for `compat`.

    Speakers: from `utt2spk` if given, else the first path component of each id. dim: the eval
    embeddings' dimension; a cohort of another one is refused at its first block with InputError
    (`dim_error`, formatted with {cohort_dim}). InputError as read_embeddings and
    `sveval.speakers.SpeakerMap.of` raise.
    rows: utterances read at a time (the sums do not depend on it)."""
    source = str(path)
    speakers_of = speaker_map(utt2spk, option="--cohort-utt2spk")
    all_ids: list[np.ndarray] = []
    failed = False

    def blocks():
        nonlocal failed
        bar = progress_bar(desc="cohort embeddings", unit="utt", disable=not progress, leave=False)
        with bar:
            for block in read_embedding_blocks(path, rows):
                if dim is not None and block.dim != dim:
                    raise InputError(dim_error.format(cohort_dim=block.dim))
                all_ids.append(block.ids)
                try:
                    speakers = speakers_of.of(block.ids, source)
                except InputError:  # raised below with the whole cohort's counts, as before
                    failed, speakers = True, np.full(len(block.ids), "", dtype=object)
                bar.update(len(block.ids))
                yield block.vectors, speakers

    sums = sum_cohort(blocks(), name, compat)
    if failed:
        speakers_of.of(np.concatenate(all_ids), source)
    return sums
