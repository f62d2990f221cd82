"""Hostile inputs to the calibration and fusion fits (issue 21, "no silently wrong number").

A fit that never moved, that is worse than a map known to be better, or that has no finite optimum
(separable data) must not be written as converged; scores or priors beyond float64's reach, and model
JSON of the wrong types or nesting, must be one-line input errors (exit 2), never a traceback or a raw
numpy RuntimeWarning. The CLI cases run the real `sveval` program, so that stderr is what a user sees.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sveval.calibration.linear import (
    FitError,
    Objective,
    Standardised,
    check_fit,
    check_training,
    fit_logistic,
    outlying,
    prior_entropy,
)

N = 2000


def gaussian(n: int = N, seed: int = 0):
    """Targets N(2, 1), nontargets N(-1, 1): overlapping, EER ~7 %."""
    rng = np.random.default_rng(seed)
    lab = rng.random(n) < 0.3
    return np.where(lab, rng.normal(2, 1, n), rng.normal(-1, 1, n)), lab


def write_scores(path, scores, lab, extra=None):
    rows = []
    for i, (s, t) in enumerate(zip(scores.tolist(), lab.tolist())):
        row = f"e{i % 40} t{i} {s!r} {'target' if t else 'nontarget'}"
        if extra is not None:
            row += " " + " ".join(repr(float(v)) for v in extra[i])
        rows.append(row + "\n")
    path.write_text("".join(rows))
    return path


def statistics(n: int = N, seed: int = 1):
    """QMF's four statistic columns |e| |t| mu_e mu_t, in WeSpeaker's ranges."""
    rng = np.random.default_rng(seed)
    return np.stack(
        [rng.uniform(8, 20, n), rng.uniform(8, 20, n), rng.uniform(0.05, 0.3, n), rng.uniform(0.05, 0.3, n)],
        axis=1,
    )


def sveval(*args):
    """(exit code, stdout, stderr) of the real program."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("sveval")), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout, done.stderr


def refused(args, *causes):
    """Exit 2 with exactly one stderr line, `sveval: error: ...`, naming every cause (case-insensitive)."""
    code, out, err = sveval(*args)
    lines = [
        line for line in err.replace("\r", "\n").splitlines() if line.strip() and "L-BFGS steps" not in line
    ]
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("sveval: error: "), err
    assert "Traceback" not in err and "RuntimeWarning" not in err
    for cause in causes:
        assert cause.lower() in lines[0].lower(), lines[0]
    return lines[0]


def eers(folder):
    """(before, after) EER in percent of the one calibrated file, from calibration.json."""
    summary = json.loads((folder / "calibration.json").read_text())
    (applied,) = summary["files"]
    return applied["before"]["eer"], applied["after"]["eer"]


def eer_tolerance(lab) -> float:
    """A positive linear map keeps the ranking, hence the EER. Only the '%.5f' written LLRs can tie two
    trials whose LLRs differ by less than 1e-5; with ~2000 scores of spread ~1 mapped with a slope of ~3 that
    happens to about n·1e-5/3 ≈ 0.01 pairs, so allow two trials of the smaller class: 2/min(T, N) in %."""
    return 200.0 / min(int(lab.sum()), int((~lab).sum()))


# -- the CLI: fits that did not move, scales, separable data ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("prior", ["1e-10", "1e-100"])
def test_a_tiny_prior_still_fits_a_map_that_keeps_the_eer(tmp_path, prior):
    # the old fit stopped at its start (weight 0: every LLR equal) and reported an EER of 50 % as converged
    scores, lab = gaussian()
    train = write_scores(tmp_path / "train.score", scores, lab)
    code, out, err = sveval(
        "calibrate", "--train", train, "--apply", train, "--out", tmp_path / "o", "--prior", prior
    )
    assert code == 0, err
    before, after = eers(tmp_path / "o")
    assert before < 15 and abs(after - before) <= eer_tolerance(lab)
    model = json.loads((tmp_path / "o" / "calibration_model.json").read_text())
    assert model["weights"][0] > 0 and model["training"]["converged"]


@pytest.mark.slow
def test_a_prior_below_float64s_reach_is_refused(tmp_path):
    scores, lab = gaussian()
    train = write_scores(tmp_path / "train.score", scores, lab)
    refused(
        ("calibrate", "--train", train, "--apply", train, "--out", tmp_path / "o", "--prior", "1e-310"),
        "train.score",
        "prior 1e-310 is too small",
        "at least 1e-300",
    )


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1e160, 1e-160])
def test_scaled_scores_fit_as_the_unscaled_ones(tmp_path, scale):
    # the old fit standardised with np.std, whose squares overflow (1e160) or lose their digits (1e-160)
    scores, lab = gaussian()
    train = write_scores(tmp_path / "train.score", scores * scale, lab)
    code, _, err = sveval("calibrate", "--train", train, "--apply", train, "--out", tmp_path / "o")
    assert code == 0, err
    before, after = eers(tmp_path / "o")
    assert abs(after - before) <= eer_tolerance(lab)


