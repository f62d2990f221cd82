"""The output folder of `sveval calibrate` and `sveval fuse`: one writer, checks before the fit, written aside
and swapped in (a failed or interrupted run leaves the previous folder byte for byte, or no folder)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

from sveval.calibration import run as calibration_run
from sveval.errors import InputError
from sveval.io.lock import folder_lock
from sveval.io.scores import format_score_lines


def run(*args):
    result = CliRunner().invoke(cli, list(map(str, args)))
    return result.exit_code, result.output


def write_scores(path, seed, n=300, labelled=True):
    rng = np.random.default_rng(seed)
    lab = np.random.default_rng(12345).random(n) < 0.3  # the same trials: the same labels in every file
    enroll = np.array([f"e{i % 17}" for i in range(n)], dtype=object)
    test = np.array([f"t{i}" for i in range(n)], dtype=object)
    values = np.where(lab, 2.0, -1.0) + rng.normal(0, 1, n)
    path.write_text(format_score_lines(enroll, test, values, lab if labelled else None))
    return path


@pytest.fixture
def files(tmp_path):
    for name, seed in (("cal_a", 0), ("cal_b", 1), ("eval_a", 2), ("eval_b", 3), ("other_a", 4)):
        write_scores(tmp_path / f"{name}.score", seed)
    return tmp_path


def calibrate(d, out, apply="eval"):
    return ("calibrate", "--train", d / "cal_a.score", "--apply", d / f"{apply}_a.score", "--out", out)


def fuse(d, out, apply="eval"):
    group = f"{d / f'{apply}_a.score'},{d / 'eval_b.score'}"
    train = ("--train", d / "cal_a.score", "--train", d / "cal_b.score")
    return ("fuse", *train, "--apply", group, "--out", out)


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != ".sveval.lock"}


@pytest.mark.slow
@pytest.mark.parametrize("command", [calibrate, fuse])
def test_a_second_writer_exits_2_and_changes_nothing(files, command):
    out = files / "out"
    assert run(*command(files, out))[0] == 0
    before = snapshot(out)
    with folder_lock(out):  # another writer holds the folder
        code, text = run(*command(files, out, apply="other"))
    assert code == 2 and "being written by" in text and "one writer" in text, text
    assert snapshot(out) == before


@pytest.mark.slow
@pytest.mark.parametrize("interrupt", [False, True])
@pytest.mark.parametrize("command", [calibrate, fuse])
def test_an_error_mid_run_leaves_the_previous_folder_byte_identical(files, command, interrupt, monkeypatch):
    out = files / "out"
    assert run(*command(files, out))[0] == 0
    (out / "keep.txt").write_text("not ours\n")
    before = snapshot(out)

    def fail(*args, **kwargs):  # after the calibrated files of the new run are written
        raise KeyboardInterrupt if interrupt else InputError("disk full", "somewhere")

    monkeypatch.setattr(calibration_run, "write_summary", fail)
    code, text = run(*command(files, out, apply="other"))
    assert code == (130 if interrupt else 2) and ("previous run" if interrupt else "disk full") in text, text
    assert snapshot(out) == before
    assert not [p for p in files.iterdir() if p.name.startswith(".out.")]  # no staging folder left


@pytest.mark.parametrize("command", [calibrate, fuse])
def test_a_failed_first_run_leaves_no_folder(files, command, monkeypatch):
    out = files / "new"
    monkeypatch.setattr(calibration_run, "write_summary", lambda *a, **k: 1 / 0)
    code, _ = run(*command(files, out))
    assert code != 0 and not out.exists()
    monkeypatch.undo()
    code, _ = run(*command(files, out, apply="missing"))  # an input error, found before any work
    assert code == 2 and not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("command", [calibrate, fuse])
def test_a_new_run_replaces_the_previous_outputs_as_a_set(files, command):
    out = files / "out"
    assert run(*command(files, out))[0] == 0
    first = {p.name for p in out.iterdir()}
    (out / "keep.txt").write_text("not ours\n")
    assert run(*command(files, out, apply="other"))[0] == 0
    names = {p.name for p in out.iterdir()}
    gone = {n for n in first if "eval_a" in n}
    assert gone and not gone & names  # the first run's calibrated and result files left with its summary
    assert "keep.txt" in names and any("other_a" in n for n in names)


def test_inputs_are_checked_before_the_fit(files, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("trained before the inputs were checked")

    monkeypatch.setattr(calibration_run, "train", no_fit)
    bare = write_scores(files / "bare.score", 5, labelled=False)
    code, text = run("calibrate", "--train", files / "cal_a.score", "--apply", bare, "--trials",
                     files / "nowhere.kaldi", "--out", files / "o")  # fmt: skip
    assert code == 2 and "nowhere.kaldi" in text
    code, text = run("calibrate", "--method", "qmf", "--train", files / "cal_a.score", "--apply",
                     files / "eval_a.score", "--out", files / "o")  # fmt: skip
    assert code == 2 and "8-column" in text and "eval_a.score" in text
    code, text = run(
        "calibrate", "--compat", "wespeaker", "--train", files / "cal_a.score", "--out", files / "o"
    )
    assert code == 2 and "--method qmf" in text
    (files / "o").mkdir()
    (files / "o" / "calibration.json").write_text("{broken")
    code, text = run(*calibrate(files, files / "o"))
    assert code == 2 and "calibration.json" in text and "not valid JSON" in text
    assert not (files / "o" / "cali_eval_a.score").exists()
