"""`sveval metrics` on a very large score file against a naive pandas script and WeSpeaker's
compute_metrics.py, time and peak memory.

    python benchmarks/bench_scale.py [--lines 6000000] [--workdir /tmp/sveval-bench] [--with-trials]
                                     [--no-baseline] [--wespeaker DIR [--wespeaker-python PY]]

Writes (once; reused) a 4-column WeSpeaker score file of --lines trials over 150,000 Vox1-like utterance
ids, scores "%.5f" (nontarget N(0, 0.1), target N(0.45, 0.12)), into --workdir (never the repository).
Then runs, each in a fresh subprocess (wall time from the start of the child's code, imports included,
and the peak resident memory of that process; sveval's modules compiled to bytecode first, as installed
packages have theirs: `compile_sveval`):

  baseline  the naive script: pandas.read_csv of the four columns, then a stable argsort of the scores
            (the part every EER script starts with; it computes nothing after that), twice: with the
            string columns as Python objects (pandas < 3, or pandas 3 without pyarrow: the baseline issue
            14 measured, 7.7 s for 6 M lines), and with pandas' default strings, which pandas 3 backs
            with pyarrow when it is installed (sveval depends on pyarrow, so it is here): 3-4x faster.
            Ratios are worse on small files (2 M lines: about 0.5x), where start-up weighs more.
  WeSpeaker wespeaker/bin/compute_metrics.py on the file: its loop reads the lines into Python lists
            (`line.strip().split()`, `float()`), then calls the wespeaker/utils/score_metrics.py helpers
            (compute_pmiss_pfa_rbst: an argsort and cumulative sums; compute_eer; compute_c_norm).
            --wespeaker DIR runs the script of that checkout (kept outside this repository) unchanged, with
            --wespeaker-python PY (numpy, scipy, matplotlib and fire, which it and its helpers import); only
            the package's __init__, which imports the model-loading CLI (torch, silero-vad) that the script
            never calls, is replaced by an empty one (an overlay on PYTHONPATH, as score_cohort.py does).
            Without --wespeaker, a transcription of the same loop and helpers (WESPEAKER below, marked as
            such in the output) runs instead, without the helpers' module imports of scipy and matplotlib:
            a faster WeSpeaker than the real one. Either way its printed EER and minDCF must equal sveval's
            before any time is printed.
  sveval    `sveval metrics FILE` (EER and minDCF printed as WeSpeaker prints them)
  --with-trials uses another generated pair of files (scores_N_paired.score, whose pairs are all distinct,
            and trials_N.kaldi, the same pairs as a Kaldi list, shuffled) and adds `sveval metrics FILE
            --trials LIST`, which reads the ids too, as codes, and joins every line against the list, and
            `sveval validate` of a release folder holding that file (as trials_N.kaldi.score) and the
            result block `sveval metrics FILE` printed: every check of `validate` at this scale.

and prints the ratios sveval / baseline of wall time, CPU time (user + system: less disturbed than wall
time when other jobs share the machine) and peak memory (goals: against pandas' default strings time
<= 0.8x and memory <= 0.5x, against WeSpeaker time <= 0.25x, i.e. at least 4x faster). 6 M lines need
about 0.5 GB of disk and 2.2 GB of memory for the baselines; 60 M lines about 5 GB of disk and 22 GB:
run that case only on a machine that can spare it, or with --no-baseline, which measures sveval alone
(no ratios). CI never runs this script.
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
GOALS = {
    "object": "goal of issue 14: time <= 0.5x, memory <= 0.5x",
    "default": "goal of issue 22: time <= 0.8x, memory <= 0.5x",
    "wespeaker": "goal of issue 22: time <= 0.25x, at least 4x faster",
}

WESPEAKER = """
# A transcription of wespeaker/bin/compute_metrics.py (its loop, unchanged) and of the three helpers of
# wespeaker/utils/score_metrics.py it calls, for runs without --wespeaker DIR. The helpers' module also
# imports scipy.stats and matplotlib.pyplot, left out here: they would only add to WeSpeaker's time.
import os, sys
import numpy as np

