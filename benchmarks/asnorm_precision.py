"""AS-norm precision of `--cohort-precision float32` (the default: fixed-point products) and float64 against a
float64 reference, for top-N from 1 to 1,000, and the time of the cohort statistics.

    python benchmarks/asnorm_precision.py [--eval 4708] [--trials 37611] [--cohort 5994] [--dim 256]
                                          [--time-rows 16384] [--seed 0]

Data: synthetic, Vox1-O-sized by default: 4,708 eval utterances of 40 speakers and a 37,611-trial list
over them (half same-speaker pairs), a 5,994-speaker cohort (speaker means of 5 utterances), 256 dimensions,
embeddings = speaker centre + 1.8 x noise + a common offset (benchmarks/score_vox1.py's recipe), through
`sveval.scoring.run.score_lists` as `sveval score` runs them (mean vector of the cohort, float64 cosine).

Reference: the same unit rows, float64 products (numpy matmul), each row sorted in full, mean and population
std of its N highest values in float64; normalised score 0.5((s-mu_e)/sigma_e + (s-mu_t)/sigma_t).
Per N the table gives, for each precision: max |mu - mu_ref| and |sigma - sigma_ref| over the utterances,
max |score - score_ref| over the trials, and the number of lines whose printed score (%.5f) differs. At N = 1
sigma is 0 (AS-norm is undefined, `--top-n 1` is refused): only mu is compared.

Timing: sveval.scoring.cosine.cohort_statistics (top-300, one worker thread per core with one BLAS thread
each,
as `score` runs it) on --time-rows utterances, fixed point against float64 products, with the bare float32
and float64 products of the same rows measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sveval.scoring import cosine as scoring  # noqa: E402
from sveval.scoring.cosine import SNORM  # noqa: E402

TOP_NS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 300, 500, 1000)


def make_data(n_eval: int, n_trials: int, n_cohort: int, dim: int, seed: int):
    """(unit eval rows, unit cohort rows, enroll, test, float64 cosine) as score_lists makes them."""
    rng = np.random.default_rng(seed)
    offset = rng.standard_normal(dim) * 2
    spk = rng.integers(0, 40, n_eval)
    centres = rng.standard_normal((40, dim))
    evals = (centres[spk] + rng.standard_normal((n_eval, dim)) * 1.8 + offset).astype(np.float32)
    c_centres = rng.standard_normal((n_cohort, dim))
    utts = (np.repeat(c_centres, 5, axis=0) + rng.standard_normal((n_cohort * 5, dim)) * 1.8 + offset).astype(
        np.float32
    )
    mean = utts.mean(axis=0, dtype=np.float64)
    speaker_means = utts.reshape(n_cohort, 5, dim).astype(np.float64).mean(axis=1) - mean
    cohort = scoring.normalise_rows(speaker_means)
    queries = scoring.normalise_rows(evals.astype(np.float64) - mean)
    pairs = set()
    while len(pairs) < n_trials:
        a = int(rng.integers(n_eval))
        same = np.flatnonzero(spk == spk[a])
        b = int(rng.choice(same)) if len(pairs) % 2 else int(rng.integers(n_eval))
        if a != b:
            pairs.add((a, b))
    enroll, test = np.array(sorted(pairs)).T
    cos = np.einsum("ij,ij->i", queries[enroll], queries[test])
    return queries, cohort, enroll, test, cos


def reference(queries: np.ndarray, cohort: np.ndarray, top_ns) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """float64 products, full descending sort per row, two-pass float64 mean/std of the N highest."""
    out = {n: (np.empty(len(queries)), np.empty(len(queries))) for n in top_ns}
    for lo in range(0, len(queries), 1024):
        ranked = -np.sort(-(queries[lo : lo + 1024] @ cohort.T), axis=1)
        for n in top_ns:
            top = ranked[:, :n]
            mean = top.mean(axis=1)
            out[n][0][lo : lo + 1024] = mean
            out[n][1][lo : lo + 1024] = np.sqrt(((top - mean[:, None]) ** 2).mean(axis=1))
    return out


def normalised(cos, enroll, test, mean, std):
    return 0.5 * ((cos - mean[enroll]) / std[enroll] + (cos - mean[test]) / std[test])


def printed(values) -> np.ndarray:
    return np.array([f"{v:.5f}" for v in values])


def precision_table(args) -> None:
    queries, cohort, enroll, test, cos = make_data(args.eval, args.trials, args.cohort, args.dim, args.seed)
    ref = reference(queries, cohort, TOP_NS)
    bound = scoring.fixed_point_error(args.dim)
    print(
        f"{len(queries):,} eval utterances, {len(cos):,} trials, {len(cohort):,} cohort speakers, "
        f"dim {args.dim}; "
        f"fixed-point product error bound {bound:.2e}"
    )
    head = "| top-N | precision | max abs mu err | max abs sigma err | max abs score err | lines differing |"
    print(head + "\n|---|---|---|---|---|---|")
    for n in TOP_NS:
        mu_ref, sd_ref = ref[n]
        s_ref = printed(normalised(cos, enroll, test, mu_ref, sd_ref)) if n > 1 else None
        v_ref = normalised(cos, enroll, test, mu_ref, sd_ref) if n > 1 else None
        for precision in ("float32", "float64"):
            stats = scoring.cohort_statistics(queries, cohort, (n,), "exact", np.dtype(precision))[n]
            mu_err = np.abs(stats.mean - mu_ref).max()
            sd_err = np.abs(stats.std - sd_ref).max()
            if n == 1:
                cells = "– (sigma = 0) | –"
            else:
                values = normalised(cos, enroll, test, stats.mean, stats.std)
                differ = int((printed(values) != s_ref).sum())
                cells = f"{np.abs(values - v_ref).max():.1e} | {differ} of {len(cos):,}"
            print(f"| {n} | {precision} | {mu_err:.1e} | {sd_err:.1e} | {cells} |")


def timing(args) -> None:
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(args.seed + 1)
    queries = scoring.normalise_rows(rng.standard_normal((args.time_rows, args.dim)))
    cohort = scoring.normalise_rows(rng.standard_normal((args.cohort, args.dim)))
    times = {}
    for precision in ("float32", "float64", "float32", "float64"):  # twice each, best kept
        t = time.perf_counter()
        scoring.cohort_statistics(queries, cohort, (300, SNORM), "exact", np.dtype(precision))
        times[precision] = min(times.get(precision, np.inf), time.perf_counter() - t)
    floors = {}
    with threadpool_limits(1, user_api="blas"):
        for dtype in (np.float32, np.float64):
            q, c_t = queries.astype(dtype), np.ascontiguousarray(cohort.T.astype(dtype))
            t = time.perf_counter()
            for lo in range(0, len(q), 2048):
                q[lo : lo + 2048] @ c_t
            floors[np.dtype(dtype).name] = time.perf_counter() - t
    print(
        f"\ncohort statistics (top-300 + s-norm), {args.time_rows:,} utterances x {args.cohort:,} speakers: "
        f"fixed point (float32, default) {times['float32']:.2f} s, float64 {times['float64']:.2f} s "
        f"(ratio {times['float32'] / times['float64']:.2f}); bare products on one BLAS thread: float32 "
        f"{floors['float32']:.2f} s, float64 {floors['float64']:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--eval", type=int, default=4708)
    parser.add_argument("--trials", type=int, default=37611)
    parser.add_argument("--cohort", type=int, default=5994)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--time-rows", type=int, default=16384)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    precision_table(args)
    timing(args)


if __name__ == "__main__":
    main()
