"""`sveval compare`: paired speaker-clustered bootstrap, checked by hand and by enumeration."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

from sveval.metrics import detection as metrics
from sveval.metrics.llr import cllr
from sveval.stats.bootstrap import corrected_replicates, few_speakers_factor, pair_weights
from sveval.stats.compare import (
    SystemScores,
    compare,
    holm,
    p_value,
    pair_replicates,
    prepare,
    speaker_replicates,
    weighted_metrics,
)


def replicate_metrics(prep, copies):
    """(systems, metrics, replicates) on the lists weighted by `copies` (replicates x speakers)."""
    return weighted_metrics(prep, pair_weights(copies, prep.pairs))

DCF = ((0.01, 1.0, 1.0),)


def six_speaker_list(seed=0):
    """6 speakers x 3 utterances, every pair of utterances once: 18 target and 135 nontarget trials."""
    utt = [(s, f"s{s}/v{k}/0.wav") for s in range(6) for k in range(3)]
    pairs = [(a, b) for a, b in itertools.combinations(utt, 2)]
    spk_e = np.array([a[0] for a, _ in pairs])
    spk_t = np.array([b[0] for _, b in pairs])
    enroll = np.array([a[1] for a, _ in pairs], dtype=object)
    test = np.array([b[1] for _, b in pairs], dtype=object)
    is_target = spk_e == spk_t
    rng = np.random.default_rng(seed)
    # distinct scores, so ties arise only among copies of one trial (same class: no order question); the
    # classes overlap (targets from 0.3, nontargets up to 1), so that EER and minDCF vary with the draw
    a = rng.permutation(len(pairs)) / len(pairs) + 0.3 * is_target
    b = rng.permutation(len(pairs)) / len(pairs) + 0.25 * is_target
    return a, b, is_target, spk_e, spk_t, enroll, test


def compositions(n, k):
    """Every (m_1..m_k) with sum n: the distinct outcomes of n draws from k speakers."""
    for bars in itertools.combinations(range(n + k - 1), k - 1):
        edges = (-1, *bars, n + k - 1)
        yield [edges[i + 1] - edges[i] - 1 for i in range(k)]


def multinomial_probability(m):
    return math.factorial(sum(m)) / math.prod(math.factorial(x) for x in m) / len(m) ** sum(m)


def test_a_system_against_itself_differs_by_exactly_zero_with_p_one():
    a, _, is_target, spk_e, spk_t, _, _ = six_speaker_list()
    systems = [SystemScores("A", a), SystemScores("A again", a.copy()), SystemScores("A3", a.copy())]
    result = compare(systems, is_target, spk_e, spk_t, n=200, seed=3, dcfs=((0.01, 1, 1), (0.1, 1, 1)))
    for c in result.comparisons:
        for m in c.metrics:
            assert m.difference == 0.0 and m.ci == (0.0, 0.0)
            assert m.p_value == 1.0 and m.p_holm == 1.0 and m.flips == 0.0


def test_six_speakers_every_replicate_equals_the_repeated_list():
    """All 462 outcomes of 6 draws from 6 speakers (the 6^6 = 46,656 draw sequences grouped by how often
    each speaker is drawn): each replicate's figures equal those of the list with every nontarget trial
    between speakers a and b written out m_a * m_b times and every target trial of speaker a m_a times,
    computed by sveval.metrics.detection. E.g. m = (2, 1, 0, 3, 0, 0): a target trial of speaker 0 twice, of
    speaker 3 three times, a nontarget trial between 0 and 3 six times, any trial of speaker 2 never."""
    a, b, is_target, spk_e, spk_t, _, _ = six_speaker_list()
    systems = [SystemScores("A", a), SystemScores("B", b)]
    prep = prepare(systems, is_target, spk_e, spk_t, 6, DCF, False)
    outcomes = [m for m in compositions(6, 6) if max(m) < 6]  # one speaker drawn 6 times: no nontarget
    assert len(outcomes) == 462 - 6
    figures = replicate_metrics(prep, np.array(outcomes))
    for r, m in enumerate(outcomes):
        m = np.array(m)
        repeat = np.where(is_target, m[spk_e], m[spk_e] * m[spk_t])
        for i, s in enumerate((a, b)):
            rep = np.repeat(np.arange(len(s)), repeat)
            want = metrics.evaluate(s[rep], is_target[rep], p_target=0.01)
            assert figures[i, 0, r] == pytest.approx(100 * want.eer, abs=1e-9)
            assert figures[i, 1, r] == pytest.approx(want.min_dcf, abs=1e-12)


@pytest.mark.slow
def test_six_speakers_bootstrap_matches_the_enumerated_distribution():
    """The exact bootstrap distribution of EER(B) − EER(A) (outcomes weighted by their multinomial
    probability, those without a nontarget trial redrawn, i.e. left out and the rest renormalised) against
    the implementation's random replicates: p-value and interval ends within sampling error."""
    a, b, is_target, spk_e, spk_t, _, _ = six_speaker_list()
    systems = [SystemScores("A", a), SystemScores("B", b)]
    prep = prepare(systems, is_target, spk_e, spk_t, 6, DCF, False)
    outcomes = [m for m in compositions(6, 6) if max(m) < 6]
    prob = np.array([multinomial_probability(m) for m in outcomes])
    assert prob.sum() == pytest.approx(1 - 6 / 6**6)
    prob /= prob.sum()
    figures = replicate_metrics(prep, np.array(outcomes))
    d = figures[1, 0] - figures[0, 0]
    exact_p = min(1.0, 2 * min(prob[d <= 0].sum(), prob[d >= 0].sum()))
    order = np.argsort(d)
    cdf = np.cumsum(prob[order])

    def quantile(q):
        return d[order][np.searchsorted(cdf, q)]

    assert np.ptp(d) > 1.0  # the classes overlap: EER differences spread over points, not all 0

    n = 4000
    rng = np.random.default_rng(7)
    speaker, n_redrawn = speaker_replicates(prep, 6, n, rng)
    raw = speaker[1, 0] - speaker[0, 0]
    tails = np.percentile(raw, [2.5, 97.5])
    assert abs(p_value(raw) - exact_p) < 6 * math.sqrt(0.25 / n) * 2  # p is twice a share
    assert quantile(0.01) <= tails[0] <= quantile(0.05)
    assert quantile(0.95) <= tails[1] <= quantile(0.99)
    assert n_redrawn < 20  # 6 / 46,656 of the draws lack a nontarget trial
    # compare() = that speaker stage, then the pair stage from the same generator, then the correction
    pair = pair_replicates(prep, n, rng)
    unit = replicate_metrics(prep, np.ones((1, 6), dtype=int))[:, 0, 0]
    corrected = corrected_replicates(raw, pair[1, 0] - pair[0, 0], unit[1] - unit[0], 6, 0.95)
    eer = compare(systems, is_target, spk_e, spk_t, n=n, seed=7, dcfs=DCF).comparisons[0].metrics[0]
    assert eer.ci == tuple(np.percentile(corrected, [2.5, 97.5]))
    assert eer.p_value == p_value(corrected)
    # the correction rescales the enumerated distribution about the estimate by k = f·sqrt(max(V_s − 2 V_p,
    # V_s / 3) / V_s), V_s its exact variance, V_p the pair stage's, f the few-speakers factor for 6
    # speakers: sqrt(6/5)·t_5(0.975)/z(0.975) = 1.0954·2.5706/1.9600 = 1.4367
    mean = prob @ d
    v_s, v_p = prob @ (d - mean) ** 2, np.var(pair[1, 0] - pair[0, 0])
    k = min(1.0, 1.4367 * math.sqrt(max(v_s - 2 * v_p, v_s / 3) / v_s))
    assert 1.4367 / math.sqrt(3) <= k <= 1  # (capped at 1: never wider than the speaker stage)
    est = unit[1] - unit[0]
    assert est + k * (quantile(0.01) - est) <= eer.ci[0] <= est + k * (quantile(0.05) - est)
    assert est + k * (quantile(0.95) - est) <= eer.ci[1] <= est + k * (quantile(0.99) - est)


