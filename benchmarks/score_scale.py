"""`sveval score` on an all-versus-all trial list of tens of millions of trials: peak memory against the
4 GB bound of issue 14, and time.

    python benchmarks/score_scale.py [--trials 60000000] [--workdir /tmp/sveval-score-scale]

Writes (once; reused) under --workdir, never the repository: embeddings.npz of U = ceil(sqrt(--trials))
utterances of 40 speakers (256-dim float32, speaker centre + noise) and a Kaldi list of the first --trials
pairs of all U x U (enroll, test) pairs, target when the speakers match (about 3.4 GB for 60 M trials). Then
runs, in a fresh process, `sveval score --embeddings E --trials LIST --norm cos --no-plots --out DIR` (the
list read and fingerprinted, every pair located, cosine scored, the 60 M-line score file written in
chunks, EER and minDCF with the tie check, results.json and report.md) and prints its wall time and peak
resident memory (wait4), with the ratio to 4 GB. There is no naive baseline to hold up: a dict keyed by
(enroll, test) for 60 M trials alone outgrows the machine.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BOUND_GB = 4.0
BLOCK = 2_000_000


def generate(folder: Path, n_trials: int) -> tuple[Path, Path]:
    from sveval.io.score_text import id_byte_table
    from sveval.io.trials import canonical_chunks

    folder.mkdir(parents=True, exist_ok=True)
    embeddings, trials = folder / "embeddings.npz", folder / f"all_vs_all_{n_trials}.kaldi"
    if embeddings.exists() and trials.exists():
        return embeddings, trials
    rng = np.random.default_rng(0)
    n_utts = math.isqrt(n_trials - 1) + 1
    speaker = rng.integers(0, 40, n_utts)
    ids = np.array([f"id{s:05d}/{rng.integers(0, 2**40):011x}/{u:05d}.wav" for u, s in enumerate(speaker)])
    centres = rng.standard_normal((40, 256)).astype(np.float32)
    vectors = centres[speaker] + 1.5 * rng.standard_normal((n_utts, 256)).astype(np.float32)
    np.savez(embeddings, ids=ids, vectors=vectors)
    table = id_byte_table(ids.tolist())
    with open(trials.with_suffix(".partial"), "wb") as out:
        for start in range(0, n_trials, BLOCK):
            pair = np.arange(start, min(start + BLOCK, n_trials))
            enroll, test = np.divmod(pair, n_utts)
            out.writelines(canonical_chunks(table, enroll, test, speaker[enroll] == speaker[test]))
    trials.with_suffix(".partial").rename(trials)
    return embeddings, trials


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=60_000_000, help="Trials (default 60,000,000).")
    parser.add_argument("--workdir", default="/tmp/sveval-score-scale", help="Where generated files go.")
    args = parser.parse_args()
    folder = Path(args.workdir)
    start = time.perf_counter()
    embeddings, trials = generate(folder, args.trials)
    size = trials.stat().st_size / 1e9
    print(
        f"{args.trials:,}-trial all-versus-all list ({size:.1f} GB), "
        f"ready in {time.perf_counter() - start:.0f} s"
    )
    command = [
        *(sys.executable, "-c", "from sveval.cli.main import main; main()"),
        *("score", "--quiet", "--embeddings", str(embeddings), "--trials", str(trials)),
        *("--norm", "cos", "--no-plots", "--out", str(folder / "scores")),
    ]
    start = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        sys.exit("sveval score failed")
    peak = usage.ru_maxrss / 1e6
    print(
        f"sveval score --norm cos: {wall:.1f} s wall, "
        f"peak RSS {peak:.2f} GB = {peak / BOUND_GB:.2f}x the 4 GB bound"
    )


if __name__ == "__main__":
    main()
