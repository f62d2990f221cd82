"""Audio lists and decoding (sveval.io.audio) and resumable ark parts (sveval.io.ark)."""

from __future__ import annotations

import warnings

import kaldiio
import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from sveval.errors import InputError  # noqa: E402
from sveval.io import ark  # noqa: E402
from sveval.io.audio import audio_info, list_wav_dir, read_audio, read_wav_scp, resampled_length  # noqa: E402


def test_wav_dir_ids_are_wespeaker_style(tmp_path):
    for rel in ("id10001/1zcIwhmdeo4/00001.wav", "id10001/1zcIwhmdeo4/00002.flac", "id10002/abc/00001.wav"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / rel, np.zeros(800, dtype=np.float32), 16000)
    (tmp_path / "id10002" / "notes.txt").write_text("not audio")
    utts = list_wav_dir(tmp_path)
    assert [u.utt for u in utts] == [
        "id10001/1zcIwhmdeo4/00001.wav",
        "id10001/1zcIwhmdeo4/00002.flac",
        "id10002/abc/00001.wav",
    ]
    assert utts[0].path == str(tmp_path / "id10001/1zcIwhmdeo4/00001.wav")


def test_wav_dir_errors(tmp_path):
    with pytest.raises(InputError, match="audio folder not found"):
        list_wav_dir(tmp_path / "missing")
    with pytest.raises(InputError, match="no audio files"):
        list_wav_dir(tmp_path)


def test_wav_scp_parsing_and_errors(tmp_path):
    scp = tmp_path / "wav.scp"
    scp.write_text("a /x/a.wav\n\nb /x/my file.wav\n")
    assert [(u.utt, u.path) for u in read_wav_scp(scp)] == [("a", "/x/a.wav"), ("b", "/x/my file.wav")]
    scp.write_text("a /x/a.wav\nlonely\n")
    with pytest.raises(InputError, match=r"wav.scp:2: expected '<utt-id> <audio path>'"):
        read_wav_scp(scp)
    scp.write_text("a /x/a.wav\na /x/b.wav\n")
    with pytest.raises(InputError, match=r"wav.scp:2: utterance id 'a' already on line 1"):
        read_wav_scp(scp)
    scp.write_text("a sox x.wav -t wav - |\n")
    with pytest.raises(InputError, match="pipes are not supported"):
        read_wav_scp(scp)


def test_int16_scaling_is_exact(tmp_path):
    codes = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    sf.write(tmp_path / "a.wav", codes, 16000, subtype="PCM_16")
    audio = read_audio(str(tmp_path / "a.wav"))
    assert audio.samples.dtype == np.float32
    assert audio.samples.tolist() == codes.astype(float).tolist()
    assert audio.resampled_from is None and audio.channels == 1


@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
def test_keep_int16_gives_the_same_values_for_16_bit_files(tmp_path, fmt):
    rng = np.random.default_rng(3)
    codes = np.concatenate([[0, 1, -1, 32767, -32768], rng.integers(-32768, 32768, 5000)]).astype(np.int16)
    stereo = np.stack([codes, codes[::-1]], axis=1)
    path = str(tmp_path / f"a.{fmt.lower()}")
    sf.write(path, stereo, 16000, subtype="PCM_16", format=fmt)
    plain, native = read_audio(path), read_audio(path, keep_int16=True)
    assert native.samples.dtype == np.int16 and native.samples.flags.c_contiguous
    assert np.array_equal(native.samples, codes)
    assert np.array_equal(native.samples.astype(np.float32), plain.samples)
    assert (native.resampled_from, native.channels) == (None, 2)


