"""Extraction folders know their audio, publish exactly the list, merge completely, check before working,
drop nothing quietly and say clearly what is wrong (in one process; other processes: test_extract_folder)."""

from __future__ import annotations

import json
import os
import shutil

import kaldiio
import numpy as np
import pytest

pytestmark = pytest.mark.slow  # models and extraction: torch at import, model runs

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from models_helpers import random_model, save_checkpoint, write_audio, write_corpus  # noqa: E402
from sveval.cli.main import cli  # noqa: E402

from sveval.errors import InputError  # noqa: E402
from sveval.io import ark  # noqa: E402
from sveval.io.audio import Utterance, audio_info, list_wav_dir, scan_audio_folder  # noqa: E402
from sveval.models.checkpoint import load_model  # noqa: E402
from sveval.models.extract import extract_to_dir  # noqa: E402

LENGTHS = [6400, 6560, 6720, 6880]  # 0.4 s and a little more: 38-41 frames, quick on a CPU


@pytest.fixture
def corpus(tmp_path):
    write_corpus(tmp_path / "wav", LENGTHS)
    return list_wav_dir(tmp_path / "wav")


def extract(loaded, utts, out, **kwargs):
    return extract_to_dir(loaded, utts, out, device="cpu", progress=False, **kwargs)


def scp_of(folder) -> dict:
    return dict(kaldiio.load_scp(str(folder / "xvector.scp")))


def write_scp(path, utts):
    path.write_text("".join(f"{u.utt} {u.path}\n" for u in utts))
    return path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# --- audio known by content: path, size and modification time are recorded per embedding ---------------


def test_each_record_names_the_audio_it_was_computed_from(tmp_path, loaded, corpus):
    extract(loaded, corpus, tmp_path / "out")
    records = {r.utt: r.source for r in ark.read_parts(tmp_path / "out")}
    for utt in corpus:
        st = os.stat(utt.path)
        assert records[utt.utt] == ark.Source(os.path.abspath(utt.path), st.st_size, st.st_mtime_ns)


def test_other_audio_under_the_same_id_is_extracted_again_not_reused(tmp_path, loaded, corpus):
    out = tmp_path / "out"
    before = scp_of(extract(loaded, corpus, out).out_dir)
    write_audio(tmp_path / "wav" / corpus[0].utt, 0.45, seed=77)  # new audio under the same id and path
    moved = tmp_path / "elsewhere.wav"
    shutil.copy(corpus[2].path, moved)  # same bytes, another file: the list now points elsewhere
    utts = [corpus[0], corpus[1], Utterance(corpus[2].utt, str(moved)), corpus[3]]
    again = extract(loaded, utts, out)
    assert sorted(again.changed) == sorted([corpus[0].utt, corpus[2].utt])
    assert (again.extracted, again.already_done) == (2, 2)
    assert any("extracted again because their audio changed" in w for w in again.warnings())
    after = scp_of(out)
    fresh = scp_of(extract(loaded, utts, tmp_path / "fresh").out_dir)  # an independent run on the new audio
    np.testing.assert_allclose(after[corpus[0].utt], fresh[corpus[0].utt], atol=1e-5, rtol=0)
    assert np.abs(after[corpus[0].utt] - before[corpus[0].utt]).max() > 1e-3
    assert np.array_equal(after[corpus[1].utt], before[corpus[1].utt])  # untouched audio: reused as is


def test_the_scp_lists_exactly_the_list_given_and_other_records_stay_for_reuse(tmp_path, loaded, corpus):
    out = tmp_path / "out"
    extract(loaded, corpus, out)
    one = extract(loaded, corpus[:1], out)
    assert list(scp_of(out)) == [corpus[0].utt] and one.extracted == 0
    assert len(ark.read_parts(out)) == len(corpus)  # still in the ark
    back = extract(loaded, corpus[::-1], out)
    assert back.extracted == 0 and list(scp_of(out)) == [u.utt for u in corpus[::-1]]


def test_an_unfinished_run_leaves_no_scp_of_an_earlier_list(tmp_path, loaded, corpus):
    out = tmp_path / "out"
    extract(loaded, corpus[:2], out)
    assert (out / "xvector.scp").exists()
    first = extract(loaded, corpus, out, num_shards=2, shard_index=0)
    assert first.scp is None  # the other shard still has work: nothing may claim the folder is complete
    assert not (out / "xvector.scp").exists()


