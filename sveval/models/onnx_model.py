"""ONNX speaker models in WeSpeaker's runtime contract, run with onnxruntime (imported lazily).

The contract (`wespeaker/bin/export_onnx.py`): one float input (batch, frames, 80) holding Kaldi fbank after
per-utterance mean normalisation, output (batch, dim) embeddings; batch and frames dynamic; a mean vector may
already be subtracted inside the graph. Exporters name things differently (`feats`/`embs` in WeSpeaker,
`feature` elsewhere; some graphs have two outputs, embed_a and embed_b, and the embedding is the last), so the
names are read from the graph. Any architecture exported that way works (ResNet34, CAM++, ECAPA-TDNN,
Gemini DF-ResNet...).

An ONNX graph cannot be masked: padded frames would change the statistics pooling. Rows are therefore run in
groups of equal frame counts, each trimmed to its own frames, and `extract_to_dir` batches equal frame counts
only. The fbank configuration comes from a config.yaml beside the file when there is one, else the defaults.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from sveval.errors import InputError
from sveval.io.model_cache import sha256_file
from sveval.models.fbank import Fbank, FbankConfig, num_frames

CUDA_PROVIDER, CPU_PROVIDER = "CUDAExecutionProvider", "CPUExecutionProvider"


def require_onnxruntime():
    """The onnxruntime module, or InputError saying how to install the onnx extra."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise InputError(
            "ONNX models need onnxruntime: pip install 'sveval[onnx]' (onnxruntime-gpu for CUDA)"
        ) from exc
    return onnxruntime


@dataclass(frozen=True, eq=False)
class OnnxModel:
    """An ONNX file checked against the contract. `embed_dim` is None when the graph leaves it symbolic.

    `arch`, `arch_source`, `checkpoint`, `layout`, `ignored_keys` and `fbank` mirror `LoadedModel`, so that
    reports and manifests treat both formats alike.
    """

    path: Path
    sha256: str
    input_name: str
    output_name: str
    max_batch: int | None  # a graph exported with a fixed batch size runs at most that many rows at once
    embed_dim: int | None
    fbank: FbankConfig
    opset: int | None

    arch = "onnx"
    arch_source = "ONNX graph"
    layout = "onnx"
    ignored_keys: tuple[str, ...] = ()

    @property
    def checkpoint(self) -> Path:
        return self.path


def is_onnx(path: str | Path) -> bool:
    """An .onnx file, or a folder holding exactly one .onnx file and no PyTorch checkpoint."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".onnx"
    if path.is_dir():
        has_checkpoint = any(path.glob("*.pt")) or any((path / "models").glob("*.pt"))
        return not has_checkpoint and len(list(path.glob("*.onnx"))) == 1
    return False


def load_onnx(path: str | Path) -> OnnxModel:
    """Open `path` (an .onnx file or a folder holding one) and check its signature against the contract.

    Raises InputError naming the file when it is not an ONNX graph, when its input is not one float
    (batch, frames, num_mel_bins) tensor with dynamic frames, or when its last output is not (batch, dim).
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.onnx"))
        if len(found) != 1:
            raise InputError(f"expected one .onnx file in the folder, found {len(found)}", str(path))
        path = found[0]
    if not path.is_file():
        raise InputError("ONNX model not found", str(path))
    from sveval.models.checkpoint import fbank_config, read_config

    config = read_config(path.parent / "config.yaml") if (path.parent / "config.yaml").is_file() else {}
    fbank = fbank_config(config)
    session = _session(path, [CPU_PROVIDER], optimize=False)  # only the signature is read
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        names = ", ".join(f"{i.name} {i.shape}" for i in inputs)
        raise InputError(
            f"the graph takes {len(inputs)} inputs ({names}); expected one (batch, frames, "
            f"{fbank.num_mel_bins}) float tensor of fbank features",
            str(path),
        )
    feats = inputs[0]
    shape = list(feats.shape)
    expected = f"(batch, frames, {fbank.num_mel_bins}) float"
    if feats.type != "tensor(float)" or len(shape) != 3 or shape[2] != fbank.num_mel_bins:
        raise InputError(
            f"the graph's input {feats.name!r} is {shape} {feats.type}; expected {expected} "
            "(Kaldi fbank after mean normalisation, WeSpeaker's export_onnx.py)",
            str(path),
        )
    if isinstance(shape[1], int):
        raise InputError(
            f"the graph's input {feats.name!r} has a fixed number of frames ({shape[1]}); whole utterances "
            "need dynamic frames (export without --num_frames)",
            str(path),
        )
    embs = outputs[-1]  # WeSpeaker: `outputs[-1]` when the model returns (embed_a, embed_b)
    if embs.type != "tensor(float)" or len(embs.shape) != 2:
        raise InputError(
            f"the graph's last output {embs.name!r} is {embs.shape} {embs.type}; expected (batch, dim) float",
            str(path),
        )
    max_batch = shape[0] if isinstance(shape[0], int) else None
    embed_dim = embs.shape[1] if isinstance(embs.shape[1], int) else None
    opset = next((o.version for o in _opsets(path)), None)
    return OnnxModel(path, sha256_file(path), feats.name, embs.name, max_batch, embed_dim, fbank, opset)


