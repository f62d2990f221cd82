"""Calibration lists made the way WeSpeaker's generate_calibration_trial.py makes them (repeated pairs and
self-pairs): read by `calibrate --train-trials`, counted and reported; refused by the general reader."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

from sveval.errors import InputError
from sveval.io.scores import format_score_lines
from sveval.io.trials import read_calibration_trials, read_trials


def wespeaker_like_list(seed=3, rounds=150):
    """Rounds of six lines as its generator writes them: short-short, short-long, long-long, each a target
    (two utterances of one speaker drawn with replacement, `random.choices(k=2)`) and a nontarget (the same
    enrolment against another speaker's utterance); nothing checks for repeats. Few utterances per speaker
    make both repeats and self-pairs common."""
    rng = random.Random(seed)
    speakers = [f"id{k:05d}" for k in range(6)]
    short = {s: [f"{s}/s{j}/00001.wav" for j in range(3)] for s in speakers}
    long = {s: [f"{s}/l{j}/00001.wav" for j in range(2)] for s in speakers}
    lines = []
    for _ in range(rounds):
        spk, other = rng.sample(speakers, 2)
        for first, second in ((short, short), (short, long), (long, long)):
            if first is second:
                enroll, test = rng.choices(first[spk], k=2)  # with replacement: now and then a self-pair
            else:
                enroll, test = rng.choice(first[spk]), rng.choice(second[spk])
            lines.append((enroll, test, "target"))
            lines.append((enroll, rng.choice(second[other]), "nontarget"))
    return lines


def independent_counts(lines):
    pairs = Counter((e, t) for e, t, _ in lines)
    return sum(c - 1 for c in pairs.values()), sum(e == t for e, t, _ in lines)


@pytest.fixture
def cali(tmp_path):
    lines = wespeaker_like_list()
    n_repeated, n_self = independent_counts(lines)
    assert n_repeated > 0 and n_self > 0  # the list has both, or the test would prove nothing
    path = tmp_path / "vox2_cali.kaldi"
    path.write_text("".join(f"{e} {t} {lab}\n" for e, t, lab in lines))
    rng = np.random.default_rng(0)
    enroll, test, lab = (np.array(c, dtype=object) for c in zip(*lines))
    is_target = lab == "target"
    values = np.where(is_target, 1.5, -1.0) + rng.normal(0, 1, len(lines))
    (tmp_path / "cali3.score").write_text(format_score_lines(enroll, test, values, None))  # WeSpeaker's own
    second = values + rng.normal(0, 1, len(lines))  # another system, same lines in the same order
    (tmp_path / "second3.score").write_text(format_score_lines(enroll, test, second, None))
    (tmp_path / "cali4.score").write_text(format_score_lines(enroll, test, values, is_target))
    order = rng.permutation(len(lines))
    (tmp_path / "shuffled.score").write_text(
        format_score_lines(enroll[order], test[order], values[order], None)
    )
    (tmp_path / "short.score").write_text(format_score_lines(enroll[1:], test[1:], values[1:], None))
    flipped = is_target.copy()
    flipped[7] = not flipped[7]
    (tmp_path / "flipped.score").write_text(format_score_lines(enroll, test, values, flipped))
    (tmp_path / "eval.score").write_text(format_score_lines(enroll, test, values + 0.1, is_target))
    return tmp_path, len(lines), n_repeated, n_self


def test_the_general_reader_still_refuses_repeats_and_the_calibration_reader_counts_them(cali):
    d, n, n_repeated, n_self = cali
    with pytest.raises(InputError, match="duplicate trial"):
        read_trials(d / "vox2_cali.kaldi")
    trials, repeated, selfs = read_calibration_trials(d / "vox2_cali.kaldi")
    assert (len(trials), repeated, selfs) == (n, n_repeated, n_self)
    conflicting = d / "conflict.kaldi"
    conflicting.write_text("a b target\nc d nontarget\na b nontarget\n")
    with pytest.raises(InputError, match="both target and nontarget"):
        read_calibration_trials(conflicting)
    unlabelled = d / "bare.kaldi"
    unlabelled.write_text("a b\na b\n")
    with pytest.raises(InputError, match="needs labels"):
        read_calibration_trials(unlabelled)


def calibrate(*args):
    result = CliRunner().invoke(cli, ["calibrate", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_calibrate_trains_on_a_three_column_file_labelled_by_the_list(cali):
    d, n, n_repeated, n_self = cali
    models = {}
    for name, extra in (("cali3", ["--train-trials", d / "vox2_cali.kaldi"]), ("cali4", [])):
        code, out, err = calibrate(
            "--train", d / f"{name}.score", *extra, "--apply", d / "eval.score", "--out", d / name, "--json"
        )
        assert code == 0, out + err
        models[name] = json.loads(out)
    listed = models["cali3"]["train_list"]
    assert (listed["n_trials"], listed["n_repeated"], listed["n_self_pairs"]) == (n, n_repeated, n_self)
    saved = json.loads((d / "cali3" / "calibration.json").read_text())
    assert saved["train_list"] == listed
    # the labels came from the list: the same fit as on the labelled copy of the file
    a, b = models["cali3"]["model"], models["cali4"]["model"]
    np.testing.assert_allclose(a["weights"] + [a["offset"]], b["weights"] + [b["offset"]], rtol=1e-12)
    assert a["training"]["n_repeated"] == n_repeated and a["training"]["n_self_pairs"] == n_self


def test_the_list_is_reported_on_stderr_and_order_is_free(cali):
    d, n, n_repeated, n_self = cali
    fits = []
    for name in ("cali3", "shuffled"):
        code, out, err = calibrate("--train", d / f"{name}.score", "--train-trials", d / "vox2_cali.kaldi",
                                   "--apply", d / "eval.score", "--out", d / name, "--json")  # fmt: skip
        assert code == 0, out + err
        assert f"{n:,} trials, {n_repeated:,} repeating an earlier pair, {n_self:,} self-pair(s)" in err
        fits.append(json.loads(out)["model"])
    np.testing.assert_allclose(fits[0]["weights"], fits[1]["weights"], rtol=1e-6)
    code, out, err = calibrate("--train", d / "short.score", "--train-trials", d / "vox2_cali.kaldi",
                               "--out", d / "o_short")  # fmt: skip
    assert code == 2 and "1 of its lines missing here, 0 extra" in err and "short.score" in err
    assert not (d / "o_short").exists()
    code, out, err = calibrate("--train", d / "flipped.score", "--train-trials", d / "vox2_cali.kaldi",
                               "--out", d / "o_flipped")  # fmt: skip
    assert code == 2 and "1 label(s) disagree" in err and "flipped.score:8" in err


def test_fuse_takes_the_list_too(cali):
    d, n, n_repeated, n_self = cali
    group = f"{d / 'eval.score'},{d / 'cali4.score'}"
    result = CliRunner().invoke(cli, list(map(str, (
        "fuse", "--train", d / "cali3.score", "--train", d / "second3.score", "--train-trials",
        d / "vox2_cali.kaldi", "--apply", group, "--out", d / "f", "--json",
    ))))  # fmt: skip
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["train_list"]
    assert (listed["n_repeated"], listed["n_self_pairs"]) == (n_repeated, n_self)
