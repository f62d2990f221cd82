"""Output a person can attribute (issue 23, item 2): same-named files told apart wherever several are shown,
each operating point once, provenance that says which numbers sveval computed, options never silently
ignored, and progress that a log file can hold (whole lines, no carriage returns) with --quiet everywhere."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

from sveval import progress as progress_module
from sveval.io.scores import format_score_lines


def invoke(*args):
    result = CliRunner().invoke(cli, list(map(str, args)))
    return result.exit_code, result.stdout, result.stderr


def score_files(root, names=("a/x.score", "b/x.score"), n=300):
    """Score files of the same trials (so they can be fused), with different scores per file."""
    rng = np.random.default_rng(0)
    utts = np.array([f"id{k % 20:05d}/v{k}/00001.wav" for k in range(40)], dtype=object)
    e, t = rng.integers(0, 40, n), rng.integers(0, 40, n)
    labels = (e % 20 == t % 20) | (rng.random(n) < 0.5)
    paths = []
    for k, name in enumerate(names):
        scores = np.where(labels, 1.0, -1.0) + np.random.default_rng(k + 1).normal(0, 1, n)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(format_score_lines(utts[e], utts[t], scores, labels))
        paths.append(path)
    return paths


def test_file_labels_one_function_for_every_command():
    from sveval.reporting.labels import file_labels

    assert file_labels(["x/a.score", "y/b.score"]) == ["a", "b"]
    assert file_labels(["/r/exp/A/scores/o.score", "/r/exp/B/scores/o.score"]) == ["A", "B"]
    assert file_labels(["/r/A/o.score", "/r/B/o.score"], suffix="", folders_alone=False) == [
        "A/o.score",
        "B/o.score",
    ]
    assert file_labels(["/r/A/o.score", "/r/A/o.score"], suffix="") == ["o.score (1)", "o.score (2)"]


def test_metrics_headers_and_json_tell_same_named_files_apart(tmp_path):
    a, b = score_files(tmp_path)
    code, out, _ = invoke("metrics", a, b)
    assert code == 0
    headers = [line for line in out.splitlines() if line.startswith("----")]
    assert headers == ["---- a/x.score -----", "---- b/x.score -----"]
    code, out, _ = invoke("metrics", a, b, "--json")
    assert code == 0
    assert [(r["file"], r["label"]) for r in json.loads(out)] == [
        (str(a), "a/x.score"),
        (str(b), "b/x.score"),
    ]
    # names that differ: WeSpeaker's header, the file name alone
    (c,) = score_files(tmp_path, ("c/y.score",))
    code, out, _ = invoke("metrics", c)
    assert out.splitlines()[0] == "---- y.score -----"
    assert json.loads(invoke("metrics", c, "--json")[1])[0]["label"] == "y.score"


def test_dcf_given_twice_is_one_operating_point(tmp_path):
    (a,) = score_files(tmp_path, ("a/x.score",))
    code, out, _ = invoke(
        "metrics", a, "--dcf", "0.05", "--dcf", "0.05:1:1", "--dcf", "0.01", "--dcf", "0.05"
    )
    assert code == 0
    lines = [line.split(" = ")[0] for line in out.splitlines() if line.startswith("minDCF")]
    assert lines == ["minDCF (p_target:0.05 c_miss:1 c_fa:1)", "minDCF (p_target:0.01 c_miss:1 c_fa:1)"]
    report = json.loads(invoke("metrics", a, "--dcf", "0.05", "--dcf", "0.05", "--json")[1])[0]
    assert len(report["dcf"]) == 1 and "dcf:0.05/1/1|" in report["signature"]


def test_det_overlay_legend_uses_the_shared_labels(tmp_path):
    from sveval.app.plots import curve_labels as _curve_labels

    a, b = score_files(tmp_path)
    assert _curve_labels([a, b]) == ["a", "b"]
    code, out, _ = invoke("det", a, b, "--overlay", "--out", tmp_path / "cmp.svg")
    assert code == 0, out
    svg = (tmp_path / "cmp.svg").read_text()
    assert '<g id="det:a"' in svg and '<g id="det:b"' in svg


def test_fusion_of_same_named_systems_says_which_weight_is_whose(tmp_path):
    xa, xb, ya, yb = score_files(tmp_path, ("a/x.score", "b/x.score", "a/y.score", "b/y.score"))
    code, out, err = invoke(
        "fuse", "--train", xa, "--train", xb, "--apply", f"{ya},{yb}", "--out", tmp_path / "f"
    )
    assert code == 0, out + err
    assert "trained on a/x.score, b/x.score (" in out
    assert "train:a/x.score+b/x.score@" in out
    model = json.loads((tmp_path / "f" / "calibration.json").read_text())["model"]
    assert model["features"] == ["a/x.score", "b/x.score"]
    assert model["training"]["sources"] == ["a/x.score", "b/x.score"]


def test_calibrate_refuses_same_named_apply_files_naming_both(tmp_path):
    xa, xb = score_files(tmp_path)
    code, out, err = invoke("calibrate", "--train", xa, "--apply", xa, "--apply", xb, "--out", tmp_path / "c")
    assert code == 2
    assert f"{xa} and {xb} would both write cali_x.score" in err


def test_max_dur_is_never_ignored(tmp_path):
    (a,) = score_files(tmp_path, ("a/x.score",))
    code, out, err = invoke("calibrate", "--train", a, "--apply", a, "--out", tmp_path / "c")
    assert code == 0, out + err
    model = tmp_path / "c" / "calibration_model.json"
    code, _, err = invoke(
        "calibrate", "--model", model, "--apply", a, "--out", tmp_path / "d", "--max-dur", "5"
    )
    assert code == 2
    assert err == ("sveval: error: --max-dur is part of a QMF model's training; a --model already fixes it\n")
    assert not (tmp_path / "d").exists()
    code, _, err = invoke("calibrate", "--train", a, "--apply", a, "--out", tmp_path / "e", "--max-dur", "5")
    assert code == 2 and err == "sveval: error: --max-dur caps QMF durations: use it with --method qmf\n"
    # the default is not "given": a reused model still works without the option
    code, out, err = invoke("calibrate", "--model", model, "--apply", a, "--out", tmp_path / "g")
    assert code == 0, out + err


def test_progress_off_a_terminal_is_a_few_whole_lines(monkeypatch):
    monkeypatch.setattr(progress_module, "FIRST_LINE_S", 0.0)
    monkeypatch.setattr(progress_module, "EVERY_S", 0.0)
    stream = io.StringIO()
    with progress_module.progress(total=95, desc="WeSpeaker L-BFGS steps", unit="step", file=stream) as bar:
        for _ in range(95):
            bar.set_postfix(cllr="0.1234")
            bar.update(1)
    text = stream.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and text.endswith("\n")
    assert 2 <= len(lines) <= 11  # a tenth of the work at most per line, then the last
    assert lines[0].startswith("sveval: WeSpeaker L-BFGS steps: 10/95 step (11 %), ")
    assert lines[-1].startswith("sveval: WeSpeaker L-BFGS steps: 95 step done, ")
    assert lines[-1].endswith(" s (cllr=0.1234)")
    # unknown totals (the cohort reader): counts with a space, never "0utt"
    stream = io.StringIO()
    bar = progress_module.progress(desc="cohort embeddings", unit="utt", file=stream)
    bar.update(12000)
    bar.close()
    assert stream.getvalue().splitlines()[0].startswith("sveval: cohort embeddings: 12,000 utt, ")


def test_progress_quick_work_and_quiet_print_nothing():
    stream = io.StringIO()  # the real delays: work that ends within 10 s leaves no line in a log
    for _ in progress_module.progress(range(1000), desc="validating", unit="file", file=stream):
        pass
    assert stream.getvalue() == ""
    stream = io.StringIO()
    bar = progress_module.progress(total=3, desc="x", file=stream, disable=True)
    bar.update(3)
    bar.close()
    assert stream.getvalue() == ""


def test_progress_stopped_by_an_error_adds_no_done_line(monkeypatch):
    monkeypatch.setattr(progress_module, "FIRST_LINE_S", 0.0)
    monkeypatch.setattr(progress_module, "EVERY_S", 0.0)
    stream = io.StringIO()
    with pytest.raises(RuntimeError):
        with progress_module.progress(total=10, desc="extract", unit="utt", file=stream) as bar:
            bar.update(5)
            raise RuntimeError("stop")
    assert "done" not in stream.getvalue()


def test_calibrate_wespeaker_steps_in_a_log(monkeypatch, capsys):
    """calibrate --compat wespeaker's (at most 50) L-BFGS steps, each a loss and a step: tqdm wrote about 95
    updates onto one line of a log; now whole lines on a non-terminal stderr, and none with --quiet."""
    from sveval.app import calibrate

    monkeypatch.setattr(progress_module, "FIRST_LINE_S", 0.0)
    monkeypatch.setattr(progress_module, "EVERY_S", 0.0)

    def train(options, files, durations, step=None):
        for k in range(50):
            step(k + 1, 0.5)
        return "model"

    class Options:
        fit = "wespeaker"

    monkeypatch.setattr(calibrate.cal, "train", train)
    assert calibrate._train_with_progress(Options(), [], None, True) == "model"
    err = capsys.readouterr().err
    assert "\r" not in err and 2 <= len(err.splitlines()) <= 11
    assert all(line.startswith("sveval: WeSpeaker L-BFGS steps: ") for line in err.splitlines())
    calibrate._train_with_progress(Options(), [], None, False)  # --quiet
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "command",
    [
        ["metrics"],
        ["det"],
        ["ape"],
        ["calibrate"],
        ["score"],
        ["extract"],
        ["validate"],
        ["report"],
        ["demo"],
        ["trials", "fetch"],
        ["models", "fetch"],
        ["export-onnx"],
    ],
)
def test_every_command_that_shows_progress_takes_quiet(command):
    code, out, _ = invoke(*command, "--help")
    assert code == 0 and "--quiet" in out
