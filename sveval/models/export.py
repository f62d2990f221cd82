"""Export a checkpoint to ONNX in WeSpeaker's runtime contract (`wespeaker/bin/export_onnx.py`).

The graph is the module WeSpeaker exports: `embs = model(feats) - mean_vec`, input `feats` (batch, frames,
feat_dim) of Kaldi fbank after per-utterance mean normalisation, output `embs` (batch, embed_dim), opset 14,
batch and frames dynamic, the mean vector (zeros without one) a constant of the graph. Exported with
torch's TorchScript-based exporter (`dynamo=False`), the one WeSpeaker's script used: the dynamo exporter
of recent torch cannot emit opset 14 for this network.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from sveval.errors import InputError
from sveval.io.atomic import write_bytes
from sveval.models.checkpoint import LoadedModel

OPSET = 14
TRACE_FRAMES = 200  # WeSpeaker's dummy input: num_frms of the training config, 200 in the Gemini recipes


class _MeanSubtracted(torch.nn.Module):
    """WeSpeaker's export wrapper: the last output of the model minus the mean vector."""

    def __init__(self, model: torch.nn.Module, mean_vec: torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("mean_vec", mean_vec)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        outputs = self.model(feats)
        embeds = outputs[-1] if isinstance(outputs, tuple) else outputs
        return embeds - self.mean_vec


def export_onnx(loaded: LoadedModel, out: str | Path, mean_vec: np.ndarray | None = None) -> Path:
    """Write `loaded`'s network to `out` (atomically) in the contract above.

    mean_vec: (embed_dim,) float, subtracted inside the graph (e.g. WeSpeaker's mean_vec.npy); None: zeros.
    The unfolded network is exported (onnxruntime folds BatchNorm itself).
    """
    try:  # torch's exporter needs the onnx package; say how to get it instead of torch's traceback
        import onnx  # noqa: F401
    except ImportError as exc:
        raise InputError("export-onnx needs the onnx package: pip install 'sveval[model,onnx]'") from exc
    model = loaded.model.eval()
    dim = model.embed_dim
    vector = torch.zeros(dim) if mean_vec is None else torch.as_tensor(np.asarray(mean_vec, np.float32))
    wrapper = _MeanSubtracted(model, vector).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            wrapper,
            (torch.ones(1, TRACE_FRAMES, loaded.fbank.num_mel_bins),),
            buffer,
            do_constant_folding=True,
            opset_version=OPSET,
            input_names=["feats"],
            output_names=["embs"],
            dynamic_axes={"feats": {0: "B", 1: "T"}, "embs": {0: "B"}},
            dynamo=False,
        )
    write_bytes(out, buffer.getvalue())
    return Path(out)
