"""Splitting work across processes: torchrun ranks (torch.distributed) or independent `--num-shards` jobs."""

from __future__ import annotations

import heapq
import os
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Worker:
    """Who this process is. `kind`: None (alone), 'rank' (torchrun) or 'shard' (--num-shards)."""

    kind: str | None
    index: int
    count: int
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.kind == "rank"

    @property
    def is_main(self) -> bool:
        return self.index == 0


def from_environment(num_shards: int | None = None, shard_index: int | None = None) -> Worker:
    """torchrun sets RANK/WORLD_SIZE/LOCAL_RANK; `--num-shards/--shard-index` are for other schedulers."""
    if num_shards is not None and num_shards < 1:
        raise ValueError(f"--num-shards must be >= 1, got {num_shards}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        if num_shards not in (None, 1):
            raise ValueError(
                "--num-shards cannot be combined with torchrun; torchrun ranks already split the list"
            )
        return Worker("rank", int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if num_shards is None or num_shards == 1:
        if shard_index not in (None, 0):
            raise ValueError("--shard-index needs --num-shards")
        return Worker(None, 0, 1)
    if shard_index is None or not 0 <= shard_index < num_shards:
        raise ValueError(f"--shard-index must be in 0..{num_shards - 1} with --num-shards {num_shards}")
    return Worker("shard", shard_index, num_shards)


def init_process_group(worker: Worker, device_type: str) -> None:
    """Join the torchrun group: NCCL between GPUs, gloo on CPU."""
    import torch.distributed as dist

    if worker.distributed and not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=timedelta(hours=2))


def barrier(worker: Worker) -> None:
    if worker.distributed:
        import torch.distributed as dist

        dist.barrier()


def all_gather(worker: Worker, value):
    """Every rank's `value`, in rank order (just `[value]` when not distributed)."""
    if not worker.distributed:
        return [value]
    import torch.distributed as dist

    gathered = [None] * worker.count
    dist.all_gather_object(gathered, value)
    return gathered


def destroy(worker: Worker) -> None:
    if worker.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def balanced_split(weights: list[int], parts: int) -> list[list[int]]:
    """Indices of `weights` split into `parts` lists of nearly equal total weight.

    Longest-first greedy (LPT): each item, heaviest first (ties by index), goes to the part with the least
    weight so far (ties by part number). Deterministic, so every rank computes the same split. Each part
    is returned in increasing index order.
    """
    order = sorted(range(len(weights)), key=lambda i: (-weights[i], i))
    heap = [(0, p) for p in range(parts)]
    assigned: list[list[int]] = [[] for _ in range(parts)]
    for i in order:
        load, p = heapq.heappop(heap)
        assigned[p].append(i)
        heapq.heappush(heap, (load + weights[i], p))
    return [sorted(a) for a in assigned]
