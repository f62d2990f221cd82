"""Hostile models: ONNX graphs that break WeSpeaker's contract only at run time, and pickles that
torch.load(weights_only=True) refuses. Each must stop the command with one line on stderr (exit 2) naming
the file and the cause, before anything wrong is written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # models and extraction: torch at import, model runs

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from click.testing import CliRunner  # noqa: E402
from models_helpers import write_corpus  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from sveval.cli.main import cli  # noqa: E402

from sveval.errors import InputError  # noqa: E402
from sveval.models.checkpoint import load_model  # noqa: E402
from sveval.models.onnx_model import check_runs, load_onnx  # noqa: E402

# 49, 49, 49, 49, 74 and 74 frames: a batch of four equal lengths first, then a batch of two longer ones.
LENGTHS = [8160, 8160, 8160, 8160, 12160, 12160]


def graph(path: Path, nodes, initializers=(), out_shape=("B", 8)) -> Path:
    """A graph on the contract's input (B, T, 80) declaring one output `embs` of `out_shape`."""
    feats = helper.make_tensor_value_info("feats", TensorProto.FLOAT, ["B", "T", 80])
    embs = helper.make_tensor_value_info("embs", TensorProto.FLOAT, list(out_shape))
    model = helper.make_model(
        helper.make_graph(nodes, "hostile", [feats], [embs], list(initializers)),
        opset_imports=[helper.make_opsetid("", 14)],
    )
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def weight(dim: int = 8):
    return numpy_helper.from_array(np.random.default_rng(0).normal(size=(80, dim)).astype(np.float32), "W")


def one_row_graph(path: Path) -> Path:
    """Pools the whole batch into one row, declared (B, 8): numpy would broadcast it to every utterance."""
    nodes = [
        helper.make_node("ReduceMean", ["feats"], ["pooled"], axes=[1], keepdims=0),
        helper.make_node("ReduceMean", ["pooled"], ["batch"], axes=[0], keepdims=1),
        helper.make_node("MatMul", ["batch", "W"], ["embs"]),
    ]
    return graph(path, nodes, [weight()])


def width_follows_frames_graph(path: Path, out_shape=("B", "D")) -> Path:
    """Mean over the mel bins: one value per frame, so the 'embedding' is as wide as the utterance."""
    return graph(
        path, [helper.make_node("ReduceMean", ["feats"], ["embs"], axes=[2], keepdims=0)], out_shape=out_shape
    )


