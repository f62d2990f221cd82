"""sveval.metrics.file_order: the per-trial sweep in file order from the tie groups equals the full sweep
(a stable sort of every trial) to the bit, thresholds included."""

import numpy as np
import pytest

from sveval.metrics.detection import SortedScores, summarize
from sveval.metrics.file_order import per_trial_in_file_order

POINTS = ((0.01, 1.0, 1.0), (0.05, 1.0, 1.0), (0.5, 1.0, 1.0), (0.01, 10.0, 1.0), (0.9, 1.0, 3.0))


def _case(rng):
    n = int(rng.integers(2, 3000))
    labels = rng.random(n) < rng.uniform(0.05, 0.95)
    labels[rng.integers(n)], labels[rng.integers(n)] = True, False  # both classes, whatever the draw
    shift = rng.uniform(-1, 3)
    scores = rng.normal(size=n) + shift * labels
    decimals = int(rng.integers(-1, 6))  # from a handful of huge tie groups to nearly no ties
    scores = np.round(scores, decimals)
    if rng.random() < 0.2:
        scores[rng.random(n) < 0.3] = 0.0
        scores[rng.random(n) < 0.1] = -0.0  # ties with 0.0
    if rng.random() < 0.1:
        scores[:] = 1.0  # one group
    return scores, labels


@pytest.mark.parametrize("seed", range(12))
def test_equals_the_full_per_trial_sweep(seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        scores, labels = _case(rng)
        full = summarize(scores, labels, ("nist",), POINTS, "per-trial")
        assert per_trial_in_file_order(SortedScores.of(scores, labels), POINTS) == full


def test_hand_case_the_crossing_group_is_read_in_file_order():
    # one tie group holds the crossing; its file order is target, nontarget, target, nontarget
    scores = np.array([0.0, 0.5, 0.5, 0.5, 0.5, 1.0])
    labels = np.array([False, True, False, True, False, True])
    got = per_trial_in_file_order(SortedScores.of(scores, labels), ((0.5, 1.0, 1.0),))
    # points after each trial: p_miss = #tar/3, p_fa = 1 - #non/3
    # 0.0n: (0, 2/3); 0.5t: (1/3, 2/3); 0.5n: (1/3, 1/3) -> x1 (d = 0); x2 = the point before
    assert got.eers[0].value == pytest.approx(1 / 3)
    # cost 0.5 * p_miss + 0.5 * p_fa: lowest at (1/3, 1/3) -> 1/3, normalised by 0.5 -> 2/3
    assert got.dcfs[0].min_dcf == pytest.approx(2 / 3) and got.dcfs[0].threshold == 0.5


def test_windows_of_groups_give_the_same_numbers(monkeypatch):
    """Candidate groups read a few trials' worth at a time (bounded memory) give the same result."""
    import sveval.metrics.file_order as file_order

    rng = np.random.default_rng(5)
    for _ in range(10):
        scores, labels = _case(rng)
        full = summarize(scores, labels, ("nist",), POINTS, "per-trial")
        for window in (1, 7, 100):
            monkeypatch.setattr(file_order, "WINDOW_TRIALS", window)
            assert per_trial_in_file_order(SortedScores.of(scores, labels), POINTS) == full
