"""Quality-measure features for QMF calibration, as WeSpeaker's `score_calibration.py` gathers them.

Per trial (e, t) of an 8-column AS-norm score file `enroll test score label |e| |t| mu_e mu_t`:

    score,
    dur_min, dur_max, dur_diff, dur_ratio        durations of e and t in seconds, each capped at max_dur (20)
    mag_min, mag_max, mag_diff, mag_ratio        the two magnitude columns |e|, |t|
    cmean_min, cmean_max, cmean_diff, cmean_ratio the two cohort-mean columns mu_e, mu_t

where for a pair (a, b): min, max, max − min and max / min. The duration group is left out when no durations
are given (WeSpeaker's `drop_duration`). WeSpeaker writes each of the twelve quality values with '%.4f' and
reads them back: `rounded=True` does the same (the exact decimal, then the nearest float64), which
`--compat wespeaker` needs to reproduce its files; the default keeps full precision.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sveval.errors import InputError
from sveval.scoring.cosine import round_half_even_decimal
from sveval.types import ScoreFile

GROUPS = ("dur", "mag", "cmean")
STATISTICS = ("min", "max", "diff", "ratio")
MAX_DUR = 20.0


def feature_names(with_durations: bool) -> tuple[str, ...]:
    groups = GROUPS if with_durations else GROUPS[1:]
    return ("score", *(f"{g}_{s}" for g in groups for s in STATISTICS))


def pair_statistics(a: np.ndarray, b: np.ndarray, rounded: bool, what: str, source: str) -> np.ndarray:
    """(n, 4): min, max, max − min, max / min of two (n,) arrays. A zero minimum is an InputError naming the
    first such line (WeSpeaker's script dies there with ZeroDivisionError), and so is a difference or ratio
    that overflows float64 (e.g. 1e308 and 1e-300)."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    zero = np.flatnonzero(lo == 0)
    if zero.size:
        raise InputError(
            f"{what} of 0 on {zero.size} line(s): the max/min ratio is undefined", source, zero[0] + 1
        )
    with np.errstate(over="ignore", invalid="ignore"):  # overflows are named below, by line
        out = np.stack([lo, hi, hi - lo, hi / lo], axis=1)
    bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
    if bad.size:
        raise InputError(
            f"{what} pair ({lo[bad[0]]:g}, {hi[bad[0]]:g}) overflows float64 in its difference or max/min "
            f"ratio ({bad.size:,} line(s)): rescale the statistics",
            source,
            int(bad[0]) + 1,
        )
    return round_half_even_decimal(out.ravel(), 4).reshape(out.shape) if rounded else out


def durations_of(ids: np.ndarray, durations: dict[str, float], source: str) -> np.ndarray:
    """Durations of `ids` (seconds), looked up once per distinct id; an id without one is an InputError
    naming the first line."""
    codes, distinct = pd.factorize(np.asarray(ids, dtype=object))
    known = np.array([durations.get(i, np.nan) for i in distinct.tolist()], dtype=np.float64)
    out = known[codes]
    missing = np.flatnonzero(np.isnan(out))
    if missing.size:
        raise InputError(
            f"no duration for {ids[missing[0]]!r} ({missing.size} line(s) lack one); "
            "give --utt2dur or --wav-scp files covering every utterance",
            source,
            int(missing[0]) + 1,
        )
    return out


def require_qmf_columns(scores: ScoreFile) -> None:
    """InputError unless `scores` is an 8-column file (the magnitudes and cohort means QMF uses) with finite
    statistics (naming the first line with a NaN or infinity)."""
    if scores.extra is None:
        raise InputError(
            "QMF needs an 8-column AS-norm/s-norm score file (enroll test score label |e| |t| mu_e mu_t)",
            scores.path,
        )
    bad = np.flatnonzero(~np.isfinite(scores.extra).all(axis=1))
    if bad.size:
        raise InputError(
            f"statistic columns 5-8 hold {scores.extra[bad[0]].tolist()}: QMF needs finite magnitudes and "
            f"cohort means ({bad.size:,} line(s) with a non-finite one)",
            scores.path,
            int(bad[0]) + 1,
        )


def qmf_features(
    scores: ScoreFile, durations: dict[str, float] | None, max_dur: float = MAX_DUR, rounded: bool = False
) -> np.ndarray:
    """(n, 9) or (n, 13) float64 in the order of `feature_names`. Needs an 8-column score file."""
    require_qmf_columns(scores)
    parts = [scores.values[:, None]]
    if durations is not None:
        both = durations_of(np.concatenate([scores.enroll, scores.test]), durations, scores.path)
        dur_e, dur_t = np.minimum(both[: len(scores)], max_dur), np.minimum(both[len(scores) :], max_dur)
        parts.append(pair_statistics(dur_e, dur_t, rounded, "a duration", scores.path))
    parts.append(pair_statistics(scores.extra[:, 0], scores.extra[:, 1], rounded, "a magnitude", scores.path))
    parts.append(
        pair_statistics(scores.extra[:, 2], scores.extra[:, 3], rounded, "a cohort mean", scores.path)
    )
    return np.concatenate(parts, axis=1)
