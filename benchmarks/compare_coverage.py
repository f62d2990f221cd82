"""Do the paired intervals mean what they say? Coverage of `sveval compare`'s 95 % interval and its
rejection rate at a true difference of zero, over simulated evaluations of two synthetic systems whose
trials depend on each other through speaker-level effects (as in VoxCeleb), next to the same figures for a
trial-level (i.i.d.) paired bootstrap, which ignores that dependence and should under-cover. Also the
coverage of the per-system interval (`report --bootstrap`, `sveval.stats.bootstrap.speaker_bootstrap`, the
same
scheme) of system A's true EER.

Model (per evaluation, S speakers with U utterances each; every speaker has target trials, every pair of
its utterances, and nontarget trials, random pairs of different speakers, as in a VoxCeleb list): system
k scores a target trial of speaker a between utterances i and j as
mu_k + u_a + u_a^k + q_i + q_j + q_i^k + q_j^k + c + e^k and a nontarget trial between speakers a and b as
v_a + v_b + v_a^k + v_b^k + c + e^k: speaker effects u, v and utterance effects q shared by both systems
(what pairing removes), their system-specific parts u^k, v^k, q^k (what makes the difference vary with the
speakers drawn), trial noise c that both systems share (they score the same two recordings) and e^k of
their own, all Gaussian (`SD`). Over the population of speakers the target and nontarget scores of system
k are Gaussian, N(mu_k, s_T^2) and N(0, s_N^2), so its true EER is Phi(-mu_k / (s_T + s_N)) and the true
difference is known in closed form: zero when mu_A = mu_B; with mu_A = 4.4 and mu_B = 4.5, 2.99 % against
2.71 %, a difference of -0.28 points (9 % relative, the size of a typical published improvement).

    python benchmarks/compare_coverage.py [--evaluations 1000] [--replicates 200] [--speakers 80]

1,000 evaluations by default: a coverage estimated from 200 is only good to +-3.1 points (two standard
errors at 95 %), as wide as the 93-97 % band it is checked against; from 1,000, +-1.4.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from sveval.stats.bootstrap import speaker_bootstrap, weighted_eer_min_dcf
from sveval.stats.compare import SystemScores, compare

SD = {
    "u": 0.5,  # target speaker effect, shared by the systems
    "u_sys": 0.25,  # target speaker effect of one system
    "q": 0.4,  # utterance quality (target trials), shared
    "q_sys": 0.2,  # utterance quality, one system
    "v": 0.3,  # nontarget speaker effect, shared
    "v_sys": 0.2,  # nontarget speaker effect, one system
    "c": 0.8,  # trial noise shared by the systems (both score the same two recordings)
    "e": 0.5,  # trial noise of one system
}


def true_eer(mu: float) -> float:
    """EER of N(mu, s_T^2) targets against N(0, s_N^2) nontargets: Phi(-mu / (s_T + s_N))."""
    s_t = math.sqrt(
        SD["u"] ** 2
        + SD["u_sys"] ** 2
        + 2 * SD["q"] ** 2
        + 2 * SD["q_sys"] ** 2
        + SD["c"] ** 2
        + SD["e"] ** 2
    )
    s_n = math.sqrt(2 * SD["v"] ** 2 + 2 * SD["v_sys"] ** 2 + SD["c"] ** 2 + SD["e"] ** 2)
    return 0.5 * math.erfc(mu / (s_t + s_n) / math.sqrt(2))


def simulate(rng, mus, n_speakers: int, utts: int, nontargets: int):
    """One evaluation list and the two systems' scores (see the module doc)."""
    a_idx, b_idx = np.triu_indices(utts, 1)
    spk_tar = np.repeat(np.arange(n_speakers), len(a_idx))
    utt_a = spk_tar * utts + np.tile(a_idx, n_speakers)
    utt_b = spk_tar * utts + np.tile(b_idx, n_speakers)
    e = rng.integers(0, n_speakers, nontargets)
    t = (e + rng.integers(1, n_speakers, nontargets)) % n_speakers
    spk_e, spk_t = np.concatenate([spk_tar, e]), np.concatenate([spk_tar, t])
    is_target = spk_e == spk_t
    n_tar = len(spk_tar)

    def normal(name, size):
        return rng.normal(0, SD[name], size)

    u, v, q = normal("u", n_speakers), normal("v", n_speakers), normal("q", n_speakers * utts)
    shared_noise = normal("c", len(is_target))
    systems = []
    for k, mu in enumerate(mus):
        uk, vk, qk = (
            normal("u_sys", n_speakers),
            normal("v_sys", n_speakers),
            normal("q_sys", n_speakers * utts),
        )
        s = shared_noise + normal("e", len(is_target))
        s[:n_tar] += mu + u[spk_tar] + uk[spk_tar] + q[utt_a] + q[utt_b] + qk[utt_a] + qk[utt_b]
        s[n_tar:] += v[e] + v[t] + vk[e] + vk[t]
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
    parser.add_argument("--evaluations", type=int, default=1000)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--speakers", type=int, default=80)
    parser.add_argument("--utterances", type=int, default=8)
    parser.add_argument("--nontargets", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    names = ("paired speaker (compare)", "trial-level i.i.d.")
    for label, mus in (("zero", (4.4, 4.4)), ("non-zero", (4.4, 4.5))):
        truth = 100 * (true_eer(mus[1]) - true_eer(mus[0]))
        hits, rejects = {k: [] for k in names}, {k: [] for k in names}
        per_system, estimates = [], []
        for i in range(args.evaluations):
            systems, tar, spk_e, spk_t = simulate(rng, mus, args.speakers, args.utterances, args.nontargets)
            r = compare(systems, tar, spk_e, spk_t, n=args.replicates, seed=i, dcfs=((0.01, 1.0, 1.0),))
            eer = r.comparisons[0].metrics[0]
            estimates.append(eer.difference)
            hits[names[0]].append(eer.ci[0] <= truth <= eer.ci[1])
            rejects[names[0]].append(eer.p_value < 0.05)
            lo, hi, p = iid_interval(rng, systems, tar, args.replicates)
            hits[names[1]].append(lo <= truth <= hi)
            rejects[names[1]].append(p < 0.05)
            if label == "zero":
                ids = np.array([f"s{x}/u" for x in range(args.speakers)], dtype=object)
                ci = speaker_bootstrap(systems[0].scores, tar, ids[spk_e], ids[spk_t], args.replicates, i)
                per_system.append(ci.eer_low <= true_eer(mus[0]) <= ci.eer_high)
        print(
            f"true EER difference {label}: {truth:+.3f} points (mean estimate {np.mean(estimates):+.3f}, "
            f"sd {np.std(estimates):.3f}; {args.evaluations} evaluations, {args.speakers} speakers, "
            f"{len(tar):,} trials, {args.replicates} replicates)"
        )
        se = 100 * math.sqrt(0.95 * 0.05 / args.evaluations)
        for k in names:
            cover = 100 * np.mean(hits[k])
            line = f"  {k:26s} coverage of the 95 % interval {cover:5.1f} % (+-{2 * se:.1f} by chance)"
            what = "rejection rate" if label == "zero" else "power"
            line += f", {what} at p < 0.05: {100 * np.mean(rejects[k]):4.1f} %"
            if k == names[0]:
                line += " (targets: 93-97 %" + (", 3-7 %)" if label == "zero" else ")")
            print(line)
        if per_system:
            print(
                f"  per-system interval (report --bootstrap) of A's EER {100 * true_eer(mus[0]):.2f} %: "
                f"coverage {100 * np.mean(per_system):5.1f} %"
            )
    print(f"time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
