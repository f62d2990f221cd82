"""Subgroups and fairness figures (sveval/stats/subgroups.py) and `sveval report --groups/--baseline`.

The figures are checked on tables worked out by hand in the comments; the report on the six real VGG systems
of ../shared/data (skipped without them) shows nationality and gender groups and the paired table.
"""

from __future__ import annotations

import json
import math
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REAL_SCORES, VOXCELEB, shared, write
from sveval.cli.main import cli

from sveval.io.meta import parse_speaker_column
from sveval.metrics import detection as metrics
from sveval.stats.subgroups import (
    analyse,
    attribute_groups,
    duration_groups,
    fdr,
    garbe,
    gini,
    max_min_ratio,
    video_groups,
)

# --- the figures on a toy table ---------------------------------------------------------------------
#
#   group   FMR    FNMR
#   a       0.01   0.10
#   b       0.02   0.10
#   c       0.03   0.40
#
# FDR, alpha = 0.5: A = max |FMR_i - FMR_j| = 0.03 - 0.01 = 0.02;
#   B = max |FNMR_i - FNMR_j| = 0.40 - 0.10 = 0.30;
#   FDR = 1 - (0.5 * 0.02 + 0.5 * 0.30) = 1 - 0.16 = 0.84.
# Gini (n = 3, G = n/(n-1) * sum_i sum_j |x_i - x_j| / (2 n^2 mean)):
#   FMR: mean 0.02; ordered pairs |diff|: (a,b) 0.01, (a,c) 0.02, (b,c) 0.01, each twice -> 0.08;
#        G = 1.5 * 0.08 / (2 * 9 * 0.02) = 0.12 / 0.36 = 1/3.
#   FNMR: mean 0.20; |diff|: (a,b) 0, (a,c) 0.30, (b,c) 0.30, each twice -> 1.20;
#        G = 1.5 * 1.20 / (2 * 9 * 0.20) = 1.8 / 3.6 = 1/2.
#   GARBE, alpha = 0.5: 0.5 * 1/3 + 0.5 * 1/2 = 5/12.
# max/min: FMR 0.03 / 0.01 = 3; FNMR 0.40 / 0.10 = 4.
FMR = [0.01, 0.02, 0.03]
FNMR = [0.10, 0.10, 0.40]


def test_fdr_garbe_and_ratios_on_the_toy_table():
    assert fdr(FMR, FNMR) == pytest.approx(0.84)
    assert gini(FMR) == pytest.approx(1 / 3)
    assert gini(FNMR) == pytest.approx(1 / 2)
    assert garbe(FMR, FNMR) == pytest.approx(5 / 12)
    assert max_min_ratio(FMR) == pytest.approx(3.0)
    assert max_min_ratio(FNMR) == pytest.approx(4.0)
    # alpha weights FMR: alpha = 1 sees only FMR differences, alpha = 0 only FNMR
    assert fdr(FMR, FNMR, alpha=1.0) == pytest.approx(0.98)
    assert garbe(FMR, FNMR, alpha=0.0) == pytest.approx(0.5)


def test_gini_and_ratio_edges():
    # equal rates: fair. n = 2 with one rate 0: G = 2 * (2x) / (2 * 4 * x/2) = 1, the most unequal
    assert gini([0.2, 0.2, 0.2]) == 0.0
    assert gini([0.0, 0.0]) == 0.0
    assert gini([0.0, 0.3]) == pytest.approx(1.0)
    assert max_min_ratio([0.0, 0.3]) == math.inf
    assert max_min_ratio([0.0, 0.0]) == 1.0


# --- assigning trials to groups ---------------------------------------------------------------------