def test_correction_by_hand():
    """corrected_replicates: speaker replicates 1, 2, 3, 6 (mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5),
    pair replicates with variance 1 (0 and 2): V = 3.5 − 2·1 = 1.5, k = f·sqrt(1.5 / 3.5); about the
    estimate 2, replicate x becomes 2 + k (x − 2). Pair replicates 0 and 3 (variance 2.25): 3.5 − 4.5 is
    below the floor 3.5 / 3, so k = f·sqrt(1 / 3). f, the few-speakers factor, for 80 speakers at 95 %:
    sqrt(80/79)·t_79(0.975)/z(0.975) = 1.006309·1.990450/1.959964 = 1.021962 (t table: 1.9905); with 3
    speakers f = 2.69 would widen the spread beyond the speaker stage's: k is capped at 1. No spread (a
    system against itself): returned as they are."""
    f = few_speakers_factor(80, 0.95)
    assert f == pytest.approx(1.021962, abs=2e-6)
    assert few_speakers_factor(1, 0.95) == 1.0  # no degrees of freedom: left alone
    # 1,251 speakers (Vox1-E/H): sqrt(1251/1250)·1.961887/1.959964 = 1.001370
    assert few_speakers_factor(1251, 0.95) == pytest.approx(1.001370, abs=2e-6)
    speaker = np.array([1.0, 2.0, 3.0, 6.0])
    k = f * math.sqrt(1.5 / 3.5)
    got = corrected_replicates(speaker, np.array([0.0, 2.0]), 2.0, 80, 0.95)
    assert got.tolist() == pytest.approx((2 + k * (speaker - 2)).tolist(), abs=1e-14)
    floor = corrected_replicates(speaker, np.array([0.0, 3.0]), 2.0, 80, 0.95)
    assert floor.tolist() == pytest.approx((2 + f * (speaker - 2) / math.sqrt(3)).tolist(), abs=1e-14)
    zeros = np.zeros(5)
    assert corrected_replicates(zeros, np.array([1.0, -1.0]), 0.0, 80, 0.95).tolist() == zeros.tolist()
    capped = corrected_replicates(speaker, np.array([0.0, 0.0]), 2.0, 3, 0.95)  # f·1 > 1
    assert capped.tolist() == speaker.tolist()


