"""Helpers for the ONNX tests: WeSpeaker's export recipe and tiny hand-built graphs with known outputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def wespeaker_export(model, path: Path, mean_vec: np.ndarray | None = None, feat_dim: int = 80) -> Path:
    """What `wespeaker/bin/export_onnx.py` does with a loaded model: wrap it (last output minus the mean
    vector), trace with a (1, 200, feat_dim) dummy, opset 14, dynamic B and T, names feats/embs."""

    class Model(torch.nn.Module):
        def __init__(self, model, mean_vec=None):
            super().__init__()
            self.model = model
            self.register_buffer("mean_vec", mean_vec)

        def forward(self, feats):
            outputs = self.model(feats)  # embed or (embed_a, embed_b)
            embeds = outputs[-1] if isinstance(outputs, tuple) else outputs
            embeds = embeds - self.mean_vec
            return embeds

    embed_dim = model.embed_dim
    vector = torch.tensor(mean_vec, dtype=torch.float32) if mean_vec is not None else torch.zeros(embed_dim)
    wrapped = Model(model, vector).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # dynamo=False: the exporter of the torch versions WeSpeaker's script was written for.
        torch.onnx.export(
            wrapped,
            torch.ones(1, 200, feat_dim),
            str(path),
            do_constant_folding=True,
            verbose=False,
            opset_version=14,
            input_names=["feats"],
            output_names=["embs"],
            dynamic_axes={"feats": {0: "B", 1: "T"}, "embs": {0: "B"}},
            dynamo=False,
        )
    return path


def mean_pool_graph(
    path: Path,
    weight: np.ndarray,
    *,
    input_name: str = "feats",
    two_outputs: bool = False,
    input_shape=("B", "T", 80),
    elem_type=TensorProto.FLOAT,
    extra_input: bool = False,
) -> Path:
    """A graph whose embedding is known in numpy: mean over frames of the input, times `weight` (80, D).
    With `two_outputs`, outputs embed_a (that) and embed_b (embed_a x 2 + 1), the embedding being the last."""
    dim = weight.shape[1]
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["pooled"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["pooled", "W"], ["embed_a" if two_outputs else "embs"]),
    ]
    outputs = [helper.make_tensor_value_info("embs", TensorProto.FLOAT, ["B", dim])]
    initializers = [numpy_helper.from_array(weight.astype(np.float32), "W")]
    if two_outputs:
        nodes += [
            helper.make_node("Mul", ["embed_a", "two"], ["scaled"]),
            helper.make_node("Add", ["scaled", "one"], ["embed_b"]),
        ]
        initializers += [
            numpy_helper.from_array(np.array(2, np.float32), "two"),
            numpy_helper.from_array(np.array(1, np.float32), "one"),
        ]
        outputs = [
            helper.make_tensor_value_info("embed_a", TensorProto.FLOAT, ["B", dim]),
            helper.make_tensor_value_info("embed_b", TensorProto.FLOAT, ["B", dim]),
        ]
    inputs = [helper.make_tensor_value_info(input_name, elem_type, list(input_shape))]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT64, ["B"]))
    graph = helper.make_graph(nodes, "mean_pool", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