def test_group_assignment():
    enroll = np.array(
        ["s1/v1/a.wav", "s1/v1/a.wav", "s1/v1/a.wav", "s3/v1/a.wav", "s4/v9/a.wav"], dtype=object
    )
    test = np.array(["s1/v1/b.wav", "s1/v2/b.wav", "s2/v1/b.wav", "s4/v1/b.wav", "s2/v1/b.wav"], dtype=object)
    tar = np.array([True, True, False, False, False])
    spk_e = np.array([i.split("/")[0] for i in enroll], dtype=object)
    spk_t = np.array([i.split("/")[0] for i in test], dtype=object)
    genders = {"s1": "f", "s2": "f", "s3": "m", "s4": "m"}
    g = attribute_groups("gender", spk_e, spk_t, genders)
    # both sides female -> female-female; both male -> male-male; f/m -> cross-gender
    assert list(g.of_trial) == [
        "female-female",
        "female-female",
        "female-female",
        "male-male",
        "cross-gender",
    ]
    assert g.groups == ("female-female", "male-male", "cross-gender") and g.cross == ("cross-gender",)
    nat = attribute_groups("nationality", spk_e, spk_t, {"s1": "UK", "s2": "USA", "s3": "UK", "s4": "UK"})
    assert list(nat.of_trial) == ["UK", "UK", "cross-nationality", "UK", "cross-nationality"]
    with pytest.raises(KeyError, match="1 speaker"):
        attribute_groups("gender", spk_e, spk_t, {"s1": "f", "s2": "f", "s3": "m"})
    # shorter side; an edge (5 s) goes to the upper band
    durations = {"s1/v1/a.wav": 12.0, "s1/v1/b.wav": 4.0, "s1/v2/b.wav": 5.0, "s2/v1/b.wav": 30.0}
    durations |= {"s3/v1/a.wav": 25.0, "s4/v1/b.wav": 21.0, "s4/v9/a.wav": 9.99}
    d = duration_groups(enroll, test, durations, (5, 10, 20))
    assert list(d.of_trial) == ["< 5 s", "5-10 s", "10-20 s", ">= 20 s", "5-10 s"]
    with pytest.raises(KeyError, match="utt2dur"):
        duration_groups(enroll, test, {"s1/v1/a.wav": 1.0})
    # video: targets only; nontargets belong to no video group and are shared by both
    v = video_groups(enroll, test, tar)
    assert list(v.of_trial) == ["same video", "different video", "", "", ""]
    assert v.shared_nontargets
    with pytest.raises(ValueError, match="video"):
        video_groups(np.array(["s1-v1-a"], dtype=object), np.array(["s1-v1-b"], dtype=object), [True])


def test_nationality_column_of_vox1_meta():
    text = "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n"
    text += "id10001\tA\tm\tIreland\tdev\nid10002\tB\tf\tIndia\ttest\n"
    assert parse_speaker_column(text, "meta", "Nationality") == {"id10001": "Ireland", "id10002": "India"}


# --- per-group numbers ------------------------------------------------------------------------------


def _toy_list(n_big=6, n_small=2, seed=0):
    """Speakers b0..b5 ('big' nationality) and s0, s1 ('small'); 3 utterances each; all pairs scored."""
    rng = np.random.default_rng(seed)
    speakers = [f"b{i}" for i in range(n_big)] + [f"s{i}" for i in range(n_small)]
    utts = [(s, f"{s}/v{k % 2}/{k}.wav") for s in speakers for k in range(3)]
    enroll, test, tar = [], [], []
    for i, (sa, a) in enumerate(utts):
        for sb, b in utts[i + 1 :]:
            enroll.append(a)
            test.append(b)
            tar.append(sa == sb)
    tar = np.array(tar)
    scores = rng.normal(size=len(tar)) + 2.0 * tar
    spk_e = np.array([e.split("/")[0] for e in enroll], dtype=object)
    spk_t = np.array([t.split("/")[0] for t in test], dtype=object)
    nat = {s: ("big" if s.startswith("b") else "small") for s in speakers}
    return scores, tar, np.array(enroll, dtype=object), np.array(test, dtype=object), spk_e, spk_t, nat


def test_group_numbers_small_groups_and_pooled_thresholds():
    scores, tar, enroll, test, spk_e, spk_t, nat = _toy_list()
    a = attribute_groups("nationality", spk_e, spk_t, nat)
    r = analyse(scores, tar, spk_e, spk_t, [a], min_speakers=3, min_trials=10)
    rows = {g.group: g for g in r.groups}
    big, small, cross = rows["big"], rows["small"], rows["cross-nationality"]
    # 'big': 6 speakers x 3 utterances: C(18, 2) = 153 trials, 6 * C(3, 2) = 18 targets, 135 nontargets
    assert (big.n_speakers, big.n_target, big.n_nontarget, big.reported) == (6, 18, 135, True)
    mask = a.of_trial == "big"
    own = metrics.evaluate(scores[mask], tar[mask])
    pooled = metrics.evaluate(scores, tar)
    assert big.eer == own.eer and big.min_dcf == own.min_dcf
    assert r.eer_threshold == pooled.eer_threshold
    assert big.fmr_at_eer == np.mean(scores[mask & ~tar] > pooled.eer_threshold)
    assert big.fnmr_at_dcf == np.mean(scores[mask & tar] <= pooled.min_dcf_threshold)
    # 'small': 2 speakers < 3: counts only (C(6, 2) = 15 trials, 2 * 3 = 6 targets, 9 nontargets)
    assert (small.n_speakers, small.n_target, small.n_nontarget, small.reported) == (2, 6, 9, False)
    assert small.eer is None and small.fmr_at_eer is None and small.fnmr_at_eer is None
    # cross row: the 6 x 2 speaker pairs, 3 x 3 utterances each = 108 nontargets; no EER, no FNMR
    assert (cross.n_target, cross.n_nontarget, cross.cross, cross.eer, cross.fnmr_at_eer) == (
        0,
        108,
        True,
        None,
        None,
    )
    assert cross.fmr_at_eer == np.mean(scores[a.of_trial == "cross-nationality"] > pooled.eer_threshold)
    # one reported group: no fairness figures, and a note saying why
    assert r.fairness == () and "fewer than two groups" in r.notes[0]


