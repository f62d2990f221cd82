"""Speed of `sveval.stats.compare.compare`: three systems on a Vox1-H-sized list (550,894 trials over the
1,251
VoxCeleb1 speakers: 275,488 target, 275,406 nontarget, nontargets within groups of about 30 speakers, as
Vox1-H pairs speakers of one nationality and gender), paired speaker-clustered bootstrap, 1,000 replicates.
Target: at most 60 s on the 2-core machine. A replicate re-weights each system's runs; the scores are
sorted once per system, before the replicates (`sveval.stats.bootstrap.sorted_runs`).

    python benchmarks/bench_compare.py [--replicates 1000] [--trials 550894]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sveval.stats.compare import SystemScores, compare


def vox1_h_like(n_trials: int, n_speakers: int = 1251, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_tar = n_trials * 275_488 // 550_894
    group = rng.integers(0, max(1, n_speakers // 30), n_speakers)
    spk_e = rng.integers(0, n_speakers, n_trials)
    spk_t = spk_e.copy()
    non = np.arange(n_tar, n_trials)  # nontargets: another speaker of the same group
    members = [np.flatnonzero(group == g) for g in range(group.max() + 1)]
    pick = rng.random(len(non))
    for g, m in enumerate(members):
        rows = non[group[spk_e[non]] == g]
        choice = m[(pick[rows - n_tar] * len(m)).astype(int)]
        same = choice == spk_e[rows]
        choice[same] = m[(np.searchsorted(m, choice[same]) + 1) % len(m)]
        spk_t[rows] = choice
    is_target = spk_e == spk_t
    effect = rng.normal(0, 0.5, (3, n_speakers))
    systems = []
    for k in range(3):
        s = (
            rng.normal(size=n_trials)
            + 3.2 * is_target
            + effect[k, spk_e] * is_target
            + effect[k, spk_t] * 0.3
        )
        systems.append(SystemScores(f"system{k}", np.round(s, 5)))
    return systems, is_target, spk_e, spk_t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=550_894)
    args = parser.parse_args()
    systems, is_target, spk_e, spk_t = vox1_h_like(args.trials)
    print(
        f"list: {len(is_target):,} trials ({is_target.sum():,} target), "
        f"{len(np.unique(np.concatenate([spk_e, spk_t]))):,} speakers, "
        f"{len(np.unique(spk_e.astype(np.int64) * 2000 + spk_t)):,} speaker pairs"
    )
    start = time.perf_counter()
    result = compare(systems, is_target, spk_e, spk_t, n=args.replicates, seed=0, dcfs=((0.01, 1.0, 1.0),))
    wall = time.perf_counter() - start
    for c in result.comparisons:
        eer = c.metrics[0]
        print(
            f"{c.system} - {c.baseline}: EER {eer.difference:+.3f} points, 95 % CI [{eer.ci[0]:+.3f}, "
            f"{eer.ci[1]:+.3f}], p {eer.p_value:.3f}"
        )
    print(f"compare, 3 systems, {args.replicates:,} replicates: {wall:.1f} s (target <= 60 s)")


if __name__ == "__main__":
    main()