def compute_pmiss_pfa_rbst(scores, labels, weights=None):
    sorted_ndx = np.argsort(scores)
    labels = labels[sorted_ndx]
    if weights is not None:
        weights = weights[sorted_ndx]
    else:
        weights = np.ones((labels.shape), dtype='f8')
    tgt_wghts = weights * (labels == 1).astype('f8')
    imp_wghts = weights * (labels == 0).astype('f8')
    fnr = np.cumsum(tgt_wghts) / np.sum(tgt_wghts)
    fpr = 1 - np.cumsum(imp_wghts) / np.sum(imp_wghts)
    return fnr, fpr

def compute_eer(fnr, fpr, scores=None):
    diff_pm_fa = fnr - fpr
    x1 = np.flatnonzero(diff_pm_fa >= 0)[0]
    x2 = np.flatnonzero(diff_pm_fa < 0)[-1]
    a = (fnr[x1] - fpr[x1]) / (fpr[x2] - fpr[x1] - (fnr[x2] - fnr[x1]))
    if scores is not None:
        score_sort = np.sort(scores)
        return fnr[x1] + a * (fnr[x2] - fnr[x1]), score_sort[x1]
    return fnr[x1] + a * (fnr[x2] - fnr[x1])

def compute_c_norm(fnr, fpr, p_target, c_miss=1, c_fa=1):
    c_det = min(c_miss * fnr * p_target + c_fa * fpr * (1 - p_target))
    c_def = min(c_miss * p_target, c_fa * (1 - p_target))
    return c_det / c_def

def compute_metrics(scores_file, p_target=0.01, c_miss=1, c_fa=1):
    scores = []
    labels = []
    with open(scores_file) as readlines:
        for line in readlines:
            tokens = line.strip().split()
            scores.append(float(tokens[2]))
            labels.append(tokens[3] == 'target')
    scores = np.hstack(scores)
    labels = np.hstack(labels)
    fnr, fpr = compute_pmiss_pfa_rbst(scores, labels)
    eer, thres = compute_eer(fnr, fpr, scores)
    min_dcf = compute_c_norm(fnr, fpr, p_target=p_target, c_miss=c_miss, c_fa=c_fa)
    print("---- {} -----".format(os.path.basename(scores_file)))
    print("EER = {0:.3f}".format(100 * eer))
    print("minDCF (p_target:{} c_miss:{} c_fa:{}) = {:.3f}".format(p_target, c_miss, c_fa, min_dcf))

compute_metrics(sys.argv[1])
"""

# The checkout's own script, run as `python wespeaker/bin/compute_metrics.py --p_target 0.01 --c_fa 1
# --c_miss 1 FILE` (examples/voxceleb/v2/local/score.sh's arguments) from the checkout, inside the timing
# child.
WESPEAKER_SCRIPT = """
import runpy, sys
script = "wespeaker/bin/compute_metrics.py"
sys.path[0] = "wespeaker/bin"  # what `python SCRIPT` puts first on the path
sys.argv = [script, "--p_target", "0.01", "--c_fa", "1", "--c_miss", "1", *sys.argv[1:]]
runpy.run_path(script, run_name="__main__")
"""

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


def measure(code: str, *args: str, python: str = sys.executable, **where) -> dict:
    """Run `code` in a fresh interpreter; its wall time (imports included), peak memory and output.
    where: subprocess.run's cwd and env (WeSpeaker's checkout)."""
    done = subprocess.run(
        [python, "-c", CHILD, code, *args], check=True, capture_output=True, text=True, **where
    )
    result = json.loads(done.stderr.strip().splitlines()[-1])
    result["stdout"] = done.stdout
    return result


def compile_sveval() -> None:
    """sveval's modules compiled to bytecode (__pycache__, ignored by git) before anything is timed, as an
    installed package runs them: where PYTHONDONTWRITEBYTECODE is set (as on the machine these figures
    come from) a source checkout is otherwise compiled again by every command, 0.08 s of CPU, while the
    baselines' libraries come compiled from their wheels."""
    code = "import compileall, os, sveval, sveval.cli\n"
    code += "for m in (sveval, sveval.cli): compileall.compile_dir(os.path.dirname(m.__file__), quiet=1)"
    subprocess.run([sys.executable, "-c", code], check=True)


