"""The feeding side of GPU extraction alone: decoding workers -> packed rows -> the main process, no model.

    python benchmarks/extract_feed.py                      # 2,000 VoxCeleb-like utterances, 1 worker
    python benchmarks/extract_feed.py --utts 400 --workers 1 --repeats 1   # quick

End to end on an H200 ran at 1,205 utt/s where the Embedder alone on decoded rows ran at 1,637: the rest is
feeding (issue 10). This measures, with no GPU needed, what each packed row costs before the model sees it,
for the rows as the loader shipped them before (float32 samples) and as it ships them now (int16 samples
for 16-bit files), in the same run on the same files:
  * decoding CPU per utterance, summed over the worker processes (their user + system time), and the
    utterances per second that many workers could feed at most;
  * the main process's CPU per row: receiving the row from shared memory and one copy of its samples into a
    reused buffer (what the pin-memory thread does before the host-to-device copy);
  * megabytes of samples per row, and the wall-clock rate with --workers workers.
Synthetic audio as benchmarks/extract_gpu.py writes it (16-bit WAV, 4 s + lognormal lengths, mean 8.2 s);
rows of the GPU default width (49,152 frames).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

try:
    import sveval  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def feed(batches, widths, fbank, workers: int, ship_int16: bool, pin: bool = False) -> dict:
    """One pass of the loader over every row. pin: the loader's pin-memory thread copies each row into
    pinned memory, as in a GPU run; otherwise the main thread copies its samples into a reused buffer in
    its place. Workers are reaped at the end, so their CPU time is counted."""
    import torch

    from sveval.models.embedder import BatchAudio

    loader = torch.utils.data.DataLoader(
        BatchAudio(batches, widths, fbank, ship_int16=ship_int16),
        batch_size=None,
        num_workers=workers,
        prefetch_factor=2 if workers else None,
        pin_memory=pin,
    )
    staging: dict[torch.dtype, torch.Tensor] = {}
    before_children, started = children_cpu(), time.perf_counter()
    main_cpu = 0.0
    shipped = 0
    utterances = 0
    iterator = iter(loader)
    while True:
        waited = time.thread_time()
        try:
            item = next(iterator)
        except StopIteration:
            break
        samples = item["samples"]
        if not pin:
            buffer = staging.get(samples.dtype)
            if buffer is None or len(buffer) < len(samples):
                buffer = staging[samples.dtype] = torch.empty(len(samples) * 2, dtype=samples.dtype)
            buffer[: len(samples)].copy_(samples)
        main_cpu += time.thread_time() - waited
        shipped += samples.numel() * samples.element_size()
        utterances += len(item["ids"])
        del item, samples
    del iterator  # joins the workers, so RUSAGE_CHILDREN includes them
    wall = time.perf_counter() - started
    worker_cpu = children_cpu() - before_children
    if not workers:  # decoding ran in this process: it is all in main_cpu
        worker_cpu = main_cpu
    return {
        "wall": wall,
        "utterances": utterances,
        "worker_cpu": worker_cpu,
        "main_cpu": main_cpu,
        "bytes": shipped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--utts", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1, help="decoding processes (default 1)")
    parser.add_argument("--repeats", type=int, default=2, help="passes per variant; the best is kept")
    parser.add_argument("--speakers", type=int, default=50)
    args = parser.parse_args()

    from extract_gpu import synthesize  # the same synthetic voices as the GPU benchmark

    from sveval.io.audio import list_wav_dir
    from sveval.models import packing
    from sveval.models.fbank import FbankConfig, num_frames
    from sveval.synthetic import voxceleb_like_durations

    durations = voxceleb_like_durations(args.utts, seed=0)
    with tempfile.TemporaryDirectory(prefix="sveval-feed-") as tmp:
        ids = synthesize(Path(tmp), durations, args.speakers, processes=2)
        by_id = {u.utt: u for u in list_wav_dir(tmp)}
        ordered = [by_id[i] for i in ids]
        fbank = FbankConfig()
        frames = [num_frames(int(d * 16000), fbank) for d in durations]
        plan = packing.plan_batches(frames, packing.FRAMES_PER_BATCH_GPU)
        batches = [[ordered[i] for i in b] for b in plan.batches]
        rows = len(batches)
        print(
            f"{args.utts:,} utterances (mean {durations.mean():.2f} s), {rows} rows of "
            f"{packing.FRAMES_PER_BATCH_GPU:,} frames, {args.workers} decoding worker(s), "
            f"best of {args.repeats}",
            flush=True,
        )
        results = {}
        for label, ship_int16 in (("float32 (before)", False), ("int16 (now)", True)):
            runs = [feed(batches, plan.widths, fbank, args.workers, ship_int16) for _ in range(args.repeats)]
            results[label] = {
                key: min(r[key] for r in runs) if key != "utterances" else runs[0][key] for key in runs[0]
            }
    print(
        f"  {'samples shipped as':18} {'MB/row':>7} {'main CPU ms/row':>16} {'decode CPU ms/utt':>18} "
        f"{'wall utt/s':>11} {'15 workers could feed':>22}"
    )
    for label, r in results.items():
        per_utt = r["worker_cpu"] / r["utterances"]
        print(
            f"  {label:18} {r['bytes'] / rows / 1e6:7.1f} {1000 * r['main_cpu'] / rows:16.2f} "
            f"{1000 * per_utt:18.3f} {r['utterances'] / r['wall']:11.0f} {15 / per_utt:17,.0f} utt/s"
        )
    old, new = results["float32 (before)"], results["int16 (now)"]
    print(
        f"  int16 / float32: main CPU per row {new['main_cpu'] / old['main_cpu']:.2f}x, decode CPU "
        f"{new['worker_cpu'] / old['worker_cpu']:.2f}x, bytes {new['bytes'] / old['bytes']:.2f}x, "
        f"wall {new['wall'] / old['wall']:.2f}x"
    )


if __name__ == "__main__":
    main()