def test_fairness_of_groups_and_bootstrap_intervals():
    scores, tar, enroll, test, spk_e, spk_t, _ = _toy_list(n_big=10, n_small=0, seed=1)
    genders = {f"b{i}": "mf"[i % 2] for i in range(10)}
    a = attribute_groups("gender", spk_e, spk_t, genders)
    r = analyse(scores, tar, spk_e, spk_t, [a], min_speakers=3, min_trials=10, bootstrap=60, seed=3)
    rows = {g.group: g for g in r.groups}
    f_eer = next(f for f in r.fairness if f.threshold_name == "EER")
    ff, mm = rows["female-female"], rows["male-male"]
    # the point figures are those of the group rows at the pooled EER threshold
    assert f_eer.groups == ("female-female", "male-male")
    assert f_eer.fdr == pytest.approx(fdr([ff.fmr_at_eer, mm.fmr_at_eer], [ff.fnmr_at_eer, mm.fnmr_at_eer]))
    assert f_eer.garbe == pytest.approx(
        garbe([ff.fmr_at_eer, mm.fmr_at_eer], [ff.fnmr_at_eer, mm.fnmr_at_eer])
    )
    assert f_eer.n_replicates + f_eer.n_dropped == 60
    lo, hi = f_eer.fdr_ci
    assert 0 <= lo <= hi <= 1
    # the same seed gives the same intervals; no bootstrap gives none
    again = analyse(scores, tar, spk_e, spk_t, [a], min_speakers=3, min_trials=10, bootstrap=60, seed=3)
    assert again.fairness == r.fairness
    plain = analyse(scores, tar, spk_e, spk_t, [a], min_speakers=3, min_trials=10)
    assert plain.fairness[0].fdr == r.fairness[0].fdr and plain.fairness[0].fdr_ci is None


# --- the report -------------------------------------------------------------------------------------


def _toy_folder(tmp_path):
    scores, tar, enroll, test, *_ = _toy_list(n_big=8, n_small=0, seed=2)
    lines = [
        f"{e} {t} {s:.5f} {'target' if y else 'nontarget'}\n" for e, t, s, y in zip(enroll, test, scores, tar)
    ]
    write(tmp_path / "sys" / "toy.kaldi.score", "".join(lines))
    utts = sorted(set(enroll) | set(test))
    utt2dur = write(tmp_path / "utt2dur", "".join(f"{u} {4 + 3 * (i % 5)}\n" for i, u in enumerate(utts)))
    return tmp_path / "sys", utt2dur


def test_report_duration_and_video_groups(tmp_path):
    folder, utt2dur = _toy_folder(tmp_path)
    out = tmp_path / "r.md"
    args = [str(folder), "--out", str(out), "--groups", "duration,video", "--utt2dur", str(utt2dur)]
    result = CliRunner().invoke(cli, ["report", *args, "--min-speakers", "2", "--min-trials", "5", "--quiet"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "## Subgroups" in text and "| duration | < 5 s |" in text and "| video | same video |" in text
    assert "--groups duration,video --utt2dur" in text  # the command line records the options


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--groups", "duration"], "--utt2dur"),
        (["--groups", "age"], "expected a comma-separated list"),
        (["--groups", "nationality"], "--meta"),
        (["--groups", "video", "--duration-edges", "10,5"], "increasing"),
        (["--baseline", "nobody"], "not one of the systems"),
    ],
)
def test_report_group_usage_errors(tmp_path, extra, message):
    folder, _ = _toy_folder(tmp_path)
    result = CliRunner().invoke(
        cli, ["report", str(folder), "--out", str(tmp_path / "r.md"), *extra, "--quiet"]
    )
    assert result.exit_code == 2 and message in result.output


