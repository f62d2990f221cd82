"""DET plots: curve computation (pure numpy) split from display (matplotlib, drawn on a given `ax`).

Layout of scikit-learn's `DetCurveDisplay`: `DetPlotCurve` holds what is drawn (a thinned curve, the EER
and minDCF points, the numbers of the legend), `DetDisplay(curves).plot(ax=...)` draws it. Nothing here
saves or shows a figure (that is `sveval.io.figures`), and pyplot is never imported, so no global
matplotlib state is touched.

Axes are probit (normal deviate) axes as in NIST and WeSpeaker plots: the data are drawn in probit
coordinates on linear axes and ticks are labelled in percent. The default window is 0.05 %–50 % on both
axes; it is widened to the next tick of the ladder when a marked point (EER, minDCF) would fall outside
it, so that no marked point is ever cut off. The decades and 0.5/2/5/20 % are always labelled inside the
window; the other ladder values only where their labels have room (`window_ticks`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from sveval.metrics.detection import DetCurve, SortedScores
from sveval.reporting.labels import common_length

# Tick ladder in probability; ticks are shown for the values inside the window.
TICKS = np.array(
    [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2]
    + [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999]
)
# Ticks labelled whenever they are inside the window: the decades, which a reader locates values by, and the
# 0.5/2/5/20 % that current systems' EERs and minDCF points sit between (see `window_ticks`).
DECADE_TICKS = np.array([1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1])
ALWAYS_TICKS = np.concatenate([DECADE_TICKS, [5e-3, 0.02, 0.05, 0.2]])
DEFAULT_LIMITS = (5e-4, 0.5)
# Probabilities of 0 or 1 are drawn at this distance from the edge (probit ~ +-6), far outside any window.
CLIP = 1e-9
# Largest distance, in probit units, between the full curve and its thinned drawing. A default window
# spans about 3.3 probit units over ~500 pixels, so 0.002 is well under half a pixel.
THIN_TOLERANCE = 0.002


def probit(p) -> np.ndarray:
    """Normal deviate of a probability, with 0 and 1 clipped to CLIP so that they stay finite."""
    from scipy.special import ndtri  # noqa: PLC0415 (0.18 s of import that commands drawing nothing skip)

    return ndtri(np.clip(np.asarray(p, dtype=np.float64), CLIP, 1 - CLIP))


def percent_label(p: float) -> str:
    """Tick label in percent: 0.0005 -> '0.05', 0.01 -> '1', 0.5 -> '50'."""
    return f"{100 * p:.6g}"


@dataclass(frozen=True, eq=False)
class DetPlotCurve:
    """One system's DET curve as drawn.

    p_fa, p_miss: the thinned curve (probabilities), in sweep order. n_points: points of the full curve.
    eer: NIST/WeSpeaker EER (fraction), drawn at (eer, eer). min_dcf: normalised minDCF at (p_target,
    c_miss, c_fa), drawn at the first curve point reaching the minimum, (dcf_p_fa, dcf_p_miss).
    """

    label: str
    p_fa: np.ndarray
    p_miss: np.ndarray
    eer: float
    min_dcf: float
    dcf_p_fa: float
    dcf_p_miss: float
    p_target: float = 0.01
    c_miss: float = 1.0
    c_fa: float = 1.0
    n_target: int = 0
    n_nontarget: int = 0
    n_points: int = 0

    @property
    def numbers(self) -> str:
        """What the legend says of this curve after its name."""
        return f"EER {100 * self.eer:.3f} %, minDCF({self.p_target:g}) {self.min_dcf:.3f}"


# Longest line of a legend name. The legend sits below the axes inside a fixed-width figure: a wider legend
# would shrink the plot itself (constrained layout), so longer names are shortened or wrapped to this.
LEGEND_LABEL_CHARS = 40
# A name is split after these characters only, so that no path component or token is broken
_PIECES = re.compile(r"(?<=[/_. -])")
_COMPONENTS = re.compile(r"(?<=/)")


def legend_names(labels, width: int = LEGEND_LABEL_CHARS) -> tuple[str, ...]:
    """The curves' names as the legend shows them, never cut: as given when they all fit `width`; else
    without the leading and trailing pieces (path components, `_`/`.`/`-`/space-separated tokens) that all
    of them share, which tell no curve apart, and what is still too long wrapped onto several lines.
    Names stay distinct: a shortening that would empty or merge a name is not made."""
    labels = list(labels)
    if all(len(label) <= width for label in labels):
        return tuple(labels)
    return tuple(wrap_label(label, width) for label in _drop_shared_pieces(labels))


def _drop_shared_pieces(labels: list[str]) -> list[str]:
    if len(labels) < 2 or len(set(labels)) < len(labels):
        return labels
    pieces = [_PIECES.split(label) for label in labels]
    head = common_length(pieces)
    tail = common_length([p[head:][::-1] for p in pieces])
    for lead, trail in ((head, tail), (head, 0), (0, tail)):
        short = ["".join(p[lead : len(p) - trail]).strip("/_.- ") for p in pieces]
        if all(short) and len(set(short)) == len(short):
            return short
    return labels


def wrap_label(label: str, width: int = LEGEND_LABEL_CHARS) -> str:
    """`label` on lines of at most `width` characters, broken after a `/` where a path component fits a
    line, else after a token separator (`_`, `.`, `-`, space); a token longer than a line is split at the
    width. No character is dropped."""
    pieces = [
        token
        for component in _COMPONENTS.split(label)
        for token in (_PIECES.split(component) if len(component) > width else [component])
    ]
    lines, line = [], ""
    for piece in pieces:
        if line and len(line) + len(piece) > width:
            lines.append(line)
            line = ""
        while len(piece) > width:
            lines.append(piece[:width])
            piece = piece[width:]
        line += piece
    return "\n".join([*lines, line] if line or not lines else lines)


def det_plot_curve(
    scores: SortedScores,
    label: str,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
    tolerance: float = THIN_TOLERANCE,
    det: DetCurve | None = None,
) -> DetPlotCurve:
    """Compute what a DET plot draws for one score set at its sweep (`scores.sweep`): the curve and the
    numbers of `sveval metrics`, read off one sweep (`det`: `scores.det_curve()` where the caller has it)."""
    det = det if det is not None else scores.det_curve()
    return curve_from_rates(
        label,
        np.asarray(det.p_fa),
        np.asarray(det.p_miss),
        det.eer().value,
        det.min_dcf(p_target, c_miss, c_fa).min_dcf,
        p_target,
        c_miss,
        c_fa,
        n_target=scores.n_target,
        n_nontarget=scores.n_nontarget,
        tolerance=tolerance,
    )


def curve_from_rates(
    label: str,
    p_fa: np.ndarray,
    p_miss: np.ndarray,
    eer: float,
    min_dcf: float,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
    n_target: int = 0,
    n_nontarget: int = 0,
    tolerance: float = THIN_TOLERANCE,
) -> DetPlotCurve:
    """Build a DetPlotCurve from the full error-rate arrays: locate the minDCF point and thin the curve."""
    # the first minimum of the unnormalised cost, computed as sveval.metrics.detection.min_dcf computes it
    cost = c_miss * p_miss * p_target + c_fa * p_fa * (1 - p_target)
    best = int(np.argmin(cost))
    # ... including the "accept all" point (p_fa 1, p_miss 0), which the curve's arrays do not hold
    dcf_point = (1.0, 0.0) if c_fa * (1 - p_target) < cost[best] else (float(p_fa[best]), float(p_miss[best]))
    # thinned in the coordinates it is drawn in
    x, y = probit(drawn_rates(p_fa, n_nontarget)), probit(drawn_rates(p_miss, n_target))
    keep = thin_indices(x, y, tolerance)
    return DetPlotCurve(
        label=label,
        p_fa=p_fa[keep],
        p_miss=p_miss[keep],
        eer=float(eer),
        min_dcf=float(min_dcf),
        dcf_p_fa=dcf_point[0],
        dcf_p_miss=dcf_point[1],
        p_target=p_target,
        c_miss=c_miss,
        c_fa=c_fa,
        n_target=n_target,
        n_nontarget=n_nontarget,
        n_points=len(p_fa),
    )


def thin_indices(x: np.ndarray, y: np.ndarray, tolerance: float = THIN_TOLERANCE) -> np.ndarray:
    """Indices of a polyline's points to keep so that no dropped point is further than `tolerance` from the
    drawn polyline (Ramer-Douglas-Peucker), first and last point always kept.

    A DET curve is a staircase: first the inner points of straight runs (exactly collinear, so dropping them
    changes nothing) are removed, then Ramer-Douglas-Peucker bounds the deviation of everything else.
    """
    n = len(x)
    if n <= 2:
        return np.arange(n)
    dx, dy = np.diff(x), np.diff(y)
    # Moves along one axis get a code per axis and sign; diagonal moves (tie-aware sweeps) and standstills
    # get a unique code, so that they are never merged.
    axis_aligned = (dx == 0) != (dy == 0)
    code = np.where(axis_aligned, np.sign(dx) + 3 * np.sign(dy), 10 + np.arange(n - 1))
    corner = np.ones(n, dtype=bool)
    corner[1:-1] = code[1:] != code[:-1]
    corners = np.flatnonzero(corner)
    keep = _douglas_peucker(x[corners], y[corners], tolerance)
    return corners[keep]


def _douglas_peucker(x: np.ndarray, y: np.ndarray, tolerance: float) -> np.ndarray:
    keep = np.zeros(len(x), dtype=bool)
    keep[[0, -1]] = True
    stack = [(0, len(x) - 1)]
    while stack:
        start, end = stack.pop()
        if end - start < 2:
            continue
        distance = _segment_distance(
            x[start + 1 : end], y[start + 1 : end], x[start], y[start], x[end], y[end]
        )
        worst = int(np.argmax(distance))
        if distance[worst] > tolerance:
            split = start + 1 + worst
            keep[split] = True
            stack.append((start, split))
            stack.append((split, end))
    return np.flatnonzero(keep)


def _segment_distance(px, py, ax, ay, bx, by) -> np.ndarray:
    """Euclidean distance of points (px, py) to the segment from (ax, ay) to (bx, by)."""
    vx, vy = bx - ax, by - ay
    length2 = vx * vx + vy * vy
    if length2 == 0:
        return np.hypot(px - ax, py - ay)
    t = np.clip(((px - ax) * vx + (py - ay) * vy) / length2, 0.0, 1.0)
    return np.hypot(px - (ax + t * vx), py - (ay + t * vy))


def drawn_rates(p: np.ndarray | float, n: int) -> np.ndarray:
    """Where rates are drawn: a rate of 0 (or 1) has no place on a probit axis, so it is drawn at half the
    smallest nonzero step, 0.5/n (or 1 - 0.5/n), just beyond the curve's last real step; n = trials of
    the class (0 if unknown: then CLIP is used)."""
    floor = 0.5 / n if n else CLIP
    return np.clip(np.asarray(p, dtype=np.float64), floor, 1 - floor)


# Room, in probit units, between a marked point and the edge of the window.
MARGIN = 0.06


def det_limits(curves, default: tuple[float, float] = DEFAULT_LIMITS) -> tuple[float, float]:
    """The probability window shared by both axes: `default`, widened to a ladder tick when a marked point
    (EER, minDCF point, as drawn by `drawn_rates`) would lie closer than MARGIN to an edge or beyond."""
    lo, hi = default
    marked = [float(drawn_rates(c.eer, min(c.n_target, c.n_nontarget))) for c in curves]
    marked += [float(drawn_rates(c.dcf_p_fa, c.n_nontarget)) for c in curves]
    marked += [float(drawn_rates(c.dcf_p_miss, c.n_target)) for c in curves]
    low, high = probit(min(marked)) - MARGIN, probit(max(marked)) + MARGIN
    if low < probit(lo):
        below = TICKS[probit(TICKS) <= low]
        lo = float(below[-1] if len(below) else TICKS[0])
    if high > probit(hi):
        above = TICKS[probit(TICKS) >= high]
        hi = float(above[0] if len(above) else TICKS[-1])
    return lo, hi


# Tick labels are kept apart by their widths. The default figure's axes are about 40 tick-label font sizes
# (em) long (405 pt at 10 pt); DejaVu Sans, matplotlib's default, draws digits 0.636 em and the point
# 0.318 em wide. TICK_PAD_EM is the least white space between two labels, about two spaces.
TICK_AXIS_EM = 40.0
TICK_PAD_EM = 0.6
# White space that an ALWAYS_TICKS label needs: labels that touch (no pad) read as one number ("0.51").
ALWAYS_PAD_EM = 0.15


def tick_label_em(p: float) -> float:
    """Width of a tick's label in em of the tick font."""
    text = percent_label(p)
    return 0.636 * sum(c.isdigit() for c in text) + 0.318 * text.count(".")


