"""Calibration that says when it cannot be trusted (issue 23, item 5), through the real `sveval` program.

- A distance-like (inverted) system calibrated with a negative weight went from EER 97.6 % to 2.4 % without a
  word. Every fitted map decreasing in a system's score (linear, QMF on the score feature, a fusion weight, a
  reused model) is now a `sveval: warning: <file>: ...` line on stderr, recorded in calibration.json
  (`model.decreasing_in`), and the table shows EER and minDCF before and after.
- actDCF accepts an LLR exactly at the Bayes threshold θ, as BOSARIS fast_actDCF ("accept if llr >= Bayes
  threshold") and NIST scorers do; `metrics --llr`, `calibrate`'s result file and `validate` say the same.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from test_calibration_fits import sveval  # the real program: (exit code, stdout, stderr)

from sveval.io.scores import format_score_lines

N = 3000


def warnings_of(err: str) -> list[str]:
    """The warning lines, less the one saying a file is trained on and applied to (these tests do that on
    purpose; test_training_on_the_applied_file_is_warned checks it)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert all(line.startswith("sveval: warning: ") for line in lines), err  # nothing else, no traceback
    return [line for line in lines if "is also a training file" not in line]


def trials(n: int = N, seed: int = 0):
    rng = np.random.default_rng(seed)
    lab = rng.random(n) < 0.5
    enroll = np.array([f"e{i % 40}" for i in range(n)], dtype=object)
    test = np.array([f"t{i}" for i in range(n)], dtype=object)
    return rng, lab, enroll, test


def distance_files(tmp_path):
    """dist.score: a distance (targets lower), sim.score: a similarity, on the same labelled trials; and an
    8-column AS-norm-like dist8.score for QMF (the distance plus WeSpeaker's four statistic columns)."""
    rng, lab, enroll, test = trials()
    dist = np.where(lab, rng.normal(0.6, 0.2, N), rng.normal(1.0, 0.2, N))
    sim = np.where(lab, 1.0, -1.0) + rng.normal(0, 1.0, N)
    extra = np.stack(
        [rng.uniform(8, 20, N), rng.uniform(8, 20, N), rng.uniform(0.05, 0.3, N), rng.uniform(0.05, 0.3, N)],
        axis=1,
    )
    (tmp_path / "dist.score").write_text(format_score_lines(enroll, test, dist, lab))
    (tmp_path / "sim.score").write_text(format_score_lines(enroll, test, sim, lab))
    (tmp_path / "dist8.score").write_text(format_score_lines(enroll, test, dist, lab, extra))
    return tmp_path / "dist.score", tmp_path / "sim.score", tmp_path / "dist8.score"


@pytest.mark.slow
def test_linear_calibration_of_a_distance_warns_and_shows_eer_before_and_after(tmp_path):
    dist, _, _ = distance_files(tmp_path)
    code, out, err = sveval("calibrate", "--train", dist, "--apply", dist, "--out", tmp_path / "c")
    assert code == 0, err
    (warning,) = warnings_of(err)
    assert warning.startswith(
        f"sveval: warning: {dist}: the fitted calibration map is decreasing in its score"
    )
    assert "the system looks inverted (distance-like" in warning and "EER and minDCF change" in warning
    record = json.loads((tmp_path / "c" / "calibration.json").read_text())
    assert record["model"]["decreasing_in"] == ["dist.score"]
    header = next(line for line in out.splitlines() if line.startswith("output"))
    assert "EER % before" in header and "minDCF before" in header
    row = next(line for line in out.splitlines() if line.startswith("cali_dist.score")).split()
    eer_after, eer_before = float(row[1]), float(row[6])
    assert eer_before > 50 > eer_after  # the ranking was reversed: visible, not silent
    # the model file carries it too, and reusing the model warns again, naming the model
    code, _, err = sveval(
        "calibrate", "--model", tmp_path / "c" / "calibration_model.json", "--apply", dist, "--out",
        tmp_path / "c2", "--json",
    )  # fmt: skip
    assert code == 0, err
    (warning,) = warnings_of(err)
    assert warning.startswith(
        f"sveval: warning: {tmp_path / 'c' / 'calibration_model.json'} (trained on dist.score): "
    )