@pytest.fixture(scope="module")
def vgg_systems(tmp_path_factory):
    shared(REAL_SCORES / "groundtruth_labels.npy")
    out = tmp_path_factory.mktemp("vgg") / "systems"
    script = str(Path(__file__).resolve().parents[1] / "reports" / "vggvox" / "make_score_files.py")
    argv = sys.argv
    sys.argv = [script, str(REAL_SCORES), str(VOXCELEB / "veri_test.txt"), str(out)]
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        sys.argv = argv
    return sorted(out.iterdir())


@pytest.mark.slow
def test_report_on_the_six_vgg_systems_with_groups_and_paired_table(vgg_systems, tmp_path, capsys):
    from sveval.stats.compare import compare_files

    baseline = "softmax-2019-01-04-sgd-lr0.1-vlad12-bdim256"
    out = tmp_path / "report.md"
    args = [*map(str, vgg_systems), "--out", str(out), "--meta", str(VOXCELEB / "vox1_meta.csv")]
    args += ["--groups", "gender,nationality,video", "--bootstrap", "100", "--baseline", baseline, "--json"]
    result = CliRunner().invoke(cli, ["report", *args, "--quiet"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "## Subgroups" in text and "### Fairness figures at the pooled thresholds" in text
    assert "| nationality | USA | 25 | 11,232 | 6,608 |" in text  # 25 US speakers in Vox1-O
    assert "| nationality | Ireland | 3 | 1,268 | 45 | counts only |" in text  # 3 < --min-speakers 5
    assert "| gender | female-female | 15 |" in text and "| gender | male-male | 25 |" in text
    assert "## By gender pairing" not in text  # replaced by the gender subgroups
    assert ("] †" in text) == ("does not contain the figure itself" in text)  # a mark is explained
    assert "## Paired comparisons" in text and f"| {baseline} | EER % |" in text
    report = json.loads(out.with_suffix(".json").read_text())
    (paired,) = report["paired_comparisons"]
    assert len(paired["comparisons"]) == 5 and {c["baseline"] for c in paired["comparisons"]} == {baseline}
    # the paired numbers are sveval compare's (one bootstrap, not a second one)
    other = paired["comparisons"][0]["system"]
    files = [
        str(next(p for p in vgg_systems if p.name == n) / "vox1_O.kaldi.score") for n in (baseline, other)
    ]
    done = compare_files(files, n=100, seed=0)
    direct = done.result.comparisons[0].metrics[0]
    ours = paired["comparisons"][0]["metrics"][0]
    assert ours["difference"] == pytest.approx(direct.difference) and ours["ci"] == pytest.approx(
        list(direct.ci)
    )
    fair = report["systems"][0]["rows"][0]["subgroups"]["fairness"]
    assert {f["grouping"] for f in fair} == {"gender", "nationality", "video"}
    assert all(f["groups"] == ["USA", "UK"] for f in fair if f["grouping"] == "nationality")


def test_a_fairness_interval_that_leaves_out_its_figure_is_marked_and_explained():
    # GARBE 0.027 with a bootstrap interval [0.029, 0.417] (as seen on a real VGG system, gender): figures
    # bounded at "fair" lean away from it under resampling, so the interval can miss the figure itself
    from sveval.reporting.markdown import OUTSIDE_NOTE, _figure_ci

    assert _figure_ci((0.029, 0.417), 0.027) == "[0.029, 0.417] †"
    assert _figure_ci((0.029, 0.417), 0.029) == "[0.029, 0.417]"  # an end counts as inside
    assert _figure_ci((1.0, float("inf")), float("inf")) == "[1.000, ∞]"  # ∞ inside [1, ∞]
    assert _figure_ci(None, 0.5) == "—"
    assert "does not contain the figure itself" in OUTSIDE_NOTE


def test_a_baseline_with_nothing_to_compare_says_so(tmp_path):
    # the other system scored another list only: the section says why there is no table (it was dropped)
    folder, _ = _toy_folder(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    text = (folder / "toy.kaldi.score").read_text().splitlines(keepends=True)
    write(other / "another.kaldi.score", "".join(text[: len(text) // 2]))
    out = tmp_path / "r.md"
    args = ["report", str(folder), str(other), "--baseline", "sys", "--bootstrap", "50", "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    assert "## Paired comparisons" in out.read_text()
    assert "no other system has a score file of this method on this list" in out.read_text()
