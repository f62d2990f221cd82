"""Linear calibration and fusion: the objective against an independent optimiser, recovery of a known LLR
map, monotonicity, held-out calibration quality, fusion gains, model round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from sveval.calibration import run
from sveval.calibration.linear import CalibrationModel, fit_logistic
from sveval.errors import InputError
from sveval.metrics import detection as m
from sveval.metrics.llr import min_cllr
from sveval.types import ScoreFile


def gaussian_llrs(n: int, seed: int, mu: float = 3.0):
    """Targets N(mu, 2mu), nontargets N(-mu, 2mu): then the score itself is the true LLR."""
    rng = np.random.default_rng(seed)
    lab = rng.random(n) < 0.5
    llr = np.where(lab, rng.normal(mu, math.sqrt(2 * mu), n), rng.normal(-mu, math.sqrt(2 * mu), n))
    return llr, lab


def score_file(values, lab, name="x.score", enroll=None, test=None) -> ScoreFile:
    n = len(values)
    enroll = np.array([f"e{i % 50}" for i in range(n)], dtype=object) if enroll is None else enroll
    test = np.array([f"t{i}" for i in range(n)], dtype=object) if test is None else test
    return ScoreFile(name, enroll, test, np.asarray(values, float), np.asarray(lab, bool))


def _plain_objective(theta, x, lab, prior):
    """BOSARIS's prior-weighted logistic loss, written out term by term."""
    w, b = theta[:-1], theta[-1]
    shift = math.log(prior / (1 - prior))
    s = x @ w + b + shift
    tar = np.mean(np.log1p(np.exp(-s[lab])))
    non = np.mean(np.log1p(np.exp(s[~lab])))
    return prior * tar + (1 - prior) * non


@pytest.mark.parametrize("prior", [0.5, 0.05])
def test_fit_matches_an_independent_optimiser(prior):
    llr, lab = gaussian_llrs(400, 0)
    rng = np.random.default_rng(1)
    x = np.stack([0.2 * llr + 1.0, llr + rng.normal(0, 2, llr.size)], axis=1)
    w, b, _, converged = fit_logistic(x, lab, prior)
    assert converged
    oracle = minimize(
        _plain_objective,
        np.zeros(3),
        args=(x, lab, prior),
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 20000, "maxfev": 40000},
    )
    assert _plain_objective(np.r_[w, b], x, lab, prior) <= oracle.fun + 1e-9
    np.testing.assert_allclose(np.r_[w, b], oracle.x, atol=2e-4)


@pytest.mark.parametrize("prior", [0.5, 0.01])
def test_linear_calibration_recovers_a_known_affine_map(prior):
    llr, lab = gaussian_llrs(80_000, 2)
    raw = 0.1 * llr + 0.3  # so the true map is llr = 10 * raw - 3
    w, b, _, _ = fit_logistic(raw[:, None], lab, prior)
    assert w[0] == pytest.approx(10.0, rel=0.04)
    assert b == pytest.approx(-3.0, abs=0.2)


def test_calibration_is_monotone_and_close_to_min_cllr_on_held_out_data():
    llr, lab = gaussian_llrs(20_000, 3)
    held, held_lab = gaussian_llrs(20_000, 4)
    model = run.train(run.CalibrationOptions(), [score_file(0.1 * llr + 0.3, lab)])
    out = model.apply((0.1 * held + 0.3)[:, None])
    before = m.summarize(0.1 * held + 0.3, held_lab, ("nist",), ((0.01, 1, 1),), "tie-aware")
    after = m.summarize(out, held_lab, ("nist",), ((0.01, 1, 1),), "tie-aware")
    assert after.eers[0].value == pytest.approx(before.eers[0].value, abs=1e-12)
    assert after.dcfs[0].min_dcf == pytest.approx(before.dcfs[0].min_dcf, abs=1e-12)
    assert m.cllr(out, held_lab) < min_cllr(out, held_lab) + 0.05
    assert m.cllr(0.1 * held + 0.3, held_lab) > m.cllr(out, held_lab) + 0.3


