"""utt2dur files and durations from audio headers (QMF calibration, calibration lists)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from sveval.errors import InputError
from sveval.io.durations import merge_durations, parse_utt2dur, wav_scp_durations


def test_utt2dur_parses_and_refuses_bad_lines():
    ids, seconds = parse_utt2dur("a/1.wav 3.5\nb/2.wav 12.25\n", "u2d")
    assert ids.tolist() == ["a/1.wav", "b/2.wav"] and seconds.tolist() == [3.5, 12.25]
    with pytest.raises(InputError, match=r"u2d:2: .*not a number"):
        parse_utt2dur("a 1.0\nb x\n", "u2d")
    with pytest.raises(InputError, match=r"u2d:2: .*positive"):
        parse_utt2dur("a 1.0\nb 0\n", "u2d")
    with pytest.raises(InputError, match=r"u2d:3: utterance 'a' listed more than once"):
        parse_utt2dur("a 1.0\nb 2.0\na 1.0\n", "u2d")
    with pytest.raises(InputError, match=r"u2d:2:"):
        parse_utt2dur("a 1.0\nb 2.0 extra\n", "u2d")


def test_wav_scp_durations_from_headers(tmp_path):
    lines = []
    for name, rate, frames in (("x", 16000, 40000), ("y", 8000, 12345)):
        path = tmp_path / f"{name}.wav"
        soundfile.write(path, np.zeros(frames, dtype=np.int16), rate)
        lines.append(f"{name} {path}\n")
    scp = tmp_path / "wav.scp"
    scp.write_text("".join(lines))
    ids, seconds = wav_scp_durations(scp)
    assert ids.tolist() == ["x", "y"]
    assert seconds.tolist() == [40000 / 16000, 12345 / 8000]  # frames / rate, as WeSpeaker's wav2dur.py


def test_merge_refuses_conflicting_durations():
    a = (np.array(["u"], dtype=object), np.array([1.0]))
    assert merge_durations([("f1", a), ("f2", a)]) == {"u": 1.0}
    with pytest.raises(InputError, match="f2: utterance 'u' has duration 2.0"):
        merge_durations([("f1", a), ("f2", (a[0], np.array([2.0])))])
