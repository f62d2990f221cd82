"""Reports of folders holding calibrated score files: a Calibration table with actDCF, Cllr and minCllr."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from sveval.cli.main import cli

from sveval.io.scores import format_score_lines
from sveval.metrics import detection as m
from sveval.metrics import llr as cm
from sveval.reporting.markdown import method_title
from sveval.reporting.systems import load_system


def test_calibrated_rows_carry_llr_metrics_and_render(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    lab = rng.random(n) < 0.5
    raw = np.where(lab, 0.4, -0.2) + rng.normal(0, 0.3, n)
    ids = np.array([f"u{i}" for i in range(n)], dtype=object)
    path = tmp_path / "vox2_dev_asnorm300_my_list.kaldi.score"
    path.write_text(format_score_lines(ids, ids[::-1], raw, lab))
    code = CliRunner().invoke(
        cli, ["calibrate", "--train", str(path), "--apply", str(path), "--out", str(tmp_path)]
    )
    assert code.exit_code == 0, code.output
    system = load_system(tmp_path)
    (row,) = [r for r in system.rows if r.cllr is not None]
    assert (row.method, row.top_n, row.cohort, row.trials) == (
        "cali_asnorm",
        300,
        "vox2_dev",
        "my_list (custom)",  # no built-in list: its stem, marked
    )
    values = np.round(np.loadtxt(tmp_path / f"cali_{path.name}", usecols=2), 5)
    assert row.cllr == m.cllr(values, lab)
    assert row.act_dcf == cm.act_dcf(values, lab, 0.01).act_dcf
    assert row.min_cllr == cm.min_cllr(values, lab)
    assert method_title(row.method, row.top_n) == "AS-norm (top 300), calibrated"
    result = CliRunner().invoke(cli, ["report", str(tmp_path), "--out", str(tmp_path / "report.md")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report.md").read_text()
    section = text.split("## Calibration", 1)[1].split("##", 1)[0]
    assert f"| {row.act_dcf:.3f} | {row.cllr:.3f} | {row.min_cllr:.3f} |" in section
    assert "AS-norm (top 300), calibrated" in section
    # the rule stated next to the number is the one computed (cm.act_dcf) and the scorers'
    assert "actDCF accepts (decides target) if LLR ≥ θ" in section
    assert "as BOSARIS fast_actDCF and NIST scorers" in section