def wespeaker(scores: Path, workdir: Path, checkout: Path | None, python: str) -> tuple[str, dict]:
    """(name, measure) of WeSpeaker's compute_metrics.py on `scores`: the checkout's script when given
    (through an overlay whose package __init__ is empty: the checkout's imports torch and silero-vad for
    the model-loading CLI, which this script never calls), else the transcription WESPEAKER."""
    if checkout is None:
        return "WeSpeaker compute_metrics.py (transcription)", measure(WESPEAKER, str(scores))
    overlay = workdir / "wespeaker_overlay" / "wespeaker"
    overlay.mkdir(parents=True, exist_ok=True)
    (overlay / "__init__.py").write_text("")
    utils = overlay / "utils"
    if utils.is_symlink() or utils.exists():
        utils.unlink()
    utils.symlink_to(checkout.resolve() / "wespeaker" / "utils")
    env = {**os.environ, "PYTHONPATH": str(overlay.parent)}
    run = measure(WESPEAKER_SCRIPT, str(scores), python=python, cwd=checkout, env=env)
    return f"WeSpeaker compute_metrics.py ({checkout})", run


def printed_metrics(stdout: str) -> list[str]:
    """The EER and minDCF lines of a WeSpeaker-style block."""
    return [line for line in stdout.splitlines() if line.startswith(("EER =", "minDCF"))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=6_000_000, help="Score lines (default 6,000,000).")
    parser.add_argument("--workdir", default="/tmp/sveval-bench", help="Where generated files go.")
    parser.add_argument("--with-trials", action="store_true", help="Also time metrics joined to a list.")
    parser.add_argument(
        "--no-baseline", action="store_true", help="Skip pandas and WeSpeaker (their memory): no ratios."
    )
    parser.add_argument(
        "--wespeaker",
        type=Path,
        help="A WeSpeaker checkout, whose compute_metrics.py runs (else: a transcription).",
    )
    parser.add_argument(
        "--wespeaker-python", default=sys.executable, help="The interpreter for WeSpeaker's script."
    )
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
    compile_sveval()
    runs = {}
    bases, goals = {}, {}
    if not args.no_baseline:
        for strings, name in BASELINES.items():
            bases[name], goals[name] = measure(BASELINE, str(scores), strings), GOALS[strings]
            column_type = bases[name]["stdout"].split()[-1]
            print(f"{name}: string columns read as {column_type}")
    runs = {"sveval metrics FILE": measure(SVEVAL, str(scores))}
    if not args.no_baseline:
        name, run = wespeaker(scores, workdir, args.wespeaker, args.wespeaker_python)
        bases[name], goals[name] = run, GOALS["wespeaker"]
        theirs, ours = printed_metrics(run["stdout"]), printed_metrics(runs["sveval metrics FILE"]["stdout"])
        if theirs != ours or not ours:
            sys.exit(f"{name} printed {theirs}, sveval {ours}: no timing")
        print(f"{name}: prints {' / '.join(ours)}, as sveval does")
    if trials is not None:
        runs["sveval metrics FILE --trials LIST"] = measure(SVEVAL, str(scores), "--trials", str(trials))
        folder = release_folder(workdir, scores, trials, runs["sveval metrics FILE"]["stdout"])
        runs["sveval validate FOLDER"] = measure(VALIDATE, str(folder), "--trials-dir", str(workdir))
        if "FAIL" in runs["sveval validate FOLDER"]["stdout"]:
            sys.exit("validate found a problem:\n" + runs["sveval validate FOLDER"]["stdout"])
    width = max(48, *map(len, {**bases, **runs}))
    print(f"{'command':<{width}} {'time':>7} {'CPU':>7} {'peak memory':>12}")
    for name, r in {**bases, **runs}.items():
        print(f"{name:<{width}} {r['seconds']:6.1f}s {r['cpu']:6.1f}s {r['peak_mb']:9,.0f} MB")
    for base_name, base in bases.items():
        print(f"\nratios to {base_name} ({goals[base_name]}):")
        for name, r in runs.items():
            if "--trials" in name or "validate" in name:
                continue  # they do more than the baseline (ids, the join): no ratio
            ratios = "".join(f"{k} {r[key] / base[key]:.2f}x  " for k, key in RATIOS)
            print(f"  {name:<46} {ratios}")
    for name, r in runs.items():
        print(f"\n{name}:\n{r['stdout']}", end="")


if __name__ == "__main__":
    main()
