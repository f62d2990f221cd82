"""Time the report analyses and DET drawing against straightforward ways of doing the same.

    python benchmarks/bench_report.py [--replicates 1000] [--seed 0]

1. Speaker-clustered bootstrap on the synthetic Vox1-O-shaped list (37,611 trials, 40 speakers; scores are
   the synthetic setup's cosine scores). sveval: `analysis.speaker_bootstrap` (weighted cumulative sums,
   replicates in chunks). Baseline: for each replicate, materialise the repeated trials (np.repeat by
   weight) and call `metrics.evaluate` on them, timed on a tenth of the replicates and scaled. The first
   replicates of both are checked to give the same EER and minDCF.
2. DET plot of a 580k-trial (Vox1-E-sized) score set saved as PNG: the thinned curve sveval draws against
   the full per-trial curve. The thinned curve is checked to stay within the tolerance of the full one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

try:
    import sveval  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sveval.io.figures import write_det_plot
from sveval.metrics import detection as metrics
from sveval.reporting.det import THIN_TOLERANCE, curve_from_rates, det_plot_curve
from sveval.speakers import speaker_map
from sveval.stats.bootstrap import speaker_bootstrap, weighted_eer_min_dcf
from sveval.synthetic import demo_setup


def cosine_scores(setup):
    e = setup.evaluation.vectors.astype(np.float64)
    e -= setup.cohort.vectors.astype(np.float64).mean(axis=0)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    index = pd.Index(setup.evaluation.ids)
    i, j = index.get_indexer(setup.trials.enroll), index.get_indexer(setup.trials.test)
    return np.einsum("nd,nd->n", e[i], e[j])


def baseline_bootstrap(scores, is_target, enroll, test, n, seed):
    """One replicate at a time: draw speakers, repeat trials, evaluate."""
    codes, uniques = pd.factorize(np.concatenate([speaker_map().of(enroll), speaker_map().of(test)]))
    spk_e, spk_t = codes[: len(scores)], codes[len(scores) :]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        copies = rng.multinomial(len(uniques), np.full(len(uniques), 1.0 / len(uniques)))
        repeat = np.repeat(np.arange(len(scores)), copies[spk_e] * copies[spk_t])
        m = metrics.evaluate(scores[repeat], is_target[repeat])
        out.append((m.eer, m.min_dcf))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    setup = demo_setup(seed=args.seed)
    scores, trials = cosine_scores(setup), setup.trials
    t = time.perf_counter()
    speaker_bootstrap(scores, trials.is_target, trials.enroll, trials.test, args.replicates, args.seed)
    ours = time.perf_counter() - t
    n_base = max(args.replicates // 10, 1)
    t = time.perf_counter()
    base = baseline_bootstrap(scores, trials.is_target, trials.enroll, trials.test, n_base, args.seed)
    base_time = (time.perf_counter() - t) * args.replicates / n_base
    # same replicates, same numbers (the first chunk of sveval's draws equals the baseline's first draws)
    speakers = speaker_map()
    codes, uniques = pd.factorize(np.concatenate([speakers.of(trials.enroll), speakers.of(trials.test)]))
    order = np.argsort(scores, kind="mergesort")
    rng = np.random.default_rng(args.seed)
    copies = rng.multinomial(len(uniques), np.full(len(uniques), 1.0 / len(uniques)), size=1)
    w = copies[:, codes[: len(scores)]] * copies[:, codes[len(scores) :]]
    eer, dcf = weighted_eer_min_dcf(w[:, order].astype(float), trials.is_target[order], 0.01, 1.0, 1.0)
    assert abs(eer[0] - base[0][0]) < 1e-12 and abs(dcf[0] - base[0][1]) < 1e-12
    print(f"bootstrap, {len(trials):,} trials, {len(uniques)} speakers, {args.replicates} replicates:")
    print(f"  sveval   {ours:7.2f} s")
    print(f"  baseline {base_time:7.2f} s (repeat + evaluate per replicate; {n_base} timed, scaled)")
    print(f"  ratio    {base_time / ours:7.1f}x")

    rng = np.random.default_rng(args.seed)
    n = 580_000
    is_target = rng.random(n) < 0.5
    values = np.round(rng.normal(size=n) + 3.3 * is_target, 5)
    t = time.perf_counter()
    curve = det_plot_curve(metrics.SortedScores.of(values, is_target), "thinned")
    write_det_plot([curve], "/tmp/sveval-bench-thinned.png")
    thin = time.perf_counter() - t
    det = metrics.det_curve(values, is_target)
    t = time.perf_counter()
    full = curve_from_rates(
        "full",
        det.p_fa,
        det.p_miss,
        det.eer().value,
        det.min_dcf().min_dcf,
        n_target=int(is_target.sum()),
        n_nontarget=int((~is_target).sum()),
        tolerance=0.0,
    )
    write_det_plot([full], "/tmp/sveval-bench-full.png")
    full_time = time.perf_counter() - t
    print(f"DET plot of {n:,} trials saved as PNG (thinning tolerance {THIN_TOLERANCE} probit units):")
    print(f"  thinned  {thin:7.2f} s ({len(curve.p_fa):,} points drawn)")
    print(f"  full     {full_time:7.2f} s ({len(full.p_fa):,} points drawn, staircase corners only)")
    print(f"  ratio    {full_time / thin:7.1f}x")


if __name__ == "__main__":
    main()