@pytest.mark.slow
def test_qmf_decreasing_in_the_score_feature_warns(tmp_path):
    _, _, dist8 = distance_files(tmp_path)
    code, _, err = sveval(
        "calibrate", "--method", "qmf", "--train", dist8, "--apply", dist8, "--out", tmp_path / "q"
    )
    assert code == 0, err
    (warning,) = warnings_of(err)
    assert warning.startswith(
        f"sveval: warning: {dist8}: the fitted calibration map is decreasing in its score"
    )
    model = json.loads((tmp_path / "q" / "calibration.json").read_text())["model"]
    assert model["features"][0] == "score" and model["weights"][0] < 0
    assert model["decreasing_in"] == ["dist8.score"]


@pytest.mark.slow
def test_fusion_with_an_inverted_system_names_it_and_only_it(tmp_path):
    dist, sim, _ = distance_files(tmp_path)
    code, out, err = sveval(
        "fuse", "--train", sim, "--train", dist, "--apply", f"{sim},{dist}", "--out", tmp_path / "f", "--json"
    )
    assert code == 0, err
    (warning,) = warnings_of(err)
    assert warning.startswith(f"sveval: warning: {dist}: its fusion weight is negative (")
    assert "looks inverted (distance-like" in warning
    assert json.loads(out)["model"]["decreasing_in"] == ["dist.score"]  # stdout stays JSON


@pytest.mark.slow
def test_an_ordinary_similarity_calibrates_without_a_warning(tmp_path):
    _, sim, _ = distance_files(tmp_path)
    code, _, err = sveval("calibrate", "--train", sim, "--apply", sim, "--out", tmp_path / "s")
    assert code == 0 and warnings_of(err) == [], err
    assert json.loads((tmp_path / "s" / "calibration.json").read_text())["model"]["decreasing_in"] == []


def at_theta_file(path: Path) -> Path:
    """50 targets and 50 nontargets read as LLRs at p_target 0.5, where θ = log(1) = 0:
    targets: 5 exactly at 0, 2 at -1 (below), 43 at +2; nontargets: 5 at +1 (above), 45 at -2.

    accept if LLR ≥ θ (BOSARIS, NIST): P_miss = 2/50, P_fa = 5/50, actDCF = (0.5·0.04 + 0.5·0.10)/0.5 = 0.140
    accept if LLR > θ would miss the five zeros too: P_miss = 7/50, actDCF = (0.5·0.14 + 0.5·0.10)/0.5 = 0.240
    """
    scores = [0.0] * 5 + [-1.0] * 2 + [2.0] * 43 + [1.0] * 5 + [-2.0] * 45
    lab = np.array([True] * 50 + [False] * 50)
    ids = np.array([f"u{i}" for i in range(100)], dtype=object)
    path.write_text(format_score_lines(ids, ids[::-1], np.array(scores), lab))
    return path


def identity_model(path: Path) -> Path:
    """A hand-written linear model llr = 1·score + 0: `calibrate --model` then writes the scores unchanged
    (as %.5f), so the calibrated file keeps its LLRs exactly at θ."""
    training = {
        "sources": ["by_hand.score"], "fingerprint": "sha256:" + "0" * 64, "n_target": 1, "n_nontarget": 1,
        "n_repeated": 0, "n_self_pairs": 0, "cllr_before": 1.0, "cllr_after": 1.0, "min_cllr": 1.0,
        "iterations": 0, "converged": True,
    }  # fmt: skip
    model = {"method": "linear", "features": ["score"], "weights": [1.0], "offset": 0.0, "prior": 0.5}
    path.write_text(json.dumps({**model, "fit": "scipy", "training": training}))
    return path


