"""`sveval metrics --llr`: actual DCF, Cllr and minCllr beside the unchanged EER/minDCF block."""

import json
import math

import pytest
from click.testing import CliRunner
from conftest import write
from sveval.cli.main import cli

# threshold log(99) = 4.595 at p 0.01: one target of two at or below it, one nontarget of two above it
LINES = "a b 5.0 target\nc d 1.0 target\ne f -3.0 nontarget\ng h 6.0 nontarget\n"


def _cllr_by_hand():
    tar = math.log2(1 + math.exp(-5)) + math.log2(1 + math.exp(-1))
    non = math.log2(1 + math.exp(-3)) + math.log2(1 + math.exp(6))
    return 0.5 * (tar / 2 + non / 2)


def test_llr_text_adds_act_dcf_and_cllr(tmp_path):
    path = write(tmp_path / "x.score", LINES)
    plain = CliRunner().invoke(cli, ["metrics", str(path)])
    result = CliRunner().invoke(cli, ["metrics", str(path), "--llr"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:3] == plain.output.splitlines()  # EER and minDCF unchanged
    assert lines[3] == f"actDCF (p_target:0.01 c_miss:1 c_fa:1) = {(0.01 * 0.5 + 0.99 * 0.5) / 0.01:.3f}"
    assert lines[4].startswith(f"Cllr = {_cllr_by_hand():.3f} bits, minCllr = ")


def test_llr_json_fields(tmp_path):
    path = write(tmp_path / "x.score", LINES)
    result = CliRunner().invoke(cli, ["metrics", str(path), "--llr", "--json", "--dcf", "0.5"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)[0]
    assert report["cllr"] == pytest.approx(_cllr_by_hand())
    # PAV on the labels sorted by score (N T T N) pools the last three: posteriors 0, 2/3, 2/3, 2/3 at
    # prior 1/2, so LLRs -inf, log 2, log 2, log 2
    by_hand = 0.5 * (math.log2(1.5) + 0.5 * math.log2(3))
    assert report["min_cllr"] == pytest.approx(by_hand)
    dcf = report["dcf"][0]
    assert dcf["bayes_threshold"] == 0.0
    assert dcf["act_dcf"] == pytest.approx((0.5 * 0 + 0.5 * 0.5) / 0.5)  # no miss, one false alarm of two
    assert "llr:natural-log" in report["signature"]