# --- merges are complete or refused --------------------------------------------------------------------


def test_merge_against_a_list_refuses_when_anything_is_missing(tmp_path, loaded, corpus):
    out = tmp_path / "out"
    shard0 = extract(loaded, corpus, out, num_shards=2, shard_index=0)
    scp = write_scp(tmp_path / "wav.scp", corpus)
    missing = len(corpus) - shard0.extracted
    refused = invoke("extract", "--merge", out, "--wav-scp", scp)
    assert refused.exit_code == 2
    assert f"{missing:,} of {len(corpus):,} listed utterances have no embedding" in refused.output
    assert "nothing published" in refused.output and not (out / "xvector.scp").exists()
    extract(loaded, corpus, out, num_shards=2, shard_index=1)
    merged = invoke("extract", "--merge", out, "--wav-scp", scp, "--out", tmp_path / "merged", "--json")
    assert merged.exit_code == 0, merged.output
    summary = json.loads(merged.stdout)
    assert summary["count"] == len(corpus) and summary["checked_against_list"]
    assert summary["points_into"] == [str(out.resolve())]
    assert (
        f"points into the arks of {out.resolve()}" in merged.stderr and "not self-contained" in merged.stderr
    )
    assert list(scp_of(tmp_path / "merged")) == [u.utt for u in corpus]


# --- every check that needs no audio runs before the first utterance --------------------------------------


def test_an_id_with_a_space_fails_before_extraction_or_is_skipped(tmp_path, checkpoint, corpus):
    write_audio(tmp_path / "wav" / "id9" / "v" / "a b.wav", 0.4, seed=9)
    args = ["extract", "--model", checkpoint, "--wav-dir", tmp_path / "wav", "--device", "cpu"]
    args += ["--num-workers", "0", "--quiet"]
    failed = invoke(*args, "--out", tmp_path / "a")
    assert failed.exit_code == 2 and "'id9/v/a b.wav' is empty or contains whitespace" in failed.output
    assert not list((tmp_path / "a").glob("*.ark"))  # nothing was extracted
    skipped = invoke(*args, "--out", tmp_path / "b", "--skip-bad")
    assert skipped.exit_code == 0, skipped.output
    assert "skipped id9/v/a b.wav" in skipped.stderr
    assert list(scp_of(tmp_path / "b")) == [u.utt for u in corpus]


def test_an_unwritable_output_fails_before_the_model_is_loaded(tmp_path, corpus):
    (tmp_path / "file").write_text("x")
    result = invoke(
        "extract",
        "--model",
        tmp_path / "no-model.pt",
        "--wav-dir",
        tmp_path / "wav",
        "--out",
        tmp_path / "file" / "o",
    )
    assert result.exit_code == 2 and "output folder is not writable" in result.output


def test_score_model_checks_top_n_and_methods_before_extracting(tmp_path, checkpoint, corpus):
    scp = write_scp(tmp_path / "eval.scp", corpus)
    cohort = write_scp(tmp_path / "cohort.scp", corpus)  # speakers id0, id1, id2 (first path component)
    (tmp_path / "t.kaldi").write_text(f"{corpus[0].utt} {corpus[1].utt} nontarget\n")
    args = [
        "score",
        "--model",
        checkpoint,
        "--wav-scp",
        scp,
        "--cohort-wav-scp",
        cohort,
        "--cohort-name",
        "c",
    ]
    args += ["--trials", tmp_path / "t.kaldi", "--out", tmp_path / "s", "--device", "cpu", "--quiet"]
    big = invoke(*args, "--top-n", 300)
    assert big.exit_code == 2 and "--top-n 300 is larger than the cohort (3 speakers" in big.output
    bogus = invoke(*args, "--norm", "cos,bogus")
    assert bogus.exit_code == 2 and "unknown scoring method" in bogus.output
    assert not (tmp_path / "s" / "embeddings").exists()  # nothing was extracted


# --- nothing dropped quietly from --wav-dir --------------------------------------------------------------


