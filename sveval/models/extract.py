"""Whole-utterance embedding extraction into a Kaldi ark/scp folder: batched, resumable, multi-process.

Batches are packed rows (`sveval.models.packing`): utterances side by side along time, with zero gaps that
the network re-zeroes before every 3x3 convolution, so every embedding equals batch-1 inference up to float
rounding (tested to 1e-5). On a GPU every row has the same width (`frames_per_batch`), so a whole run meets
one tensor shape and pays cuDNN's per-shape kernel choice once. Audio is decoded by `num_workers` processes
ahead of the device (pinned memory on GPU), fbank runs on the device, and results are copied back while the
next batches run (two stay queued on a GPU: `Embedder.queued`). `precision`: see PRECISIONS.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from sveval.errors import InputError
from sveval.io import ark, lock
from sveval.io.audio import Utterance, audio_info, file_size
from sveval.models import extract_guard, onnx_model, packing, parallel
from sveval.models.checkpoint import LoadedModel
from sveval.models.embedder import PRECISIONS, BatchAudio, Embedder, default_batching, default_num_workers
from sveval.models.extract_result import ExtractResult, Skipped
from sveval.models.fbank import num_frames
from sveval.models.onnx_model import OnnxEmbedder, OnnxModel

MIN_FRAMES = 3  # the network halves time once; the std over time needs at least two columns


def manifest(loaded: LoadedModel, precision: str) -> dict:
    """What makes an embedding: the weights (sha256 of the state dict), architecture, front-end, precision."""
    digest = hashlib.sha256()
    for key, value in sorted(loaded.model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return {
        "weights_sha256": digest.hexdigest(),
        "arch": loaded.arch,
        "embed_dim": loaded.model.embed_dim,
        "fbank": dataclasses.asdict(loaded.fbank),
        "precision": precision,
        "checkpoint": str(loaded.checkpoint),
    }


def resolve_device(device: str, worker: parallel.Worker) -> str:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available to torch")
        if device == "cuda":
            device = f"cuda:{worker.local_rank}"
        torch.cuda.set_device(torch.device(device))
    elif device != "cpu":
        raise InputError(f"device must be auto, cpu or cuda[:N], got {device!r}")
    return device


def _headers(utts: list[Utterance], threads: int) -> list[tuple[int | None, str | None]]:
    """(samples at 16 kHz, None) or (None, error) per utterance, read with a thread pool."""

    def one(utt: Utterance):
        try:
            return audio_info(utt.path).num_samples, None
        except InputError as exc:
            return None, str(exc)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return list(pool.map(one, utts, chunksize=256))


def _fail_or_skip(bad: list[Skipped], skip_bad: bool) -> None:
    if bad and not skip_bad:
        more = f" (and {len(bad) - 1} more; --skip-bad skips and lists them)" if len(bad) > 1 else ""
        raise InputError(f"{bad[0].reason}{more}")


def extract_to_dir(
    loaded: LoadedModel | OnnxModel,
    utts: list[Utterance],
    out_dir: str | Path,
    *,
    device: str = "auto",
    batch_size: int | None = None,
    frames_per_batch: int | None = None,
    precision: str = "fp32",
    num_workers: int | None = None,
    skip_bad: bool = False,
    num_shards: int | None = None,
    shard_index: int | None = None,
    progress: bool = True,
) -> ExtractResult:
    """Extract every utterance without a matching record in `out_dir`; publish `out_dir/xvector.scp` (exactly
    `utts`, in order, minus skipped ones) once all are there.

    The folder is locked for the run (`sveval.io.lock`: exclusive, or shared + this part's lock for ranks and
    shards); another writer raises InputError (exit 2) naming the holder. A record is reused only if its
    audio's path, size and mtime match the listed file now (`ark.select`); otherwise it is extracted again.
    Ids that cannot be scp keys are refused (or skipped with `skip_bad`) before anything else.

    Batching: rows of `frames_per_batch` columns holding at most `batch_size` utterances (defaults:
    `default_batching`); `num_workers` decoding processes (default: `default_num_workers`); `precision`
    one of PRECISIONS, recorded in xvector.json.

    Under torchrun every rank calls this; ranks split the remaining utterances balanced by duration, each
    writes its own part, and rank 0 publishes the scp after a barrier. With `num_shards`, this process does
    shard `shard_index` of the full list; the shard that completes the list publishes the scp.
    """
    try:
        worker = parallel.from_environment(num_shards, shard_index)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    onnx, providers = isinstance(loaded, OnnxModel), None
    if onnx:  # onnxruntime picks its provider; an ONNX graph cannot be masked: equal frame counts only
        device, providers = onnx_model.resolve_device(device, worker.local_rank)
    else:
        device = resolve_device(device, worker)
    default_frames, default_utts = default_batching(device)
    if onnx:
        frames_per_batch, batch_size = None, batch_size or (64 if device.startswith("cuda") else 1)
    if batch_size is None and frames_per_batch is None:
        batch_size = default_utts
    if frames_per_batch is None and not onnx:
        frames_per_batch = default_frames
    if batch_size is not None and batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    if frames_per_batch is not None and frames_per_batch < 2:
        raise InputError(f"--frames-per-batch must be at least 2, got {frames_per_batch}")
    if frames_per_batch is not None:
        frames_per_batch += frames_per_batch % 2  # rows hold slots of even width
    if num_workers is None:
        num_workers = default_num_workers(device)
    if num_workers < 0:
        raise InputError(f"--num-workers must be >= 0, got {num_workers}")
    if precision not in PRECISIONS:
        raise InputError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    # Checks that need no audio and no lock come first: ids that cannot be scp keys.
    invalid = [
        Skipped(
            u.utt, u.path, f"utterance id {u.utt!r} is empty or contains whitespace (not a valid scp key)"
        )
        for u in utts
        if not ark.valid_id(u.utt)
    ]
    _fail_or_skip(invalid, skip_bad)
    parallel.init_process_group(worker, "cpu" if onnx else torch.device(device).type)
    out_dir = Path(out_dir)
    started = time.perf_counter()
    part = ark.part_name(worker.kind, worker.index, worker.count)
    held = extract_guard.lock_folder(out_dir, worker, part)
    try:
        return _extract_locked(
            loaded, utts, out_dir, worker, part, invalid, held,
            device=device, providers=providers, batch_size=batch_size, frames_per_batch=frames_per_batch,
            precision=precision, num_workers=num_workers, skip_bad=skip_bad, progress=progress,
            started=started,
        )  # fmt: skip
    finally:
        for held_lock in reversed(held):
            held_lock.release()


def _extract_locked(
    loaded, utts, out_dir, worker, part, invalid, held, *,
    device, providers, batch_size, frames_per_batch, precision, num_workers, skip_bad, progress, started,
) -> ExtractResult:  # fmt: skip
    onnx = isinstance(loaded, OnnxModel)
    ark.check_manifest(
        out_dir, onnx_model.manifest(loaded, providers, precision) if onnx else manifest(loaded, precision)
    )
    invalid_ids = {b.utt for b in invalid}
    with ThreadPoolExecutor(max_workers=max(4, num_workers)) as pool:
        valid = [u for u in utts if u.utt not in invalid_ids]
        wanted = [
            ark.Wanted(u.utt, u.path, src)
            for u, src in zip(valid, pool.map(ark.source_of, (u.path for u in valid), chunksize=256))
        ]
    earlier = ark.select(ark.read_parts(out_dir), wanted)
    done = set(earlier.chosen)
    if worker.kind == "shard":  # independent jobs: split the full list, the same way whatever is done
        mine_all = _shard_of(valid, worker, num_workers)
        todo = [u for u in mine_all if u.utt not in done]
    else:
        todo = [u for u in valid if u.utt not in done]
    already_done = len(done)
    scp_path = out_dir / ark.SCP_NAME
    if todo and (worker.is_main or worker.kind == "shard") and scp_path.exists():
        scp_path.unlink()  # it lists an earlier list; a new one is published when this list is complete

    # Headers: each rank reads a strided share, then every rank sees all of them.
    share = todo[worker.index :: worker.count] if worker.distributed else todo
    gathered = parallel.all_gather(worker, _headers(share, max(4, num_workers)))
    headers: list = [None] * len(todo)
    for rank, values in enumerate(gathered):
        headers[rank :: worker.count if worker.distributed else 1] = values
    bad = [Skipped(u.utt, u.path, err) for u, (_, err) in zip(todo, headers) if err is not None]
    fb = loaded.fbank
    short = [
        Skipped(
            u.utt, u.path, f"{u.path}: too short ({n} samples at 16 kHz; at least {MIN_FRAMES} frames needed)"
        )
        for u, (n, _) in zip(todo, headers)
        if n is not None and num_frames(n, fb) < MIN_FRAMES
    ]
    bad += short
    _fail_or_skip(bad, skip_bad)
    bad_ids = {b.utt for b in bad}
    good = [(u, n) for u, (n, _) in zip(todo, headers) if u.utt not in bad_ids]
    if worker.distributed:
        split = parallel.balanced_split([n for _, n in good], worker.count)[worker.index]
        good = [good[i] for i in split]
    parallel.barrier(worker)  # everyone has read the parts before anyone appends

    frames = [num_frames(n, fb) for _, n in good]
    if onnx:
        plan = packing.plan_equal_frames(frames, batch_size)
    else:
        plan = packing.plan_batches(frames, frames_per_batch, batch_size)
    batches = [[good[i][0] for i in b] for b in plan.batches]
    if num_workers and plan.batches:
        _check_shared_memory(max(sum(good[i][1] for i in b) for b in plan.batches), num_workers)
    widths = plan.widths if frames_per_batch is not None else [None] * len(batches)
    loader = torch.utils.data.DataLoader(
        BatchAudio(batches, widths, fb),
        batch_size=None,
        num_workers=num_workers,
        pin_memory=device.startswith("cuda") and not onnx,
        prefetch_factor=PREFETCH if num_workers > 0 else None,  # rows are large: 16-31 MB of audio each
        worker_init_fn=functools.partial(extract_guard.die_with_parent, os.getpid()),
    )
    extracted = resampled = multichannel = 0
    decode_bad: list[Skipped] = []
    silent: list[str] = []
    from sveval.progress import progress as progress_bar

    bar = progress_bar(
        total=len(good),
        unit="utt",
        desc=f"extract {part}" if worker.kind else "extract",
        disable=not progress or (worker.distributed and not worker.is_main),
        smoothing=0.1,
    )
    label = str(loaded.path if onnx else loaded.checkpoint)
    checked = functools.partial(extract_guard.checked_embeddings, model=label)
    # Batches launched on the device and not yet written, oldest first: (ids, sources, wait); see
    # Embedder.queued.
    pending: collections.deque = collections.deque()
    with extract_guard.exit_on_sigterm(held) as guard, ark.PartWriter(out_dir, part) as writer, bar:

        def write_oldest() -> None:
            ids, sources, wait = pending.popleft()
            writer.write(zip(ids, checked(ids, wait()), sources))
            bar.update(len(ids))

        items = iter(loader)  # the decoders start now, while the device gets ready
        if onnx:
            embedder = _OnnxLaunch(OnnxEmbedder(loaded, providers, precision))
        else:
            embedder = Embedder(loaded, device, precision)
            if device.startswith("cuda") and widths and widths[0] is not None:
                # the shapes' first-call costs (about 1 s in bf16) overlap with decoding the first batches
                embedder.warm_up(max(set(widths), key=widths.count))
        for item in items:
            guard.check()
            errors = [Skipped(*e) for e in item["errors"]]
            _fail_or_skip(errors, skip_bad)
            decode_bad += errors
            if item["ids"]:
                wait = embedder.launch(item["samples"], item["lengths"], item["index"])
                pending.append((item["ids"], item["sources"], wait))
            while len(pending) > embedder.queued:
                write_oldest()
            extracted += len(item["ids"])
            resampled += item["resampled"]
            multichannel += item["multichannel"]
            silent += item["silent"]
            bar.update(len(errors))
        while pending:
            write_oldest()
    # Header problems are seen by every rank; rank 0 alone reports them.
    skipped = tuple((invalid + bad if worker.is_main or not worker.distributed else []) + decode_bad)
    ark.write_skipped(out_dir, part, [(s.utt, s.path, s.reason) for s in skipped])

    parallel.barrier(worker)
    scp = None
    if worker.is_main or worker.kind == "shard":
        skipped_ids = ark.read_skipped(out_dir)
        listed = [w for w in wanted if w.utt not in skipped_ids]
        now = ark.select(ark.read_parts(out_dir), listed)
        if not now.missing and not now.changed:
            scp = ark.publish_scp([out_dir], out_dir, listed).scp
        elif scp_path.exists():
            scp_path.unlink()  # an earlier list's: it must not pass for this one
    totals = parallel.all_gather(worker, (extracted, resampled, multichannel, skipped, silent))
    parallel.barrier(worker)
    parallel.destroy(worker)
    if worker.distributed:
        extracted = sum(t[0] for t in totals)
        resampled = sum(t[1] for t in totals)
        multichannel = sum(t[2] for t in totals)
        skipped = tuple(s for t in totals for s in t[3])
        silent = [s for t in totals for s in t[4]]
    notes = tuple(m for m in (lock.stale_message(h) for h in held) if m)
    return ExtractResult(
        out_dir=out_dir,
        scp=scp,
        extracted=extracted,
        already_done=already_done,
        skipped=skipped,
        resampled=resampled,
        multichannel=multichannel,
        seconds=time.perf_counter() - started,
        device=device,
        precision=precision,
        part=part,
        changed=tuple(sorted(set(earlier.changed) & {u.utt for u in todo})),
        silent=tuple(silent),
        notes=notes,
    )


class _OnnxLaunch:
    """`Embedder.launch` for an ONNX model: the batch's concatenated samples back to padded rows."""

    def __init__(self, embedder: OnnxEmbedder):
        self.embedder = embedder

    queued = 0  # onnxruntime computes each batch before `launch` returns

    def launch(self, samples: torch.Tensor, lengths: torch.Tensor, index=None):
        waves = torch.zeros((len(lengths), int(lengths.max())), dtype=torch.float32)
        for row, piece in enumerate(torch.split(samples, lengths.tolist())):
            waves[row, : len(piece)] = piece
        out = self.embedder(waves, lengths)
        return lambda: out


