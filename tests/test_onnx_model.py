"""ONNX models: WeSpeaker's export contract, the checks on a graph's signature, extraction through
onnxruntime equal to PyTorch's, `export-onnx` round trips and `--model x.onnx` on the command line."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # models and extraction: torch at import, model runs

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from click.testing import CliRunner  # noqa: E402
from models_helpers import random_model, save_checkpoint, write_corpus  # noqa: E402
from onnx_helpers import mean_pool_graph, wespeaker_export  # noqa: E402
from sveval.cli.main import cli  # noqa: E402

from sveval.errors import InputError  # noqa: E402
from sveval.io.audio import list_wav_dir, read_audio  # noqa: E402
from sveval.io.embeddings import read_embeddings  # noqa: E402
from sveval.models.checkpoint import load_model  # noqa: E402
from sveval.models.export import export_onnx  # noqa: E402
from sveval.models.extract import extract_to_dir  # noqa: E402
from sveval.models.fbank import Fbank  # noqa: E402
from sveval.models.onnx_model import OnnxEmbedder, load_onnx  # noqa: E402
from sveval.models.registry import load  # noqa: E402

# 48, 48, 49, 73, 73 and 37 frames: groups of equal and of different frame counts.
LENGTHS = [8000, 8050, 8160, 12000, 12000, 6000]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def gemini(tmp_path_factory):
    """A random-weight DF-ResNet60 checkpoint, its mean vector, and its WeSpeaker-style ONNX export."""
    root = tmp_path_factory.mktemp("gemini")
    model = random_model()
    checkpoint = save_checkpoint(model, root / "avg_model.pt")
    mean_vec = np.random.default_rng(1).normal(0, 0.5, 256).astype(np.float32)
    np.save(root / "mean_vec.npy", mean_vec)
    onnx_path = wespeaker_export(model, root / "wespeaker.onnx", mean_vec)
    return {"checkpoint": checkpoint, "model": model, "mean_vec": mean_vec, "onnx": onnx_path, "root": root}


@pytest.fixture
def corpus(tmp_path):
    write_corpus(tmp_path / "wav", LENGTHS)
    return list_wav_dir(tmp_path / "wav")


def test_wespeaker_export_gives_the_pytorch_embeddings(gemini, corpus, tmp_path):
    loaded = load_model(gemini["checkpoint"])
    onnx_model = load(str(gemini["onnx"]))
    assert (onnx_model.input_name, onnx_model.output_name, onnx_model.opset) == ("feats", "embs", 14)
    assert onnx_model.embed_dim == 256 and onnx_model.max_batch is None
    torch_result = extract_to_dir(loaded, corpus, tmp_path / "pt", device="cpu", progress=False)
    onnx_result = extract_to_dir(onnx_model, corpus, tmp_path / "onnx", batch_size=8, progress=False)
    pt, ox = read_embeddings(torch_result.scp), read_embeddings(onnx_result.scp)
    assert list(pt.ids) == list(ox.ids) == [u.utt for u in corpus]
    assert cosines(pt.vectors - gemini["mean_vec"], ox.vectors).min() >= 0.9999
    manifest = json.loads((tmp_path / "onnx" / "xvector.json").read_text())
    assert manifest["weights_sha256"] == hashlib.sha256(gemini["onnx"].read_bytes()).hexdigest()
    assert manifest["providers"] == ["CPUExecutionProvider"] and manifest["format"] == "onnx"


def test_export_onnx_round_trip(gemini, tmp_path):
    path = export_onnx(load_model(gemini["checkpoint"]), tmp_path / "m.onnx", gemini["mean_vec"])
    onnx_model = load_onnx(path)
    assert (onnx_model.input_name, onnx_model.output_name, onnx_model.opset) == ("feats", "embs", 14)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for frames in (20, 150, 333):  # shorter and longer than the 200 frames it was traced with
        feats = torch.randn(2, frames, 80)
        with torch.inference_mode():
            expected = gemini["model"](feats).numpy() - gemini["mean_vec"]
        got = session.run(["embs"], {"feats": feats.numpy()})[0]
        assert got.shape == (2, 256) and cosines(expected, got).min() >= 0.9999


def test_rows_of_different_lengths_never_see_padding(tmp_path, corpus):
    """A mean-over-frames graph would change with any padding: each row must equal its own utterance."""
    weight = np.random.default_rng(0).normal(size=(80, 16))
    model = load_onnx(mean_pool_graph(tmp_path / "pool.onnx", weight, input_name="feature", two_outputs=True))
    assert (model.input_name, model.output_name, model.embed_dim) == ("feature", "embed_b", 16)
    fbank = Fbank()
    signals = [torch.from_numpy(read_audio(u.path).samples) for u in corpus]
    lengths = torch.tensor([len(s) for s in signals])
    waves = torch.zeros(len(signals), int(lengths.max()))
    for row, signal in enumerate(signals):
        waves[row, : len(signal)] = signal
    got = OnnxEmbedder(model, ["CPUExecutionProvider"])(waves, lengths)
    for row, signal in enumerate(signals):
        feats = fbank(signal[None])[0].numpy().astype(np.float64)
        np.testing.assert_allclose(got[row], feats.mean(0) @ weight * 2 + 1, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"input_shape": ("B", "T", 40)},
            r"is \['B', 'T', 40\] tensor\(float\); expected \(batch, frames, 80\)",
        ),
        ({"input_shape": ("B", 80)}, "expected"),
        ({"elem_type": 7}, r"tensor\(int64\)"),
        ({"input_shape": ("B", 200, 80)}, "fixed number of frames"),
        ({"extra_input": True}, "takes 2 inputs"),
    ],
)
def test_graphs_outside_the_contract_are_refused(tmp_path, kwargs, message):
    weight = np.ones((kwargs.get("input_shape", (0, 0, 80))[-1], 4))
    path = mean_pool_graph(tmp_path / "bad.onnx", weight, **kwargs)
    with pytest.raises(InputError, match=message):
        load_onnx(path)


def test_not_a_graph_and_bf16_and_arch_are_clear_errors(tmp_path, gemini, corpus):
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    with pytest.raises(InputError, match="onnxruntime cannot load the graph"):
        load(str(tmp_path / "junk.onnx"))
    with pytest.raises(InputError, match="--arch applies to PyTorch checkpoints"):
        load(str(gemini["onnx"]), "Gemini_DF_ResNet60")
    with pytest.raises(InputError, match="float32"):
        extract_to_dir(load(str(gemini["onnx"])), corpus, tmp_path / "o", precision="bf16", progress=False)


def test_resume_shards_and_refusing_a_pytorch_folder(tmp_path, gemini, corpus):
    onnx_model = load_onnx(mean_pool_graph(tmp_path / "pool.onnx", np.eye(80)))
    whole = extract_to_dir(onnx_model, corpus, tmp_path / "whole", progress=False)
    for index in (0, 1):
        extract_to_dir(onnx_model, corpus, tmp_path / "sh", num_shards=2, shard_index=index, progress=False)
    a, b = read_embeddings(whole.scp), read_embeddings(tmp_path / "sh" / "xvector.scp")
    assert list(a.ids) == list(b.ids) and np.array_equal(a.vectors, b.vectors)
    again = extract_to_dir(onnx_model, corpus, tmp_path / "whole", progress=False)
    assert (again.extracted, again.already_done) == (0, len(corpus))
    extract_to_dir(load_model(gemini["checkpoint"]), corpus[:1], tmp_path / "pt", progress=False)
    with pytest.raises(InputError, match="weights_sha256: folder has"):
        extract_to_dir(onnx_model, corpus, tmp_path / "pt", progress=False)


def test_cli_export_then_extract_with_the_onnx_file(tmp_path, gemini):
    write_corpus(tmp_path / "wav", LENGTHS[2:4])
    runner = CliRunner()
    out = tmp_path / "m.onnx"
    args = ["export-onnx", "--model", str(gemini["checkpoint"]), "--out", str(out)]
    exported = runner.invoke(cli, args + ["--mean-vec", str(gemini["root"] / "mean_vec.npy")])
    assert exported.exit_code == 0 and "opset 14" in exported.output, exported.output
    common = [
        "--wav-dir",
        str(tmp_path / "wav"),
        "--device",
        "cpu",
        "--num-workers",
        "0",
        "--quiet",
        "--json",
    ]
    for model, folder in ((out, "onnx"), (gemini["checkpoint"], "pt")):
        result = runner.invoke(
            cli, ["extract", "--model", str(model), "--out", str(tmp_path / folder), *common]
        )
        assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["arch"] == "Gemini_DF_ResNet60"
    pt, ox = (
        read_embeddings(tmp_path / "pt" / "xvector.scp"),
        read_embeddings(tmp_path / "onnx" / "xvector.scp"),
    )
    assert cosines(pt.vectors - gemini["mean_vec"], ox.vectors).min() >= 0.9999
    again = runner.invoke(cli, ["export-onnx", "--model", str(out), "--out", str(tmp_path / "x.onnx")])
    assert again.exit_code == 2 and "takes a PyTorch checkpoint" in again.output
    bad_mean = tmp_path / "short.npy"
    np.save(bad_mean, np.zeros(3, np.float32))
    refused = runner.invoke(cli, args + ["--mean-vec", str(bad_mean)])
    assert refused.exit_code == 2 and "expected (256,)" in refused.output


def test_cli_score_with_an_onnx_model_records_its_sha256(tmp_path):
    """`score --model x.onnx`: cosine scores of the graph's embeddings, provenance in results.json."""
    weight = np.random.default_rng(3).normal(size=(80, 8))
    graph = mean_pool_graph(tmp_path / "pool.onnx", weight)
    write_corpus(tmp_path / "wav", [8000, 9000, 10000, 11000])  # speakers id0, id1, id2, id0
    utts = [u.utt for u in list_wav_dir(tmp_path / "wav")]
    pairs = [(a, b) for i, a in enumerate(utts) for b in utts[i + 1 :]]
    trials = tmp_path / "mine.kaldi"
    trials.write_text("".join(f"{a} {b} {'target' if a[:3] == b[:3] else 'nontarget'}\n" for a, b in pairs))
    args = ["score", "--model", str(graph), "--wav-dir", str(tmp_path / "wav"), "--trials", str(trials)]
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, [*args, "--mean", "none", "--out", str(out), "--device", "cpu", "--num-workers", "0", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    fbank = Fbank()
    emb = {u.utt: fbank(torch.from_numpy(read_audio(u.path).samples)[None])[0].numpy().mean(0) @ weight
           for u in list_wav_dir(tmp_path / "wav")}  # fmt: skip
    for line in (out / "mine.kaldi.score").read_text().splitlines():
        a, b, score, _ = line.split()
        assert float(score) == pytest.approx(cosines(emb[a][None], emb[b][None])[0], abs=2e-5)
    model = json.loads(next(out.rglob("results.json")).read_text())["model"]
    assert (
        model["weights_sha256"] == hashlib.sha256(graph.read_bytes()).hexdigest() and model["arch"] == "onnx"
    )


def test_torchrun_two_ranks_equal_one_process(tmp_path):
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("no gloo backend")
    sveval = shutil.which("sveval", path=str(Path(sys.executable).parent)) or shutil.which("sveval")
    if sveval is None:
        pytest.skip("sveval console script not found")
    graph = mean_pool_graph(tmp_path / "pool.onnx", np.random.default_rng(5).normal(size=(80, 8)))
    write_corpus(tmp_path / "wav", LENGTHS)
    single = extract_to_dir(
        load_onnx(graph), list_wav_dir(tmp_path / "wav"), tmp_path / "one", progress=False
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", sveval]
    command += [
        "extract",
        "--model",
        str(graph),
        "--wav-dir",
        str(tmp_path / "wav"),
        "--out",
        str(tmp_path / "two"),
    ]
    command += ["--device", "cpu", "--num-workers", "0", "--quiet", "--json"]
    run = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert '"extracted": 6' in run.stdout  # rank 0 reports the total of both ranks
    parts = sorted(p.name for p in (tmp_path / "two").glob("*.ark"))
    assert parts == ["xvector.rank0000-of-0002.ark", "xvector.rank0001-of-0002.ark"]
    one, two = read_embeddings(single.scp), read_embeddings(tmp_path / "two" / "xvector.scp")
    assert list(one.ids) == list(two.ids)
    np.testing.assert_allclose(two.vectors, one.vectors, atol=1e-6, rtol=0)


def test_export_onnx_without_the_onnx_package_says_how_to_install(gemini, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # what `import onnx` sees where it is not installed
    result = CliRunner().invoke(
        cli, ["export-onnx", "--model", str(gemini["checkpoint"]), "--out", str(tmp_path / "m.onnx")]
    )
    assert result.exit_code == 2, result.output
    assert "pip install 'sveval[model,onnx]'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("fill, what", [(np.nan, "NaN or infinite"), (0.0, "all-zero")])
def test_a_model_giving_nan_or_zero_embeddings_stops_the_extraction(tmp_path, corpus, fill, what):
    """A graph with NaN weights (or all-zero weights) is broken: exit 2 naming the model and the first
    utterances, nothing published, instead of an scp that `score` refuses later."""
    graph = mean_pool_graph(tmp_path / "broken.onnx", np.full((80, 8), fill))
    args = ["extract", "--model", graph, "--wav-dir", tmp_path / "wav", "--out", tmp_path / "e", "--quiet"]
    args += ["--num-workers", "0"]  # no decoder processes forked from a process holding sessions
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "Traceback" not in result.output
    assert errors[0].startswith(f"sveval: error: {graph}: the model gives {what} embeddings (for ")
    assert corpus[0].utt in errors[0] or any(u.utt in errors[0] for u in corpus)
    assert not (tmp_path / "e" / "xvector.scp").exists()
    assert not any(np.isnan(v).any() or not v.any() for v in _stored_vectors(tmp_path / "e"))


def _stored_vectors(folder: Path) -> list[np.ndarray]:
    import kaldiio

    return [v for ark_file in folder.glob("*.ark") for _, v in kaldiio.load_ark(str(ark_file))]
