"""Batches of mixed-length utterances as one packed row of a fixed width: one tensor shape for a whole run.

A GPU pays for every new (batch, frames) shape on its first call (cuDNN picks kernels per shape: 0.15 s in
fp32, nearly 1 s in bf16 channels-last for DF-ResNet114), so length-sorted batches of real lists, where
almost every batch has a new shape, spend more time choosing kernels than computing. Here a batch is the
utterances laid side by side along time in one row of `width` frames:

    | utt a (T_a frames) | gap | utt b | gap | ... | unused tail |

Each utterance starts at an even column and owns a slot of 2 * ceil(T / 2) + 2 columns, so between two
utterances there are 2-3 zero columns at full time resolution and at least one after the network halves
time (kernel 3, padding 1, stride 2: output column j sees input columns 2j-1..2j+1). The network zeroes the
columns outside every utterance before each 3x3 convolution (`zero_columns`), so every convolution sees,
around each utterance, exactly the zeros that its own padding gives it alone; 1x1 convolutions, the folded
BatchNorm and ReLU act per column; pooling reads each utterance's own columns. Embeddings therefore equal
batch-1 inference up to float rounding (tested to 1e-5), and with `width` fixed every batch has one shape.

Utterances are packed longest first, each row topped up from the shortest end, so the unused tail of a row
is shorter than the shortest remaining slot. An utterance longer than `width` gets a row of its own, its
width rounded up to a multiple of width / 8 (still a small, bounded set of shapes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Default frames per packed row on a GPU: about 64 utterances of 8 s. 40 frequency rows x 49,152 columns
# keeps the widest matrix product under cuBLASLt's 2,097,120-row limit, so bias and ReLU stay fused in it.
FRAMES_PER_BATCH_GPU = 49_152
OVERSIZE_STEPS = 8


def slot(frames: int) -> int:
    """Columns an utterance of `frames` frames takes in a row: even, with >= 2 zero columns after it."""
    return 2 * ((frames + 1) // 2) + 2


@dataclass(frozen=True)
class Plan:
    """Batches (indices into the frame counts) and the row width of each."""

    batches: list[list[int]]
    widths: list[int]

    def shapes(self) -> set[int]:
        return set(self.widths)

    def padded_fraction(self, frame_counts) -> float:
        """Fraction of all row columns that hold no utterance frame (gaps and tails)."""
        total = sum(self.widths)
        return 1 - float(np.sum(np.asarray(frame_counts, dtype=np.int64))) / total if total else 0.0


def plan_batches(
    frame_counts, frames_per_batch: int | None = None, max_utterances: int | None = None
) -> Plan:
    """Pack utterances into rows of `frames_per_batch` columns, at most `max_utterances` per row.

    frames_per_batch None: rows as wide as their utterances need (no fixed shape: for CPU, where shapes
    cost nothing and batch 1 is fastest). Raises ValueError for a budget or count below 1.
    """
    counts = np.asarray(frame_counts, dtype=np.int64)
    if frames_per_batch is not None and frames_per_batch < 1:
        raise ValueError(f"frames per batch must be at least 1, got {frames_per_batch}")
    if max_utterances is not None and max_utterances < 1:
        raise ValueError(f"utterances per batch must be at least 1, got {max_utterances}")
    cap = max_utterances or len(counts) or 1
    slots = 2 * ((counts + 1) // 2) + 2
    order = np.lexsort((np.arange(len(counts)), -slots))  # longest first, ties in list order
    budget = frames_per_batch if frames_per_batch is not None else int(slots.sum()) + 2
    batches: list[list[int]] = []
    widths: list[int] = []
    lo, hi = 0, len(order) - 1  # next longest, next shortest
    while lo <= hi:
        first = int(order[lo])
        lo += 1
        batch, used = [first], int(slots[first])
        while lo <= hi and len(batch) < cap and used + slots[order[lo]] <= budget:
            batch.append(int(order[lo]))
            used += int(slots[order[lo]])
            lo += 1
        while lo <= hi and len(batch) < cap and used + slots[order[hi]] <= budget:
            batch.append(int(order[hi]))
            used += int(slots[order[hi]])
            hi -= 1
        batches.append(batch)
        if frames_per_batch is None:
            widths.append(used)
        elif used > frames_per_batch:  # one utterance longer than a row
            step = max(2, 2 * (frames_per_batch // (2 * OVERSIZE_STEPS)))
            widths.append(-(-used // step) * step)
        else:
            widths.append(frames_per_batch)
    return Plan(batches, widths)


def plan_equal_frames(frame_counts, max_utterances: int) -> Plan:
    """Batches of equal frame counts only, longest first, at most `max_utterances` each: for models that
    cannot be masked (ONNX graphs). Widths: the columns the batch's slots would take in a row."""
    counts = np.asarray(frame_counts, dtype=np.int64)
    order = np.lexsort((np.arange(len(counts)), -counts))
    batches: list[list[int]] = []
    for i in order.tolist():
        if batches and len(batches[-1]) < max_utterances and counts[batches[-1][0]] == counts[i]:
            batches[-1].append(i)
        else:
            batches.append([i])
    return Plan(batches, [len(b) * slot(int(counts[b[0]])) for b in batches])


