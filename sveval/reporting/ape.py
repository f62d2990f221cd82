"""The normalised Bayes error-rate plot (BOSARIS's "APE" view) of scores read as natural-log LLRs.

For each prior log-odds ℓ = logit(p) on the x axis: the actual DCF (accept if LLR ≥ the Bayes threshold −ℓ,
as BOSARIS fast_actDCF and NIST scorers; solid) and the minimum DCF (dashed, the ROC convex hull's best
threshold), both with c_miss = c_fa = 1 and normalised by min(p, 1−p) (definitions in `sveval.metrics.llr`).
The gap between the two curves is the calibration loss at that prior; a dotted line at 1 is the system that
always says the prior. The ROCCH EER is the largest unnormalised minimum and is given in the legend with
Cllr and minCllr. Drawn like
`sveval.reporting.det.DetDisplay`: on a given `ax`, without pyplot; saving is `sveval.io.figures`' job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sveval.metrics.detection import cllr
from sveval.metrics.llr import BayesErrorCurve, bayes_error_curve, min_cllr
from sveval.reporting.det import legend_names

Y_MAX = 1.2


@dataclass(frozen=True, eq=False)
class ApeCurve:
    label: str
    curve: BayesErrorCurve
    cllr: float
    min_cllr: float

    @property
    def numbers(self) -> str:
        """What the legend says of this curve after its name."""
        eer = 100 * self.curve.eer
        return f"Cllr {self.cllr:.3f}, minCllr {self.min_cllr:.3f} bits, EER(rocch) {eer:.2f}%"


def ape_curve(llrs, is_target, label: str = "scores", prior_log_odds=None) -> ApeCurve:
    return ApeCurve(
        label,
        bayes_error_curve(llrs, is_target, prior_log_odds),
        cllr(llrs, is_target),
        min_cllr(llrs, is_target),
    )


class ApeDisplay:
    """`ApeDisplay(curves).plot(ax=...)` draws and returns self with `ax_`, `figure_`, `act_lines_`,
    `min_lines_` set. Without `ax` a new Agg `Figure` is created."""

    def __init__(self, curves):
        self.curves = tuple(curves)
        if not self.curves:
            raise ValueError("an APE display needs at least one curve")

    def plot(self, ax=None, title: str | None = None) -> ApeDisplay:
        names = legend_names(item.label for item in self.curves)  # shortened or wrapped, never cut
        if ax is None:
            from matplotlib.figure import Figure

            # the figure grows by the legend's lines so that the axes keep their size
            lines = sum(name.count("\n") + 1 for name in names)
            ax = Figure(figsize=(7.0, 5.0 + 0.22 * lines), layout="constrained").add_subplot()
        self.act_lines_, self.min_lines_ = [], []
        for item, name in zip(self.curves, names):
            c = item.curve
            label = f"{name} ({item.numbers})"
            (act,) = ax.plot(c.prior_log_odds, np.minimum(c.act_dcf, 10 * Y_MAX), linewidth=1.4, label=label)
            act.set_gid(f"act:{item.label}")
            (low,) = ax.plot(
                c.prior_log_odds,
                c.min_dcf,
                linestyle="--",
                linewidth=1.2,
                color=act.get_color(),
                label="_min",
            )
            low.set_gid(f"min:{item.label}")
            self.act_lines_.append(act)
            self.min_lines_.append(low)
        plo = self.curves[0].curve.prior_log_odds
        ax.axhline(1.0, linestyle=":", color="0.5", linewidth=0.8, label="_default")
        ax.set_xlim(float(plo[0]), float(plo[-1]))
        ax.set_ylim(0.0, Y_MAX)
        ax.set_xlabel("prior log-odds logit(p_target)")
        ax.set_ylabel("normalised DCF (c_miss = c_fa = 1)")
        ax.grid(True, linewidth=0.4, color="0.85")
        if title:
            ax.set_title(title)
        ax.plot([], [], color="0.3", label="actual DCF")
        ax.plot([], [], color="0.3", linestyle="--", label="minimum DCF")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize="small", frameon=False)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