def test_holm_on_known_p_values():
    # sorted: 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; running max 0.02, 0.03,
    # 0.06, 0.06; back in the input order:
    assert holm([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # 0.5 x 2 = 1.0, then 0.9 x 1 = 0.9 raised to the running maximum 1.0
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]
    # 0.01 x 3 = 0.03, 0.02 x 2 = 0.04, 0.04 x 1 = 0.04
    assert holm([0.04, 0.01, 0.02]).tolist() == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.2]).tolist() == [0.2]


def test_p_value_definition():
    assert p_value(np.zeros(50)) == 1.0
    assert p_value(np.array([1.0] * 90 + [-1.0] * 10)) == pytest.approx(0.2)
    assert p_value(np.array([1.0] * 100)) == 0.0


def test_llr_metrics_unit_weights_are_the_list_figures():
    a, b, is_target, spk_e, spk_t, _, _ = six_speaker_list()
    llr_a, llr_b = 4 * (a - 0.9), 3 * (b - 0.8)
    systems = [SystemScores("A", llr_a, True), SystemScores("B", llr_b, True)]
    prep = prepare(systems, is_target, spk_e, spk_t, 6, ((0.1, 1.0, 1.0),), True)
    assert [k.metric for k in prep.keys] == ["eer", "min_dcf", "cllr", "act_dcf"]
    unit = replicate_metrics(prep, np.ones((1, 6), dtype=int))
    assert unit[0, 2, 0] == pytest.approx(cllr(llr_a, is_target), abs=1e-12)
    theta = math.log(0.9 / 0.1)
    want = (0.1 * np.mean(llr_b[is_target] < theta) + 0.9 * np.mean(llr_b[~is_target] >= theta)) / 0.1
    assert unit[1, 3, 0] == pytest.approx(want, abs=1e-12)


def write_scores(path, enroll, test, scores, is_target):
    lines = [
        f"{e} {t} {s:.6f} {'target' if y else 'nontarget'}\n"
        for e, t, s, y in zip(enroll, test, scores, is_target)
    ]
    path.write_text("".join(lines))
    return str(path)