@dataclass(frozen=True)
class Layout:
    """Where each utterance of a packed row lies, at full and at half time resolution.

    starts (U,): first column of each utterance (even); frames (U,): its frame count; width: row columns.
    """

    starts: np.ndarray
    frames: np.ndarray
    width: int

    @classmethod
    def of(cls, frames, width: int | None = None) -> Layout:
        frames = np.asarray(frames, dtype=np.int64)
        slots = 2 * ((frames + 1) // 2) + 2
        starts = np.concatenate(([0], np.cumsum(slots)[:-1])).astype(np.int64)
        needed = int(slots.sum())
        if width is None:
            width = needed
        if width < needed or width % 2:
            raise ValueError(f"a row of {width} columns cannot hold slots of {needed} columns (even)")
        return cls(starts, frames, int(width))

    def valid(self, half: bool = False) -> np.ndarray:
        """(width or width / 2,) bool: columns that belong to an utterance."""
        starts, lengths, width = self.starts, self.frames, self.width
        if half:
            starts, lengths, width = starts // 2, (lengths + 1) // 2, width // 2
        marks = np.zeros(width + 1, dtype=np.int64)
        np.add.at(marks, starts, 1)
        np.add.at(marks, starts + lengths, -1)
        return np.cumsum(marks[:-1]) > 0

    def zero_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Column indices outside every utterance at full and at half time resolution."""
        return np.flatnonzero(~self.valid()), np.flatnonzero(~self.valid(half=True))


def row_index(sample_counts, width: int | None, window_size: int, window_shift: int) -> dict:
    """Index arrays (int64 numpy) that `Fbank.packed` and `GeminiDFResNet.packed` read for one row.

    sample_counts: samples of each utterance, in the order their waveforms are concatenated. Keys:
    sample_starts / columns / segment per valid column (first sample of its frame, its column, its
    utterance); starts, frames per utterance; zero_full, zero_half: `Layout.zero_columns`; width.
    """
    counts = np.asarray(sample_counts, dtype=np.int64)
    frames = np.where(counts >= window_size, 1 + (counts - window_size) // window_shift, 0)
    layout = Layout.of(frames, width)
    segment = np.repeat(np.arange(len(frames)), frames)
    within = np.arange(len(segment)) - np.repeat(np.cumsum(frames) - frames, frames)
    offsets = np.cumsum(counts) - counts
    zero_full, zero_half = layout.zero_columns()
    return {
        "sample_starts": offsets[segment] + within * window_shift,
        "columns": layout.starts[segment] + within,
        "segment": segment,
        "starts": layout.starts,
        "frames": frames,
        "zero_full": zero_full,
        "zero_half": zero_half,
        "width": layout.width,
    }
