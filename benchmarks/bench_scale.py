"""`sveval metrics` on a very large score file against a naive pandas script, time and peak memory.

    python benchmarks/bench_scale.py [--lines 6000000] [--workdir /tmp/sveval-bench] [--with-trials]
                                     [--no-baseline]

Writes (once; reused) a 4-column WeSpeaker score file of --lines trials over 150,000 Vox1-like utterance
ids, scores "%.5f" (nontarget N(0, 0.1), target N(0.45, 0.12)), into --workdir (never the repository).
Then runs, each in a fresh subprocess (wall time from the start of the child's code, imports included,
and the peak resident memory of that process):

  baseline  the naive script: pandas.read_csv of the four columns, then a stable argsort of the scores
            (the part every EER script starts with; it computes nothing after that), twice: with the
            string columns as Python objects (pandas < 3, or pandas 3 without pyarrow: the baseline issue
            14 measured, 7.7 s for 6 M lines), and with pandas' default strings, which pandas 3 backs
            with pyarrow when it is installed (sveval depends on pyarrow, so it is here): 3-4x faster.
            Ratios are worse on small files (2 M lines: about 0.5x), where start-up weighs more.
  sveval    `sveval metrics FILE` (EER and minDCF printed as WeSpeaker prints them)
  --with-trials uses another generated pair of files (scores_N_paired.score, whose pairs are all distinct,
            and trials_N.kaldi, the same pairs as a Kaldi list, shuffled) and adds `sveval metrics FILE
            --trials LIST`, which reads the ids too, as codes, and joins every line against the list, and
            `sveval validate` of a release folder holding that file (as trials_N.kaldi.score) and the
            result block `sveval metrics FILE` printed: every check of `validate` at this scale.

and prints the ratios sveval / baseline of wall time, CPU time (user + system: less disturbed than wall
time when other jobs share the machine) and peak memory (goal: time <= 0.5x, memory <= 0.5x).
6 M lines need about
0.5 GB of disk and 1.5 GB of memory for the baseline; 60 M lines about 5 GB of disk and 14 GB for the
baseline: run that case only on a machine that can spare it, or with --no-baseline, which measures
sveval alone (no ratios). CI never runs this script.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N_UTTERANCES = 150_000
BLOCK = 1_000_000


def generate(path: Path, lines: int, trials_path: Path | None) -> None:
    """Write the score file (and, if asked, the same trials as a shuffled Kaldi list) block by block."""
    from sveval.io.score_text import format_coded_score_bytes, id_byte_table
    from sveval.io.trials import canonical_chunks

    rng = np.random.default_rng(0)
    speaker, video, utterance = (
        rng.integers(0, 1251, N_UTTERANCES),
        rng.integers(0, 2**40, N_UTTERANCES),
        rng.integers(1, 300, N_UTTERANCES),
    )
    table = id_byte_table(f"id1{s:04d}/{v:011x}/{u:05d}.wav" for s, v, u in zip(speaker, video, utterance))
    # distinct (enroll, test) pairs when a list is wanted (a list has no duplicates): pair numbers drawn
    # without replacement, split into two ids
    pair_numbers = rng.permutation(lines * 3)[:lines] if trials_path else None
    is_target = np.zeros(lines, dtype=bool)
    with open(path.with_suffix(".partial"), "wb") as out:
        for start in range(0, lines, BLOCK):
            n = min(BLOCK, lines - start)
            if pair_numbers is not None:
                enroll, test = np.divmod(pair_numbers[start : start + n], N_UTTERANCES)
            else:
                enroll, test = rng.integers(0, N_UTTERANCES, n), rng.integers(0, N_UTTERANCES, n)
            target = is_target[start : start + n] = rng.random(n) < 0.5
            values = np.where(target, rng.normal(0.45, 0.12, n), rng.normal(0.0, 0.1, n))
            out.write(format_coded_score_bytes(table, enroll, test, values, target))
    path.with_suffix(".partial").rename(path)
    if trials_path is not None:
        order = rng.permutation(lines)
        enroll, test = np.divmod(pair_numbers[order], N_UTTERANCES)
        with open(trials_path.with_suffix(".partial"), "wb") as out:
            out.writelines(canonical_chunks(table, enroll, test, is_target[order]))
        trials_path.with_suffix(".partial").rename(trials_path)


BASELINE = """
import numpy as np, pandas as pd, sys
if sys.argv[2] == "object":
    pd.set_option("future.infer_string", False)  # str columns as Python objects: pandas < 3, or no pyarrow
