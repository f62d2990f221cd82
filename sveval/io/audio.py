"""Audio for extraction: utterance lists (wav.scp or a folder) and decoding to 16 kHz mono in int16 range.

No torch here: worker processes decode with soundfile and numpy; resampling uses scipy's polyphase filter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from sveval.errors import InputError, quoted
from sveval.io.fields import read_source_text, text_lines

TARGET_RATE = 16000


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
    """Decoded audio: float32 mono samples at 16 kHz scaled to int16 range (x 32768), as Kaldi/WeSpeaker
    (int16 itself for 16-bit files read with `read_audio(..., keep_int16=True)`)."""

    samples: np.ndarray
    resampled_from: int | None  # original rate when it was not 16 kHz
    channels: int  # channels in the file (only the first is used)


def read_wav_scp(path: str | os.PathLike) -> list[Utterance]:
    """Kaldi `wav.scp` (plain, gzip or `-` for standard input): `<utt> <path>` per line. Pipes (`cmd |`)
    and duplicate ids are errors."""
    text = read_source_text(path, "wav.scp")
    utts: list[Utterance] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text_lines(text, str(path)), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            got = quoted(line.strip())
            raise InputError(f"expected '<utt-id> <audio path>', got {got}", str(path), number)
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


# File suffixes per libsndfile format (soundfile.available_formats() keys); what the installed library lists
# is what a folder scan takes.
_FORMAT_SUFFIXES = {
    "WAV": (".wav",),
    "FLAC": (".flac",),
    "OGG": (".ogg", ".oga", ".opus"),
    "MP3": (".mp3",),
    "MPEG": (".mp3",),
    "AIFF": (".aif", ".aiff"),
    "NIST": (".sph",),
    "W64": (".w64",),
    "RF64": (".rf64",),
    "CAF": (".caf",),
    "AU": (".au", ".snd"),
}
# Audio people keep in speech corpora (VoxCeleb2 ships .m4a) that libsndfile cannot decode.
_OTHER_AUDIO_SUFFIXES = (".m4a", ".aac", ".mp4", ".wma", ".webm", ".amr", ".mp3", ".opus", ".ogg", ".sph")


def readable_suffixes() -> tuple[str, ...]:
    """Audio file suffixes the installed libsndfile (through soundfile) can decode."""
    import soundfile

    formats = soundfile.available_formats()
    return tuple(
        sorted({s for name, suffixes in _FORMAT_SUFFIXES.items() if name in formats for s in suffixes})
    )


@dataclass(frozen=True)
class AudioFolder:
    """A scanned audio folder: utterances (id = path relative to the folder, symlinks followed), audio files
    the installed library cannot decode, and other files (all as relative paths, sorted)."""

    root: str
    utterances: tuple[Utterance, ...]
    unreadable: tuple[str, ...]
    other: tuple[str, ...]

    def notes(self) -> list[str]:
        """What a person should hear: the files left out, counted and named."""
        lines = []
        if self.unreadable:
            lines.append(
                f"{len(self.unreadable):,} audio files under {self.root} are in formats the installed audio "
                f"library (libsndfile) cannot decode ({_by_suffix(self.unreadable)}) and were left out, "
                f"e.g. {self.unreadable[0]}"
            )
        if self.other:
            lines.append(
                f"{len(self.other):,} other files under {self.root} are not audio and were left out "
                f"({_by_suffix(self.other)}), e.g. {self.other[0]}"
            )
        return lines


def _by_suffix(paths: tuple[str, ...]) -> str:
    counts: dict[str, int] = {}
    for p in paths:
        suffix = Path(p).suffix.lower() or "no suffix"
        counts[suffix] = counts.get(suffix, 0) + 1
    return ", ".join(f"{n:,} {s}" for s, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def scan_audio_folder(folder: str | os.PathLike) -> AudioFolder:
    """Every file under `folder`, following symlinked folders (each real folder visited once), sorted into
    decodable audio, audio of formats the installed library cannot decode, and other files."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError("audio folder not found", str(root))
    readable = readable_suffixes()
    audio, unreadable, other = [], [], []
    seen = set()
    for here, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:  # a symlink loop or a second link to the same folder
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in files:
            rel = Path(here, name).relative_to(root).as_posix()
            suffix = Path(name).suffix.lower()
            if suffix in readable:
                audio.append(rel)
            elif suffix in _OTHER_AUDIO_SUFFIXES:
                unreadable.append(rel)
            else:
                other.append(rel)
    return AudioFolder(
        str(root),
        tuple(Utterance(rel, str(root / rel)) for rel in sorted(audio)),
        tuple(sorted(unreadable)),
        tuple(sorted(other)),
    )


