"""Embedding readers: every format gives the same ids and vectors; bad files are refused by name and id."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest

from sveval.errors import InputError
from sveval.io.embeddings import read_embeddings, read_mean_vector, read_utt2spk
from sveval.speakers import speaker_map

IDS = ["id10001/a/00001.wav", "id10001/b/00002.wav", "id10002/a/00001.wav"]
VECTORS = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0], [-2.0, 0.25, 4.0]], dtype=np.float32)


def write_ark(folder, ids, vectors, name="xvector"):
    folder.mkdir(parents=True, exist_ok=True)
    with kaldiio.WriteHelper(f"ark,scp:{folder}/{name}.ark,{folder}/{name}.scp") as writer:
        for key, vec in zip(ids, vectors):
            writer(key, vec)
    return folder / f"{name}.scp"


def check(emb):
    assert emb.ids.tolist() == IDS
    np.testing.assert_array_equal(emb.vectors, VECTORS)


def test_kaldi_scp_ark_and_folder(tmp_path):
    scp = write_ark(tmp_path / "vox1", IDS, VECTORS)
    check(read_embeddings(scp))
    check(read_embeddings(tmp_path / "vox1"))  # WeSpeaker's embeddings/<set>/ folder
    check(read_embeddings(tmp_path / "vox1" / "xvector.ark"))
    assert read_embeddings(scp).vectors.dtype == np.float32


def test_scp_with_keys_of_different_lengths_and_several_arks(tmp_path):
    ids = [f"spk{i % 3}/{'x' * (i % 5)}/{i}.wav" for i in range(40)]
    vectors = np.random.default_rng(0).standard_normal((40, 7)).astype(np.float32)
    a = write_ark(tmp_path, ids[:25], vectors[:25], "part1")
    b = write_ark(tmp_path, ids[25:], vectors[25:], "part2")
    scp = tmp_path / "all.scp"
    lines = a.read_text().splitlines() + b.read_text().splitlines()
    scp.write_text("\n".join(lines[::-1]) + "\n")  # entries out of ark order
    emb = read_embeddings(scp)
    assert emb.ids.tolist() == ids[::-1]
    np.testing.assert_array_equal(emb.vectors, vectors[::-1])


def test_float64_kaldi_vectors(tmp_path):
    scp = write_ark(tmp_path, IDS, VECTORS.astype(np.float64))
    emb = read_embeddings(scp)
    assert emb.vectors.dtype == np.float64
    np.testing.assert_array_equal(emb.vectors, VECTORS)


def test_npz_both_layouts_and_npy_with_ids(tmp_path):
    np.savez(tmp_path / "a.npz", **dict(zip(IDS, VECTORS)))
    check(read_embeddings(tmp_path / "a.npz"))
    np.savez(tmp_path / "b.npz", ids=np.array(IDS), vectors=VECTORS)
    check(read_embeddings(tmp_path / "b.npz"))
    np.save(tmp_path / "c.npy", VECTORS)
    with pytest.raises(InputError, match=r"c\.npy.*needs its id list beside it"):
        read_embeddings(tmp_path / "c.npy")
    (tmp_path / "c.ids").write_text("\n".join(IDS) + "\n")
    check(read_embeddings(tmp_path / "c.npy"))
    (tmp_path / "c.ids").write_text("\n".join(IDS[:2]) + "\n")
    with pytest.raises(InputError, match="lists 2 ids but the array has shape"):
        read_embeddings(tmp_path / "c.npy")


@pytest.mark.parametrize(
    "ids, vectors, message",
    [
        ([IDS[0], IDS[1], IDS[0]], VECTORS, r"duplicate id 'id10001/a/00001.wav' \(entries 1, 3\)"),
        (IDS, np.where(np.eye(3, dtype=bool), np.nan, VECTORS).astype(np.float32), "contains NaN or inf"),
        (
            IDS,
            np.vstack([VECTORS[:2], np.zeros((1, 3))]).astype(np.float32),
            "id10002/a/00001.wav' is all zeros",
        ),
    ],
)
def test_bad_vectors_are_refused_naming_file_and_id(tmp_path, ids, vectors, message):
    np.savez(tmp_path / "bad.npz", ids=np.array(ids), vectors=vectors)
    with pytest.raises(InputError, match=message) as err:
        read_embeddings(tmp_path / "bad.npz")
    assert "bad.npz" in str(err.value)


def test_kaldi_dimension_mismatch_and_duplicate_keys(tmp_path):
    scp = write_ark(tmp_path / "a", IDS, [VECTORS[0], VECTORS[1][:2], VECTORS[2]])
    with pytest.raises(InputError, match=r"entry 'id10001/b/00002.wav' has 2 dimensions, the first entry 3"):
        read_embeddings(scp)
    scp = write_ark(tmp_path / "b", [IDS[0], IDS[0], IDS[1]], VECTORS)
    with pytest.raises(InputError, match="duplicate id"):
        read_embeddings(scp)


def test_missing_unknown_and_broken_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_embeddings(tmp_path / "nope.scp")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="unknown embedding format"):
        read_embeddings(tmp_path / "x.csv")
    (tmp_path / "broken.scp").write_text("utt1 missing.ark:10\n")
    with pytest.raises(InputError, match="cannot read Kaldi scp"):
        read_embeddings(tmp_path / "broken.scp")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no xvector.scp"):
        read_embeddings(tmp_path / "empty")


def test_damaged_and_mistaken_numpy_files_are_one_line_each(tmp_path):
    """Found by a tester: a truncated .npz or one with a bad CRC was a traceback; a text file under a numpy
    name was said to hold pickled data. Each is an InputError naming the file and what is wrong."""
    np.savez(tmp_path / "good.npz", ids=np.array(IDS), vectors=VECTORS)
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    damaged = bytearray(data)
    damaged[200] ^= 0xFF  # inside the first member's data: its CRC no longer matches
    (tmp_path / "crc.npz").write_bytes(bytes(damaged))
    (tmp_path / "text.npz").write_text("hello\n")
    (tmp_path / "text.npy").write_text("hello\n")
    (tmp_path / "text.ids").write_text("a\n")
    expected = {
        "trunc.npz": r"trunc.npz: cannot read .npz \(truncated or damaged\?\): ",
        "crc.npz": r"crc.npz: cannot read .npz \(truncated or damaged\?\): Bad CRC-32",
        "text.npz": r"text.npz: not an .npz archive",
        "text.npy": r"text.npy: not a .npy array",
    }
    for name, message in expected.items():
        with pytest.raises(InputError, match=message):
            read_embeddings(tmp_path / name)
    with pytest.raises(InputError, match=r"expected a .npy file\): not a file numpy.save wrote"):
        read_mean_vector(tmp_path / "text.npy", 3)


def test_an_scp_entry_that_is_a_command_is_refused_not_run(tmp_path):
    """Found by a tester: Kaldi's pipe syntax in an embedding scp was handed to kaldiio, which ran it."""
    kaldiio.save_ark(str(tmp_path / "x.ark"), dict(zip(IDS, VECTORS)), scp=str(tmp_path / "x.scp"))
    lines = (tmp_path / "x.scp").read_text().splitlines()
    ran = tmp_path / "ran"
    commands = [  # Kaldi's form, and two more that kaldiio runs too (found by a second tester)
        f"touch {ran}; cat {tmp_path / 'x.ark'} |",
        f"|touch {ran}",
        f"echo hi > {ran} |:5",
    ]
    for command in commands:
        lines[1] = f"{IDS[1]} {command}"
        (tmp_path / "pipe.scp").write_text("\n".join(lines) + "\n")
        with pytest.raises(InputError, match=r"pipe.scp:2: command pipes are not run"):
            read_embeddings(tmp_path / "pipe.scp")
        assert not ran.exists(), command