@pytest.mark.parametrize(("rate", "subtype"), [(16000, "PCM_24"), (16000, "FLOAT"), (8000, "PCM_16")])
def test_keep_int16_leaves_other_files_as_float(tmp_path, rate, subtype):
    """24-bit and float samples are not integers in int16 range; resampled ones neither."""
    path = str(tmp_path / "a.wav")
    sf.write(path, np.linspace(-0.5, 0.5, 1601, dtype=np.float32), rate, subtype=subtype)
    plain, native = read_audio(path), read_audio(path, keep_int16=True)
    assert native.samples.dtype == np.float32
    assert np.array_equal(native.samples, plain.samples)
    assert native.resampled_from == plain.resampled_from == (None if rate == 16000 else rate)


def test_other_rates_are_resampled_and_reported(tmp_path):
    rate, n = 8000, 4001
    t = np.arange(n) / rate
    sf.write(
        tmp_path / "a.wav", (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), rate, subtype="FLOAT"
    )
    audio = read_audio(str(tmp_path / "a.wav"))
    assert audio.resampled_from == 8000
    assert (
        len(audio.samples)
        == resampled_length(n, rate)
        == 8002
        == audio_info(str(tmp_path / "a.wav")).num_samples
    )
    t16 = np.arange(len(audio.samples)) / 16000
    middle = slice(400, 7600)  # away from the filter's edges
    expected = 0.5 * 32768 * np.sin(2 * np.pi * 200 * t16)
    assert np.abs(audio.samples[middle] - expected[middle]).max() < 0.01 * 32768 * 0.5


def test_first_channel_of_multichannel_audio(tmp_path):
    data = np.stack([np.full(800, 0.25), np.full(800, -0.5)], axis=1).astype(np.float32)
    sf.write(tmp_path / "st.wav", data, 16000, subtype="FLOAT")
    audio = read_audio(str(tmp_path / "st.wav"))
    assert audio.channels == 2
    assert np.all(audio.samples == 0.25 * 32768)