def list_wav_dir(folder: str | os.PathLike, skip_bad: bool = False) -> list[Utterance]:
    """The decodable audio under `folder`; id = path relative to it (WeSpeaker: `spk/video/00001.wav`).

    Audio the installed library cannot decode (e.g. VoxCeleb2's .m4a) is an InputError unless `skip_bad`;
    `scan_audio_folder` tells what was left out.
    """
    scanned = scan_audio_folder(folder)
    if scanned.unreadable and not skip_bad:
        raise InputError(
            f"{len(scanned.unreadable):,} audio files are in formats the installed audio library "
            f"(libsndfile) cannot decode ({_by_suffix(scanned.unreadable)}), e.g. {scanned.unreadable[0]}; "
            "it reads "
            f"{', '.join(readable_suffixes())}. Convert them (ffmpeg -i x.m4a x.wav), or --skip-bad leaves "
            "them out",
            str(folder),
        )
    if not scanned.utterances:
        raise InputError(
            f"no audio files ({', '.join(readable_suffixes())}) found under the folder", str(folder)
        )
    return list(scanned.utterances)


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


def require_audio_files(utts: list[Utterance], source: str | os.PathLike) -> None:
    """Before any decoding: every listed audio path is an existing file (one stat each, relative paths from
    the working directory, as extraction opens them). InputError naming `source` (with the line of the
    first missing file when it is a wav.scp), how many are missing and the first one."""
    missing = [u for u in utts if not os.path.isfile(u.path)]
    if not missing:
        return
    first = missing[0]
    what = "no such file"
    if os.path.isdir(first.path):
        what = "a folder"
    elif os.path.islink(first.path):
        what = "a broken symlink"
    line = None
    if os.path.isfile(source):
        lines = text_lines(read_source_text(source, "wav.scp"), str(source))
        line = next((n for n, text in enumerate(lines, 1) if text.split(maxsplit=1)[:1] == [first.utt]), None)
    raise InputError(
        f"{len(missing):,} of {len(utts):,} listed audio files not found, the first: {first.utt} -> "
        f"{first.path} ({what}); fix the list, or --skip-bad leaves them out",
        str(source),
        line,
    )


def _check_exists(path: str) -> None:
    """libsndfile reports a missing file as "System error": say what it is."""
    if not os.path.exists(path):
        what = "a broken symlink" if os.path.islink(path) else "no such file"
        raise InputError(f"audio file does not exist ({what})", path)
    if os.path.isdir(path):
        raise InputError("expected an audio file, found a folder", path)


def audio_info(path: str) -> AudioInfo:
    """Header only (no decoding). Unreadable files raise InputError naming the file."""
    import soundfile

    _check_exists(path)
    try:
        info = soundfile.info(path)
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError/OSError
        raise InputError(f"cannot read audio header: {exc}", path) from exc
    return AudioInfo(info.samplerate, info.channels, resampled_length(info.frames, info.samplerate))


def read_audio(path: str, keep_int16: bool = False) -> Audio:
    """Decode `path` to 16 kHz mono float32 in int16 range. Unreadable files raise InputError naming it.

    keep_int16: a 16-bit PCM file (WAV, FLAC, ...) at 16 kHz comes back as its int16 samples: the same
    values as the float32 array (a 16-bit sample / 32768 x 32768 is exact in float32), half the bytes and
    no conversion pass, for decoding workers that ship samples to another process.
    """
    import soundfile

    _check_exists(path)
    try:
        with soundfile.SoundFile(path) as file:
            rate, channels = file.samplerate, file.channels
            native = keep_int16 and file.subtype == "PCM_16" and rate == TARGET_RATE
            data = file.read(dtype="int16" if native else "float32", always_2d=True)
    except Exception as exc:
        raise InputError(f"cannot decode audio: {exc}", path) from exc
    samples = np.ascontiguousarray(data[:, 0])
    if native:
        return Audio(samples, None, channels)
    resampled_from = None
    if rate != TARGET_RATE:
        from scipy.signal import resample_poly

        ratio = Fraction(TARGET_RATE, rate)
        samples = resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)
        resampled_from = rate
    return Audio(samples * np.float32(32768.0), resampled_from, channels)
