"""Do the paired intervals mean what they say? Coverage of `sveval compare`'s 95 % interval and its
rejection rate at a true difference of zero, over simulated evaluations of two synthetic systems whose
trials depend on each other through speaker-level effects (as in VoxCeleb), next to the same figures for a
trial-level (i.i.d.) paired bootstrap, which ignores that dependence and should under-cover.

Model (per evaluation, S speakers with U utterances each; every within-speaker pair is a target trial,
nontarget trials join random pairs of different speakers): system k scores a target trial of speaker a
as mu_k + u_a + u_a^k + e and a nontarget trial between a and b as v_a + v_b + v_a^k + v_b^k + e, with
speaker effects u, v shared by both systems (what pairing removes), system-specific speaker effects u^k,
v^k (what makes the difference vary with the speakers drawn) and trial noise e, all Gaussian. Over the
population of speakers the target and nontarget scores of system k are Gaussian, N(mu_k, s_T^2) and
N(0, s_N^2), so its true EER is Phi(-mu_k / (s_T + s_N)) and the true difference is known in closed form:
zero when mu_A = mu_B, and small when they differ.

    python benchmarks/compare_coverage.py [--evaluations 200] [--replicates 500] [--speakers 60]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from sveval.analysis import weighted_eer_min_dcf
from sveval.compare import SystemScores, compare

SD = {"u": 0.5, "v": 0.25, "u_sys": 0.35, "v_sys": 0.18, "e": 1.0}


def true_eer(mu: float) -> float:
    s_t = math.sqrt(SD["u"] ** 2 + SD["u_sys"] ** 2 + SD["e"] ** 2)
    s_n = math.sqrt(2 * SD["v"] ** 2 + 2 * SD["v_sys"] ** 2 + SD["e"] ** 2)
    return 0.5 * math.erfc(mu / (s_t + s_n) / math.sqrt(2))


def simulate(rng, mus, n_speakers: int, utts: int, nontargets: int):
    a_idx, b_idx = np.triu_indices(utts, 1)
    spk_tar = np.repeat(np.arange(n_speakers), len(a_idx))
    e = rng.integers(0, n_speakers, nontargets)
    t = (e + rng.integers(1, n_speakers, nontargets)) % n_speakers
    spk_e, spk_t = np.concatenate([spk_tar, e]), np.concatenate([spk_tar, t])
    is_target = spk_e == spk_t
    u, v = rng.normal(0, SD["u"], n_speakers), rng.normal(0, SD["v"], n_speakers)
    systems = []
    for k, mu in enumerate(mus):
        uk, vk = rng.normal(0, SD["u_sys"], n_speakers), rng.normal(0, SD["v_sys"], n_speakers)
        target = mu + u[spk_e] + uk[spk_e]
        non = v[spk_e] + v[spk_t] + vk[spk_e] + vk[spk_t]
        s = np.where(is_target, target, non) + rng.normal(0, SD["e"], len(is_target))
        systems.append(SystemScores("AB"[k], s))
    return systems, is_target, spk_e, spk_t


def iid_interval(rng, systems, is_target, n: int) -> tuple[float, float, float]:
    """The same percentile interval and p-value, resampling trials instead of speakers (paired)."""
    weights = rng.multinomial(len(is_target), np.full(len(is_target), 1.0 / len(is_target)), size=n)
    eers = []
    for s in systems:
        order = np.argsort(s.scores, kind="mergesort")
        eer, _ = weighted_eer_min_dcf(weights[:, order].astype(float), is_target[order], 0.01, 1.0, 1.0)
        eers.append(100 * eer)
    d = eers[1] - eers[0]
    lo, hi = np.percentile(d, [2.5, 97.5])
    return lo, hi, min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluations", type=int, default=200)
    parser.add_argument("--replicates", type=int, default=500)
    parser.add_argument("--speakers", type=int, default=60)
    parser.add_argument("--utterances", type=int, default=6)
    parser.add_argument("--nontargets", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    for label, mus in (("zero", (2.0, 2.0)), ("non-zero", (2.0, 2.15))):
        truth = 100 * (true_eer(mus[1]) - true_eer(mus[0]))
        hits = {"speaker (sveval compare)": [], "trial-level i.i.d.": []}
        rejects = {k: [] for k in hits}
        for i in range(args.evaluations):
            systems, tar, spk_e, spk_t = simulate(rng, mus, args.speakers, args.utterances, args.nontargets)
            r = compare(systems, tar, spk_e, spk_t, n=args.replicates, seed=i, dcfs=((0.01, 1.0, 1.0),))
            eer = r.comparisons[0].metrics[0]
            hits["speaker (sveval compare)"].append(eer.ci[0] <= truth <= eer.ci[1])
            rejects["speaker (sveval compare)"].append(eer.p_value < 0.05)
            lo, hi, p = iid_interval(rng, systems, tar, args.replicates)
            hits["trial-level i.i.d."].append(lo <= truth <= hi)
            rejects["trial-level i.i.d."].append(p < 0.05)
        print(
            f"true EER difference {label}: {truth:+.3f} points ({args.evaluations} evaluations, "
            f"{args.speakers} speakers, {len(tar):,} trials, {args.replicates} replicates)"
        )
        for k in hits:
            cover = 100 * np.mean(hits[k])
            se = 100 * math.sqrt(0.95 * 0.05 / args.evaluations)
            line = f"  {k:26s} coverage of the 95 % interval {cover:5.1f} % (+-{2 * se:.1f} by chance)"
            if label == "zero":
                line += f", rejection rate at p < 0.05: {100 * np.mean(rejects[k]):4.1f} %"
            else:
                line += f", power at p < 0.05: {100 * np.mean(rejects[k]):4.1f} %"
            print(line)
    print(f"time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