def test_unreadable_audio_names_the_file(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really")
    with pytest.raises(InputError, match="bad.wav: cannot decode audio"):
        read_audio(str(tmp_path / "bad.wav"))
    with pytest.raises(InputError, match="bad.wav: cannot read audio header"):
        audio_info(str(tmp_path / "bad.wav"))


def test_part_writer_resumes_after_a_crash_mid_record(tmp_path):
    vectors = {f"u{i}": np.arange(4, dtype=np.float32) + i for i in range(3)}
    sources = {u: ark.Source(f"/audio/{u}.wav", 100 + i, 7) for i, u in enumerate(vectors)}
    with ark.PartWriter(tmp_path) as writer:
        writer.write([(u, v, sources[u]) for u, v in list(vectors.items())[:2]])
    # A crash: half a record in the ark, and a journal line cut short.
    with open(tmp_path / "xvector.ark", "ab") as handle:
        handle.write(b"u2 \x00BFV \x04\x04\x00")
    with open(tmp_path / "xvector.ark.idx", "a") as handle:
        handle.write("u2 99")
    assert [r.utt for r in ark.read_parts(tmp_path)] == ["u0", "u1"]
    with ark.PartWriter(tmp_path) as writer:
        assert writer.resumed == 2
        writer.write([("u2", vectors["u2"], sources["u2"])])
    assert [r.source for r in ark.read_parts(tmp_path)] == list(sources.values())
    wanted = [ark.Wanted(u, sources[u].path, sources[u]) for u in ["u2", "u0", "u1"]]
    result = ark.publish_scp([tmp_path], tmp_path, wanted)
    assert result.count == 3 and result.scp == tmp_path / "xvector.scp"
    loaded = dict(kaldiio.load_scp(str(result.scp)))
    assert list(loaded) == ["u2", "u0", "u1"]
    for utt, vector in vectors.items():
        assert np.array_equal(loaded[utt], vector)


def test_a_full_disk_while_writing_records_is_an_input_error_and_resumes(tmp_path, monkeypatch):
    import errno

    vectors = {f"u{i}": np.arange(4, dtype=np.float32) + i for i in range(4)}
    save_ark = kaldiio.save_ark
    written = []

    def fills_up(handle, records):
        if len(written) == 3:  # the fourth record finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(list(records))
        save_ark(handle, records)

    monkeypatch.setattr(kaldiio, "save_ark", fills_up)
    with pytest.raises(InputError, match=r"xvector.ark: cannot write extraction output: No space left"):
        with ark.PartWriter(tmp_path) as writer:
            writer.write([(u, v, None) for u, v in list(vectors.items())[:2]])
            writer.write([(u, v, None) for u, v in list(vectors.items())[2:]])
    assert [r.utt for r in ark.read_parts(tmp_path)] == ["u0", "u1"]  # the batch that was cut is not kept
    monkeypatch.setattr(kaldiio, "save_ark", save_ark)
    with ark.PartWriter(tmp_path) as writer:
        assert writer.resumed == 2
        writer.write([(u, v, None) for u, v in list(vectors.items())[2:]])
    records = ark.read_parts(tmp_path)
    assert [r.utt for r in records] == ["u0", "u1", "u2", "u3"]
    for record in records:
        assert np.array_equal(kaldiio.load_mat(f"{record.ark}:{record.offset}"), vectors[record.utt])


def test_journal_entries_past_the_end_of_the_ark_are_dropped(tmp_path):
    with ark.PartWriter(tmp_path) as writer:
        writer.write([("a", np.ones(3), None), ("b", np.ones(3), None)])
    size = (tmp_path / "xvector.ark").stat().st_size
    with open(tmp_path / "xvector.ark", "r+b") as handle:
        handle.truncate(size - 2)
    assert [r.utt for r in ark.read_parts(tmp_path)] == ["a"]


def test_publish_merges_parts_and_reports_duplicates(tmp_path):
    with ark.PartWriter(tmp_path / "x", ark.part_name("shard", 0, 2)) as writer:
        writer.write([("b", np.ones(2), None), ("a", np.zeros(2), None)])
    with ark.PartWriter(tmp_path / "y", ark.part_name("shard", 1, 2)) as writer:
        writer.write([("c", np.full(2, 2.0), None), ("a", np.full(2, 9.0), None)])
    result = ark.publish_scp([tmp_path / "x", tmp_path / "y"], tmp_path / "merged")
    assert result.duplicates == ("a",)
    loaded = dict(kaldiio.load_scp(str(result.scp)))
    assert list(loaded) == ["a", "b", "c"]  # sorted without an order
    assert loaded["a"].tolist() == [9.0, 9.0]  # the last record read (parts in folder order) wins
    lines = result.scp.read_text().splitlines()
    assert all(line.split()[1].startswith("/") for line in lines)  # absolute, usable from anywhere


def test_publish_with_nothing_and_whitespace_ids(tmp_path):
    with pytest.raises(InputError, match="no extracted embeddings"):
        ark.publish_scp([tmp_path], tmp_path)
    with ark.PartWriter(tmp_path) as writer, pytest.raises(InputError, match="whitespace"):
        writer.write([("a b", np.ones(2), None)])


def test_no_warnings_from_writing(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ark.PartWriter(tmp_path) as writer:
            writer.write([("a", np.ones(2, dtype=np.float64), None)])


def test_manifest_is_written_then_enforced(tmp_path):
    ark.check_manifest(tmp_path, {"weights_sha256": "aa", "precision": "fp32", "checkpoint": "/x/m.pt"})
    ark.check_manifest(tmp_path, {"weights_sha256": "aa", "precision": "fp32", "checkpoint": "elsewhere.pt"})
    with pytest.raises(InputError, match="weights_sha256: folder has 'aa', this run 'bb'"):
        ark.check_manifest(tmp_path, {"weights_sha256": "bb", "precision": "fp32"})
    unlabelled = tmp_path / "old"
    with ark.PartWriter(unlabelled) as writer:
        writer.write([("a", np.ones(2), None)])
    with pytest.raises(InputError, match="no xvector.json"):
        ark.check_manifest(unlabelled, {"weights_sha256": "aa"})