def fails_at_run_time_graph(path: Path) -> Path:
    """Reshapes to 49 frames: runs on utterances of 49 frames, fails inside onnxruntime on any other."""
    shape = numpy_helper.from_array(np.array([0, 49, 80], np.int64), "shape")
    nodes = [
        helper.make_node("Reshape", ["feats", "shape"], ["fixed"]),
        helper.make_node("ReduceMean", ["fixed"], ["pooled"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["pooled", "W"], ["embs"]),
    ]
    return graph(path, nodes, [weight(), shape])


@pytest.fixture
def wav_dir(tmp_path):
    write_corpus(tmp_path / "wav", LENGTHS)
    return tmp_path / "wav"


def extract(model: Path, wav_dir: Path, out: Path, *more: str):
    args = ["extract", "--model", str(model), "--wav-dir", str(wav_dir), "--out", str(out)]
    args += ["--device", "cpu", "--num-workers", "0", "--quiet", *more]
    return CliRunner().invoke(cli, args)


def assert_one_line_error(result, path: Path, *causes: str) -> str:
    """Exit 2 (an InputError: anything else is exit 1 under CliRunner), one line on stderr naming the file."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(path) in lines[0], lines[0]
    for cause in causes:
        assert cause in lines[0], lines[0]
    return lines[0]


def written_widths(out: Path) -> list[int]:
    """The size of every vector journalled in the folder's parts (complete records only), in order."""
    from sveval.io import ark

    widths = []
    for record in ark.read_parts(out):
        blob = record.ark.read_bytes()[record.offset : record.end]
        header = blob.index(b"FV \x04") + 4  # Kaldi binary float vector: "FV " then int32 size (4 bytes)
        widths.append(int.from_bytes(blob[header : header + 4], "little"))
    return widths


def test_a_graph_returning_one_row_per_batch_is_refused_before_writing(tmp_path, wav_dir):
    model = one_row_graph(tmp_path / "onerow.onnx")
    result = extract(model, wav_dir, tmp_path / "out", "--batch-size", "4")
    line = assert_one_line_error(result, model, "shape (1, 8) for a batch of")
    assert re.search(r"for a batch of (\d) utterances of \d+ frames; expected \(\1, dim\)", line), line
    assert written_widths(tmp_path / "out") == []  # the first batch already: nothing was written
    assert not (tmp_path / "out" / "xvector.scp").exists()
    # check_runs (validate, models fetch) runs a batch of two: the same graph fails there too.
    with pytest.raises(InputError, match=r"shape \(1, 8\) for a batch of 2 utterances"):
        check_runs(load_onnx(model))


def test_a_graph_whose_width_follows_the_input_never_mixes_sizes_in_an_ark(tmp_path, wav_dir):
    model = width_follows_frames_graph(tmp_path / "width.onnx")
    out = tmp_path / "out"
    result = extract(model, wav_dir, out, "--batch-size", "4")
    line = assert_one_line_error(result, model, "must not depend on the input")
    found = re.search(r"returned (\d+)-dim embeddings for \1 frames, but earlier batches gave (\d+)", line)
    assert found, line
    # What was written before the refusal is the earlier batches' size only: never two sizes in one ark.
    assert set(written_widths(out)) == {int(found.group(2))}
    assert not (out / "xvector.scp").exists()
    with pytest.raises(InputError, match="must not depend on the input"):
        check_runs(load_onnx(model))


def test_a_graph_giving_another_width_than_it_declares_is_refused(tmp_path, wav_dir):
    model = width_follows_frames_graph(tmp_path / "declared.onnx", out_shape=("B", 8))
    result = extract(model, wav_dir, tmp_path / "out", "--batch-size", "4")
    line = assert_one_line_error(result, model, "its output is declared (batch, 8)")
    assert re.search(r"returned (49|74)-dim embeddings for \1 frames", line), line
    assert written_widths(tmp_path / "out") == []


def test_a_graph_failing_at_run_time_is_one_line_naming_the_model(tmp_path, wav_dir):
    model = fails_at_run_time_graph(tmp_path / "fails.onnx")
    result = extract(model, wav_dir, tmp_path / "out", "--batch-size", "4")
    line = assert_one_line_error(result, model, "the graph fails on a batch of 2 x 74 frames", "Reshape node")
    assert "ONNXRuntimeError" not in line and "onnxruntime_src" not in line
    with pytest.raises(InputError, match="the graph fails on a batch of 2 x 200 frames"):
        check_runs(load_onnx(model))


def test_run_time_failure_in_a_real_process_prints_one_line_and_no_traceback(tmp_path, wav_dir):
    """The whole command as a user runs it: onnxruntime's own error log must not reach stderr either."""
    model = fails_at_run_time_graph(tmp_path / "fails.onnx")
    args = [str(Path(sys.executable).parent / "sveval")]
    args += ["extract", "--model", str(model), "--wav-dir", str(wav_dir), "--out", str(tmp_path / "out")]
    args += ["--device", "cpu", "--num-workers", "0", "--quiet", "--batch-size", "4"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(model) in lines[0] and "Reshape node" in lines[0]


def refused_pickles(folder: Path) -> dict[str, Path]:
    """Checkpoints that torch's weights-only unpickler refuses, each a different way."""
    import argparse

    folder.mkdir(parents=True, exist_ok=True)

    class Reduces:  # a __reduce__ that would run a shell command
        def __reduce__(self):
            return (os.system, ("echo should-never-run",))

    torch.save({"seg_1.weight": torch.zeros(2), "hook": Reduces()}, folder / "reduce.pt")
    torch.save({"args": argparse.Namespace(lr=0.1), "model": {}}, folder / "custom_class.pt")
    # A protocol-0 INST opcode: torch answers with "Please file an issue ... Unsupported operand 105".
    torch.save({"w": torch.zeros(3)}, folder / "base.pt")
    import zipfile

    with zipfile.ZipFile(folder / "base.pt") as source, zipfile.ZipFile(folder / "opcode.pt", "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith("data.pkl"):
                data = b"(ios\nsystem\n(S'echo should-never-run'\ntb."
            target.writestr(info, data)
    (folder / "legacy_opcode.pt").write_bytes(b"(ios\nsystem\n(S'echo should-never-run'\ntb.")
    return {
        "reduce.pt": folder / "reduce.pt",
        "custom_class.pt": folder / "custom_class.pt",
        "opcode.pt": folder / "opcode.pt",
        "legacy_opcode.pt": folder / "legacy_opcode.pt",
    }


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("reduce.pt", "calls posix.system"),
        ("custom_class.pt", "calls argparse.Namespace"),
        ("opcode.pt", "uses the opcode 'i'"),
        ("legacy_opcode.pt", "uses the opcode 'i'"),
    ],
)
def test_a_refused_pickle_is_one_line_saying_it_was_not_loaded(tmp_path, wav_dir, name, what):
    if name == "reduce.pt" and os.name != "posix":
        pytest.skip("os.system pickles as posix.system on POSIX only")
    path = refused_pickles(tmp_path / "ckpt")[name]
    with pytest.raises(InputError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message and "file an issue" not in message and "weights_only=False" not in message
    assert message.startswith(f"{path}: not a plain state dict checkpoint: its pickle {what}")
    assert message.endswith("torch.load(weights_only=True) refuses; it was not loaded")
    result = extract(path, wav_dir, tmp_path / "out")
    assert_one_line_error(result, path, "not a plain state dict checkpoint", "it was not loaded")