def separable(n: int = 400, seed: int = 2, tie: bool = False):
    """Targets in [1, 3], nontargets in [-3, -1]; with `tie`, one of each exactly at 0 (quasi-separable:
    the weight still grows without bound, the tied pair only fixing where the map crosses 0)."""
    rng = np.random.default_rng(seed)
    lab = rng.random(n) < 0.4
    scores = np.where(lab, rng.uniform(1, 3, n), rng.uniform(-3, -1, n))
    if tie:
        scores[np.flatnonzero(lab)[0]] = scores[np.flatnonzero(~lab)[0]] = 0.0
    return scores, lab


@pytest.mark.slow
@pytest.mark.parametrize("tie", [False, True])
def test_separable_training_data_is_refused_not_converged(tmp_path, tie):
    scores, lab = separable(tie=tie)
    train = write_scores(tmp_path / "sep.score", scores, lab)
    refused(
        ("calibrate", "--train", train, "--apply", train, "--out", tmp_path / "o"), "sep.score", "separable"
    )
    assert not (tmp_path / "o" / "calibration_model.json").exists()


@pytest.mark.slow
def test_separable_fusion_is_refused(tmp_path):
    scores, lab = separable()
    noisy = scores + np.random.default_rng(3).normal(0, 3, scores.size)  # overlaps alone, not with the other
    a, b = write_scores(tmp_path / "a.score", scores, lab), write_scores(tmp_path / "b.score", noisy, lab)
    refused(("fuse", "--train", a, "--train", b, "--apply", f"{a},{b}", "--out", tmp_path / "o"), "separable")


@pytest.mark.slow
def test_separable_qmf_is_refused(tmp_path):
    scores, lab = separable()
    train = write_scores(tmp_path / "q.score", scores, lab, statistics(scores.size))
    refused(
        ("calibrate", "--method", "qmf", "--train", train, "--out", tmp_path / "o"), "q.score", "separable"
    )


# -- the CLI: ±1e308 training scores and overflowing statistics --------------------------------------------


@pytest.mark.slow
def test_all_training_scores_at_plus_minus_1e308_are_one_line(tmp_path):
    scores, lab = gaussian(400)
    train = write_scores(tmp_path / "huge.score", np.where(lab, 1e308, -1e308), lab)
    refused(("calibrate", "--train", train, "--out", tmp_path / "o"), "huge.score", "separable")


@pytest.mark.slow
@pytest.mark.parametrize(
    "method", [("--method", "linear"), ("--method", "qmf"), ("--method", "qmf", "--compat", "wespeaker")]
)
def test_outliers_of_1e308_among_training_scores_are_refused(tmp_path, method):
    # linear: the map collapsed every ordinary score onto one LLR (EER 50 %); QMF ignored the score; the
    # WeSpeaker schedule's loss went to inf and the NaN weights ended in a traceback
    scores, lab = gaussian(400)
    scores[0], scores[1] = 1e308, -1e308
    train = write_scores(tmp_path / "huge.score", scores, lab, statistics(400))
    refused(
        ("calibrate", *method, "--train", train, "--out", tmp_path / "o"),
        "huge.score",
        "line 1 is 1e+308",
        "outliers",
    )


@pytest.mark.slow
@pytest.mark.parametrize("compat", ["none", "wespeaker"])
def test_qmf_statistics_whose_ratio_overflows_name_the_line(tmp_path, compat):
    scores, lab = gaussian(400)
    extra = statistics(400)
    extra[6, 0], extra[6, 1] = 1e308, 1e-300  # max/min = 1e608
    train = write_scores(tmp_path / "stats.score", scores, lab, extra)
    refused(
        ("calibrate", "--method", "qmf", "--compat", compat, "--train", train, "--out", tmp_path / "o"),
        "stats.score:7:",
        "overflows float64",
    )


# -- the CLI: model JSON of the wrong types ----------------------------------------------------------------


