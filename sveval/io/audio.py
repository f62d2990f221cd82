"""Audio for extraction: utterance lists (wav.scp or a folder) and decoding to 16 kHz mono in int16 range.

No torch here: worker processes decode with soundfile and numpy; resampling uses scipy's polyphase filter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from sveval.errors import InputError
from sveval.io.atomic import read_text

TARGET_RATE = 16000
AUDIO_SUFFIXES = (".wav", ".flac")


@dataclass(frozen=True)
class Utterance:
    """An utterance id and its audio file."""

    utt: str
    path: str


@dataclass(frozen=True)
class AudioInfo:
    """From the file header: rate and channels as stored, sample count once at 16 kHz."""

    sample_rate: int
    channels: int
    num_samples: int  # after resampling to 16 kHz


@dataclass(frozen=True)
class Audio:
    """Decoded audio: float32 mono samples at 16 kHz scaled to int16 range (x 32768), as Kaldi/WeSpeaker."""

    samples: np.ndarray
    resampled_from: int | None  # original rate when it was not 16 kHz
    channels: int  # channels in the file (only the first is used)


def read_wav_scp(path: str | os.PathLike) -> list[Utterance]:
    """Kaldi `wav.scp`: `<utt> <path>` per line. Pipes (`cmd |`) and duplicate ids are errors."""
    text = read_text(path, "wav.scp")
    utts: list[Utterance] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise InputError(f"expected '<utt-id> <audio path>', got {line.strip()!r}", str(path), number)
        utt, audio = parts[0], parts[1].strip()
        if audio.endswith("|"):
            raise InputError(
                "command pipes are not supported; list audio files (wav/flac) directly", str(path), number
            )
        if utt in seen:
            raise InputError(f"utterance id {utt!r} already on line {seen[utt]}", str(path), number)
        seen[utt] = number
        utts.append(Utterance(utt, audio))
    if not utts:
        raise InputError("no utterances listed", str(path))
    return utts


def list_wav_dir(folder: str | os.PathLike) -> list[Utterance]:
    """Every .wav/.flac under `folder`; id = path relative to it (WeSpeaker: `spk/video/00001.wav`)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError("audio folder not found", str(root))
    found = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
    )
    if not found:
        raise InputError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) found under the folder", str(root))
    return [Utterance(rel, str(root / rel)) for rel in found]


def resampled_length(num_samples: int, rate: int) -> int:
    """Sample count `resample_poly` produces when going from `rate` to 16 kHz."""
    ratio = Fraction(TARGET_RATE, rate)
    return -(-num_samples * ratio.numerator // ratio.denominator)


def file_size(path: str) -> int:
    """Bytes on disk (0 if unreadable: such files fail later with a proper error)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def audio_info(path: str) -> AudioInfo:
    """Header only (no decoding). Unreadable files raise InputError naming the file."""
    import soundfile

    try:
        info = soundfile.info(path)
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError/OSError
        raise InputError(f"cannot read audio header: {exc}", path) from exc
    return AudioInfo(info.samplerate, info.channels, resampled_length(info.frames, info.samplerate))


def read_audio(path: str) -> Audio:
    """Decode `path` to 16 kHz mono float32 in int16 range. Unreadable files raise InputError naming it."""
    import soundfile

    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as exc:
        raise InputError(f"cannot decode audio: {exc}", path) from exc
    channels = data.shape[1]
    samples = np.ascontiguousarray(data[:, 0])
    resampled_from = None
    if rate != TARGET_RATE:
        from scipy.signal import resample_poly

        ratio = Fraction(TARGET_RATE, rate)
        samples = resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)
        resampled_from = rate
    return Audio(samples * np.float32(32768.0), resampled_from, channels)