def _opsets(path: Path):
    """The default-domain opset of the graph when the onnx package is there to read it (else nothing)."""
    try:
        import onnx
    except ImportError:
        return []
    model = onnx.load(str(path), load_external_data=False)
    return [o for o in model.opset_import if o.domain in ("", "ai.onnx")]


def count_initializers(path: Path) -> int:
    """Sum of the sizes of the graph's initializers (its weights, after the exporter's constant folding).
    Needs the onnx package (the `onnx` extra); InputError if it is missing or cannot read the file."""
    try:
        import onnx
    except ImportError as exc:
        raise InputError(
            "counting the graph's parameters needs the onnx package: pip install 'sveval[onnx]'", str(path)
        ) from exc
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises protobuf's DecodeError and others
        raise InputError(f"onnx cannot read the graph: {str(exc).splitlines()[0]}", str(path)) from exc
    return sum(int(np.prod(t.dims, dtype=np.int64)) for t in model.graph.initializer)


def _session(path: Path, providers: list, optimize: bool = True):
    ort = require_onnxruntime()
    options = ort.SessionOptions()
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    # Fatal only: warnings about unused initialisers are noise to our users, and a failing node's error is
    # logged by onnxruntime over several lines before it raises; run_batch reports it in one.
    options.log_severity_level = 4
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for invalid or truncated graphs
        raise InputError(f"onnxruntime cannot load the graph: {str(exc).splitlines()[0]}", str(path)) from exc


def resolve_device(device: str, local_rank: int = 0) -> tuple[str, list]:
    """(device, onnxruntime providers): the CUDA execution provider when present (device auto or cuda[:N]),
    the CPU one otherwise. InputError for cuda without onnxruntime's CUDA provider."""
    available = require_onnxruntime().get_available_providers()
    if device == "auto":
        device = "cuda" if CUDA_PROVIDER in available else "cpu"
    if device.startswith("cuda"):
        if CUDA_PROVIDER not in available:
            raise InputError(
                "--device cuda: onnxruntime has no CUDA execution provider (pip install onnxruntime-gpu)"
            )
        index = int(device.split(":", 1)[1]) if ":" in device else local_rank
        return f"cuda:{index}", [(CUDA_PROVIDER, {"device_id": index}), CPU_PROVIDER]
    if device != "cpu":
        raise InputError(f"device must be auto, cpu or cuda[:N], got {device!r}")
    return "cpu", [CPU_PROVIDER]


def check_runs(model: OnnxModel) -> int:
    """Run noise through the graph on CPU as extraction does (two utterances of 200 frames in one batch, or
    one where the graph's batch is fixed at 1, then one of 301); the embedding size. InputError when the
    graph fails, gives non-finite values, or breaks the contract at run time (not one row per utterance,
    a size that follows the input)."""
    session = _session(model.path, [CPU_PROVIDER])
    rng = np.random.default_rng(0)
    width = model.embed_dim
    for rows, frames in ((min(2, model.max_batch or 2), 200), (1, 301)):
        feats = rng.standard_normal((rows, frames, model.fbank.num_mel_bins)).astype(np.float32)
        emb = run_batch(session, model, feats)
        width = check_output(emb, rows, frames, width, model)
        if not np.isfinite(emb).all():
            raise InputError(
                f"the graph gives non-finite values for {frames} frames of noise", str(model.path)
            )
    return width


