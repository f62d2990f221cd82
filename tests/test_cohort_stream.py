"""A cohort streamed block by block gives exactly (bit for bit) what the whole cohort in memory gives, and
the same errors. Oracles: sveval.scoring.cosine.mean_vector / speaker_means on the whole array (themselves
checked
against WeSpeaker's loops in test_scoring.py) and read_embeddings on the whole file."""

from __future__ import annotations

import kaldiio
import numpy as np
import pandas as pd
import pytest

from sveval.errors import InputError
from sveval.io.embeddings import read_embedding_blocks, read_embeddings
from sveval.io.trials import parse_trials
from sveval.scoring import cosine as scoring
from sveval.scoring.cohort import sum_cohort
from sveval.scoring.cohort_stream import read_cohort_sums
from sveval.scoring.run import Cohort, ScoreOptions, score_lists
from sveval.speakers import speaker_map
from sveval.types import Embeddings


def cohort_arrays(seed=0, n=3001, d=16, n_spk=37, dtype=np.float32):
    rng = np.random.default_rng(seed)
    spk = rng.integers(0, n_spk, n)  # speakers interleaved in file order
    ids = np.array([f"s{s:03d}/u/{i:05d}.wav" for i, s in enumerate(spk)], dtype=object)
    vectors = (rng.standard_normal((n, d)) * 3 + 0.5).astype(dtype)
    return ids, vectors, speaker_map().of(ids, "cohort")


def split(vectors, speakers, sizes):
    lo, k = 0, 0
    while lo < len(vectors):
        hi = min(len(vectors), lo + sizes[k % len(sizes)])
        yield vectors[lo:hi], speakers[lo:hi]
        lo, k = hi, k + 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("compat", ["exact", "wespeaker"])
def test_streamed_sums_equal_whole_cohort_means_bit_for_bit(dtype, compat):
    _, vectors, speakers = cohort_arrays(dtype=dtype)
    codes, names = pd.factorize(speakers)
    mean = scoring.mean_vector(vectors, compat, chunk=500)
    means = scoring.speaker_means(vectors, codes, len(names), compat, chunk=500)
    sums = sum_cohort(split(vectors, speakers, [1, 499, 777, 64]), "c", compat, chunk=500)
    assert sums.speakers.tolist() == list(names) and sums.n_utterances == len(vectors)
    assert sums.mean_vector().dtype == mean.dtype and np.array_equal(sums.mean_vector(), mean)
    assert np.array_equal(sums.speaker_means(), means)
    assert sums.counts.tolist() == np.bincount(codes).tolist()


def write_ark(folder, ids, vectors, name="xvector"):
    folder.mkdir(parents=True, exist_ok=True)
    with kaldiio.WriteHelper(f"ark,scp:{folder}/{name}.ark,{folder}/{name}.scp") as writer:
        for key, vec in zip(ids, vectors):
            writer(str(key), vec)
    return folder / f"{name}.scp"


def test_blocks_of_every_format_are_the_whole_file_in_order(tmp_path):
    ids, vectors, _ = cohort_arrays(n=203, d=5)
    a = write_ark(tmp_path / "k", ids[:120], vectors[:120], "part1")
    b = write_ark(tmp_path / "k", ids[120:], vectors[120:], "part2")
    scp = tmp_path / "k" / "all.scp"
    lines = a.read_text().splitlines() + b.read_text().splitlines()
    scp.write_text("\n".join(lines[::-1]) + "\n")  # out of ark order, two arks
    np.savez(tmp_path / "c.npz", ids=ids.astype(str), vectors=vectors)
    np.save(tmp_path / "c.npy", vectors)
    (tmp_path / "c.ids").write_text("\n".join(ids) + "\n")
    for path in [scp, tmp_path / "k" / "part1.ark", tmp_path / "c.npz", tmp_path / "c.npy"]:
        whole = read_embeddings(path)
        blocks = list(read_embedding_blocks(path, rows=17))
        assert all(len(x) == 17 for x in blocks[:-1])
        assert np.concatenate([x.ids for x in blocks]).tolist() == whole.ids.tolist()
        got = np.concatenate([x.vectors for x in blocks])
        assert got.dtype == whole.vectors.dtype and np.array_equal(got, whole.vectors)


