"""Extraction: batched equals batch-1, resume, bad files, shards and merge, `extract` and `models`."""

from __future__ import annotations

import json
import sys

import kaldiio
import numpy as np
import pytest

pytestmark = pytest.mark.slow  # models and extraction: torch at import, model runs

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from models_helpers import random_model, save_checkpoint, write_audio, write_corpus  # noqa: E402
from sveval.cli.main import cli  # noqa: E402

from sveval.errors import InputError  # noqa: E402
from sveval.io.audio import Utterance, list_wav_dir, read_audio  # noqa: E402
from sveval.models.checkpoint import load_model  # noqa: E402
from sveval.models.embedder import BatchAudio, Embedder, default_num_workers  # noqa: E402
from sveval.models.extract import extract_to_dir  # noqa: E402
from sveval.models.fbank import Fbank  # noqa: E402

# 8000/8050/8100 samples all make 48 frames; 8160 makes 49; two of 12000 (73 frames); one of 6000.
LENGTHS = [8000, 8050, 8100, 8160, 12000, 12000, 6000]


@pytest.fixture
def corpus(tmp_path):
    write_corpus(tmp_path / "wav", LENGTHS)
    return list_wav_dir(tmp_path / "wav")


def batch1(loaded, utts):
    """Reference: one utterance at a time through the checkpoint's own (unfolded) model, as WeSpeaker."""
    fbank = Fbank(loaded.fbank)
    out = {}
    with torch.inference_mode():
        for utt in utts:
            samples = torch.from_numpy(read_audio(utt.path).samples)
            out[utt.utt] = loaded.model(fbank(samples[None]))[0].numpy()
    return out


# 8 utterances in one row as wide as needed / fixed rows of 160 frames: 3 rows, one width (one shape).
@pytest.mark.parametrize("batching", [{"batch_size": 8}, {"frames_per_batch": 160}])
def test_batched_extraction_equals_batch_one(tmp_path, loaded, corpus, batching):
    result = extract_to_dir(loaded, corpus, tmp_path / "out", device="cpu", progress=False, **batching)
    assert result.extracted == len(LENGTHS) and result.scp == tmp_path / "out" / "xvector.scp"
    written = dict(kaldiio.load_scp(str(result.scp)))
    assert list(written) == [u.utt for u in corpus]  # wav list order, as WeSpeaker writes it
    reference = batch1(loaded, corpus)
    for utt, vector in reference.items():
        np.testing.assert_allclose(written[utt], vector, atol=1e-5, rtol=0)
    assert np.abs(written[corpus[0].utt] - written[corpus[1].utt]).max() > 1e-3  # distinct inputs


def test_16_bit_batches_travel_as_int16_with_the_same_embeddings(tmp_path, loaded, corpus):
    """The loader ships 16-bit files as int16 (half the bytes); one 24-bit file makes the batch float32.
    Either way the values are those of the float32 decoding, so embeddings are bit-for-bit the same."""
    odd = write_audio(tmp_path / "odd" / "x.wav", 0.5, seed=9, subtype="PCM_24")
    mixed = [*corpus[:2], Utterance("odd", str(odd))]
    plans = [corpus[:3], mixed]
    shipped = BatchAudio(plans, [None, None], loaded.fbank)
    as_float = BatchAudio(plans, [None, None], loaded.fbank, ship_int16=False)
    assert shipped[0]["samples"].dtype == torch.int16 and as_float[0]["samples"].dtype == torch.float32
    assert shipped[1]["samples"].dtype == torch.float32
    for i in range(2):
        assert torch.equal(shipped[i]["samples"].float(), as_float[i]["samples"])
        assert all(
            torch.equal(a, b)
            for a, b in zip(shipped[i]["index"].values(), as_float[i]["index"].values())
            if isinstance(a, torch.Tensor)
        )
    embedder = Embedder(loaded)
    want = [embedder(b["samples"], b["lengths"], b["index"]) for b in (as_float[0], as_float[1])]
    embedder.warm_up(160)  # a silent row of 160 frames, as a GPU run does first: it leaves nothing behind
    for i in range(2):
        got = embedder(shipped[i]["samples"], shipped[i]["lengths"], shipped[i]["index"])
        assert np.array_equal(got, want[i])


