"""How long `sveval validate` takes on a release folder with all three Vox1 lists (1.17 M trials).

Builds, in a temporary folder, a Golden-Gemini-style release: AS-norm score files (8 columns, WeSpeaker's
text) for vox1_O_cleaned (the real list from ../shared/data/voxceleb when present), and synthetic lists with
exactly the Vox1-E/H cleaned counts (579,818 and 550,894 trials, Vox1-like utterance ids), plus the three
result files. Then times, each in a fresh subprocess (time of the work and peak resident memory):

  sveval    discover_release + validate_release: parse, finite, trial list verified against the manifest,
            coverage, labels, EER/minDCF recomputed and compared with every result block
  baseline  a straightforward WeSpeaker-era script doing the same checks: trial list into a dict keyed by
            (enroll, test), the score file read line by line into Python lists, a seen-set for duplicates,
            then EER/minDCF with numpy (argsort + cumsum, as compute_metrics.py)

    python benchmarks/validate_release.py [--workdir DIR] [--repeat N]

Both must report the folder clean; the script prints seconds, peak memory and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VOXCELEB = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "voxceleb"
SYNTHETIC = {"vox1_E_cleaned": "list_test_all2.txt", "vox1_H_cleaned": "list_test_hard2.txt"}


def build(workdir: Path) -> tuple[Path, Path, int]:
    from sveval.io.catalog import builtin
    from sveval.io.results import write_result_file
    from sveval.io.scores import read_score_file, write_score_file
    from sveval.io.trials import read_trials
    from sveval.metrics.detection import evaluate
    from sveval.types import ResultBlock

    trials_dir, scores_dir = workdir / "trials", workdir / "Gemini_df_resnet110-release" / "scores"
    trials_dir.mkdir(parents=True, exist_ok=True)
    scores_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    lists = {}
    if (VOXCELEB / "veri_test2.txt").is_file():
        link = trials_dir / "veri_test2.txt"
        if not link.exists():
            link.symlink_to((VOXCELEB / "veri_test2.txt").resolve())
        lists["vox1_O_cleaned"] = link
    else:
        print(f"note: {VOXCELEB}/veri_test2.txt not found; Vox1-O left out", file=sys.stderr)
    speakers = [f"id1{k:04d}" for k in range(1251)]
    utts = np.array(
        [f"{speakers[s]}/{v:011x}/{u:05d}.wav" for s, v, u in zip(
            rng.integers(0, 1251, 160_000), rng.integers(0, 2**40, 160_000), rng.integers(1, 300, 160_000))],
        dtype=object,
    )  # fmt: skip
    utts = np.unique(utts)
    for name, source in SYNTHETIC.items():
        path = trials_dir / source
        lists[name] = path
        if path.exists():
            continue
        entry = builtin(name)
        pairs = rng.integers(0, len(utts), size=(entry.trials * 2, 2))
        keys = pairs[:, 0] * len(utts) + pairs[:, 1]
        _, first = np.unique(keys, return_index=True)
        pairs = pairs[np.sort(first)[: entry.trials]]
        labels = np.zeros(entry.trials, dtype=int)
        labels[rng.choice(entry.trials, entry.target, replace=False)] = 1
        rows = zip(labels.tolist(), utts[pairs[:, 0]], utts[pairs[:, 1]])
        path.write_text("".join(f"{y} {e} {t}\n" for y, e, t in rows))
    blocks, total = [], 0
    for name, path in lists.items():
        trials = read_trials(path)
        total += len(trials)
        score_name = f"vox2_dev_asnorm300_{name}.kaldi.score"
        values = rng.normal(size=len(trials)) + 4.5 * trials.is_target
        extra = np.abs(rng.normal(size=(len(trials), 4)))
        write_score_file(scores_dir / score_name, trials.enroll, trials.test, values, trials.is_target, extra)
        back = read_score_file(scores_dir / score_name)
        m = evaluate(back.values, back.labels)
        blocks.append(ResultBlock(score_name, 100 * m.eer, m.min_dcf))
    write_result_file(scores_dir / "vox1_asnorm300_result", blocks)
    return scores_dir.parent, trials_dir, total


def run_sveval(folder: str, trials_dir: str) -> dict:
    from sveval.io.release import discover_release
    from sveval.validation.release import FAIL, validate_release

    report = validate_release(discover_release(folder), trials_dir=trials_dir)
    return {"clean": report.passed, "checks": len(report.checks), "failed": report.count(FAIL)}


def run_baseline(folder: str, trials_dir: str) -> dict:
    """What a careful script of the WeSpeaker era does, one score file at a time."""
    scores_dir = Path(folder) / "scores"
    sources = {"vox1_O_cleaned": "veri_test2.txt", **SYNTHETIC}
    printed = {}
    lines = (scores_dir / "vox1_asnorm300_result").read_text().splitlines()
    for k in range(0, len(lines), 3):
        printed[lines[k].split()[1]] = (lines[k + 1].split(" = ")[1], lines[k + 2].split(" = ")[1])
    problems = 0
    for score_path in sorted(scores_dir.glob("*.score")):
        list_name = score_path.name[len("vox2_dev_asnorm300_") : -len(".kaldi.score")]
        trials = {}
        with open(Path(trials_dir) / sources[list_name]) as f:
            for line in f:
                label, enroll, test = line.split()
                trials[(enroll, test)] = label == "1"
        seen, scores, labels = set(), [], []
        with open(score_path) as f:
            for line in f:
                fields = line.split()
                key = (fields[0], fields[1])
                score = float(fields[2])
                label = fields[3] == "target"
                problems += (
                    key not in trials or key in seen or trials.get(key) != label or not np.isfinite(score)
                )
                seen.add(key)
                scores.append(score)
                labels.append(label)
        problems += len(trials) != len(seen)
        eer, min_dcf = _wespeaker_metrics(np.array(scores), np.array(labels))
        problems += printed[score_path.name] != (f"{100 * eer:.3f}", f"{min_dcf:.3f}")
    return {"clean": problems == 0, "problems": int(problems)}


def _wespeaker_metrics(scores: np.ndarray, labels: np.ndarray, p_target: float = 0.01) -> tuple[float, float]:
    order = np.argsort(scores, kind="mergesort")
    tar = labels[order].astype(float)
    p_miss = np.cumsum(tar) / tar.sum()
    p_fa = 1 - np.cumsum(1 - tar) / (1 - tar).sum()
    d = p_miss - p_fa
    x1, x2 = np.flatnonzero(d >= 0)[0], np.flatnonzero(d < 0)[-1]
    a = (p_miss[x1] - p_fa[x1]) / (p_fa[x2] - p_fa[x1] - (p_miss[x2] - p_miss[x1]))
    eer = p_miss[x1] + a * (p_miss[x2] - p_miss[x1])
    dcf = p_miss * p_target + p_fa * (1 - p_target)
    return eer, dcf.min() / min(p_target, 1 - p_target)


def child(which: str, folder: str, trials_dir: str) -> None:
    start = time.perf_counter()
    result = (run_sveval if which == "sveval" else run_baseline)(folder, trials_dir)
    result["seconds"] = time.perf_counter() - start
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(which: str, folder: Path, trials_dir: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, str(folder), str(trials_dir)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", help="Keep the generated folder here (reused when it exists).")
    parser.add_argument("--repeat", type=int, default=1, help="Runs of each; the best is reported.")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--build", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.build:
        print(json.dumps([str(x) if isinstance(x, Path) else x for x in build(Path(args.build))]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        start = time.perf_counter()
        # built in a subprocess too, so that the timed children do not inherit its peak memory
        out = subprocess.run(
            [sys.executable, __file__, "--build", str(workdir)], check=True, capture_output=True, text=True
        )
        folder, trials_dir, total = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"release folder with {total:,} trials built in {time.perf_counter() - start:.1f} s: {folder}")
        results = {}
        for which in ("baseline", "sveval"):
            runs = [measure(which, folder, trials_dir) for _ in range(args.repeat)]
            results[which] = min(runs, key=lambda r: r["seconds"])
            r = results[which]
            print(
                f"{which:<9} {r['seconds']:7.2f} s  peak {r['peak_mb']:7.0f} MB  folder clean: {r['clean']}"
            )
        ratio = results["baseline"]["seconds"] / results["sveval"]["seconds"]
        print(f"sveval validate is {ratio:.1f}x faster than the dict-based baseline ({os.cpu_count()} CPUs)")
        if not (results["sveval"]["clean"] and results["baseline"]["clean"]):
            sys.exit("a validator reported problems in the clean folder")


if __name__ == "__main__":
    main()
