"""Helpers for the model/extraction tests: random-weight checkpoints and synthetic audio (no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sf = pytest.importorskip("soundfile")

from sveval.models.dfresnet import build  # noqa: E402


def random_model(arch: str = "Gemini_DF_ResNet60", seed: int = 0):
    """A model with random weights and random (non-trivial) BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = build(arch)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.1)
    return model.eval()


def save_checkpoint(
    model, path: Path, layout: str = "wespeaker", wrap: str | None = None, extra=None
) -> Path:
    """Save in WeSpeaker (`seg_1.*`) or Golden Gemini release (`embedding.*`) layout, optionally wrapped."""
    state = dict(model.state_dict())
    if layout == "golden_gemini_release":
        state = {("embedding." + k[6:] if k.startswith("seg_1.") else k): v for k, v in state.items()}
    state.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({wrap: state} if wrap else state, path)
    return path


def write_audio(
    path: Path, seconds: float, seed: int, rate: int = 16000, channels: int = 1, subtype="PCM_16"
):
    """Noise with a seed-dependent tone, so different files give different embeddings."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    signal = 0.3 * np.sin(2 * np.pi * (150 + 40 * seed) * t) + 0.05 * rng.standard_normal(n)
    data = (
        np.stack([signal * (c + 1) / channels for c in range(channels)], axis=1) if channels > 1 else signal
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data.astype(np.float32), rate, subtype=subtype)
    return path


def write_corpus(root: Path, samples: list[int]) -> list[Path]:
    """`root/id<k>/vid/<i>.wav` files of the given sample counts at 16 kHz."""
    paths = []
    for i, n in enumerate(samples):
        path = root / f"id{i % 3}" / "vid" / f"{i:05d}.wav"
        paths.append(write_audio(path, n / 16000, seed=i))
    return paths