def test_wav_dir_follows_symlinks_and_names_what_it_leaves_out(tmp_path):
    write_audio(tmp_path / "store" / "id7" / "v" / "00001.wav", 0.4, seed=1)
    write_audio(tmp_path / "wav" / "id1" / "v" / "00001.flac", 0.4, seed=2)
    (tmp_path / "wav" / "id7").symlink_to(tmp_path / "store" / "id7", target_is_directory=True)
    (tmp_path / "wav" / "loop").symlink_to(tmp_path / "wav", target_is_directory=True)  # visited once
    (tmp_path / "wav" / "id1" / "v" / "00002.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A ")
    (tmp_path / "wav" / "id1" / "README.txt").write_text("notes")
    with pytest.raises(InputError, match=r"1 audio files are in formats .* cannot decode \(1 \.m4a\)"):
        list_wav_dir(tmp_path / "wav")
    utts = list_wav_dir(tmp_path / "wav", skip_bad=True)
    assert [u.utt for u in utts] == ["id1/v/00001.flac", "id7/v/00001.wav"]
    notes = " ".join(scan_audio_folder(tmp_path / "wav").notes())
    assert "1 audio files" in notes and "id1/v/00002.m4a" in notes and "1 other files" in notes


# --- messages and settings ------------------------------------------------------------------------------


def test_a_missing_audio_file_is_said_to_not_exist(tmp_path):
    with pytest.raises(InputError, match="gone.wav: audio file does not exist"):
        audio_info(str(tmp_path / "gone.wav"))
    (tmp_path / "dangling.wav").symlink_to(tmp_path / "gone.wav")
    with pytest.raises(InputError, match="broken symlink"):
        audio_info(str(tmp_path / "dangling.wav"))


def test_a_config_resample_rate_other_than_16k_is_refused(tmp_path):
    save_checkpoint(random_model(), tmp_path / "avg_model.pt")
    (tmp_path / "config.yaml").write_text("dataset_args:\n  resample_rate: 8000\n")
    with pytest.raises(InputError, match="dataset_args.resample_rate is 8000; sveval extracts at 16000 Hz"):
        load_model(tmp_path)


def test_an_architecture_from_config_is_named_as_such(checkpoint):
    with pytest.raises(InputError, match="but config.yaml says Gemini_DF_ResNet114"):
        load_model(checkpoint, arch="Gemini_DF_ResNet114", arch_from="config.yaml")


def test_a_differing_fbank_setting_is_named_by_key(tmp_path):
    settings = {"weights_sha256": "aa", "fbank": {"num_mel_bins": 80, "frame_shift_ms": 10.0}}
    ark.check_manifest(tmp_path, settings)
    with pytest.raises(InputError, match=r"fbank.frame_shift_ms: folder has 10.0, this run 12.0\)"):
        ark.check_manifest(tmp_path, {**settings, "fbank": {"num_mel_bins": 80, "frame_shift_ms": 12.0}})


def test_all_zero_audio_is_embedded_with_a_warning(tmp_path, loaded, corpus):
    silent = tmp_path / "silent.wav"
    import soundfile

    soundfile.write(silent, np.zeros(6400, dtype=np.float32), 16000)
    result = extract(loaded, [*corpus[:1], Utterance("silent", str(silent))], tmp_path / "out")
    assert result.silent == ("silent",)
    assert any("digital silence" in w and "silent" in w for w in result.warnings())


def test_too_little_shared_memory_for_the_decoders_is_refused_before_decoding(
    tmp_path, loaded, corpus, monkeypatch
):
    """A container's 64 MB /dev/shm cannot take 15 workers x 2 rows of 16 MB: the decoders would fail to
    hand their batches over and the run would wait forever."""
    import collections
    import shutil

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(64_000_000, 63_990_000, 10_000))
    with pytest.raises(InputError, match=r"shared memory \(/dev/shm\) has 0 MB free.*--num-workers 0"):
        extract(loaded, corpus, tmp_path / "out", num_workers=2, batch_size=4)
    assert not ark.read_parts(tmp_path / "out")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(64_000_000, 0, 64_000_000))
    assert extract(loaded, corpus, tmp_path / "out", num_workers=2, batch_size=4).extracted == len(LENGTHS)