def ticks_crowd(a: float, b: float, em_per_probit: float, pad: float = TICK_PAD_EM) -> bool:
    """Whether the labels of ticks `a` and `b` would have less than `pad` em between them."""
    room = abs(float(probit(a) - probit(b))) * em_per_probit
    return room < (tick_label_em(a) + tick_label_em(b)) / 2 + pad


def window_ticks(lo: float, hi: float, axis_em: float = TICK_AXIS_EM) -> np.ndarray:
    """Ladder ticks inside [lo, hi] (probabilities) for an axis `axis_em` tick-font sizes long.

    Ticks are taken one by one and kept where their label crowds no kept one. First the ALWAYS_TICKS
    (decades, then 0.5/2/5/20 %, each from 50 % outwards), which need only ALWAYS_PAD_EM: on the default
    figure all of them are kept in every window `det_limits` can give, but for 0.0001 % beside 0.001 % in
    windows reaching 90 % or more (0.5 % and 1 %, the closest pair, keep 0.17 em at the widest window,
    0.0001 %-99.9 %); on a caller's much shorter axes a 0.5/2/5/20 % gives way to a decade. Then the
    others, each with TICK_PAD_EM of white space or dropped: the window's edges, which say where the axes
    start, then the rest from 50 % outwards, so that the middle of the plot fills first.
    """
    inside = TICKS[(TICKS >= lo * (1 - 1e-9)) & (TICKS <= hi * (1 + 1e-9))]
    if len(inside) < 2:
        return inside
    em_per_probit = axis_em / float(probit(hi) - probit(lo))

    def outward(ticks):
        return sorted(ticks, key=lambda t: abs(float(probit(t))))

    decade, always = np.isin(inside, DECADE_TICKS), np.isin(inside, ALWAYS_TICKS)
    edges = [t for t in (inside[0], inside[-1]) if t not in ALWAYS_TICKS]
    rest = [t for t in outward(inside[~always]) if t not in edges]
    first = [*outward(inside[decade]), *outward(inside[always & ~decade])]
    candidates = [(t, ALWAYS_PAD_EM) for t in first]
    candidates += [(t, TICK_PAD_EM) for t in [*edges, *rest]]
    kept = []
    for tick, pad in candidates:
        if not any(ticks_crowd(tick, k, em_per_probit, pad) for k in kept):
            kept.append(tick)
    return np.sort(np.array(kept))


