"""Cost of knowing audio by provenance: the bookkeeping before a resumed extraction, per utterance.

Baseline (what resuming did before): read the folder's journals and look ids up in a set. Now: also `stat`
every listed audio file (path, size, mtime) and pick, per id, a record whose provenance matches
(`ark.wanted_from` + `ark.select`). Both on the same folder of N journalled records, in one run, best of 3;
prints seconds, the ratio and the projection for VoxCeleb2-dev (1,092,009 utterances) on this disk.

    python benchmarks/extract_folder.py [--n 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from sveval.io import ark

VOX2_DEV = 1_092_009


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="utterances (files and journalled records)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pairs = []
        for i in range(args.n):
            path = root / "wav" / f"id{i % 100:05d}" / f"{i:07d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * 44)
            pairs.append((f"id{i % 100:05d}/{i:07d}.wav", str(path)))
        wanted = ark.wanted_from(pairs)
        vector = np.zeros(256, dtype=np.float32)
        with ark.PartWriter(root / "out") as writer:
            writer.write((w.utt, vector, w.source) for w in wanted)

        def by_id():
            done = {r.utt for r in ark.read_parts(root / "out")}
            return [u for u, _ in pairs if u not in done]

        def by_provenance():
            selection = ark.select(ark.read_parts(root / "out"), ark.wanted_from(pairs))
            assert len(selection.chosen) == args.n
            return selection

        old, new = best_of(by_id), best_of(by_provenance)
    print(f"{args.n:,} journalled utterances, best of 3")
    print(f"  ids only (before)            {old:8.3f} s  ({1e6 * old / args.n:6.1f} us/utt)")
    print(f"  stat + provenance match (now) {new:7.3f} s  ({1e6 * new / args.n:6.1f} us/utt)")
    print(f"  ratio {new / old:.2f}x; VoxCeleb2-dev projection {new * VOX2_DEV / args.n:.1f} s on this disk")


if __name__ == "__main__":
    main()
