"""Time `sveval score` end to end on a synthetic Vox1-sized set, against WeSpeaker-style per-trial scoring.

    python benchmarks/score_vox1.py [--workdir DIR] [--cohort-utts 5] [--baseline-trials 20000]

The set is made on the fly: 153,516 eval utterances of 1,251 speakers, 256-dim float32 Kaldi ark/scp
(WeSpeaker's exp/embeddings/vox1 layout); a cohort of 5,994 speakers x --cohort-utts utterances
(exp/embeddings/vox2_dev); O/E/H-sized VoxCeleb-format lists of 37,611 / 579,818 / 550,894 trials
(O over 4,708 utterances of 40 speakers, E and H over all), half of them target trials.

Timed runs (each `sveval score` in a fresh subprocess; wall clock and its peak RSS, which covers reading
the embeddings and trial lists, scoring, metrics and writing every file):
  1. O + E + H x cos, snorm, asnorm300, --compat exact (the default)
  2. E only, cos + asnorm300 (what the WeSpeaker baseline does)
  3. O + E + H x all three, --compat wespeaker
Baseline, in the same run: WeSpeaker's score.py (per-trial sklearn cosine_similarity) and score_norm.py
(full cohort score matrix, np.sort, per-trial loop) on the E-sized list. Both are run on a subset (per-trial
cosine on --baseline-trials trials; AS-norm statistics on 10,000 utterances and its per-trial loop on
--baseline-trials trials) and extrapolated linearly to the full list; the output says so.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_SPEAKERS, N_UTTS, DIM, N_COHORT = 1251, 153516, 256, 5994
NOISE = 1.8  # within-speaker spread: cosine EERs of about 3 %
LISTS = {"vox1_O": 37611, "vox1_E": 579818, "vox1_H": 550894}


def make_set(root: Path, cohort_utts: int, seed: int = 0) -> dict[str, Path]:
    import kaldiio

    rng = np.random.default_rng(seed)
    speaker = np.sort(rng.integers(0, N_SPEAKERS, N_UTTS))
    ids = np.array([f"id1{s:04d}/{rng.integers(10**9):011d}/{i:05d}.wav" for i, s in enumerate(speaker)])
    centres = rng.standard_normal((N_SPEAKERS, DIM)).astype(np.float32)
    offset = rng.standard_normal(DIM).astype(np.float32) * 2
    vectors = centres[speaker] + rng.standard_normal((N_UTTS, DIM)).astype(np.float32) * NOISE + offset
    paths = {}
    for name, keys, vecs in [("vox1", ids, vectors), ("vox2_dev", *_cohort(rng, cohort_utts, offset))]:
        folder = root / "exp" / "embeddings" / name
        folder.mkdir(parents=True, exist_ok=True)
        with kaldiio.WriteHelper(f"ark,scp:{folder}/xvector.ark,{folder}/xvector.scp") as writer:
            for key, vec in zip(keys, vecs):
                writer(str(key), vec)
        paths[name] = folder / "xvector.scp"
    o_speakers = rng.choice(N_SPEAKERS, 40, replace=False)
    o_pool = np.flatnonzero(np.isin(speaker, o_speakers))[:4708]
    for name, size in LISTS.items():
        pool = o_pool if name == "vox1_O" else np.arange(N_UTTS)
        paths[name] = root / f"{name}.txt"
        paths[name].write_text(_trials(rng, ids, speaker, pool, size))
    return paths


def existing_set(root: Path) -> dict[str, Path] | None:
    """A set an earlier run left in --workdir (same layout), so that repeated timings skip the setup."""
    paths = {n: root / f"{n}.txt" for n in LISTS}
    for name in ("vox1", "vox2_dev"):
        paths[name] = root / "exp" / "embeddings" / name / "xvector.scp"
    return paths if all(p.is_file() for p in paths.values()) else None


def _cohort(rng, per_speaker: int, offset):
    n = N_COHORT * per_speaker
    speaker = rng.permutation(np.repeat(np.arange(N_COHORT), per_speaker))
    centres = rng.standard_normal((N_COHORT, DIM)).astype(np.float32)
    ids = np.array([f"id0{s:04d}/{rng.integers(10**9):011d}/{i:05d}.wav" for i, s in enumerate(speaker)])
    return ids, centres[speaker] + rng.standard_normal((n, DIM)).astype(np.float32) * NOISE + offset


def _trials(rng, ids, speaker, pool, size) -> str:
    by_speaker = {s: pool[speaker[pool] == s] for s in np.unique(speaker[pool])}
    pairs = set()
    while len(pairs) < size:
        a = rng.choice(pool, size)
        same = np.array([rng.choice(by_speaker[speaker[x]]) for x in a[: size // 2]])
        b = np.concatenate([same, rng.choice(pool, size - size // 2)])
        for x, y in zip(a, b):
            if x != y and len(pairs) < size:
                pairs.add((int(x), int(y)))
    pairs = sorted(pairs)
    return "".join(f"{int(speaker[x] == speaker[y])} {ids[x]} {ids[y]}\n" for x, y in pairs)


def run_sveval(args: list[str], label: str) -> tuple[float, float, float]:
    """Run `sveval score ...` in a fresh process: wall seconds, that process's peak RSS in GB and its CPU
    seconds (user + system, with the plot workers it waited for: on a shared machine, the figure that
    the load changes least)."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", "from sveval.cli.main import main; main()", "score", "--quiet", *args],
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS
        wall = time.perf_counter() - t
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode:
            sys.exit(f"{label} failed:\n{err.read()}")
        table = out.read().strip().splitlines()
    rss = usage.ru_maxrss / 1e6  # kB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    print(f"  {label}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:.2f} GB")
    print("    " + "\n    ".join(table[1:-1]))
    return wall, rss, cpu