@pytest.mark.slow
def test_cli_json_schema_and_self_comparison(tmp_path):
    a, b, is_target, _, _, enroll, test = six_speaker_list()
    fa = write_scores(tmp_path / "a.score", enroll, test, a, is_target)
    fb = write_scores(tmp_path / "b.score", enroll, test, b, is_target)
    (tmp_path / "copy").mkdir()
    fc = write_scores(tmp_path / "copy" / "x.score", enroll, test, a, is_target)
    args = ["compare", fa, fb, str(tmp_path / "copy"), "--bootstrap", "100", "--seed", "2", "--json"]
    out = CliRunner().invoke(cli, args + ["--dcf", "0.01", "--dcf", "0.05"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [c["system"] for c in data["comparisons"]] == [fb, str(tmp_path / "copy")]
    for c in data["comparisons"]:
        assert set(c) == {"system", "baseline", "metrics"} and c["baseline"] == fa
        assert [m["metric"] for m in c["metrics"]] == ["eer", "min_dcf", "min_dcf"]
        for m in c["metrics"]:
            assert {"metric", "baseline", "system", "difference", "ci", "p_value", "p_holm"} <= set(m)
            assert m["difference"] == pytest.approx(m["system"] - m["baseline"], abs=1e-12)
            assert len(m["ci"]) == 2 and m["ci"][0] <= m["ci"][1]
    eer_b = data["comparisons"][0]["metrics"][0]
    assert eer_b["baseline"] == pytest.approx(100 * metrics.evaluate(np.round(a, 6), is_target).eer)
    same = data["comparisons"][1]["metrics"]
    assert all(m["difference"] == 0 and m["ci"] == [0, 0] and m["p_value"] == 1 for m in same)
    prov = data["provenance"]
    assert prov["replicates"] == 100 and prov["seed"] == 2 and "speaker-clustered" in prov["resampling"]
    assert data["systems"][2]["score_file"] == fc
    text = CliRunner().invoke(cli, ["compare", fa, fb, "--bootstrap", "100", "--baseline", fb])
    assert text.exit_code == 0 and "EER %" in text.output and "seed 0" in text.output


@pytest.mark.slow
def test_cli_refuses_different_lists_saying_what_differs(tmp_path):
    a, b, is_target, _, _, enroll, test = six_speaker_list()
    fa = write_scores(tmp_path / "a.score", enroll, test, a, is_target)
    fewer = write_scores(tmp_path / "b.score", enroll[1:], test[1:], b[1:], is_target[1:])
    out = CliRunner().invoke(cli, ["compare", fa, fewer, "--bootstrap", "100"])
    assert out.exit_code == 2
    assert "not scored on the same list" in out.output and "1 only there" in out.output
    shuffled = np.random.default_rng(0).permutation(len(a))
    moved = write_scores(
        tmp_path / "c.score", enroll[shuffled], test[shuffled], b[shuffled], is_target[shuffled]
    )
    out = CliRunner().invoke(cli, ["compare", fa, moved, "--bootstrap", "100"])
    assert out.exit_code == 2 and "another order" in out.output
    flipped = is_target.copy()
    flipped[0] = not flipped[0]
    relabelled = write_scores(tmp_path / "d.score", enroll, test, b, flipped)
    out = CliRunner().invoke(cli, ["compare", fa, relabelled, "--bootstrap", "100"])
    assert out.exit_code == 2 and "labelled otherwise" in out.output


@pytest.mark.slow
def test_cli_with_trials_aligns_files_in_any_order(tmp_path):
    a, b, is_target, _, _, enroll, test = six_speaker_list()
    lst = tmp_path / "list.txt"
    lst.write_text(
        "".join(f"{e} {t} {'target' if y else 'nontarget'}\n" for e, t, y in zip(enroll, test, is_target))
    )
    fa = write_scores(tmp_path / "a.score", enroll, test, a, is_target)
    fb = write_scores(tmp_path / "b.score", enroll, test, b, is_target)
    k = np.random.default_rng(1).permutation(len(a))
    fb2 = write_scores(tmp_path / "b2.score", enroll[k], test[k], b[k], is_target[k])
    runs = [
        CliRunner().invoke(cli, ["compare", fa, f, "--trials", str(lst), "--bootstrap", "100", "--json"])
        for f in (fb, fb2)
    ]
    assert all(r.exit_code == 0 for r in runs), runs[0].output
    first, second = (json.loads(r.output)["comparisons"][0]["metrics"] for r in runs)
    assert first == second


def test_too_few_replicates_refused(tmp_path):
    a, b, is_target, _, _, enroll, test = six_speaker_list()
    fa = write_scores(tmp_path / "a.score", enroll, test, a, is_target)
    fb = write_scores(tmp_path / "b.score", enroll, test, b, is_target)
    out = CliRunner().invoke(cli, ["compare", fa, fb, "--bootstrap", "40"])
    assert out.exit_code == 2 and "41" in out.output


def test_a_p_value_of_zero_is_printed_as_its_bound():
    # p = 2·min(shares): with no replicate on the other side of 0 it is 0, and the least non-zero value it
    # can take is 2/n (one replicate); Holm's correction over m systems multiplies by at most m
    from sveval.stats.compare import p_text

    assert p_text(0.0, 200) == "< 0.01" and p_text(0.0, 1000) == "< 0.002"
    assert p_text(0.0, 200, 5) == "< 0.05" and p_text(0.0, 41, 30) == "< 1"
    assert p_text(0.04, 200) == "0.040"