frame = pd.read_csv(sys.argv[1], sep=" ", header=None, names=["enroll", "test", "score", "label"])
order = np.argsort(frame["score"].to_numpy(), kind="stable")
print(len(order), frame["enroll"].dtype)
"""
BASELINES = {
    "object": "baseline: pandas, object strings",
    "default": "baseline: pandas, its default strings",
}

SVEVAL = """
import sys
from sveval.cli.main import cli
cli.main(args=["metrics", *sys.argv[1:]], standalone_mode=False)
"""

VALIDATE = """
import sys
from sveval.cli.main import cli
cli.main(args=["validate", "--quiet", *sys.argv[1:]], standalone_mode=False)
"""


def release_folder(workdir: Path, scores: Path, trials: Path, block: str) -> Path:
    """A release folder holding the score file (a hard link named after the list, WeSpeaker style: validate
    refuses a symbolic link leading outside the folder) and a result file with the block `sveval metrics`
    printed for it, for `sveval validate` to check at this scale."""
    folder = workdir / f"release_{trials.stem}" / "scores"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / f"{trials.name}.score"
    if link.is_symlink():  # left by an earlier version of this script
        link.unlink()
    if not link.exists():
        link.hardlink_to(scores)
    _, rest = block.split("\n", 1)
    (folder / "vox1_cos_result").write_text(f"---- {link.name} -----\n{rest}")
    return folder.parent


CHILD = """
import resource, runpy, sys, time, json, atexit
start = time.perf_counter()
def report():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    result = {"seconds": time.perf_counter() - start, "cpu": cpu, "peak_mb": usage.ru_maxrss / 1024}
    print(json.dumps(result), file=sys.stderr)
atexit.register(report)
code = sys.argv.pop(1)
exec(compile(code, "<benchmark>", "exec"))
"""


RATIOS = (("time", "seconds"), ("CPU", "cpu"), ("memory", "peak_mb"))


def measure(code: str, *args: str) -> dict:
    """Run `code` in a fresh interpreter; its wall time (imports included), peak memory and output."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, code, *args], check=True, capture_output=True, text=True
    )
    result = json.loads(done.stderr.strip().splitlines()[-1])
    result["stdout"] = done.stdout
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=6_000_000, help="Score lines (default 6,000,000).")
    parser.add_argument("--workdir", default="/tmp/sveval-bench", help="Where generated files go.")
    parser.add_argument("--with-trials", action="store_true", help="Also time metrics joined to a list.")
    parser.add_argument("--no-baseline", action="store_true", help="Skip pandas (its memory): no ratios.")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    suffix = "_paired" if args.with_trials else ""
    scores = workdir / f"scores_{args.lines}{suffix}.score"
    trials = workdir / f"trials_{args.lines}.kaldi" if args.with_trials else None
    if not scores.exists() or (trials is not None and not trials.exists()):
        start = time.perf_counter()
        # in a child process: Linux carries a process's resident size across fork and exec into the peak
        # (ru_maxrss) of the children measured below, so this process stays small
        spawn = multiprocessing.get_context("spawn")
        child = spawn.Process(target=generate, args=(scores, args.lines, trials))
        child.start()
        child.join()
        if child.exitcode:
            sys.exit("generating the files failed")
        print(f"wrote {scores} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    size = os.path.getsize(scores) / 1e6
    print(f"{args.lines:,}-line 4-column score file ({size:,.0f} MB), {os.cpu_count()} CPUs")
    runs = {}
    bases = {}
    if not args.no_baseline:
        for strings, name in BASELINES.items():
            bases[name] = measure(BASELINE, str(scores), strings)
            column_type = bases[name]["stdout"].split()[-1]
            print(f"{name}: string columns read as {column_type}")
    runs = {"sveval metrics FILE": measure(SVEVAL, str(scores))}
    if trials is not None:
        runs["sveval metrics FILE --trials LIST"] = measure(SVEVAL, str(scores), "--trials", str(trials))
        folder = release_folder(workdir, scores, trials, runs["sveval metrics FILE"]["stdout"])
        runs["sveval validate FOLDER"] = measure(VALIDATE, str(folder), "--trials-dir", str(workdir))
        if "FAIL" in runs["sveval validate FOLDER"]["stdout"]:
            sys.exit("validate found a problem:\n" + runs["sveval validate FOLDER"]["stdout"])
    print(f"{'command':<48} {'time':>7} {'CPU':>7} {'peak memory':>12}")
    for name, r in {**bases, **runs}.items():
        print(f"{name:<48} {r['seconds']:6.1f}s {r['cpu']:6.1f}s {r['peak_mb']:9,.0f} MB")
    for base_name, base in bases.items():
        goal = " (goal of issue 14: time <= 0.5x, memory <= 0.5x)" if "object" in base_name else ""
        print(f"\nratios to {base_name}{goal}:")
        for name, r in runs.items():
            if "--trials" in name or "validate" in name:
                continue  # they do more than the baseline (ids, the join): no ratio
            ratios = "".join(f"{k} {r[key] / base[key]:.2f}x  " for k, key in RATIOS)
            print(f"  {name:<46} {ratios}")
    for name, r in runs.items():
        print(f"\n{name}:\n{r['stdout']}", end="")


if __name__ == "__main__":
    main()