def test_unclear_embedding_errors_say_what_is_wrong(tmp_path):
    """Found by a tester: a line listed twice in an scp said "overlapping entries in the ark file" naming no
    file; an .npz with `vectors` and no `ids` said "entry 'vectors' is not a vector"."""
    kaldiio.save_ark(str(tmp_path / "x.ark"), dict(zip(IDS, VECTORS)), scp=str(tmp_path / "x.scp"))
    lines = (tmp_path / "x.scp").read_text().splitlines()
    (tmp_path / "twice.scp").write_text("\n".join([*lines, lines[0].replace(IDS[0], "other/a/1.wav")]) + "\n")
    with pytest.raises(InputError, match=r"x.ark: two scp entries point at overlapping bytes of this ark"):
        read_embeddings(tmp_path / "twice.scp")
    np.savez(tmp_path / "half.npz", vectors=VECTORS)
    with pytest.raises(InputError, match=r"half.npz: .npz has an array `vectors` but no `ids`: expected"):
        read_embeddings(tmp_path / "half.npz")


def test_cohort_speakers_from_ids_and_utt2spk(tmp_path):
    """The cohort's speakers come from the one speaker mapping, its messages naming the cohort's option."""
    ids = np.array(IDS, dtype=object)
    cohort = speaker_map(None, option="--cohort-utt2spk")
    assert cohort.of(ids, "c").tolist() == ["id10001", "id10001", "id10002"]
    with pytest.raises(InputError, match=r"^c: cannot tell the speaker of 'flat'.*\(--cohort-utt2spk\)$"):
        cohort.of(np.array(["a/b", "flat"], dtype=object), "c")
    path = tmp_path / "utt2spk"
    path.write_text("".join(f"{u} s{i % 2}\n" for i, u in enumerate(IDS)))
    listed = speaker_map(path, option="--cohort-utt2spk")
    assert listed.of(ids[::-1], "c").tolist() == ["s0", "s1", "s0"]
    missing = "utt2spk: 1 utterance.s. of c are not in this utt2spk file, e.g. other"
    with pytest.raises(InputError, match=missing):
        listed.of(np.array(["other"], dtype=object), "c")
    path.write_text(f"{IDS[0]} s0\n{IDS[0]} s1\n")
    with pytest.raises(InputError, match=r"utt2spk:2: utterance .* is listed twice"):
        read_utt2spk(path)
    path.write_text(f"{IDS[0]} s0 extra\n")
    with pytest.raises(InputError, match=r"utt2spk:1: expected `utterance speaker`"):
        read_utt2spk(path)