def wespeaker_baseline(paths: dict, n_trials: int) -> float:
    """Seconds WeSpeaker's score.py + score_norm.py (asnorm300) would need on the E list, extrapolated."""
    import kaldiio
    from sklearn.metrics.pairwise import cosine_similarity

    t0 = time.perf_counter()
    mean = None
    for _, vec in kaldiio.load_scp_sequential(str(paths["vox2_dev"])):
        mean = np.zeros_like(vec) if mean is None else mean
        mean += vec
    emb = {u: v - mean for u, v in kaldiio.load_scp_sequential(str(paths["vox1"]))}
    load = time.perf_counter() - t0
    lines = paths["vox1_E"].read_text().splitlines()
    total = len(lines)
    t0 = time.perf_counter()
    scored = []
    for line in lines[:n_trials]:
        label, e, t = line.split()
        s = cosine_similarity(emb[e].reshape(1, -1), emb[t].reshape(1, -1))[0][0]
        scored.append("{} {} {:.5f} {}".format(e, t, s, "target" if label == "1" else "nontarget"))
    cos_loop = (time.perf_counter() - t0) * total / n_trials
    # score_norm.py: speaker means, then the full (unique utterances x cohort) matrix, sorted row by row
    spk = {}
    for u, v in kaldiio.load_scp_sequential(str(paths["vox2_dev"])):
        spk.setdefault(u.split("/")[0], []).append(v)
    cohort = np.array([np.mean(v, axis=0) for v in spk.values()]) - mean
    utts = sorted(emb)[:10000]
    t0 = time.perf_counter()
    x = np.array([emb[u] for u in utts])
    x = x / np.sqrt(np.sum(x**2, axis=1, keepdims=True))
    c = cohort / np.sqrt(np.sum(cohort**2, axis=1, keepdims=True))
    top = np.sort(np.matmul(x, c.T), axis=1)[:, ::-1][:, :300]
    mu, sd = np.mean(top, axis=1), np.std(top, axis=1)
    unique = len({w for line in lines for w in line.split()[1:]})
    stats = (time.perf_counter() - t0) * unique / len(utts) * 2  # enroll and test sets separately
    t0 = time.perf_counter()
    out = []
    for line in scored:
        f = line.split()
        s = float(f[2])
        normed = 0.5 * ((s - mu[0]) / sd[0] + (s - mu[1]) / sd[1])
        out.append(
            "{} {} {:.5f} {} {:.4f} {:.4f} {:.4f} {:.4f}".format(
                f[0], f[1], normed, f[3], np.linalg.norm(emb[f[0]]), np.linalg.norm(emb[f[1]]), mu[0], mu[1]
            )
        )
    norm_loop = (time.perf_counter() - t0) * total / n_trials
    est = load * 2 + cos_loop + stats + norm_loop
    print(
        f"  WeSpeaker-style baseline, E list, cos + asnorm300: {est:.0f} s (extrapolated: per-trial cosine "
        f"{cos_loop:.0f} s from {n_trials:,} of {total:,} trials; cohort statistics {stats:.0f} s from "
        f"10,000 of {unique:,} utterances x2 (enroll and test sets); normalisation loop "
        f"{norm_loop:.0f} s from {n_trials:,} trials; reading embeddings {2 * load:.0f} s, once per "
        f"script). Its full score matrix would hold {unique * N_COHORT * 4 / 1e9:.1f} GB of float32 per set."
    )
    return est


def product_floor(paths: dict) -> float:
    """Seconds of the float32 products alone (every eval utterance x 5,994 cohort speakers, 2,048-row chunks):
    the arithmetic floor of AS-norm, timed in the same run so that a loaded machine shows in both."""
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((N_UTTS, DIM)).astype(np.float32)
    cohort_t = np.ascontiguousarray(rng.standard_normal((N_COHORT, DIM)).astype(np.float32).T)
    t = time.perf_counter()
    for start in range(0, N_UTTS, 2048):
        queries[start : start + 2048] @ cohort_t
    return time.perf_counter() - t


