"""Cllr, minCllr, actual DCF and the Bayes error-rate curve against brute-force definitions and hand cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sveval.metrics import detection as m
from sveval.metrics import llr as cm


def _naive_pav(y: list[float], w: list[float]) -> list[float]:
    """Pool adjacent violators, the textbook way: merge blocks while a block's mean exceeds the next one's."""
    blocks = [[yi * wi, wi, 1] for yi, wi in zip(y, w)]
    merged = True
    while merged:
        merged = False
        for i in range(len(blocks) - 1):
            if blocks[i][0] / blocks[i][1] > blocks[i + 1][0] / blocks[i + 1][1]:
                a, b = blocks[i], blocks.pop(i + 1)
                blocks[i] = [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
                merged = True
                break
    out = []
    for total, weight, count in blocks:
        out += [total / weight] * count
    return out


def _brute_min_cllr(scores, labels) -> float:
    """BOSARIS opt_loglr 'raw': stable sort, targets first; PAV on 0/1 labels; LLR = logit(P) - logit(π)."""
    tar = [s for s, t in zip(scores, labels) if t]
    non = [s for s, t in zip(scores, labels) if not t]
    pairs = sorted([(s, 0) for s in tar] + [(s, 1) for s in non])  # targets before nontargets at a tie
    ideal = [1.0 if kind == 0 else 0.0 for _, kind in pairs]
    post = _naive_pav(ideal, [1.0] * len(ideal))
    prior = len(tar) / len(pairs)
    total_t = total_n = 0.0
    for (_, kind), p in zip(pairs, post):
        llr = (math.log(p / (1 - p)) if 0 < p < 1 else math.copysign(math.inf, p - 0.5)) - math.log(
            prior / (1 - prior)
        )
        if kind == 0:
            total_t += math.log2(1 + math.exp(-llr)) if llr != math.inf else 0.0
        else:
            total_n += math.log2(1 + math.exp(llr)) if llr != -math.inf else 0.0
    return 0.5 * (total_t / len(tar) + total_n / len(non))


def _brute_act_dcf(scores, labels, p, c_miss, c_fa) -> float:
    """Accept if LLR ≥ θ (BOSARIS fast_actDCF: "accept if llr >= Bayes threshold")."""
    theta = math.log(c_fa * (1 - p) / (c_miss * p))
    tar = [s for s, t in zip(scores, labels) if t]
    non = [s for s, t in zip(scores, labels) if not t]
    p_miss = sum(s < theta for s in tar) / len(tar)
    p_fa = sum(s >= theta for s in non) / len(non)
    return (c_miss * p * p_miss + c_fa * (1 - p) * p_fa) / min(c_miss * p, c_fa * (1 - p))


def _bayes_decision_cost(scores, labels, p, c_miss, c_fa) -> float:
    """An independent route to actDCF: per trial, the Bayes decision in the likelihood-ratio domain (accept
    when the expected cost of accepting, (1-p)·c_fa, is no more than that of rejecting, p·c_miss·LR: ties
    accepted, as the scorers do), each error weighted by its share of the normalised cost."""
    n_tar = sum(bool(t) for t in labels)
    n_non = len(labels) - n_tar
    total = 0.0
    for s, t in zip(scores, labels):
        accept = p * c_miss * math.exp(s) >= (1 - p) * c_fa
        if t and not accept:
            total += p * c_miss / n_tar
        elif not t and accept:
            total += (1 - p) * c_fa / n_non
    return total / min(c_miss * p, c_fa * (1 - p))


def _gaussian_llrs(n: int, mu: float, seed: int = 0):
    """Calibrated by construction: N(mu, 2mu) for targets, N(-mu, 2mu) for nontargets gives LLR = s."""
    rng = np.random.default_rng(seed)
    sd = math.sqrt(2 * mu)
    s = np.concatenate([rng.normal(mu, sd, n), rng.normal(-mu, sd, n)])
    return s, np.concatenate([np.ones(n, bool), np.zeros(n, bool)])


@pytest.mark.parametrize("seed", range(6))
def test_min_cllr_equals_brute_force_pav_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 60
    scores = np.round(rng.normal(size=n), 1)  # many ties
    labels = rng.random(n) < 0.4
    labels[:2] = [True, False]
    assert cm.min_cllr(scores, labels) == pytest.approx(_brute_min_cllr(scores, labels), abs=1e-12)


def test_min_cllr_hand_cases():
    # separable: the optimal map sends targets to +inf and nontargets to -inf
    assert cm.min_cllr([0.0, 1.0, 2.0, 3.0], [False, False, True, True]) == 0.0
    # constant scores carry no information: 1 bit
    assert cm.min_cllr([5.0] * 4, [True, False, False, True]) == pytest.approx(1.0)
    # fully reversed ranking: the monotone map can only say the prior, 1 bit
    assert cm.min_cllr([0.0, 1.0, 2.0, 3.0], [True, True, False, False]) == pytest.approx(1.0)


def test_min_cllr_does_not_depend_on_order():
    s, lab = _gaussian_llrs(500, 2.0)
    perm = np.random.default_rng(1).permutation(s.size)
    assert cm.min_cllr(np.round(s, 1), lab) == cm.min_cllr(np.round(s, 1)[perm], lab[perm])


def test_calibrated_gaussian_cllr_close_to_min_and_scaling_moves_only_cllr():
    s, lab = _gaussian_llrs(20000, 3.0)
    c, mn = m.cllr(s, lab), cm.min_cllr(s, lab)
    assert mn <= c < mn + 0.01
    scaled = 10 * s
    assert m.cllr(scaled, lab) > c + 1.0
    assert cm.min_cllr(scaled, lab) == pytest.approx(mn, abs=1e-12)


@pytest.mark.parametrize("op", [(0.01, 1, 1), (0.05, 1, 1), (0.5, 1, 1), (0.01, 10, 1), (0.3, 2, 5)])
def test_act_dcf_brute_force(op):
    rng = np.random.default_rng(3)
    s = np.round(rng.normal(0, 4, 300), 1)
    lab = rng.random(300) < 0.5
    got = cm.act_dcf(s, lab, *op)
    assert got.act_dcf == pytest.approx(_brute_act_dcf(s, lab, *op), abs=1e-12)
    assert got.act_dcf == pytest.approx(_bayes_decision_cost(s, lab, *op), abs=1e-12)
    assert got.threshold == pytest.approx(math.log(op[2] * (1 - op[0]) / (op[1] * op[0])))


def test_act_dcf_hand_case_and_never_below_min_dcf():
    # threshold log(99) = 4.595: one target of two below it (miss 1/2), one nontarget of two above (fa 1/2)
    got = cm.act_dcf([5.0, 1.0, -3.0, 6.0], [True, True, False, False], 0.01)
    assert got.act_dcf == pytest.approx((0.01 * 0.5 + 0.99 * 0.5) / 0.01)
    s, lab = _gaussian_llrs(3000, 2.0, seed=4)
    for p in (0.01, 0.1, 0.5):
        assert cm.act_dcf(s, lab, p).act_dcf >= m.min_dcf(s, lab, p, sweep="tie-aware").min_dcf - 1e-12


# p = 0.5, c_miss = c_fa = 1: θ = log(0.5/0.5) = 0 exactly, and the normalisation is min(0.5, 0.5) = 0.5
AT_THETA_TAR = [0.0, 0.0, 1.0, -1.0]  # two targets exactly at θ
AT_THETA_NON = [0.0, -1.0, -2.0, -3.0]  # one nontarget exactly at θ


def test_act_dcf_accepts_llrs_exactly_at_the_threshold():
    # accept if LLR ≥ θ (BOSARIS fast_actDCF, NIST scorers):
    #   misses       = targets below 0      = {-1}     -> P_miss 1/4
    #   false alarms = nontargets at/above 0 = {0}      -> P_fa   1/4
    #   actDCF = (0.5·1/4 + 0.5·1/4) / 0.5 = 0.5
    # the rule "accept if LLR > θ" would reject the three zeros instead:
    #   misses {0, 0, -1} -> 3/4, no false alarm -> (0.5·3/4 + 0.5·0) / 0.5 = 0.75
    s = AT_THETA_TAR + AT_THETA_NON
    lab = [True] * 4 + [False] * 4
    got = cm.act_dcf(s, lab, 0.5)
    assert got.threshold == 0.0
    assert got.act_dcf == 0.5
    assert _bayes_decision_cost(s, lab, 0.5, 1, 1) == 0.5  # the independent route agrees
    assert _brute_act_dcf(s, lab, 0.5, 1, 1) == 0.5
    # the APE curve decides with the same rule: at prior log-odds 0 it is the same number
    assert cm.bayes_error_curve(s, lab, [0.0]).act_dcf[0] == 0.5


def test_an_llr_equal_to_the_computed_threshold_is_accepted_at_any_operating_point():
    for op in ((0.01, 1, 1), (0.01, 10, 1), (0.3, 2, 5)):
        theta = cm.bayes_threshold(*op)
        # one target and one nontarget exactly at θ, one of each far away on the right side
        got = cm.act_dcf([theta, 50.0, theta, -50.0], [True, True, False, False], *op)
        p, c_miss, c_fa = op
        # no miss; one false alarm of two: (c_fa·(1−p)·½) / min(c_miss·p, c_fa·(1−p))
        assert got.act_dcf == pytest.approx(c_fa * (1 - p) * 0.5 / min(c_miss * p, c_fa * (1 - p)))


def test_llr_summary_collects_everything():
    s, lab = _gaussian_llrs(1000, 2.0, seed=5)
    summary = cm.llr_summary(s, lab, ((0.01, 1, 1), (0.05, 1, 1)))
    assert summary.cllr == m.cllr(s, lab)
    assert summary.min_cllr == cm.min_cllr(s, lab)
    assert [d.p_target for d in summary.act_dcfs] == [0.01, 0.05]


def test_bayes_error_curve_matches_pointwise_definitions():
    rng = np.random.default_rng(6)
    s = np.round(rng.normal(0, 3, 400), 1)
    lab = rng.random(400) < 0.5
    plo = np.array([-4.03, -1.55, 0.02, 0.73, 3.01])  # off the 0.1 grid of the scores
    curve = cm.bayes_error_curve(s, lab, plo)
    for k, x in enumerate(plo):
        p = 1 / (1 + math.exp(-x))
        assert curve.act_dcf[k] == pytest.approx(_brute_act_dcf(s, lab, p, 1, 1), abs=1e-12)
        assert curve.act_dcf[k] == pytest.approx(cm.act_dcf(s, lab, p).act_dcf, abs=1e-12)
        assert curve.min_dcf[k] == pytest.approx(m.min_dcf(s, lab, p, sweep="tie-aware").min_dcf, abs=1e-12)
    # the largest normalised minimum over all priors is the ROCCH EER
    assert curve.eer == pytest.approx(m.eer(s, lab, "rocch").value, abs=1e-12)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="no target"):
        cm.min_cllr([1.0, 2.0], [False, False])
    with pytest.raises(ValueError, match="non-finite"):
        cm.act_dcf([np.nan, 1.0], [True, False])