@pytest.fixture(scope="module")
def model_json(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    scores, lab = gaussian(400)
    train = write_scores(d / "train.score", scores, lab)
    code, _, err = sveval("calibrate", "--train", train, "--out", d / "m")
    assert code == 0, err
    return d, json.loads((d / "m" / "calibration_model.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize(
    "path, value, cause",
    [
        ("weights", ["2.5"], "weights must be a list of numbers"),
        ("weights", [True], "weights must be a list of numbers"),
        ("weights", {"score": 1.0}, "weights must be a list of numbers, got dict"),
        ("offset", "1.5", 'offset must be a number, got "1.5"'),
        ("prior", None, "prior must be a number, got null"),
        ("features", "score", 'features must be a list of strings, got "score"'),
        ("method", ["linear"], "method must be a string, got list"),
        ("max_dur", "20", "max_dur must be a number"),
        ("training", [1, 2], "training must be an object, got list"),
        ("training.n_target", "12", "training.n_target must be a whole number"),
        ("training.n_target", 1.5, "training.n_target must be a whole number"),
        ("training.cllr_after", "x", "training.cllr_after must be a number"),
        ("training.converged", "yes", "training.converged must be true or false"),
        ("training.sources", "a.score", "training.sources must be a list of strings"),
        ("training.fingerprint", None, "training.fingerprint must be a string, got null"),
    ],
)
def test_model_json_fields_of_the_wrong_type_are_one_line(model_json, tmp_path, path, value, cause):
    d, model = model_json
    model = json.loads(json.dumps(model))
    *parents, key = path.split(".")
    target = model
    for parent in parents:
        target = target[parent]
    target[key] = value
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(model))
    refused(
        ("calibrate", "--model", bad, "--apply", d / "train.score", "--out", tmp_path / "o"),
        "bad.json: not a sveval calibration model",
        cause,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "text", ["[" * 100_000 + "]" * 100_000, '{"method": ' + "[" * 100_000 + "]" * 100_000 + "}"]
)
def test_deeply_nested_model_json_is_one_line(model_json, tmp_path, text):
    d, _ = model_json
    bad = tmp_path / "deep.json"
    bad.write_text(text)
    refused(
        ("calibrate", "--model", bad, "--apply", d / "train.score", "--out", tmp_path / "o"),
        "deep.json: not valid JSON: nested deeper",
    )


# -- the checks, by hand ------------------------------------------------------------------------------------


def test_the_objective_is_one_at_the_constant_map():
    # at llr = 0: π/T·T·log(1 + e^−ℓ) + (1−π)/N·N·log(1 + e^ℓ) = −π ln π − (1−π) ln(1−π) = H(π); C = that / H
    lab = np.array([True, False, False, True, False])
    for prior in (0.5, 0.01, 1e-10, 1e-300):
        cost, _ = Objective.of(lab, prior).value_and_slope(np.zeros(lab.size))
        assert cost == pytest.approx(1.0, rel=1e-12)  # a few roundings of numbers of order 1
    assert prior_entropy(0.5) == pytest.approx(math.log(2), rel=1e-15)


def test_standardised_parameters_map_back_to_the_same_llrs():
    rng = np.random.default_rng(4)
    for scale in (1e-160, 1.0, 1e160):
        x = np.stack([rng.normal(5, 2, 50), rng.uniform(0, 1, 50)], axis=1) * scale
        std, theta = Standardised.of(x), np.array([0.7, -1.3, 0.4])
        w, b = std.raw(theta)
        # both sides are ~1; each is a sum of a few products rounded once: agreement to ~1e-14 absolute
        np.testing.assert_allclose(x @ w + b, std.z @ theta[:-1] + theta[-1], rtol=0, atol=1e-12)


def test_a_map_that_did_not_move_from_its_start_is_refused():
    # targets at 1 and 3, nontargets at 0 and 2: the class means differ, so the constant map llr = 0 is not
    # optimal (dC/dw ∝ π(1−π)·(mean target − mean nontarget) ≠ 0), and a fit that stayed there failed
    x, lab = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([False, True, False, True])
    with pytest.raises(FitError, match="did not improve on its start, the constant map"):
        check_fit(x, lab, 0.5, [0.0], 0.0)
    w, b, _, converged = fit_logistic(x, lab, 0.5)
    assert converged and w[0] > 0  # the fit itself moves, and passes its own check


def test_a_map_worse_than_the_scores_read_as_llrs_is_refused():
    # Gaussian scores N(±3, 6) are their own LLRs: llr = 0.1·score is better than 0 but worse than identity
    rng = np.random.default_rng(5)
    lab = rng.random(4000) < 0.5
    x = np.where(lab, rng.normal(3, math.sqrt(6), lab.size), rng.normal(-3, math.sqrt(6), lab.size))[:, None]
    with pytest.raises(FitError, match="did not improve on the scores read as LLRs"):
        check_fit(x, lab, 0.5, [0.1], 0.0)
    check_fit(x, lab, 0.5, *fit_logistic(x, lab, 0.5)[:2])


def test_separable_and_quasi_separable_data_are_named():
    lab = np.array([False, False, True, True])
    for x in ([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 1.0, 2.0]):  # strictly, and with a tie at the boundary
        with pytest.raises(FitError, match="separable"):
            fit_logistic(np.array(x)[:, None], lab, 0.5)
    # reversed labels are separable too: the weight runs to −infinity
    with pytest.raises(FitError, match="separable"):
        fit_logistic(np.array([[3.0], [2.0], [1.0], [0.0]]), lab, 0.5)


def test_outliers_are_measured_in_median_deviations():
    scores, _ = gaussian(1000)
    assert outlying(scores).max() < 10  # Gaussian: |v − median| / MAD ≈ 1.48·|z|, |z| < 4 at n = 1000
    scores[17] = 1e308
    assert outlying(scores)[17] > 1e300
    with pytest.raises(FitError, match="line 18 is 1e\\+308"):
        check_training(scores[:, None])
