"""Races of real `sveval score` processes into one output folder: how many tries lost data (must be 0).

    python benchmarks/race_out.py                    # 100 tries of 2 runs and 100 of 3, into new folders
    python benchmarks/race_out.py --tries 20 --existing   # into a folder holding a user's files

A try starts 2 (or 3) processes at once into the same `--out`; each must either write the folder or be told
that another run holds it (exit 2), and afterwards the folder must hold exactly one complete run: a record
(results.json) whose every listed file is there with the recorded SHA-256, no staging folder, no lock file,
and, with --existing, the user's file, subfolder and link exactly as they were. A try that breaks any of this
counts as lost. tests/hostile/test_output_folders.py runs a few tries of each kind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RUN = "from sveval.cli.main import main; main()"


@dataclass(frozen=True)
class Outcome:
    tries: int
    lost: int
    wrote: int  # runs that wrote the folder (exit 0)
    refused: int  # runs told another run holds it (exit 2)
    problems: tuple[str, ...]


def make_inputs(folder: Path) -> list[str]:
    """Small embeddings and a trial list; returns the score command's arguments without --out."""
    rng = np.random.default_rng(0)
    ids = [f"id{s}/v{u}/00001.wav" for s in range(20) for u in range(4)]
    speaker = np.repeat(np.arange(20), 4)
    vectors = rng.normal(size=(20, 16))[speaker] + 0.8 * rng.normal(size=(80, 16))
    np.savez(folder / "eval.npz", ids=np.array(ids), vectors=vectors)
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :: 7]]
    lines = [f"{a} {b} {'target' if a[:4] == b[:4] else 'nontarget'}\n" for a, b in pairs]
    (folder / "t.kaldi").write_text("".join(lines))
    return ["score", "--embeddings", str(folder / "eval.npz"), "--trials", str(folder / "t.kaldi"),
            "--norm", "cos", "--no-plots", "--quiet"]  # fmt: skip


def user_files(out: Path) -> None:
    """A user's files in an existing output folder: a file, a subfolder with a file, a link out of it."""
    (out / "keep").mkdir(parents=True)
    (out / "notes.txt").write_text("mine\n")
    (out / "keep" / "data.bin").write_bytes(b"\x00" * 1000)
    (out / "link").symlink_to(out.parent)


def snapshot_user(out: Path) -> dict:
    return {
        "notes": (out / "notes.txt").read_bytes() if (out / "notes.txt").is_file() else None,
        "data": (out / "keep" / "data.bin").read_bytes() if (out / "keep" / "data.bin").is_file() else None,
        "link": os.readlink(out / "link") if (out / "link").is_symlink() else None,
    }


def check_folder(out: Path) -> list[str]:
    """What is wrong with a folder after a race (empty list: one complete run, nothing left over)."""
    problems = []
    record = out / "results.json"
    if not record.is_file():
        return [f"{out}: no results.json"]
    written = json.loads(record.read_text()).get("written", {})
    if not written:
        problems.append(f"{out}: results.json lists no files")
    for name, entry in written.items():
        path = out / name
        if not path.is_file():
            problems.append(f"{out}: {name} listed but missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("sha256"):
            problems.append(f"{out}: {name} is not the file the record lists")
    left = [p.name for p in out.iterdir() if p.name.startswith(".sveval")]
    if left:
        problems.append(f"{out}: left behind {left}")
    return problems


def race(tries: int, writers: int, existing: bool, root: Path | None = None) -> Outcome:
    """`tries` races of `writers` processes, each into a fresh --out (holding a user's files if
    `existing`)."""
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        folder = Path(tmp)
        args = make_inputs(folder)
        lost = wrote = refused = 0
        problems: list[str] = []
        for i in range(tries):
            out = folder / f"out{i}"
            if existing:
                user_files(out)
            before = snapshot_user(out) if existing else None
            procs = [
                subprocess.Popen([sys.executable, "-c", RUN, *args, "--out", str(out)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
                for _ in range(writers)
            ]
            results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
            for p in procs:
                p.stdout.close()
                p.stderr.close()
            try_problems = []
            for code, err in results:
                if code == 0:
                    wrote += 1
                elif code == 2 and "one writer per folder" in err:
                    refused += 1
                else:
                    try_problems.append(f"try {i}: exit {code}: {err.strip()[-300:]}")
            if not any(code == 0 for code, _ in results):
                try_problems.append(f"try {i}: no run wrote the folder")
            try_problems += check_folder(out) if out.is_dir() else [f"try {i}: {out} is gone"]
            if existing and snapshot_user(out) != before:
                try_problems.append(f"try {i}: the user's files changed")
            lost += bool(try_problems)
            problems += try_problems
        return Outcome(tries, lost, wrote, refused, tuple(problems))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--tries", type=int, default=100)
    parser.add_argument("--existing", action="store_true", help="race into folders holding a user's files")
    args = parser.parse_args()
    lost = 0
    for writers in (2, 3):
        start = time.perf_counter()
        outcome = race(args.tries, writers, args.existing)
        kind = "an existing folder with a user's files" if args.existing else "a new folder"
        seconds = time.perf_counter() - start
        print(
            f"{outcome.tries} tries of {writers} runs into {kind}: lost data in {outcome.lost}; "
            f"{outcome.wrote} runs wrote, {outcome.refused} were refused ({seconds:.0f} s)"
        )
        for line in outcome.problems[:10]:
            print("  " + line)
        lost += outcome.lost
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
