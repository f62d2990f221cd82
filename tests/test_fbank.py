"""Kaldi fbank in torch against kaldi-native-fbank (an independent C++ implementation of Kaldi's)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # models and extraction: torch at import, model runs

torch = pytest.importorskip("torch")
knf = pytest.importorskip("kaldi_native_fbank")

from sveval.models.fbank import Fbank, FbankConfig, mel_banks, num_frames  # noqa: E402


def kaldi_reference(samples: np.ndarray) -> np.ndarray:
    """knf with the WeSpeaker inference settings: 80 bins, 25/10 ms, hamming, dither 0, no energy."""
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hamming"
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = 80
    opts.use_energy = False
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(16000, samples.astype(np.float32).tolist())
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])


def signals():
    """Varied audio in int16 range; lengths that end exactly on a frame and mid-frame."""
    rng = np.random.default_rng(7)
    out = []
    for n in (400, 559, 560, 8000, 16123):
        t = np.arange(n) / 16000
        out.append(("noise", rng.standard_normal(n) * 3000))
        out.append(("tone+dc", 9000 * np.sin(2 * np.pi * 440 * t) + 500 + rng.standard_normal(n)))
        # A loud pure chirp over a tiny noise floor (> 70 dB) leaves stop-band bins where every float32
        # implementation is rounding noise: knf and this code then both differ from a float64 computation
        # by ~2e-3 (~5e-4 each at 40 dB). Recordings have a noise floor; 30 dB here.
        chirp = 3000 * np.sin(2 * np.pi * (100 + 3000 * t) * t)
        out.append(("chirp", chirp + 100 * rng.standard_normal(n)))
        voiced = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 30)) * (
            1 + np.sin(2 * np.pi * 3 * t)
        )
        out.append(("voiced", 2000 * voiced + 20 * rng.standard_normal(n)))
        out.append(("quiet", np.round(rng.standard_normal(n) * 2)))  # int16 codes near silence
    return out


@pytest.mark.parametrize("kind, samples", signals(), ids=lambda v: v if isinstance(v, str) else str(len(v)))
def test_matches_kaldi_native_fbank_before_and_after_cmn(kind, samples):
    samples = samples.astype(np.float32)
    reference = kaldi_reference(samples)
    fbank = Fbank()
    wave = torch.from_numpy(samples)[None]
    raw = fbank(wave, cmn=False)[0].numpy()
    assert raw.shape == reference.shape == (num_frames(len(samples)), 80)
    np.testing.assert_allclose(raw, reference, atol=1e-3, rtol=0)
    normalised = fbank(wave)[0].numpy()
    np.testing.assert_allclose(normalised, reference - reference.mean(axis=0), atol=1e-3, rtol=0)


def test_num_frames_is_kaldi_snip_edges():
    assert [num_frames(n) for n in (0, 399, 400, 559, 560, 16000)] == [0, 0, 1, 1, 2, 98]


def test_padded_batch_equals_each_utterance_alone():
    rng = np.random.default_rng(1)
    lengths = [16000, 16100, 12345, 800]
    waves = torch.zeros(len(lengths), max(lengths))
    for row, n in enumerate(lengths):
        waves[row, :n] = torch.from_numpy((rng.standard_normal(n) * 1000).astype(np.float32))
    fbank = Fbank()
    batch = fbank(waves, torch.tensor(lengths))
    for row, n in enumerate(lengths):
        alone = fbank(waves[row : row + 1, :n])[0]
        frames = num_frames(n)
        assert torch.allclose(batch[row, :frames], alone, atol=1e-4)
        assert torch.count_nonzero(batch[row, frames:]) == 0


def test_mel_banks_are_kaldi_triangles():
    banks = mel_banks(FbankConfig())
    assert banks.shape == (257, 80)
    assert torch.all(banks[-1] == 0)  # Kaldi ignores the Nyquist bin
    assert banks[0].sum() == 0 and banks[1].sum() > 0  # 0 Hz is below low_freq 20 Hz, 31.25 Hz is not
    assert torch.all(banks.max(0).values <= 1) and torch.all(banks.max(0).values > 0.3)


def test_too_short_waveform_is_an_error():
    with pytest.raises(ValueError, match="shorter than one 400-sample frame"):
        Fbank()(torch.zeros(1, 399))
