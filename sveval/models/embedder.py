"""The GPU/CPU side of extraction: one batch in, embeddings out, and the loader's batches of decoded audio.

`Embedder` runs fbank and the folded network on one device for a packed row (`sveval.models.packing`) or
a single utterance; on a GPU the network runs channels-last with its 1x1 convolutions as matrix products
and fused bias passes, and each batch's result is copied back while the next ones run. `BatchAudio` decodes a
planned batch in a loader worker and builds its row index there. Defaults for batching and decoding
processes follow the device and the machine's cores.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import torch

from sveval.errors import InputError
from sveval.io import ark
from sveval.io.audio import Utterance, read_audio
from sveval.models import kernels, packing
from sveval.models.checkpoint import LoadedModel
from sveval.models.dfresnet import fold_batchnorm
from sveval.models.fbank import Fbank, FbankConfig

PRECISIONS = {
    "fp32": "float32 convolutions and matrix products (TF32 off on GPU)",
    "tf32": "TF32 convolutions and matrix products on GPU (10-bit mantissa inputs, float32 sums); "
    "float32 on CPU",
    "bf16": "bfloat16 weights and activations in the network trunk; fbank, pooling and the final layer "
    "in float32",
}


@contextmanager
def fp32_precision(device: torch.device, precision: str):
    """Float32 arithmetic of cuDNN convolutions and cuBLAS products: IEEE float32 unless `precision` is
    tf32 (PyTorch's default lets cuDNN use TF32, so plain "fp32" would not be float32). Restored after."""
    if device.type != "cuda":
        yield
        return
    mode = "tf32" if precision == "tf32" else "ieee"
    # cuDNN's RNN flag moves with the conv flag: PyTorch refuses to read the legacy flag when they differ.
    backends = (torch.backends.cuda.matmul, torch.backends.cudnn.conv, torch.backends.cudnn.rnn)
    if all(hasattr(b, "fp32_precision") for b in backends):
        saved = [b.fp32_precision for b in backends]
        for b in backends:
            b.fp32_precision = mode
        try:
            yield
        finally:
            for b, value in zip(backends, saved):
                b.fp32_precision = value
        return
    legacy = (torch.backends.cuda.matmul, torch.backends.cudnn)  # torch < 2.9
    saved = [b.allow_tf32 for b in legacy]
    for b in legacy:
        b.allow_tf32 = mode == "tf32"
    try:
        yield
    finally:
        for b, value in zip(legacy, saved):
            b.allow_tf32 = value


class Embedder:
    """Model + fbank on one device. `__call__(samples, lengths, index)` -> float32 numpy (U, embed_dim).

    On a GPU the folded model runs channels-last with its 1x1 convolutions as matrix products (bias and
    ReLU fused into them); `precision` is one of PRECISIONS. `depthwise` overrides how the depthwise
    bias + ReLU is applied ("separate", the default, or "cudnn").
    """

    def __init__(
        self,
        loaded: LoadedModel | torch.nn.Module,
        device: str = "cpu",
        precision: str = "fp32",
        depthwise: str | None = None,
    ):
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        model = loaded.model if isinstance(loaded, LoadedModel) else loaded
        config = loaded.fbank if isinstance(loaded, LoadedModel) else FbankConfig()
        self.device = torch.device(device)
        self.precision = precision
        self.fbank = Fbank(config).to(self.device)
        # BatchNorm folded into the convolutions (same embeddings up to float rounding, ~1e-7); the caller's
        # model is not modified.
        self.model = fold_batchnorm(model.eval()).to(self.device)
        if precision == "bf16":  # the trunk in bf16; pooling and seg_1 stay float32
            self.model.downsample_layers.to(torch.bfloat16)
            self.model.stages.to(torch.bfloat16)
        self.depthwise = None
        self.fused_elementwise = False
        if self.device.type == "cuda":
            # "separate" by default: torch.cudnn_convolution_relu runs a direct grouped kernel that took
            # 96 % of a bf16 row on an H200 (359 of 374 ms; 1,220 vs 158 utt/s, benchmarks/extract_gpu.py).
            self.depthwise = depthwise or "separate"
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            self.fused_elementwise = kernels.fused_available(self.device, dtype)
            self.model.use_channels_last().use_matrix_products(self.depthwise)

    @property
    def queued(self) -> int:
        """Batches to keep launched behind the one whose result is being written: on a GPU two, so that a
        batch slow to decode or to receive does not leave the device idle; on a CPU none (a launch
        computes the batch before it returns)."""
        return 2 if self.device.type == "cuda" else 0

    def __call__(self, samples: torch.Tensor, lengths: torch.Tensor, index: dict | None = None) -> np.ndarray:
        return self.launch(samples, lengths, index)()

    @torch.inference_mode()
    def launch(self, samples: torch.Tensor, lengths: torch.Tensor, index: dict | None = None):
        """Start one batch; returns a function that waits for it and gives the (U, embed_dim) array.

        samples: the batch's waveforms concatenated, int16 or float32 in int16 range; lengths: (U,) their
        sample counts; index: `packing.row_index` arrays/tensors, or None for a single utterance alone.
        """
        samples = samples.to(self.device, non_blocking=True)
        with fp32_precision(self.device, self.precision):
            if index is None:
                if len(lengths) != 1:
                    raise ValueError("several utterances need a packed-row index")
                emb = self.model(self.fbank(samples[None]))
            else:
                index = {
                    k: torch.as_tensor(v).to(self.device, non_blocking=True) if k != "width" else v
                    for k, v in index.items()
                }
                emb = self.model.packed(self.fbank.packed(samples, index), index)
        if self.device.type != "cuda":
            out = emb.float().numpy()
            return lambda: out
        host = torch.empty(emb.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(emb, non_blocking=True)
        done = torch.cuda.Event()
        done.record()

        def wait() -> np.ndarray:
            done.synchronize()
            return host.numpy()

        return wait

    def warm_up(self, width: int) -> None:
        """Run one silent row of `width` frames and drop the result: on a GPU this pays the first-call
        costs of the row's shapes (cuDNN and cuBLASLt choosing kernels: 0.75-0.95 s per shape in bf16
        channels-last on an H200) before real batches arrive, so they overlap with decoding. Rows under 8
        frames are left alone: nothing to gain."""
        if width < 8:
            return
        cfg = self.fbank.config
        frames = width - 2  # one utterance whose slot is the whole row
        samples = cfg.window_size + (frames - 1) * cfg.window_shift
        index = packing.row_index([samples], width, cfg.window_size, cfg.window_shift)
        index = {k: torch.from_numpy(v) if k != "width" else v for k, v in index.items()}
        self(torch.zeros(samples, dtype=torch.int16), torch.tensor([samples]), index)


class BatchAudio(torch.utils.data.Dataset):
    """Item i: batch i decoded, concatenated, with its packed-row index. Decoding errors come back as data.

    width: the planned row width of each batch (None: as wide as needed; a single utterance then runs on
    its own, without an index). ship_int16: a batch of 16-bit files at 16 kHz (VoxCeleb's WAVs) travels
    as int16, the same values in half the bytes: shared memory, pinned copy and host-to-device copy of a
    49,152-frame row shrink from 31 MB to 16 MB. Any other file in the batch makes it float32.
    """

    def __init__(
        self,
        batches: list[list[Utterance]],
        widths: list[int | None],
        fbank: FbankConfig,
        ship_int16: bool = True,
    ):
        self.batches = batches
        self.widths = widths
        self.fbank = fbank
        self.ship_int16 = ship_int16

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict:
        ids, sources, signals, errors, silent, resampled, multichannel = [], [], [], [], [], 0, 0
        for utt in self.batches[index]:
            source = ark.source_of(utt.path)  # stat before decoding: the record names what was decoded
            try:
                audio = read_audio(utt.path, keep_int16=self.ship_int16)
            except InputError as exc:
                errors.append((utt.utt, utt.path, str(exc)))
                continue
            ids.append(utt.utt)
            sources.append(source)
            signals.append(audio.samples)
            if not audio.samples.any():
                silent.append(utt.utt)
            resampled += audio.resampled_from is not None
            multichannel += audio.channels > 1
        lengths = [len(s) for s in signals]
        width = self.widths[index]
        row = None
        if signals and (width is not None or len(signals) > 1):
            cfg = self.fbank
            row = packing.row_index(lengths, None, cfg.window_size, cfg.window_shift)
            if width is not None and width >= row["width"]:  # decoded lengths may differ from headers
                row = packing.row_index(lengths, width, cfg.window_size, cfg.window_shift)
            row = {k: torch.from_numpy(v) if k != "width" else v for k, v in row.items()}
        return {
            "ids": ids,
            "sources": sources,
            "silent": silent,
            # int16 only when every signal is (numpy promotes int16 with float32 to float32, exactly)
            "samples": torch.from_numpy(np.concatenate(signals)) if signals else torch.zeros(0),
            "lengths": torch.tensor(lengths, dtype=torch.long),
            "index": row,
            "errors": errors,
            "resampled": resampled,
            "multichannel": multichannel,
        }


def default_batching(device: str) -> tuple[int | None, int | None]:
    """(frames per batch, utterances per batch) by default. GPU: packed rows of 49,152 frames (about 64
    utterances of 8 s), one shape for the whole run. CPU: one utterance at a time, where a batch of 8-second
    utterances pushes the activations (16 MB per tensor per utterance for the widest layers) out of the
    caches and runs slower per utterance."""
    return (packing.FRAMES_PER_BATCH_GPU, None) if device.startswith("cuda") else (None, 1)


def default_num_workers(device: str) -> int:
    """Decoding processes: on a GPU the cores this process may use (shared among torchrun's local ranks),
    less one for the main process, 2 to 16; on CPU 2 (inference, not decoding, is the bottleneck)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 2
    if not device.startswith("cuda"):
        return min(2, cores)
    local_ranks = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(2, min(16, cores // local_ranks - 1))