def run_batch(session, model: OnnxModel, feats: np.ndarray) -> np.ndarray:
    """The graph's embeddings of `feats` (rows, frames, mel bins). InputError naming the model when
    onnxruntime fails (an operator that refuses some shapes, a graph that only runs at its traced size):
    its own message spans lines and starts with a status code, so only what failed is kept."""
    try:
        return session.run([model.output_name], {model.input_name: feats})[0]
    except Exception as exc:  # onnxruntime's own exception types (Fail, InvalidArgument, RuntimeException...)
        rows, frames = feats.shape[:2]
        raise InputError(
            f"the graph fails on a batch of {rows} x {frames} frames: {_ort_reason(exc)}",
            str(model.path),
        ) from exc


def _ort_reason(exc: Exception) -> str:
    """onnxruntime's message on one line: the failing operator and its status message, without the status
    code prefix (`[ONNXRuntimeError] : 1 : FAIL :`) nor the C++ source location and failed assertion."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    running = re.search(r"while running (\S+) node\..*?Status Message: (.*)", text)
    if running:
        status = running.group(2)
        status = status.split(" was false. ", 1)[-1]  # after `file.h:91 Class::Method(...) condition`
        text = f"{running.group(1)} node: {status}"
    return text[:300]


def check_output(emb: np.ndarray, rows: int, frames: int, width: int | None, model: OnnxModel) -> int:
    """The width of `emb`, the graph's output for `rows` utterances of `frames` frames, after checking it
    is what the contract promises: one row per utterance and one width for every batch (`width`: the
    declared size, else the first batch's; None before any). A graph that pools the batch into one row
    would give every utterance the same embedding (numpy broadcasts it), and one whose width follows the
    input would write vectors of mixed sizes into one ark: InputError naming the model instead."""
    shape = tuple(np.shape(emb))
    if len(shape) != 2 or shape[0] != rows:
        raise InputError(
            f"the graph returned an output of shape {shape} for a batch of {rows} utterances of {frames} "
            f"frames; expected ({rows}, dim): one embedding per utterance",
            str(model.path),
        )
    if width is not None and shape[1] != width:
        said = (
            "its output is declared (batch, {})" if model.embed_dim is not None else "earlier batches gave {}"
        )
        raise InputError(
            f"the graph returned {shape[1]}-dim embeddings for {frames} frames, but {said.format(width)}: an "
            "embedding's size must not depend on the input",
            str(model.path),
        )
    return shape[1]


def check_precision(precision: str) -> None:
    if precision != "fp32":
        raise InputError(
            f"--precision {precision}: an ONNX model runs in the graph's own float32 (bf16 is for PyTorch "
            "checkpoints)"
        )


def manifest(model: OnnxModel, providers: list, precision: str) -> dict:
    """What makes an embedding: the file's sha256, the execution providers, the front-end."""
    check_precision(precision)
    return {
        "weights_sha256": model.sha256,
        "format": "onnx",
        "arch": model.arch,
        "embed_dim": model.embed_dim,
        "fbank": asdict(model.fbank),
        "precision": precision,
        "providers": [p[0] if isinstance(p, tuple) else p for p in providers],
        "checkpoint": str(model.path),
    }


class OnnxEmbedder:
    """fbank (torch, CPU) + onnxruntime session. `__call__(waves, lengths)` -> float32 numpy (B, dim)."""

    def __init__(self, model: OnnxModel, providers: list, precision: str = "fp32"):
        check_precision(precision)
        self.model = model
        self.session = _session(model.path, providers)
        self.providers = self.session.get_providers()
        self.fbank = Fbank(model.fbank)
        # One width for the whole run, kept across batches: the declared one, else the first batch's.
        self.width = model.embed_dim

    @torch.inference_mode()
    def __call__(self, waves: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
        """waves (B, N) int16-range samples, zero-padded; lengths (B,) true sample counts.

        Rows of equal frame counts run together, each group trimmed to its frames: no padding ever enters
        the graph. Every output is checked against the contract (`check_output`) before it is used."""
        feats = self.fbank(waves.float(), lengths).numpy()
        frames = np.array([num_frames(int(n), self.fbank.config) for n in lengths])
        out: np.ndarray | None = None
        for count in np.unique(frames):
            rows = np.flatnonzero(frames == count)
            step = self.model.max_batch or len(rows)
            for start in range(0, len(rows), step):
                chunk = rows[start : start + step]
                emb = run_batch(self.session, self.model, np.ascontiguousarray(feats[chunk, :count]))
                self.width = check_output(emb, len(chunk), int(count), self.width, self.model)
                if out is None:
                    out = np.empty((len(frames), self.width), dtype=np.float32)
                out[chunk] = emb
        return out