class DetDisplay:
    """Draws DET curves on probit axes. `plot(ax=...)` draws and returns self with `ax_`, `figure_`,
    `curve_lines_` (one Line2D per curve), `eer_markers_` and `dcf_markers_` set, like scikit-learn's
    displays. Without `ax` a new `matplotlib.figure.Figure` (Agg canvas, no pyplot) is created."""

    def __init__(self, curves: list[DetPlotCurve] | tuple[DetPlotCurve, ...]):
        self.curves = tuple(curves)
        if not self.curves:
            raise ValueError("a DET display needs at least one curve")

    @classmethod
    def from_scores(
        cls, scores, is_target, label: str = "scores", sweep: str = "tie-aware", **kwargs
    ) -> DetDisplay:
        return cls([det_plot_curve(SortedScores.of(scores, is_target, sweep), label, **kwargs)])

    def plot(
        self, ax=None, title: str | None = None, limits: tuple[float, float] | None = None
    ) -> DetDisplay:
        from matplotlib.transforms import ScaledTranslation

        names = legend_names(c.label for c in self.curves)
        given = ax is not None
        if not given:
            from matplotlib.figure import Figure

            # the figure grows by the legend's lines so that the axes keep their size
            lines = sum(name.count("\n") + 1 for name in names)
            ax = Figure(figsize=(6.4, 6.8 + 0.22 * (lines + 2)), layout="constrained").add_subplot()
        lo, hi = limits or det_limits(self.curves)
        edge = probit([lo, hi])
        ax.plot(edge, edge, linestyle=":", color="0.6", linewidth=0.8, label="_diagonal", gid="diagonal")
        self.curve_lines_, self.eer_markers_, self.dcf_markers_ = [], [], []
        for curve, name in zip(self.curves, names):
            x = probit(drawn_rates(curve.p_fa, curve.n_nontarget))
            y = probit(drawn_rates(curve.p_miss, curve.n_target))
            (line,) = ax.plot(x, y, linewidth=1.4, label=f"{name}: {curve.numbers}")
            line.set_gid(f"det:{curve.label}")
            color = line.get_color()
            eer = probit(drawn_rates(curve.eer, min(curve.n_target, curve.n_nontarget)))
            (eer,) = ax.plot([eer], [eer], "o", color=color, mfc="none", ms=7, label="_eer")
            eer.set_gid(f"eer:{curve.label}")
            dcf_x = probit(drawn_rates(curve.dcf_p_fa, curve.n_nontarget))
            dcf_y = probit(drawn_rates(curve.dcf_p_miss, curve.n_target))
            (dcf,) = ax.plot([dcf_x], [dcf_y], "s", color=color, ms=5, label="_mindcf")
            dcf.set_gid(f"mindcf:{curve.label}")
            self.curve_lines_.append(line)
            self.eer_markers_.append(eer)
            self.dcf_markers_.append(dcf)
        ax.set_xlim(*edge)
        ax.set_ylim(*edge)
        ax.set_box_aspect(1)  # both axes span the same window, so a square box means equal scales
        ax.set_xlabel("False alarm probability (%)")
        ax.set_ylabel("Miss probability (%)")
        if title:
            ax.set_title(title)
        ax.plot([], [], "o", mfc="none", mec="0.3", label="EER")
        ax.plot([], [], "s", color="0.3", ms=5, label=f"minDCF({self.curves[0].p_target:g})")
        # below the axes, so that long labels and many curves never cover the curves; 40 points below, clear
        # of the tick labels and the axis label whatever the size of the axes
        below = ax.transAxes + ScaledTranslation(0, -40 / 72, ax.figure.dpi_scale_trans)
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, 0), bbox_transform=below, fontsize="small", frameon=False
        )
        # the same ticks on both axes; the grid is drawn at the ticks, so it thins with them
        ticks = window_ticks(lo, hi, axis_em(ax) if given else TICK_AXIS_EM)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_ticks(probit(ticks), [percent_label(t) for t in ticks])
        ax.grid(True, linewidth=0.4, color="0.85")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self


def axis_em(ax) -> float:
    """Length of the x axis of `ax` as laid out (a draw without rendering), in em of its tick labels: a
    caller's axes (a one-column figure, a subplot) may be much shorter than the default figure's."""
    from matplotlib import font_manager, rcParams

    figure = ax.figure
    figure.draw_without_rendering()
    points = ax.get_window_extent().width * 72 / figure.dpi
    return points / font_manager.FontProperties(size=rcParams["xtick.labelsize"]).get_size_in_points()