@pytest.mark.slow
def test_llrs_exactly_at_theta_are_accepted_by_metrics_calibrate_and_validate(tmp_path):
    scores = at_theta_file(tmp_path / "at_theta.score")
    code, out, err = sveval("metrics", scores, "--llr", "--dcf", "0.5")
    assert code == 0, err
    assert "actDCF (p_target:0.5 c_miss:1 c_fa:1) = 0.140" in out.splitlines()  # not 0.240
    code, out, err = sveval("metrics", scores, "--llr", "--dcf", "0.5", "--json")
    assert code == 0 and json.loads(out)[0]["dcf"][0]["act_dcf"] == 0.14, err
    # calibrated by the identity: the result file prints the same actDCF, and validate, recomputing it from
    # the calibrated scores with the same function, agrees (no own copy of the rule)
    model = identity_model(tmp_path / "identity.json")
    code, _, err = sveval(
        "calibrate", "--model", model, "--apply", scores, "--out", tmp_path / "c", "--dcf", "0.5"
    )
    assert code == 0 and warnings_of(err) == [], err
    result = (tmp_path / "c" / "cali_at_theta.result").read_text()
    assert re.search(r"^actDCF \(p_target:0\.5 c_miss:1 c_fa:1\) = 0\.140$", result, re.M), result
    (tmp_path / "c" / "calibration.json").unlink()  # without sveval's record, every figure is recomputed
    code, out, err = sveval("validate", tmp_path / "c", "--json", "--quiet")
    checks = json.loads(out)["checks"]
    metrics = [c for c in checks if c["name"] == "metrics"]
    assert metrics and all(c["status"] == "pass" for c in metrics), metrics
    assert "actDCF 0.140" in metrics[0]["message"]


@pytest.mark.slow
def test_training_on_the_applied_file_is_warned(tmp_path):
    """A fresh user calibrated a file on itself and read flattering figures without a word."""
    rng, lab, enroll, test = trials()
    sim = np.where(lab, 3.0, -3.0) + rng.normal(0, 1.5, N)
    path = tmp_path / "sim.score"
    path.write_text(format_score_lines(enroll, test, sim, lab))
    code, out, err = sveval("calibrate", "--train", path, "--apply", path, "--out", tmp_path / "o")
    assert code == 0, err
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert f"{path} is also a training file" in line and "optimistic" in line
    other = tmp_path / "other.score"
    other.write_text(format_score_lines(enroll, test, sim + 0.1, lab))
    code, out, err = sveval("calibrate", "--train", path, "--apply", other, "--out", tmp_path / "o2")
    assert code == 0 and err == ""


def test_a_rising_cllr_is_explained_under_the_table(capsys):
    """Cllr weighs the classes as at prior 0.5, the fit works at --prior: after a fit at 0.01 Cllr can rise,
    which looked like a failed calibration to a new user."""
    from types import SimpleNamespace

    from sveval.cli.calibrate import print_outcome

    training = SimpleNamespace(converged=True, iterations=9, sources=("cal.score",), n_target=10,
                               n_nontarget=10, n_repeated=0, n_self_pairs=0, cllr_before=0.2, cllr_after=0.1,
                               min_cllr=0.1)  # fmt: skip
    model = SimpleNamespace(training=training, method="linear", fit="scipy", prior=0.01, signature="sig")

    def metrics(cllr):
        dcf = {"p_target": 0.01, "min_dcf": 0.2, "act_dcf": 0.3}
        return {"eer": 3.0, "dcf": [dcf], "cllr": cllr, "min_cllr": 0.1}

    for after, before, said in ((0.13, 0.125, True), (0.12, 0.125, False)):
        applied = [SimpleNamespace(output="cali_x.score", after=metrics(after), before=metrics(before))]
        print_outcome(model, applied, "out")
        text = capsys.readouterr().out
        note = "Cllr rose on cali_x.score: the map minimises the cross-entropy at prior 0.01"
        assert (note in text) == said
