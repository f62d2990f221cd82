"""Option types shared by several commands."""

from __future__ import annotations

import math

import click


class DcfParam(click.ParamType):
    """`P[:CMISS[:CFA]]` -> (p_target, c_miss, c_fa); costs default to 1."""

    name = "P[:CMISS[:CFA]]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = str(value).split(":")
        try:
            numbers = [float(x) for x in parts]
        except ValueError:
            self.fail(f"{value!r} is not P[:CMISS[:CFA]] (e.g. 0.01 or 0.01:10:1)", param, ctx)
        if not 1 <= len(numbers) <= 3:
            self.fail(f"{value!r} has {len(numbers)} parts; expected P[:CMISS[:CFA]]", param, ctx)
        p_target, c_miss, c_fa = numbers + [1.0] * (3 - len(numbers))
        if not all(math.isfinite(x) for x in numbers):
            self.fail(f"{value!r}: p_target and costs must be finite numbers", param, ctx)
        if not 0 < p_target < 1:
            self.fail(f"p_target must be between 0 and 1, got {p_target:g}", param, ctx)
        if c_miss <= 0 or c_fa <= 0:
            self.fail(f"costs must be positive, got c_miss={c_miss:g} c_fa={c_fa:g}", param, ctx)
        return p_target, c_miss, c_fa


DCF = DcfParam()
SEED = click.IntRange(min=0)  # numpy's generators take non-negative seeds


# For commands that read score files: the list they must cover exactly (labels for 3-column files).
SCORE_FILE_TRIALS = click.option(
    "--trials",
    "trials_spec",
    metavar="NAME|PATH",
    help="Trial list to check the files against (and to take labels from for 3-column files).",
)


def unique_points(ctx, param, values):
    """--dcf callback: each operating point once, in the order first given (`--dcf 0.05 --dcf 0.05` and
    `--dcf 0.05 --dcf 0.05:1:1` are one point, one line)."""
    return tuple(dict.fromkeys(values))


def dcf_option(help: str = "Operating point P[:CMISS[:CFA]], repeatable (each point once); default 0.01."):
    """The --dcf option of every command that takes operating points."""
    return click.option("--dcf", "dcfs", type=DCF, multiple=True, callback=unique_points, help=help)