def test_training_counts_repeated_and_self_pairs():
    llr, lab = gaussian_llrs(200, 5)
    enroll = np.array(["a", "a", "b"] + [f"e{i}" for i in range(197)], dtype=object)
    test = np.array(["x", "x", "b"] + [f"t{i}" for i in range(197)], dtype=object)
    model = run.train(run.CalibrationOptions(), [score_file(llr, lab, enroll=enroll, test=test)])
    assert (model.training.n_repeated, model.training.n_self_pairs) == (1, 1)
    assert model.training.n_target + model.training.n_nontarget == 200


def test_fusion_of_independent_systems_beats_the_better_one():
    rng = np.random.default_rng(6)
    n = 40_000
    lab = rng.random(n) < 0.5
    base = np.where(lab, 1.0, -1.0)
    a, b = base + rng.normal(0, 1.0, n), base + rng.normal(0, 1.2, n)
    half = n // 2
    train = [score_file(a[:half], lab[:half], "a"), score_file(b[:half], lab[:half], "b")]
    model = run.train(run.CalibrationOptions("fusion"), train)
    test = [score_file(a[half:], lab[half:], "a"), score_file(b[half:], lab[half:], "b")]
    fused = run.apply(model, test)
    held = lab[half:]
    single = run.train(run.CalibrationOptions(), [train[0]]).apply(a[half:, None])
    assert m.min_dcf(fused, held, 0.01).min_dcf < m.min_dcf(a[half:], held, 0.01).min_dcf
    assert m.cllr(fused, held) < m.cllr(single, held) - 0.05
    assert min_cllr(fused, held) < min_cllr(a[half:], held)


def test_fusing_a_system_with_itself_keeps_its_ranking():
    llr, lab = gaussian_llrs(5000, 7)
    files = [score_file(llr, lab, "a"), score_file(llr, lab, "a2")]
    fused = run.apply(run.train(run.CalibrationOptions("fusion"), files), files)
    np.testing.assert_array_equal(np.argsort(fused, kind="stable"), np.argsort(llr, kind="stable"))


def test_fusion_aligns_reordered_files_and_refuses_different_keys():
    llr, lab = gaussian_llrs(100, 8)
    a = score_file(llr, lab, "a")
    perm = np.random.default_rng(0).permutation(100)
    b = score_file(2 * llr[perm], lab[perm], "b", a.enroll[perm], a.test[perm])
    np.testing.assert_array_equal(run.align([a, b])[:, 1], 2 * llr)
    c = score_file(llr[:99], lab[:99], "c")
    with pytest.raises(InputError, match="keys do not match a: 1 of its trial"):
        run.align([a, c])
    flipped = lab[perm].copy()
    flipped[[3, 7]] = ~flipped[[3, 7]]
    d = score_file(2 * llr[perm], flipped, "d", a.enroll[perm], a.test[perm])
    with pytest.raises(InputError, match=r"d:4: 2 label\(s\) disagree with a"):
        run.align([a, d])


def test_fusion_aligns_repeated_pairs_occurrence_by_occurrence():
    """A calibration list's repeated pair is one trial: in another order, the k-th line with it in one file
    meets the k-th in the other; a file holding it fewer times is refused, counted with repeats."""
    enroll = np.array(["a", "c", "a", "e"], dtype=object)
    test = np.array(["b", "d", "b", "f"], dtype=object)
    lab = np.array([True, False, True, False])
    a = score_file([1.0, 2.0, 1.5, 3.0], lab, "a", enroll, test)
    order = [3, 2, 1, 0]
    b = score_file([30.0, 15.0, 20.0, 10.0], lab[order], "b", enroll[order], test[order])
    np.testing.assert_array_equal(run.align([a, b])[:, 1], [15.0, 20.0, 10.0, 30.0])
    short = score_file([1.0, 2.0, 3.0], lab[[0, 1, 3]], "s", enroll[[0, 1, 3]], test[[0, 1, 3]])
    with pytest.raises(InputError, match="1 of its trial.s. missing here, 0 extra"):
        run.align([a, short])


def test_model_round_trip():
    llr, lab = gaussian_llrs(1000, 9)
    model = run.train(run.CalibrationOptions(prior=0.2), [score_file(llr, lab)])
    again = CalibrationModel.from_dict(model.to_dict(), "model.json")
    assert again == model
    assert "cal:linear|prior:0.2|fit:scipy|train:x.score@" in model.signature
    with pytest.raises(InputError, match="not a sveval calibration model"):
        CalibrationModel.from_dict({"method": "linear"}, "model.json")