def breakdown(paths: dict, root: Path) -> None:
    """The default run again, in this process, stage by stage."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sveval.io.catalog import load_trials
    from sveval.io.embeddings import read_embeddings
    from sveval.io.score_folder import write_run_record, write_score_folder
    from sveval.scoring.run import Cohort, ScoreOptions, score_lists
    from sveval.speakers import speaker_map

    stages = []
    t = time.perf_counter()
    evaluation = read_embeddings(paths["vox1"])
    cohort_emb = read_embeddings(paths["vox2_dev"])
    cohort = Cohort("vox2_dev", cohort_emb, speaker_map().of(cohort_emb.ids, "cohort"))
    stages.append(("read embeddings", time.perf_counter() - t))
    t = time.perf_counter()
    lists = [load_trials(paths[n]) for n in LISTS]
    stages.append(("read + check trial lists", time.perf_counter() - t))
    t = time.perf_counter()
    run = score_lists(evaluation, lists, ScoreOptions(), cohort=cohort)
    stages.append(("score + metrics", time.perf_counter() - t))
    t = time.perf_counter()
    write_run_record(root / "breakdown", write_score_folder(run, root / "breakdown"))
    stages.append(("write 9 score files, 3 result files, results.json", time.perf_counter() - t))
    print("  stages of the default run (in-process): " + "; ".join(f"{n} {s:.1f} s" for n, s in stages))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workdir", help="keep (or reuse) the synthetic set here (default: a temporary folder)"
    )
    parser.add_argument("--cohort-utts", type=int, default=5, help="utterances per cohort speaker")
    parser.add_argument("--baseline-trials", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each sveval timing (best is kept)")
    args = parser.parse_args()
    root = Path(args.workdir or tempfile.mkdtemp(prefix="sveval-bench-"))
    t = time.perf_counter()
    paths = existing_set(root) or make_set(root, args.cohort_utts)
    print(
        f"synthetic set in {root} ({time.perf_counter() - t:.0f} s): {N_UTTS:,} eval utterances, "
        f"{N_COHORT:,} cohort speakers x {args.cohort_utts}, dim {DIM}"
    )
    exp = root / "exp"
    lists = [str(paths[n]) for n in LISTS]
    trials = [a for p in lists for a in ("--trials", p)]
    floors = [product_floor(paths)]
    print(f"float32 cohort products alone (153,516 x 5,994 x 256, 2 BLAS threads): {floors[0]:.1f} s")
    print("sveval score (best of --repeat runs each):")
    # Issue 3's targets are for scoring (score files, result files, results.json, report.md): --no-plots.
    # The twelve DET plots that `sveval score` draws by default are timed separately below.
    full_args = ["--exp-dir", str(exp), *trials, "--out", str(root / "exact"), "--no-plots"]
    full, rss, _ = min(
        run_sveval(full_args, "O+E+H x 3 methods, exact, --no-plots") for _ in range(args.repeat)
    )
    plots_args = [a for a in full_args if a != "--no-plots"]
    with_plots, _, _ = run_sveval(plots_args, "O+E+H x 3 methods, exact, with the default DET plots")
    e_args = ["--exp-dir", str(exp), "--trials", str(paths["vox1_E"]), "--norm", "cos,asnorm", "--no-plots"]
    e_only, _, _ = min(
        run_sveval([*e_args, "--out", str(root / "e")], "E x cos+asnorm300, exact")
        for _ in range(args.repeat)
    )
    ws_args = [
        "--exp-dir",
        str(exp),
        *trials,
        "--compat",
        "wespeaker",
        "--out",
        str(root / "ws"),
        "--no-plots",
    ]
    run_sveval(ws_args, "O+E+H x 3 methods, --compat wespeaker")
    baseline = wespeaker_baseline(paths, args.baseline_trials)
    breakdown(paths, root)
    floors.append(product_floor(paths))
    floor = min(floors)
    print(f"float32 cohort products alone, again: {floors[1]:.1f} s")
    print("summary:")
    print(
        f"  O+E+H x 3 methods: {full:.1f} s (target <= 15 s; {full / floor:.1f}x the float32 product floor "
        f"of this run: the machine's speed at the time), peak RSS {rss:.2f} GB (target <= 1.5 GB); "
        f"with the 12 default DET plots {with_plots:.1f} s"
    )
    print(
        f"  E cos+asnorm300: sveval {e_only:.1f} s vs WeSpeaker-style {baseline:.0f} s: "
        f"{baseline / e_only:.0f}x (target >= 20x; issue 14: >= 25x with every output, see score_cohort.py)"
    )


if __name__ == "__main__":
    main()