@pytest.mark.parametrize(
    "ids, vectors, message",
    [
        (lambda i: np.r_[i[:40], i[3:4], i[41:]], None, r"duplicate id 's\d+/u/00003.wav' \(entries 4, 41\)"),
        (
            None,
            lambda v: np.where(np.arange(len(v))[:, None] % 30 == 29, np.nan, v),
            r"00029.wav' contains NaN or inf \(3 such",
        ),
        (
            None,
            lambda v: np.where(np.arange(len(v))[:, None] % 40 == 39, 0, v),
            r"00039.wav' is all zeros \(2 such",
        ),
    ],
)
def test_whole_file_checks_after_the_last_block_same_messages(tmp_path, ids, vectors, message):
    base_ids, base_vectors, _ = cohort_arrays(n=90, d=4)
    ids = base_ids if ids is None else ids(base_ids)
    vectors = base_vectors if vectors is None else vectors(base_vectors).astype(np.float32)
    scp = write_ark(tmp_path, ids, vectors)
    with pytest.raises(InputError, match=message) as whole:
        read_embeddings(scp)
    with pytest.raises(InputError, match=message) as streamed:
        list(read_embedding_blocks(scp, rows=16))
    assert str(whole.value) == str(streamed.value)


def test_dimension_change_in_a_later_block_is_refused(tmp_path):
    ids, vectors, _ = cohort_arrays(n=40, d=4)
    arrays = [v if i < 30 else v[:3] for i, v in enumerate(vectors)]
    path = tmp_path / "x.ark"
    with kaldiio.WriteHelper(f"ark:{path}") as writer:
        for key, vec in zip(ids, arrays):
            writer(str(key), vec)
    with pytest.raises(InputError, match=r"00030.wav' has 3 dimensions, the first entry 4"):
        list(read_embedding_blocks(path, rows=8))


@pytest.mark.slow
def test_streamed_cohort_scores_exactly_like_the_cohort_in_memory(tmp_path):
    ids, vectors, speakers = cohort_arrays(n=900, d=12, n_spk=30)
    scp = write_ark(tmp_path / "vox2_dev", ids, vectors)
    rng = np.random.default_rng(3)
    ev_ids = np.array([f"e{i:03d}" for i in range(60)], dtype=object)
    evaluation = Embeddings(ev_ids, rng.standard_normal((60, 12)).astype(np.float32) + 0.5)
    pairs = {tuple(p) for p in rng.choice(60, (400, 2)) if p[0] != p[1]}
    text = "".join(
        f"{ev_ids[a]} {ev_ids[b]} {'target' if (a + b) % 4 == 0 else 'nontarget'}\n" for a, b in pairs
    )
    trials = parse_trials(text, "t.kaldi")
    for compat in ("exact", "wespeaker"):
        options = ScoreOptions(top_n=10, compat=compat)
        memory = score_lists(
            evaluation, [trials], options, Cohort("vox2_dev", Embeddings(ids, vectors), speakers)
        )
        sums = read_cohort_sums(scp, "vox2_dev", compat, rows=64)
        streamed = score_lists(evaluation, [trials], options, sums)
        assert streamed.n_cohort_utterances == 900 and streamed.n_cohort_speakers == 30
        for a, b in zip(memory.lists[0].methods, streamed.lists[0].methods):
            assert a.method == b.method and a.signature == b.signature
            assert np.array_equal(a.values, b.values) and (
                a.norms is None or np.array_equal(a.cohort_mean, b.cohort_mean)
            )


def test_speaker_errors_count_the_whole_cohort(tmp_path):
    ids, vectors, _ = cohort_arrays(n=100, d=4)
    ids = np.array([x.replace("/", "_") if i % 10 == 3 else x for i, x in enumerate(ids)], dtype=object)
    scp = write_ark(tmp_path, ids, vectors)
    with pytest.raises(InputError, match=r"00003.wav' \(10 id\(s\) without '/'.*\(--cohort-utt2spk\)"):
        read_cohort_sums(scp, "c", "exact", rows=16)
    utt2spk = tmp_path / "utt2spk"
    utt2spk.write_text("".join(f"{u} spk\n" for u in ids[:95]))
    missing = r"utt2spk: 5 utterance\(s\) of .*xvector.scp are not in this utt2spk file"
    with pytest.raises(InputError, match=missing):
        read_cohort_sums(scp, "c", "exact", utt2spk=utt2spk, rows=16)
