"""`sveval score` with a VoxCeleb2-dev-sized cohort (peak memory), and on a Vox1-E-sized list against the
WeSpeaker-style per-trial baseline of score_vox1.py (time ratio).

    python benchmarks/score_cohort.py [--workdir /tmp/sveval-cohort] [--cohort-utts 1092009] [--skip-e]
                                      [--wespeaker DIR [--wespeaker-python PY] [--rerun-wespeaker]]

1. Cohort memory. A synthetic cohort of --cohort-utts utterances (default 1,092,009, VoxCeleb2-dev's count)
   of 5,994 speakers, 256-dim float32, one Kaldi ark + scp sorted by id like WeSpeaker's
   exp/embeddings/vox2_dev (about 1.1 GB on disk: mind /tmp), against a small eval set (5,000 utterances,
   40,000 trials). Timed in fresh processes, peak RSS from wait4:
     - `sveval score` cos + snorm + asnorm300, exact mode, every output but the plots (the cohort is
       streamed into per-speaker sums, 65,536 utterances at a time);
     - the same with --compat wespeaker;
     - baseline: the cohort read whole (`read_embeddings`, what `score` did before), nothing else.
   Target: `score` under 1.5 GB.
2. Vox1-E. score_vox1.py's synthetic Vox1 set (153,516 eval utterances, 5,994 cohort speakers x 5; made
   once under WORKDIR/vox1), the 579,818-trial E list, cos + asnorm300, every output (score files, result
   files, results.json, DET plots, report.md), against WeSpeaker's own scripts run whole in the same run,
   as its examples/voxceleb/v2/local/score.sh and score_norm.sh run them: wespeaker/bin/score.py (cohort
   mean vector + per-trial cosine), tools/vector_mean.py (speaker means of the cohort) and
   wespeaker/bin/score_norm.py (asnorm300), each in a fresh process, on the whole list. --wespeaker DIR
   is a WeSpeaker checkout kept outside this repository; --wespeaker-python the interpreter with its
   scoring dependencies (numpy, kaldiio, fire, tqdm, scikit-learn, and torch + PyYAML, which
   wespeaker/utils/utils.py imports). The scripts are run unchanged; only the package's __init__, which
   imports the model-loading CLI (torchaudio, silero-vad, ...) that they never call, is replaced by an
   empty one (an overlay on PYTHONPATH): that import would only add to WeSpeaker's time. The set is
   converted to WeSpeaker's inputs first, untimed: a Kaldi-format trial list (enroll test
   target|nontarget) and the cohort's spk2utt. Without --wespeaker, the old estimate
   (score_vox1.wespeaker_baseline: per-trial loops on a subset, extrapolated) is printed, and says so.
   WeSpeaker's run takes about 6 minutes on a quiet 2-core machine: its times are kept in
   WORKDIR/vox1/wespeaker_run/baseline.json, keyed by the sizes of the inputs, the sha256 of the scripts
   run and the interpreter's path, and a later run with the same key reuses them, printing when and at
   what load they were measured (--rerun-wespeaker measures again; a quiet machine's figures should come
   from one run that measures both).
   Goal: >= 25x.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score_vox1 import LISTS, existing_set, make_set, run_sveval, wespeaker_baseline  # noqa: E402

DIM, N_SPEAKERS = 256, 5994
HEADER = b"\0BFV \x04"  # Kaldi binary float vector: binary marker, type, int32 size marker


def write_ark(folder: Path, ids: list[str], make_vectors, chunk: int = 65536) -> Path:
    """ark + scp of `ids` (all the same length) with vectors make_vectors(lo, hi), chunk by chunk."""
    folder.mkdir(parents=True, exist_ok=True)
    width = len(ids[0])
    record = np.dtype([("key", f"S{width}"), ("tag", "S7"), ("dim", "<i4"), ("vec", "<f4", (DIM,))])
    ark, scp = folder / "xvector.ark", folder / "xvector.scp"
    with open(ark, "wb") as out, open(scp, "w") as index:
        for lo in range(0, len(ids), chunk):
            hi = min(lo + chunk, len(ids))
            rows = np.empty(hi - lo, dtype=record)
            rows["key"] = ids[lo:hi]
            rows["tag"] = b" " + HEADER
            rows["dim"] = DIM
            rows["vec"] = make_vectors(lo, hi)
            out.write(rows.tobytes())
            starts = (np.arange(lo, hi) * record.itemsize + width + 1).tolist()
            index.write("".join(f"{k} {ark}:{s}\n" for k, s in zip(ids[lo:hi], starts)))
    return scp


def make_cohort_set(root: Path, n_cohort: int, seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    offset = rng.standard_normal(DIM).astype(np.float32) * 2
    centres = rng.standard_normal((N_SPEAKERS, DIM)).astype(np.float32)
    speaker = np.sort(rng.integers(0, N_SPEAKERS, n_cohort))  # sorted by id, like vox2_dev's scp
    ids = [f"id{s + 10000:05d}/{i % 100000:05d}/{i:07d}.wav" for i, s in enumerate(speaker)]

    def vectors(lo, hi):
        noise = np.random.default_rng(lo).standard_normal((hi - lo, DIM)).astype(np.float32)
        return centres[speaker[lo:hi]] + noise * 1.8 + offset

    paths = {"cohort": write_ark(root / "vox2_dev", ids, vectors)}
    n_eval, eval_spk = 5000, rng.integers(0, 250, 5000)
    eval_centres = rng.standard_normal((250, DIM)).astype(np.float32)
    eval_ids = [f"id2{s:04d}/v/{i:05d}.wav" for i, s in enumerate(eval_spk)]
    noise = rng.standard_normal((n_eval, DIM)).astype(np.float32)
    paths["eval"] = write_ark(
        root / "vox1", eval_ids, lambda lo, hi: (eval_centres[eval_spk] + noise * 1.8 + offset)[lo:hi]
    )
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, n_eval, (41000, 2)) if a != b}
    pairs |= {
        (int(a), int(b))
        for a in range(0, n_eval, 3)
        for b in np.flatnonzero(eval_spk == eval_spk[a])[:4]
        if a != b
    }
    lines = [f"{int(eval_spk[a] == eval_spk[b])} {eval_ids[a]} {eval_ids[b]}\n" for a, b in sorted(pairs)]
    paths["trials"] = root / "trials.txt"
    paths["trials"].write_text("".join(lines))
    return paths


def cohort_memory(root: Path, n_cohort: int) -> None:
    paths = {"cohort": root / "vox2_dev" / "xvector.scp", "eval": root / "vox1" / "xvector.scp"}
    paths["trials"] = root / "trials.txt"
    if not all(p.is_file() for p in paths.values()):
        t = time.perf_counter()
        paths = make_cohort_set(root, n_cohort)
        print(f"  cohort set written in {time.perf_counter() - t:.0f} s")
    n = sum(1 for _ in open(paths["cohort"]))
    size = Path(str(paths["cohort"]).replace(".scp", ".ark")).stat().st_size / 1e9
    n_trials = sum(1 for _ in open(paths["trials"]))
    print(f"cohort: {n:,} utterances, {size:.2f} GB ark; eval 5,000 utterances, {n_trials:,} trials")
    base = [
        "--embeddings",
        str(paths["eval"]),
        "--cohort",
        str(paths["cohort"]),
        "--trials",
        str(paths["trials"]),
        "--no-plots",
    ]
    exact, exact_rss, _ = run_sveval([*base, "--out", str(root / "exact")], "score, 3 methods, exact")
    ws, ws_rss, _ = run_sveval(
        [*base, "--compat", "wespeaker", "--out", str(root / "ws")], "score, 3 methods, --compat wespeaker"
    )
    whole, whole_rss = run_python(
        f"from sveval.io.embeddings import read_embeddings; read_embeddings({str(paths['cohort'])!r})",
        "baseline: read_embeddings of the whole cohort (before streaming)",
    )
    print(
        f"  cohort memory: score peak RSS {exact_rss:.2f} GB (exact), {ws_rss:.2f} GB (wespeaker) vs "
        f"{whole_rss:.2f} GB to read the cohort whole: {exact_rss / whole_rss:.2f}x; target < 1.5 GB"
    )


def run_python(code: str, label: str) -> tuple[float, float]:
    t = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code])
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{label} failed")
    print(f"  {label}: {wall:.1f} s wall, peak RSS {usage.ru_maxrss / 1e6:.2f} GB")
    return wall, usage.ru_maxrss / 1e6


def vox1_e(
    root: Path, baseline_trials: int, wespeaker: Path | None, wespeaker_python: str, rerun: bool
) -> None:
    t = time.perf_counter()
    paths = existing_set(root) or make_set(root, 5)
    print(f"Vox1 set in {root} ({time.perf_counter() - t:.0f} s)")
    print(f"  load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    e_args = ["--exp-dir", str(root / "exp"), "--trials", str(paths["vox1_E"]), "--norm", "cos,asnorm"]
    all_out, _, all_cpu = run_sveval(
        [*e_args, "--out", str(root / "e_all")], "E x cos+asnorm300, every output (plots too)"
    )
    no_plots, _, no_plots_cpu = run_sveval(
        [*e_args, "--no-plots", "--out", str(root / "e")], "E x cos+asnorm300, --no-plots"
    )
    if wespeaker is None:
        baseline = wespeaker_baseline(paths, baseline_trials)
        kind, cpu_ratio = "WeSpeaker-style, EXTRAPOLATED from a subset (no --wespeaker checkout given)", ""
    else:
        baseline, baseline_cpu = wespeaker_cached(
            paths, root / "wespeaker_run", wespeaker, wespeaker_python, rerun
        )
        kind = "WeSpeaker's scripts run whole"
        cpu_ratio = (
            f"; CPU time {all_cpu:.1f} s ({no_plots_cpu:.1f} s) vs {baseline_cpu:.0f} s: "
            f"{baseline_cpu / all_cpu:.0f}x ({baseline_cpu / no_plots_cpu:.0f}x)"
        )
    print(
        f"  E cos+asnorm300 ({LISTS['vox1_E']:,} trials): sveval {all_out:.1f} s with every output "
        f"({no_plots:.1f} s without the 3 DET plots: 2 methods and their overlay) "
        f"vs {kind} {baseline:.0f} s: "
        f"{baseline / all_out:.0f}x ({baseline / no_plots:.0f}x){cpu_ratio}; goal >= 25x"
    )
    print(f"  load average at the end: {os.getloadavg()[0]:.1f}")


def wespeaker_inputs(paths: dict, work: Path) -> Path:
    """WeSpeaker's exp folder for the synthetic set (untimed): the embedding scps, a Kaldi-format trial
    list and the cohort's spk2utt (speaker = the id's first path component, Kaldi-sorted)."""
    exp = work / "exp"
    for name in ("vox1", "vox2_dev"):
        folder = exp / "embeddings" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "xvector.scp").write_bytes(paths[name].read_bytes())  # its lines name the ark by path
    trials = work / "data" / "vox1" / "trials" / "vox1_E.kaldi"
    trials.parent.mkdir(parents=True, exist_ok=True)
    with open(paths["vox1_E"]) as lines, open(trials, "w") as out:
        for line in lines:
            label, enroll, test = line.split()
            out.write(f"{enroll} {test} {'target' if label == '1' else 'nontarget'}\n")
    spk2utt: dict[str, list[str]] = {}
    for line in open(paths["vox2_dev"]):
        utt = line.split()[0]
        spk2utt.setdefault(utt.split("/")[0], []).append(utt)
    (work / "data" / "vox2_dev").mkdir(parents=True, exist_ok=True)
    (work / "data" / "vox2_dev" / "spk2utt").write_text(
        "".join(f"{s} {' '.join(sorted(u))}\n" for s, u in sorted(spk2utt.items()))
    )
    overlay = work / "overlay" / "wespeaker"
    overlay.mkdir(parents=True, exist_ok=True)
    (overlay / "__init__.py").write_text("")  # not the checkout's: it imports the model-loading CLI
    return exp


def wespeaker_cached(
    paths: dict, work: Path, checkout: Path, python: str, rerun: bool
) -> tuple[float, float]:
    """wespeaker_whole's (wall, CPU), or those of an earlier run on the same inputs, scripts and interpreter
    (WORKDIR/vox1/wespeaker_run/baseline.json), saying so."""
    scripts = (
        "wespeaker/bin/score.py",
        "tools/vector_mean.py",
        "wespeaker/bin/score_norm.py",
        "wespeaker/utils/utils.py",
    )
    key = {
        "inputs": {name: paths[name].stat().st_size for name in ("vox1_E", "vox1", "vox2_dev")},
        "arks": {
            name: Path(str(paths[name]).replace(".scp", ".ark")).stat().st_size
            for name in ("vox1", "vox2_dev")
        },
        "scripts": {f: hashlib.sha256((checkout / f).read_bytes()).hexdigest() for f in scripts},
        "python": str(Path(python).absolute()),
    }
    cache = work / "baseline.json"
    if not rerun and cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            print(
                f"  WeSpeaker's scripts, whole E list: {saved['wall']:.0f} s wall, {saved['cpu']:.0f} s CPU, "
                f"REUSED from {cache} (measured {saved['date']}, load average {saved['load_start']:.1f} at "
                f"its start, {saved['load_end']:.1f} at its end; --rerun-wespeaker measures again)"
            )
            for line in saved["steps"]:
                print(f"    {line}")
            return saved["wall"], saved["cpu"]
    load_start = os.getloadavg()[0]
    wall, cpu, steps = wespeaker_whole(paths, work, checkout, python)
    cache.write_text(
        json.dumps(
            {
                "key": key,
                "wall": wall,
                "cpu": cpu,
                "steps": steps,
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "load_start": load_start,
                "load_end": os.getloadavg()[0],
            },
            indent=1,
        )
    )
    return wall, cpu


def wespeaker_whole(paths: dict, work: Path, checkout: Path, python: str) -> tuple[float, float, list[str]]:
    """WeSpeaker's score.py, vector_mean.py and score_norm.py (asnorm300) on the whole E list, each in a
    fresh process, with the arguments of examples/voxceleb/v2/local/score{,_norm}.sh: wall and CPU s, and
    the line printed for each script."""
    exp = wespeaker_inputs(paths, work)
    overlay = work / "overlay" / "wespeaker" / "utils"
    if overlay.is_symlink() or overlay.exists():
        overlay.unlink()
    overlay.symlink_to(checkout.resolve() / "wespeaker" / "utils")
    emb, scores = exp / "embeddings", exp / "scores"
    trials = work / "data" / "vox1" / "trials" / "vox1_E.kaldi"
    steps = [
        (
            "wespeaker/bin/score.py (mean vector, per-trial cosine)",
            ["wespeaker/bin/score.py", "--exp_dir", exp, "--eval_scp_path", emb / "vox1" / "xvector.scp"]
            + ["--cal_mean", "True", "--cal_mean_dir", emb / "vox2_dev", trials],
        ),
        (
            "tools/vector_mean.py (cohort speaker means)",
            ["tools/vector_mean.py", "--spk2utt", work / "data" / "vox2_dev" / "spk2utt"]
            + ["--xvector_scp", emb / "vox2_dev" / "xvector.scp"]
            + ["--spk_xvector_ark", emb / "vox2_dev" / "spk_xvector.ark"],
        ),
        (
            "wespeaker/bin/score_norm.py (asnorm300)",
            ["wespeaker/bin/score_norm.py", "--score_norm_method", "asnorm", "--top_n", "300"]
            + ["--trial_score_file", scores / "vox1_E.kaldi.score"]
            + ["--score_norm_file", scores / "vox2_dev_asnorm300_vox1_E.kaldi.score"]
            + ["--cohort_emb_scp", emb / "vox2_dev" / "spk_xvector.scp"]
            + ["--eval_emb_scp", emb / "vox1" / "xvector.scp"]
            + ["--mean_vec_path", emb / "vox2_dev" / "mean_vec.npy"],
        ),
    ]
    env = {**os.environ, "PYTHONPATH": str(work / "overlay")}
    wall = cpu = 0.0
    printed = []
    for label, args in steps:
        t = time.perf_counter()
        with open(work / "log.txt", "a") as log:
            child = subprocess.Popen(
                [python, *map(str, args)], cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - t
        if os.waitstatus_to_exitcode(status):
            sys.exit(f"{label} failed: see {work / 'log.txt'}")
        used = usage.ru_utime + usage.ru_stime
        printed.append(
            f"WeSpeaker {label}: {seconds:.1f} s wall, {used:.1f} s CPU, "
            f"peak RSS {usage.ru_maxrss / 1e6:.2f} GB"
        )
        print(f"  {printed[-1]}")
        wall, cpu = wall + seconds, cpu + used
    print(f"  WeSpeaker's scripts, whole E list: {wall:.0f} s wall, {cpu:.0f} s CPU")
    return wall, cpu, printed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workdir", default="/tmp/sveval-cohort", help="synthetic sets are made (or reused) here"
    )
    parser.add_argument("--cohort-utts", type=int, default=1092009)
    parser.add_argument("--baseline-trials", type=int, default=20000)
    parser.add_argument("--skip-cohort", action="store_true")
    parser.add_argument("--skip-e", action="store_true")
    parser.add_argument(
        "--wespeaker", type=Path, help="a WeSpeaker checkout (outside the repository): its scripts run whole"
    )
    parser.add_argument(
        "--wespeaker-python", default=sys.executable, help="the interpreter for WeSpeaker's scripts"
    )
    parser.add_argument(
        "--rerun-wespeaker",
        action="store_true",
        help="run WeSpeaker's scripts even if baseline.json holds their times for the same inputs",
    )
    args = parser.parse_args()
    root = Path(args.workdir)
    if not args.skip_cohort:
        cohort_memory(root / "big_cohort", args.cohort_utts)
    if not args.skip_e:
        vox1_e(
            root / "vox1", args.baseline_trials, args.wespeaker, args.wespeaker_python, args.rerun_wespeaker
        )


if __name__ == "__main__":
    main()