def test_batches_queued_on_the_device_are_written_in_order_and_all(tmp_path, loaded, corpus, monkeypatch):
    """As on a GPU: each launch returns before its result is ready and two batches stay queued behind the
    one being written; every embedding still lands, in list order, equal to batch 1."""
    events = []
    launch = Embedder.launch

    def deferred(self, samples, lengths, index=None):
        number = sum(e[0] == "launch" for e in events)
        events.append(("launch", number))
        ready = launch(self, samples, lengths, index)

        def wait():
            events.append(("write", number))
            return ready()

        return wait

    monkeypatch.setattr(Embedder, "launch", deferred)
    monkeypatch.setattr(Embedder, "queued", 2)
    result = extract_to_dir(loaded, corpus, tmp_path / "out", device="cpu", batch_size=2, progress=False)
    batches = -(-len(LENGTHS) // 2)
    assert result.extracted == len(LENGTHS)
    # batch k is written once k + 3 is launched (or at the end): the device always has work queued
    writes = [i for i, e in enumerate(events) if e[0] == "write"]
    assert [events[i][1] for i in writes] == list(range(batches))
    assert events[: writes[0] + 1] == [("launch", 0), ("launch", 1), ("launch", 2), ("write", 0)]
    written = dict(kaldiio.load_scp(str(result.scp)))
    assert list(written) == [u.utt for u in corpus]
    for utt, vector in batch1(loaded, corpus).items():
        np.testing.assert_allclose(written[utt], vector, atol=1e-5, rtol=0)


def test_precision_is_recorded_and_checked(tmp_path, loaded, corpus):
    extract_to_dir(loaded, corpus[:1], tmp_path, device="cpu", precision="tf32", progress=False)
    assert json.loads((tmp_path / "xvector.json").read_text())["precision"] == "tf32"
    with pytest.raises(InputError, match="precision"):
        extract_to_dir(loaded, corpus[:1], tmp_path / "x", device="cpu", precision="fp16", progress=False)


def test_default_workers_follow_the_cores(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert default_num_workers("cuda:0") == 15 and default_num_workers("cpu") == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun: four ranks share the node's cores
    assert default_num_workers("cuda:0") == 3
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert default_num_workers("cuda:0") == 2 and default_num_workers("cpu") == 1


def test_bf16_stays_close_to_fp32(tmp_path, loaded, corpus):
    # bf16 on a CPU without AMX is emulated and slow: two utterances are enough here.
    result = extract_to_dir(loaded, corpus[:2], tmp_path, device="cpu", precision="bf16", progress=False)
    written = dict(kaldiio.load_scp(str(result.scp)))
    for utt, vector in batch1(loaded, corpus[:2]).items():
        cosine = vector @ written[utt] / np.linalg.norm(vector) / np.linalg.norm(written[utt])
        assert cosine > 0.99


def test_resume_skips_done_ids_and_keeps_them(tmp_path, loaded, corpus):
    out = tmp_path / "out"
    first = extract_to_dir(loaded, corpus[:3], out, device="cpu", progress=False)
    before = dict(kaldiio.load_scp(str(first.scp)))
    second = extract_to_dir(loaded, corpus, out, device="cpu", progress=False)
    assert (second.already_done, second.extracted) == (3, len(LENGTHS) - 3)
    after = dict(kaldiio.load_scp(str(second.scp)))
    assert list(after) == [u.utt for u in corpus]
    for utt, vector in before.items():
        assert np.array_equal(after[utt], vector)
    third = extract_to_dir(loaded, corpus, out, device="cpu", progress=False)
    assert third.extracted == 0 and third.already_done == len(LENGTHS)


def test_bad_files_are_errors_or_skipped_and_listed(tmp_path, loaded, corpus):
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    write_audio(tmp_path / "short.wav", 600 / 16000, seed=1)  # 2 frames: too short for the network
    utts = corpus[:2] + [
        Utterance("broken", str(tmp_path / "broken.wav")),
        Utterance("short", str(tmp_path / "short.wav")),
    ]
    with pytest.raises(InputError, match=r"broken.wav: cannot read audio header.*1 more; --skip-bad"):
        extract_to_dir(loaded, utts, tmp_path / "a", device="cpu", progress=False)
    result = extract_to_dir(loaded, utts, tmp_path / "b", device="cpu", skip_bad=True, progress=False)
    assert sorted(s.utt for s in result.skipped) == ["broken", "short"]
    assert "too short (600 samples" in next(s.reason for s in result.skipped if s.utt == "short")
    listed = (tmp_path / "b" / "xvector.skipped").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == ["broken", "short"]
    assert list(dict(kaldiio.load_scp(str(result.scp)))) == [u.utt for u in corpus[:2]]


def test_resampled_and_multichannel_files_are_counted(tmp_path, loaded):
    write_audio(tmp_path / "w" / "a" / "v" / "1.wav", 0.6, seed=1, rate=8000)
    write_audio(tmp_path / "w" / "a" / "v" / "2.wav", 0.6, seed=2, channels=2)
    utts = list_wav_dir(tmp_path / "w")
    result = extract_to_dir(loaded, utts, tmp_path / "out", device="cpu", num_workers=1, progress=False)
    assert (result.resampled, result.multichannel, result.extracted) == (1, 1, 2)


def test_shards_then_merge_equal_one_process(tmp_path, loaded, corpus):
    whole = extract_to_dir(loaded, corpus, tmp_path / "one", device="cpu", progress=False)
    first = extract_to_dir(
        loaded, corpus, tmp_path / "sh", device="cpu", num_shards=2, shard_index=0, progress=False
    )
    assert first.scp is None and 0 < first.extracted < len(LENGTHS)  # the other shard is not done yet
    second = extract_to_dir(
        loaded, corpus, tmp_path / "sh", device="cpu", num_shards=2, shard_index=1, progress=False
    )
    assert second.scp is not None and first.extracted + second.extracted == len(LENGTHS)
    one = dict(kaldiio.load_scp(str(whole.scp)))
    sharded = dict(kaldiio.load_scp(str(second.scp)))
    assert list(sharded) == list(one)
    for utt in one:
        np.testing.assert_allclose(sharded[utt], one[utt], atol=1e-5, rtol=0)
    with pytest.raises(InputError, match="--shard-index must be in 0..1"):
        extract_to_dir(loaded, corpus, tmp_path / "x", device="cpu", num_shards=2, shard_index=2)


def test_cli_extract_resume_and_merge(tmp_path, checkpoint, corpus):
    scp = tmp_path / "wav.scp"
    scp.write_text("".join(f"{u.utt} {u.path}\n" for u in corpus[:3]))
    runner = CliRunner()
    args = ["extract", "--model", str(checkpoint), "--wav-scp", str(scp), "--out", str(tmp_path / "e")]
    result = runner.invoke(cli, args + ["--device", "cpu", "--num-workers", "0", "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["extracted"] == 3 and summary["arch"] == "Gemini_DF_ResNet60"
    assert summary["scp"] == str(tmp_path / "e" / "xvector.scp")
    again = runner.invoke(cli, args + ["--device", "cpu", "--num-workers", "0", "--quiet"])
    assert (
        again.exit_code == 0
        and "extracted 0 utterances" in again.stdout
        and "3 were already done" in again.stdout
    )
    merged = runner.invoke(cli, ["extract", "--merge", str(tmp_path / "e"), "--out", str(tmp_path / "m")])
    assert merged.exit_code == 0 and "merged 3 embeddings" in merged.stdout
    assert len(kaldiio.load_scp(str(tmp_path / "m" / "xvector.scp"))) == 3


def test_cli_usage_errors_exit_2(tmp_path, checkpoint):
    runner = CliRunner()
    both = runner.invoke(
        cli, ["extract", "--model", str(checkpoint), "--out", "o", "--wav-scp", "a", "--wav-dir", "b"]
    )
    assert both.exit_code == 2 and "exactly one of --wav-scp and --wav-dir" in both.output
    merge = runner.invoke(cli, ["extract", "--merge", "a", "b"])
    assert merge.exit_code == 2 and "needs --out" in merge.output
    stray = runner.invoke(cli, ["extract", "somewhere"])
    assert stray.exit_code == 2 and "only taken with --merge" in stray.output


def test_cli_models_lists_parameter_counts():
    result = CliRunner().invoke(cli, ["models", "--json"])
    assert result.exit_code == 0
    counts = {row["arch"]: row["parameters"] for row in json.loads(result.stdout)["architectures"]}
    assert counts["Gemini_DF_ResNet60"] == 4_047_840 and counts["Gemini_DF_ResNet183"] == 9_196_384
    table = CliRunner().invoke(cli, ["models"]).stdout
    assert "Gemini_df_resnet110" in table and "6,531,552" in table


def test_missing_torch_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 2 and "pip install 'sveval[model]'" in result.output


def test_help_and_metrics_do_not_import_torch():
    import subprocess

    code = "import sys; from click.testing import CliRunner; from sveval.cli.main import cli; "
    code += "r = CliRunner().invoke(cli, ['--help']); assert 'extract' in r.output; "
    code += "CliRunner().invoke(cli, ['extract', '--help']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_warns_about_skipped_resampled_and_ignored_keys(tmp_path):
    model = random_model()
    extra = {"projection.weight": torch.zeros(7, 256)}
    checkpoint = save_checkpoint(model, tmp_path / "m" / "final_model.pt", extra=extra)
    write_audio(tmp_path / "w" / "a" / "v" / "1.wav", 0.5, seed=1, rate=22050)
    (tmp_path / "w" / "a" / "v" / "2.wav").write_bytes(b"not audio at all")
    args = [
        "extract",
        "--model",
        str(checkpoint.parent),
        "--wav-dir",
        str(tmp_path / "w"),
        "--out",
        str(tmp_path / "o"),
    ]
    args += ["--device", "cpu", "--num-workers", "0", "--quiet"]
    failed = CliRunner().invoke(cli, args)
    assert failed.exit_code == 2 and "2.wav: cannot read audio header" in failed.output
    result = CliRunner().invoke(cli, args + ["--skip-bad"])
    assert result.exit_code == 0, result.output
    assert "1 files were not 16 kHz and were resampled" in result.stderr
    assert "1 utterances skipped" in result.stderr and "skipped a/v/2.wav" in result.stderr
    assert "ignored training-only checkpoint keys: projection.*" in result.stderr
    assert list(kaldiio.load_scp(str(tmp_path / "o" / "xvector.scp"))) == ["a/v/1.wav"]


def test_a_folder_of_another_model_or_precision_is_refused(tmp_path, loaded, corpus):
    extract_to_dir(loaded, corpus[:2], tmp_path / "a", device="cpu", progress=False)
    other = load_model(save_checkpoint(random_model(seed=9), tmp_path / "other.pt"))
    with pytest.raises(InputError, match="weights_sha256: folder has"):
        extract_to_dir(other, corpus, tmp_path / "a", device="cpu", progress=False)
    with pytest.raises(InputError, match="precision: folder has 'fp32', this run 'bf16'"):
        extract_to_dir(loaded, corpus, tmp_path / "a", device="cpu", precision="bf16", progress=False)
    extract_to_dir(other, corpus[2:4], tmp_path / "b", device="cpu", progress=False)
    merged = CliRunner().invoke(
        cli, ["extract", "--merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "m")]
    )
    assert merged.exit_code == 2 and "different models or settings" in merged.output
