"""`sveval trials make-calibration`: a WeSpeaker-style short/long calibration list, seeded, no repeats."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

from sveval.calibration.trials import calibration_trials
from sveval.errors import InputError
from sveval.io.trials import read_trials


def _utterances(n_speakers=40, per_speaker=10, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.array(
        [f"id{s:05d}/v{k}/00001.wav" for s in range(n_speakers) for k in range(per_speaker)], dtype=object
    )
    return ids, rng.uniform(1.0, 15.0, ids.size)


def test_kinds_labels_and_uniqueness():
    ids, seconds = _utterances()
    dur = dict(zip(ids, seconds))
    trials = calibration_trials(ids, seconds, trials_per_kind=100, seed=1)
    assert len(trials) == 300 and trials.n_target == 150
    kinds = [("short", "short"), ("short", "long"), ("long", "long")]
    for i, (e, t, target) in enumerate(zip(trials.enroll, trials.test, trials.is_target)):
        want = kinds[(i // 2) % 3]
        got = tuple("short" if 2 < dur[u] < 6 else "long" if dur[u] > 6 else "neither" for u in (e, t))
        assert got == want
        assert target == (i % 2 == 0)
        assert (e.split("/")[0] == t.split("/")[0]) == target
        assert e != t
    pairs = {frozenset(p) for p in zip(trials.enroll, trials.test)}
    assert len(pairs) == len(trials)


def test_seeded():
    ids, seconds = _utterances()
    a = calibration_trials(ids, seconds, 50, seed=3)
    assert a.fingerprint == calibration_trials(ids, seconds, 50, seed=3).fingerprint
    assert a.fingerprint != calibration_trials(ids, seconds, 50, seed=4).fingerprint


def test_too_few_utterances_is_a_clear_error():
    ids, seconds = _utterances(n_speakers=4, per_speaker=12)
    with pytest.raises(InputError, match="ask for fewer"):
        calibration_trials(ids, seconds, 10000)
    with pytest.raises(InputError, match="two must"):
        calibration_trials(ids[:1], seconds[:1], 10)


def test_cli_writes_a_list_our_reader_accepts(tmp_path):
    ids, seconds = _utterances()
    utt2dur = tmp_path / "utt2dur"
    utt2dur.write_text("".join(f"{u} {d:.3f}\n" for u, d in zip(ids, seconds)))
    out = tmp_path / "cali.kaldi"
    result = CliRunner().invoke(
        cli,
        [
            "trials",
            "make-calibration",
            "--utt2dur",
            str(utt2dur),
            "--out",
            str(out),
            "--trials-per-kind",
            "40",
        ],
    )
    assert result.exit_code == 0, result.output
    trials = read_trials(out)
    assert len(trials) == 120 and trials.short_fingerprint in result.output
    utt2dur.write_text("a 1.0\na 2.0\n")
    result = CliRunner().invoke(
        cli, ["trials", "make-calibration", "--utt2dur", str(utt2dur), "--out", str(out)]
    )
    assert result.exit_code == 2 and "listed more than once" in result.output
