"""DET plots: drawn data (axes limits, ticks, line data, marker positions), thinning, saving."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy.stats import norm

from sveval.errors import InputError
from sveval.io.figures import save_figure, write_det_plot
from sveval.io.score_folder import det_plot_name
from sveval.metrics.detection import SortedScores
from sveval.reporting.det import (
    ALWAYS_PAD_EM,
    ALWAYS_TICKS,
    DEFAULT_LIMITS,
    TICK_AXIS_EM,
    TICKS,
    DetDisplay,
    curve_from_rates,
    det_limits,
    det_plot_curve,
    legend_names,
    percent_label,
    thin_indices,
    ticks_crowd,
    window_ticks,
    wrap_label,
)


def by_gid(ax, gid):
    (line,) = [line for line in ax.lines if line.get_gid() == gid]
    return line


def synthetic(n=4000, separation=3.0, seed=0):
    rng = np.random.default_rng(seed)
    is_target = rng.random(n) < 0.5
    return rng.normal(size=n) + separation * is_target, is_target


def brute_force_rates(scores, is_target):
    """Operating points by the definition, one trial at a time: reject the i+1 lowest scores."""
    order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    n_t, n_n = sum(is_target), len(scores) - sum(is_target)
    p_miss, p_fa, tar, non = [], [], 0, 0
    for i in order:
        tar += bool(is_target[i])
        non += not is_target[i]
        p_miss.append(tar / n_t)
        p_fa.append(1 - non / n_n)
    return np.array(p_miss), np.array(p_fa)


def test_hand_made_curve_points_markers_and_thinning():
    # sorted: 1 N, 2 T, 3 N, 4 N, 5 T, 6 T  -> p_miss 0 1/3 1/3 1/3 2/3 1, p_fa 2/3 2/3 1/3 0 0 0
    scores = np.array([3.0, 6.0, 1.0, 5.0, 2.0, 4.0])
    is_target = np.array([False, True, False, True, True, False])
    curve = det_plot_curve(SortedScores.of(scores, is_target), "hand")
    # index 2 lies on the horizontal run 1 -> 3 and index 4 on the vertical run 3 -> 5: dropped exactly
    np.testing.assert_allclose(curve.p_miss, [0, 1 / 3, 1 / 3, 1])
    np.testing.assert_allclose(curve.p_fa, [2 / 3, 2 / 3, 0, 0])
    # DCF(p=0.01) = (0.01 p_miss + 0.99 p_fa) / 0.01: first minimum at p_fa=0, p_miss=1/3 -> 1/3
    assert (curve.dcf_p_fa, curve.dcf_p_miss) == (0.0, pytest.approx(1 / 3))
    assert curve.min_dcf == pytest.approx(1 / 3)
    assert curve.eer == pytest.approx(1 / 3)  # p_miss - p_fa crosses 0 between (1/3,2/3) and (1/3,1/3)
    ax = DetDisplay([curve]).plot().ax_
    # a rate of 0 is drawn at 0.5/n: here 0.5/3 false alarms
    line = by_gid(ax, "det:hand")
    np.testing.assert_allclose(line.get_xdata(), norm.ppf([2 / 3, 2 / 3, 1 / 6, 1 / 6]))
    np.testing.assert_allclose(line.get_ydata(), norm.ppf([1 / 6, 1 / 3, 1 / 3, 5 / 6]))
    np.testing.assert_allclose(by_gid(ax, "mindcf:hand").get_xydata(), [norm.ppf([1 / 6, 1 / 3])])
    np.testing.assert_allclose(by_gid(ax, "eer:hand").get_xydata(), [norm.ppf([1 / 3, 1 / 3])])


def test_default_window_ticks_and_labels():
    t = np.linspace(-6, 9, 2001)  # a binormal DET: a straight line of slope 1 on probit axes
    p_fa, p_miss = norm.cdf(-t), norm.cdf(t - 4)
    curve = curve_from_rates("sys", p_fa, p_miss, norm.cdf(-2), 0.5, n_target=10**6, n_nontarget=10**6)
    assert min(curve.eer, curve.dcf_p_fa, curve.dcf_p_miss) > 0.0007  # inside the default window
    ax = DetDisplay([curve]).plot(title="T").ax_
    lo, hi = norm.ppf([0.0005, 0.5])
    assert ax.get_xlim() == pytest.approx((lo, hi)) and ax.get_ylim() == pytest.approx((lo, hi))
    labels = [t.get_text() for t in ax.get_xticklabels()]
    # the 0.05 % edge gives way to 0.1 %: their labels would be closer than TICK_PAD_EM
    assert labels == ["0.1", "0.2", "0.5", "1", "2", "5", "10", "20", "30", "40", "50"]
    np.testing.assert_allclose(ax.get_xticks(), norm.ppf([float(x) / 100 for x in labels]))
    assert [t.get_text() for t in ax.get_yticklabels()] == labels
    assert ax.get_xlabel() == "False alarm probability (%)" and ax.get_ylabel() == "Miss probability (%)"
    assert ax.get_title() == "T"


def test_markers_sit_where_metrics_put_them():
    from sveval.metrics import detection as metrics

    scores, is_target = synthetic(n=3000, separation=2.5, seed=3)
    curve = det_plot_curve(SortedScores.of(scores, is_target), "s")
    m = metrics.evaluate(scores, is_target)
    assert curve.eer == m.eer and curve.min_dcf == m.min_dcf
    p_miss, p_fa = brute_force_rates(scores.tolist(), is_target.tolist())
    costs = (0.01 * p_miss + 0.99 * p_fa) / 0.01
    best = int(np.argmin(costs))
    assert (curve.dcf_p_miss, curve.dcf_p_fa) == pytest.approx((p_miss[best], p_fa[best]))
    assert costs[best] == pytest.approx(m.min_dcf)
    ax = DetDisplay([curve]).plot().ax_
    x, y = by_gid(ax, "mindcf:s").get_xydata()[0]
    assert (x, y) == pytest.approx(tuple(norm.ppf([max(p_fa[best], 0.5 / (~is_target).sum()), p_miss[best]])))
    assert curve.numbers == f"EER {100 * m.eer:.3f} %, minDCF(0.01) {m.min_dcf:.3f}"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"s: {curve.numbers}" in texts and "EER" in texts


def test_window_widens_to_keep_marked_points():
    scores, is_target = synthetic(n=20000, separation=7.0, seed=1)  # EER ~ 0.04 %, below the default
    curve = det_plot_curve(SortedScores.of(scores, is_target), "good")
    assert curve.eer < 0.0005
    lo, hi = det_limits([curve])
    assert lo < curve.eer and hi == 0.5 and lo in (1e-5, 2e-5, 5e-5, 1e-4, 2e-4)
    ax = DetDisplay([curve]).plot().ax_
    x, _ = by_gid(ax, "eer:good").get_xydata()[0]
    assert ax.get_xlim()[0] < x < ax.get_xlim()[1]
    bad = curve_from_rates(
        "bad", np.array([1.0, 0.0]), np.array([0.0, 1.0]), 0.62, 1.0, n_target=5, n_nontarget=5
    )
    assert det_limits([bad])[1] > 0.62


def labels_of(ticks):
    return [percent_label(t) for t in ticks]


# Exact by construction (`window_ticks`): ALWAYS_TICKS first, then the edges, then the rest from 50 % out.
@pytest.mark.parametrize(
    "lo,hi,expected",
    [
        (5e-4, 0.5, "0.1 0.2 0.5 1 2 5 10 20 30 40 50"),  # default: the 0.05 edge crowds 0.1
        (5e-4, 0.8, "0.1 0.5 1 2 5 10 20 30 40 50 60 70 80"),  # was 0.05 0.2 0.5 2 5 ...: no 0.1, no 1
        (1e-4, 0.5, "0.01 0.1 0.2 0.5 1 2 5 10 20 30 40 50"),  # was without 0.1
        (1e-5, 0.5, "0.001 0.01 0.1 0.5 1 2 5 10 20 30 40 50"),
        (1e-6, 0.999, "0.001 0.01 0.1 0.5 1 2 5 10 20 50 70 90 98 99.9"),  # 0.0001 would overlap 0.001
        (5e-3, 0.05, "0.5 1 2 5"),
        (2e-3, 0.02, "0.2 0.5 1 2"),
        (0.01, 0.2, "1 2 5 10 20"),
        (0.3, 0.5, "30 40 50"),
    ],
)
def test_window_ticks_keep_decades_and_half_two_five_twenty(lo, hi, expected):
    assert labels_of(window_ticks(lo, hi)) == expected.split()


def test_always_ticks_are_kept_in_every_window_of_the_default_figure():
    for lo in TICKS[TICKS <= DEFAULT_LIMITS[0]]:
        for hi in TICKS[TICKS >= DEFAULT_LIMITS[1]]:
            kept = window_ticks(lo, hi)
            inside = TICKS[(TICKS >= lo) & (TICKS <= hi)]
            lost = set(inside[np.isin(inside, ALWAYS_TICKS)]) - set(kept)
            # the one exception: 0.0001 % beside 0.001 % on windows reaching 90 % or more
            assert not lost or (lost == {1e-6} and hi >= 0.9), (lo, hi, lost)


@pytest.mark.parametrize("axis_em", [TICK_AXIS_EM, 14.0])
@pytest.mark.parametrize("lo,hi", [(5e-4, 0.5), (5e-4, 0.8), (1e-4, 0.5), (1e-6, 0.999), (5e-4, 0.999)])
def test_kept_ticks_never_crowd_unless_both_are_always_ticks(lo, hi, axis_em):
    ticks = window_ticks(lo, hi, axis_em)
    em_per_probit = axis_em / (norm.ppf(hi) - norm.ppf(lo))
    for a, b in zip(ticks[:-1], ticks[1:]):
        both_always = a in ALWAYS_TICKS and b in ALWAYS_TICKS
        assert both_always or not ticks_crowd(a, b, em_per_probit), (a, b)
        assert not ticks_crowd(a, b, em_per_probit, ALWAYS_PAD_EM), (a, b)  # labels never touch


@pytest.mark.parametrize("lo,hi", [(5e-4, 0.5), (5e-4, 0.8), (1e-4, 0.5), (1e-6, 0.999)])
@pytest.mark.parametrize("size", [None, (3.3, 3.6)])
def test_drawn_tick_labels_do_not_overlap_and_grid_lines_follow_the_ticks(lo, hi, size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    t = np.linspace(-6, 9, 201)
    curve = curve_from_rates("s", norm.cdf(-t), norm.cdf(t - 4), 0.02, 0.5, n_target=10**6, n_nontarget=10**6)
    ax = Figure(figsize=size, layout="constrained").add_subplot() if size else None
    ax = DetDisplay([curve]).plot(ax=ax, limits=(lo, hi)).ax_
    renderer = FigureCanvasAgg(ax.figure).get_renderer()
    ax.figure.draw(renderer)
    boxes = [label.get_window_extent(renderer) for label in ax.get_xticklabels()]
    assert all(left.x1 < right.x0 for left, right in zip(boxes[:-1], boxes[1:]))
    grid = [line.get_xdata()[0] for line in ax.xaxis.get_gridlines() if line.get_visible()]
    np.testing.assert_allclose(grid, ax.get_xticks())
    np.testing.assert_allclose(ax.get_yticks(), ax.get_xticks())


def test_plot_draws_on_the_given_axes_only():
    figure = Figure()
    left, right = figure.subplots(1, 2)
    scores, is_target = synthetic()
    display = DetDisplay.from_scores(scores, is_target, label="a").plot(ax=right)
    assert display.ax_ is right and display.figure_ is figure and not left.lines
    assert len(display.curve_lines_) == 1 and len(display.eer_markers_) == 1


def test_overlay_has_one_line_per_curve_with_distinct_colours():
    curves = [
        det_plot_curve(SortedScores.of(*synthetic(seed=k, separation=2 + k)), f"c{k}") for k in range(3)
    ]
    display = DetDisplay(curves).plot()
    colours = [line.get_color() for line in display.curve_lines_]
    assert len(set(colours)) == 3
    for line, marker in zip(display.curve_lines_, display.eer_markers_):
        assert marker.get_color() == line.get_color()


def test_thinning_keeps_the_shape_of_a_long_curve():
    scores, is_target = synthetic(n=300_000, separation=3.3, seed=7)
    p_miss, p_fa = brute_force_rates_fast(scores, is_target)
    x, y = norm.ppf(np.clip(p_fa, 1e-9, 1 - 1e-9)), norm.ppf(np.clip(p_miss, 1e-9, 1 - 1e-9))
    tol = 0.002
    keep = thin_indices(x, y, tol)
    assert keep[0] == 0 and keep[-1] == len(x) - 1 and np.all(np.diff(keep) > 0)
    assert len(keep) < len(x) / 50
    # every dropped point lies within tol of the drawn segment that spans it
    seg = np.searchsorted(keep, np.arange(len(x)), side="right") - 1
    seg = np.minimum(seg, len(keep) - 2)
    ax, ay, bx, by = x[keep[seg]], y[keep[seg]], x[keep[seg + 1]], y[keep[seg + 1]]
    vx, vy = bx - ax, by - ay
    t = np.clip(((x - ax) * vx + (y - ay) * vy) / np.maximum(vx**2 + vy**2, 1e-300), 0, 1)
    assert np.hypot(x - ax - t * vx, y - ay - t * vy).max() <= tol


def brute_force_rates_fast(scores, is_target):
    order = np.argsort(scores, kind="stable")
    tar = np.asarray(is_target)[order]
    return np.cumsum(tar) / tar.sum(), 1 - np.cumsum(~tar) / (~tar).sum()


def test_thinning_never_merges_diagonal_moves():
    x = np.array([0.0, 1.0, 3.0, 4.0])
    y = np.array([0.0, 1.0, 2.0, 4.0])  # three diagonal moves of different slopes
    assert thin_indices(x, y, tolerance=0.0).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_save_by_extension_atomically_and_reproducibly(tmp_path, suffix, magic):
    curve = det_plot_curve(SortedScores.of(*synthetic(n=500)), "x")
    first = write_det_plot([curve], tmp_path / f"a{suffix}")
    assert first.read_bytes().startswith(magic)
    write_det_plot([curve], tmp_path / f"b{suffix}")
    if suffix != ".pdf":
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"a{suffix}", f"b{suffix}"]  # no temp files left


def test_bad_extension_is_refused_before_drawing(tmp_path):
    with pytest.raises(InputError, match="use .png, .svg or .pdf"):
        save_figure(Figure(), tmp_path / "plot.jpg")
    assert not list(tmp_path.iterdir())


def test_plot_names_follow_the_release_folders():
    assert det_plot_name("x/vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score") == (
        "vox2_dev_asnorm300_vox1_O_cleaned.kaldi.det.png"
    )


def test_legend_names_drop_what_all_share_and_wrap_the_rest_never_cutting():
    short = ["ResNet34 (ours)", "ResNet34 (base)"]
    assert legend_names(short) == tuple(short)  # names that fit are shown as given
    files = [f"vox2_dev_{m}_vox1_O_cleaned_trials_from_the_release.kaldi" for m in ("asnorm300", "cos")]
    assert legend_names(files) == ("asnorm300", "cos")
    path = "/home/someone/experiments/exp/Gemini_df_resnet110/scores/vox1_O_cleaned.kaldi"
    (alone,) = legend_names([path])  # nothing to tell apart: wrapped after path components
    lines = ["/home/someone/experiments/exp/", "Gemini_df_resnet110/scores/", "vox1_O_cleaned.kaldi"]
    assert alone.split("\n") == lines
    # dropping the shared head and tail would leave one name empty: only the head goes
    assert legend_names([path, path + "_b"]) == ("kaldi", "kaldi_b")
    assert legend_names(["same" * 11] * 2) == (("same" * 10) + "\nsame",) * 2  # equal names stay equal
    token = "x" * 95  # no separator: split at the width, nothing dropped
    assert wrap_label(token).split("\n") == ["x" * 40, "x" * 40, "x" * 15]
    assert wrap_label("a_" * 30).replace("\n", "") == "a_" * 30
    assert all(len(line) <= 40 for line in wrap_label("a_" * 30).split("\n"))


def test_wrapped_names_keep_the_axes_size_and_stay_inside_the_figure():
    scores, is_target = synthetic(400)
    long_names = [  # nothing shared to drop: both are wrapped
        "Gemini_df_resnet110_trained_on_vox2_dev_with_asnorm300",
        "ResNet34_baseline_from_the_wespeaker_recipe_with_cosine",
    ]
    sizes = []
    for names in (["a", "b"], long_names):
        sorted_scores = SortedScores.of(scores, is_target)
        display = DetDisplay([det_plot_curve(sorted_scores, name) for name in names]).plot()
        figure = display.figure_
        figure.draw_without_rendering()
        sizes.append(np.array(display.ax_.get_position().bounds[2:]) * figure.get_size_inches())
        texts = [t.get_text() for t in display.ax_.get_legend().get_texts()]
        legend = display.ax_.get_legend().get_window_extent()
        assert 0 <= legend.x0 and legend.x1 <= figure.bbox.x1
    np.testing.assert_allclose(sizes[1], sizes[0], rtol=0.02)  # axes width and height, in inches
    wrapped = "Gemini_df_resnet110_trained_on_vox2_dev_\nwith_asnorm300"
    assert texts[0] == f"{wrapped}: {display.curves[0].numbers}"
