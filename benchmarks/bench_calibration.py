"""Time `sveval calibrate` (QMF as WeSpeaker does it, and linear) on 1.2 M trials against WeSpeaker's steps.

    python benchmarks/bench_calibration.py [--trials 1200000] [--calibration-trials 30000] [--seed 0]

Data (synthetic, written to a temporary folder): an 8-column AS-norm score file of `--trials` trials over
150,000 utterances (the size of Vox1-O+E+H together), a 30,000-trial calibration file (what WeSpeaker's
generator makes by default) over other utterances, and a utt2dur for all of them.

Baseline, in the same run: WeSpeaker's local/score_calibration.sh stages 2-4 (gather the factors of both
files, train on the calibration file, infer on the evaluation file), run through the plain transcription of
wespeaker/bin/score_calibration.py in tests/wespeaker_qmf.py (the same line-by-line text reading and
writing; WeSpeaker's own module imports its whole package, torchaudio included). Its calibrated file is
checked to equal sveval's `--compat wespeaker` file byte for byte before any time is printed.

sveval, each from the files on disk to the files written, as the command does it:
  * qmf --compat wespeaker: the same torch training, features and inference vectorised;
  * qmf (default): the same features unrounded, fitted to convergence with scipy;
  * linear: trained on the 1.2 M-trial file itself (the largest training a user would run) and applied to it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
try:
    import sveval  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))
from sveval.calibration import run as cal  # noqa: E402
from sveval.io.durations import merge_durations, read_utt2dur  # noqa: E402
from sveval.io.scores import format_score_bytes, read_score_file  # noqa: E402


def make_files(folder: Path, n_trials: int, n_cal: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_utts = 150_000
    utts = np.array([f"id{k // 20:05d}/v{k % 7}/{k:06d}.wav" for k in range(n_utts)], dtype=object)
    cal_utts = np.array([f"cal{k // 8:05d}/v{k % 3}/{k:06d}.wav" for k in range(40_000)], dtype=object)
    dur = {"eval": 4 + rng.lognormal(1.115, 0.8, n_utts), "cal": 4 + rng.lognormal(1.115, 0.8, cal_utts.size)}
    lines = [
        f"{u} {d:.4f}\n" for ids, key in ((utts, "eval"), (cal_utts, "cal")) for u, d in zip(ids, dur[key])
    ]
    (folder / "utt2dur").write_text("".join(lines))
    for name, ids, durations, n in (
        ("eval", utts, dur["eval"], n_trials),
        ("cal", cal_utts, dur["cal"], n_cal),
    ):
        e, t = rng.integers(0, ids.size, n), rng.integers(0, ids.size, n)
        lab = rng.random(n) < 0.5
        short = np.minimum(np.minimum(durations[e], durations[t]), 20)
        score = np.where(lab, 1.5, -1.5) + 0.05 * short + rng.normal(0, 0.8, n)
        mags = rng.uniform(8, 20, (n, 2))
        means = rng.uniform(0.05, 0.3, (n, 2))
        extra = np.concatenate([mags, means], axis=1)
        (folder / f"{name}.score").write_bytes(format_score_bytes(ids[e], ids[t], score, lab, extra))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def sveval_run(folder: Path, method: str, fit: str, train_name: str, out: str) -> tuple[float, float]:
    """(seconds to read the durations and the training file and train, seconds to read, calibrate and
    write the evaluation file)."""
    start = time.perf_counter()
    durations = merge_durations([(str(folder / "utt2dur"), read_utt2dur(folder / "utt2dur"))])
    use = durations if method == "qmf" else None
    model = cal.train(cal.CalibrationOptions(method, None, fit), [read_score_file(folder / train_name)], use)
    trained = time.perf_counter()
    evaluation = read_score_file(folder / "eval.score")
    target = folder / out
    target.mkdir(exist_ok=True)
    cal.write_folder(str(target), model, [[evaluation]], [None], ((0.01, 1.0, 1.0),), use)
    return trained - start, time.perf_counter() - trained


def wespeaker_run(folder: Path) -> tuple[float, float]:
    """(gather the calibration file's factors + train, gather the evaluation file's + infer), seconds."""
    import wespeaker_qmf

    start = time.perf_counter()
    wespeaker_qmf.gather(folder / "utt2dur", 20, folder / "cal.score", folder / "cal.calibration")
    wespeaker_qmf.train(folder / "cal.calibration", folder / "model.pt")
    trained = time.perf_counter()
    wespeaker_qmf.gather(folder / "utt2dur", 20, folder / "eval.score", folder / "eval.calibration")
    wespeaker_qmf.infer(
        folder / "eval.calibration", folder / "model.pt", folder / "wespeaker_cali_eval.score"
    )
    return trained - start, time.perf_counter() - trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1_200_000)
    parser.add_argument("--calibration-trials", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t_make, _ = timed(lambda: make_files(folder, args.trials, args.calibration_trials, args.seed))
        print(f"{args.trials:,} evaluation + {args.calibration_trials:,} calibration trials: {t_make:.1f} s")
        ws = wespeaker_run(folder)
        compat = sveval_run(folder, "qmf", "wespeaker", "cal.score", "compat")
        ours = (folder / "compat" / "cali_eval.score").read_bytes()
        theirs = (folder / "wespeaker_cali_eval.score").read_bytes()
        if ours != theirs:
            raise SystemExit("sveval --compat wespeaker differs from WeSpeaker's calibrated file: no timing")
        qmf = sveval_run(folder, "qmf", "scipy", "cal.score", "qmf")
        linear = sveval_run(folder, "linear", "scipy", "eval.score", "linear")
    print("calibrated file identical to WeSpeaker's, byte for byte")
    print(f"{'seconds':<56} {'train':>7} {'apply':>7} {'total':>7} {'vs WeSpeaker':>13}")
    rows = [
        ("WeSpeaker score_calibration.py (gather, train, infer)", ws),
        ("sveval calibrate --method qmf --compat wespeaker", compat),
        ("sveval calibrate --method qmf (scipy, to convergence)", qmf),
        ("sveval calibrate (linear, trained on the evaluation file)", linear),
    ]
    for what, (train, apply) in rows:
        ratio = sum(ws) / (train + apply)
        print(f"{what:<56} {train:>7.1f} {apply:>7.1f} {train + apply:>7.1f} {ratio:>12.1f}x")
    print(
        f"apply only (read, features, calibrate, write {args.trials:,} trials): sveval --compat wespeaker "
        f"{ws[1] / compat[1]:.1f}x faster than WeSpeaker's gather + infer"
    )


if __name__ == "__main__":
    main()
