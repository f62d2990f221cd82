"""Kaldi log mel filterbank in torch, batched, on any device; then per-utterance mean normalisation.

What WeSpeaker computes at inference (`torchaudio.compliance.kaldi.fbank` with its recipe settings), written
out step by step so no torchaudio is needed:

- waveform in int16 range (float samples x 32768), 16 kHz;
- frames of 25 ms (400 samples) every 10 ms (160), `snip_edges` as Kaldi's default: only whole frames,
  1 + (N - 400) // 160 of them, the first starting at sample 0 (trailing samples that end mid-frame are
  dropped);
- per frame: dither 0, remove the DC offset (frame mean), pre-emphasis 0.97 (x[0] -= 0.97 x[0]),
  Hamming window 0.54 - 0.46 cos(2 pi i / 399), zero-padded to 512, power spectrum;
- 80 triangular mel filters (mel = 1127 ln(1 + f / 700)) between 20 Hz and 8 kHz, equally spaced in mel,
  over the first 256 FFT bins (Kaldi ignores the Nyquist bin); no energy coefficient;
- log(max(energy, FLT_EPSILON));
- CMN: subtract the mean over the utterance's frames (no variance normalisation).

A batch holds waveforms padded to a common length with their true lengths: frames depend only on their own
samples, so padding never changes a frame that exists without it; CMN uses each utterance's own frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FbankConfig:
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    sample_rate: int = 16000
    low_freq: float = 20.0
    high_freq: float = 0.0  # <= 0: offset from Nyquist, as Kaldi
    preemph: float = 0.97

    @property
    def window_size(self) -> int:
        return int(self.sample_rate * self.frame_length_ms / 1000)

    @property
    def window_shift(self) -> int:
        return int(self.sample_rate * self.frame_shift_ms / 1000)

    @property
    def fft_size(self) -> int:
        return 1 << (self.window_size - 1).bit_length()


def num_frames(num_samples: int, config: FbankConfig = FbankConfig()) -> int:
    """Frames Kaldi makes from `num_samples` with snip_edges (0 when shorter than one window)."""
    if num_samples < config.window_size:
        return 0
    return 1 + (num_samples - config.window_size) // config.window_shift


def _mel(freq: torch.Tensor | float):
    if isinstance(freq, torch.Tensor):
        return 1127.0 * torch.log1p(freq / 700.0)
    return 1127.0 * math.log1p(freq / 700.0)


def mel_banks(config: FbankConfig = FbankConfig(), device=None) -> torch.Tensor:
    """(fft_size // 2 + 1, num_mel_bins) float32 weights; the Nyquist row is zero as in Kaldi."""
    nyquist = 0.5 * config.sample_rate
    high = config.high_freq if config.high_freq > 0 else nyquist + config.high_freq
    if not 0 <= config.low_freq < high <= nyquist:
        raise ValueError(f"bad mel range low={config.low_freq} high={high} for nyquist {nyquist}")
    mel_low, mel_high = _mel(config.low_freq), _mel(high)
    delta = (mel_high - mel_low) / (config.num_mel_bins + 1)
    n_bins = config.fft_size // 2
    bin_hz = config.sample_rate / config.fft_size
    mel = _mel(torch.arange(n_bins, dtype=torch.float64) * bin_hz)[:, None]
    index = torch.arange(config.num_mel_bins, dtype=torch.float64)[None, :]
    left, center, right = (
        mel_low + index * delta,
        mel_low + (index + 1) * delta,
        mel_low + (index + 2) * delta,
    )
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    weights = torch.where(mel <= center, up, down)
    weights = torch.where((mel > left) & (mel < right), weights, torch.zeros_like(weights))
    weights = torch.cat([weights, torch.zeros(1, config.num_mel_bins, dtype=torch.float64)])
    return weights.to(device=device, dtype=torch.float32)


def hamming(config: FbankConfig = FbankConfig(), device=None) -> torch.Tensor:
    n = config.window_size
    i = torch.arange(n, dtype=torch.float64)
    return (0.54 - 0.46 * torch.cos(2 * math.pi * i / (n - 1))).to(device=device, dtype=torch.float32)


class Fbank(torch.nn.Module):
    """Batched Kaldi fbank + CMN. Buffers move with `.to(device)`; computation is float32."""

    def __init__(self, config: FbankConfig = FbankConfig()):
        super().__init__()
        self.config = config
        self.register_buffer("banks", mel_banks(config), persistent=False)
        self.register_buffer("window", hamming(config), persistent=False)

    def forward(
        self, waves: torch.Tensor, lengths: torch.Tensor | None = None, cmn: bool = True
    ) -> torch.Tensor:
        """waves (B, N) in int16 range, padded; lengths (B,) true sample counts (None: all N).

        Returns (B, T, num_mel_bins) with T = frames of the longest utterance. Rows past an utterance's
        own frame count are zero (the network masks them).
        """
        cfg = self.config
        waves = waves.float()
        batch, total = waves.shape
        if lengths is None:
            lengths = torch.full((batch,), total, dtype=torch.long, device=waves.device)
        t_max = num_frames(total, cfg)
        if t_max == 0:
            raise ValueError(
                f"waveform of {total} samples is shorter than one {cfg.window_size}-sample frame"
            )
        feats = self._log_mel(waves.unfold(1, cfg.window_size, cfg.window_shift)[:, :t_max])  # (B, T, 80)
        whole = lengths.clamp(min=cfg.window_size) - cfg.window_size
        counts = (whole.div(cfg.window_shift, rounding_mode="floor") + 1) * (lengths >= cfg.window_size)
        valid = torch.arange(t_max, device=waves.device)[None, :] < counts[:, None]  # (B, T)
        feats = feats * valid[..., None]
        if not cmn:
            return feats
        mean = feats.sum(dim=1, keepdim=True) / counts.clamp(min=1)[:, None, None]
        return (feats - mean) * valid[..., None]

    def _log_mel(self, frames: torch.Tensor) -> torch.Tensor:
        """(..., window_size) frames -> (..., num_mel_bins) log mel energies."""
        cfg = self.config
        frames = frames - frames.mean(dim=-1, keepdim=True)
        previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
        frames = (frames - cfg.preemph * previous) * self.window
        spectrum = torch.fft.rfft(frames, n=cfg.fft_size, dim=-1)
        power = spectrum.real.square() + spectrum.imag.square()
        feats = torch.matmul(power, self.banks)
        return torch.log(torch.clamp(feats, min=torch.finfo(torch.float32).eps))

    def packed(self, samples: torch.Tensor, index: dict) -> torch.Tensor:
        """Features of a packed row (`sveval.models.packing`): (1, width, num_mel_bins), zero outside.

        samples: the batch's waveforms concatenated (int16 range); index: `packing.row_index` tensors on
        the same device. Frames and CMN are each utterance's own, so every valid column equals the frame
        the utterance gets alone.
        """
        cfg = self.config
        window = torch.arange(cfg.window_size, device=samples.device)
        feats = self._log_mel(samples.float()[index["sample_starts"][:, None] + window])  # (valid, 80)
        segment = index["segment"]
        count = index["frames"].to(feats.dtype)[:, None]
        sums = torch.zeros((len(count), feats.shape[1]), device=feats.device, dtype=feats.dtype)
        feats = feats - (sums.index_add_(0, segment, feats) / count)[segment]
        row = torch.zeros((index["width"], feats.shape[1]), device=feats.device, dtype=feats.dtype)
        return row.index_copy_(0, index["columns"], feats)[None]