SHARED_MEMORY = "/dev/shm"
PREFETCH = 2  # batches each decoding worker keeps ready (the DataLoader's prefetch_factor)


def _check_shared_memory(row_samples: int, num_workers: int) -> None:
    """Decoded batches reach this process through shared memory; when it is too small (a container's
    default /dev/shm is 64 MB) a decoding worker fails to write its batch and the run waits forever.
    InputError (exit 2) before any decoding when even int16 batches cannot fit."""
    import shutil

    if not os.path.isdir(SHARED_MEMORY):
        return
    free = shutil.disk_usage(SHARED_MEMORY).free
    row_bytes = 2 * row_samples  # int16, the least a batch can take (other files ship float32: twice)
    needed = num_workers * PREFETCH * row_bytes
    if needed > free:
        fits = max(0, free // (PREFETCH * row_bytes))
        raise InputError(
            f"shared memory ({SHARED_MEMORY}) has {free / 1e6:,.0f} MB free, and {num_workers} decoding "
            f"workers x {PREFETCH} batches of up to {row_bytes / 1e6:,.1f} MB need {needed / 1e6:,.0f} MB: "
            f"use --num-workers {fits}"
            + (" or smaller batches (--frames-per-batch)" if not fits else "")
            + ", or give it more space (docker run --shm-size=2g)"
        )


def _shard_of(utts: list[Utterance], worker: parallel.Worker, threads: int) -> list[Utterance]:
    """This shard's share of the full list, balanced by file size (a header-free proxy of duration)."""
    with ThreadPoolExecutor(max_workers=max(4, threads)) as pool:
        sizes = list(pool.map(file_size, (u.path for u in utts), chunksize=256))
    return [utts[i] for i in parallel.balanced_split(sizes, worker.count)[worker.index]]
