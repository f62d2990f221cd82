"""The Bayes error-rate (APE) display and `sveval ape`."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from matplotlib.figure import Figure
from sveval.cli.main import cli

from sveval.io.scores import format_score_lines
from sveval.metrics import llr as cm
from sveval.reporting.ape import ApeDisplay, ape_curve


def _llrs(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    lab = rng.random(n) < 0.5
    return np.where(lab, rng.normal(2, 2, n), rng.normal(-2, 2, n)), lab


def test_display_draws_the_curves_on_the_given_axes():
    s, lab = _llrs()
    ax = Figure().add_subplot()
    display = ApeDisplay([ape_curve(s, lab, "a"), ape_curve(3 * s, lab, "b")]).plot(ax=ax, title="t")
    assert display.ax_ is ax and len(display.act_lines_) == 2
    curve = cm.bayes_error_curve(s, lab)
    np.testing.assert_array_equal(display.min_lines_[0].get_ydata(), curve.min_dcf)
    np.testing.assert_array_equal(display.act_lines_[0].get_xdata(), curve.prior_log_odds)
    # scaling by 3 miscalibrates: same minimum curve, higher actual costs away from the equal prior
    np.testing.assert_allclose(display.min_lines_[1].get_ydata(), curve.min_dcf)
    assert (display.act_lines_[1].get_ydata() >= display.min_lines_[1].get_ydata() - 1e-12).all()
    assert display.act_lines_[0].get_label() == f"a ({display.curves[0].numbers})"


def test_long_names_are_shortened_or_wrapped_never_cut():
    s, lab = _llrs()
    names = [f"/exp/{m}_resnet110_trained_on_vox2_dev/scores/vox1_O_cleaned.kaldi" for m in ("df", "base")]
    display = ApeDisplay([ape_curve(s, lab, name) for name in names]).plot()
    assert [line.get_label().split(" (")[0] for line in display.act_lines_] == ["df", "base"]
    (alone,) = ApeDisplay([ape_curve(s, lab, names[0])]).plot().act_lines_
    assert alone.get_label().startswith("/exp/df_resnet110_trained_on_vox2_dev/\nscores/vox1_O_cleaned.kaldi")


def test_cli_writes_one_plot_per_file_or_an_overlay(tmp_path):
    s, lab = _llrs()
    ids = np.array([f"u{i}" for i in range(s.size)], dtype=object)
    for name in ("a", "b"):
        (tmp_path / f"{name}.score").write_text(format_score_lines(ids, ids[::-1], s, lab))
    paths = [str(tmp_path / "a.score"), str(tmp_path / "b.score")]
    result = CliRunner().invoke(cli, ["ape", *paths])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a.ape.png").stat().st_size > 0 and (tmp_path / "b.ape.png").is_file()
    result = CliRunner().invoke(cli, ["ape", *paths, "--overlay", "--out", str(tmp_path / "both.svg")])
    assert result.exit_code == 0 and (tmp_path / "both.svg").read_text().startswith("<?xml")
    result = CliRunner().invoke(cli, ["ape", *paths, "--out", str(tmp_path / "one.png")])
    assert result.exit_code == 2 and "one file but 2 plots" in result.output


def test_cli_refuses_to_replace_a_user_s_file_but_redraws_its_own(tmp_path):
    s, lab = _llrs(n=200)
    ids = np.array([f"u{i}" for i in range(s.size)], dtype=object)
    (tmp_path / "a.score").write_text(format_score_lines(ids, ids[::-1], s, lab))
    mine = tmp_path / "a.ape.png"
    mine.write_text("my precious figure\n")
    result = CliRunner().invoke(cli, ["ape", str(tmp_path / "a.score")])
    assert result.exit_code == 2 and result.output.splitlines() == [
        f"sveval: error: {mine}: the plot is a file sveval did not write; sveval replaces only its own "
        "outputs: write elsewhere"
    ]
    assert mine.read_text() == "my precious figure\n"
    mine.unlink()
    for _ in range(2):  # drawn, then redrawn over its own image
        result = CliRunner().invoke(cli, ["ape", str(tmp_path / "a.score")])
        assert result.exit_code == 0 and mine.read_bytes().startswith(b"\x89PNG")
