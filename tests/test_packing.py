"""Packed-row batching: few shapes on real length distributions, and masking that costs little."""

from __future__ import annotations

import numpy as np
import pytest

from sveval.models import packing
from sveval.synthetic import voxceleb_like_durations


def frames_of(seconds: np.ndarray) -> np.ndarray:
    samples = np.round(seconds * 16000).astype(np.int64)
    return 1 + (samples - 400) // 160  # Kaldi frames, 25 ms every 10 ms


@pytest.mark.slow
def test_voxceleb2_dev_sized_run_meets_few_shapes_and_little_padding():
    durations = voxceleb_like_durations(1_092_009, seed=1)
    assert 8.1 < durations.mean() < 8.3 and durations.min() >= 4 and durations.max() <= 60
    frames = frames_of(durations)
    plan = packing.plan_batches(frames, packing.FRAMES_PER_BATCH_GPU)
    assert len(plan.shapes()) <= 100  # in fact one: every row has the same width
    assert plan.padded_fraction(frames) < 0.05
    placed = np.concatenate([np.asarray(b) for b in plan.batches])
    assert np.array_equal(np.sort(placed), np.arange(len(frames)))  # each utterance exactly once
    for batch, width in zip(plan.batches[:: len(plan.batches) // 50], plan.widths[:: len(plan.widths) // 50]):
        assert packing.Layout.of(frames[batch], width).width == width  # the slots fit their row


def test_rows_respect_the_utterance_cap_and_oversized_utterances_get_bounded_widths():
    frames = np.array([5000, 120, 90, 90, 80, 70, 2000])
    plan = packing.plan_batches(frames, 1000, max_utterances=2)
    assert all(len(b) <= 2 for b in plan.batches)
    assert plan.batches[0] == [0] and plan.widths[0] == 5084  # 5002 columns up to steps of 124
    assert plan.batches[1] == [6] and plan.widths[1] == 2108
    assert set(plan.widths[2:]) == {1000}
    assert plan.batches[2:] == [[1, 2], [3, 4], [5]]  # longest first
    topped_up = packing.plan_batches(frames[1:6], 300).batches  # slots 122, 92, 92, 82, 72
    assert topped_up == [[0, 1, 4], [2, 3]]  # the shortest fills what the longest leave
    free = packing.plan_batches(frames, None, max_utterances=3)  # CPU: rows as wide as they need
    assert free.widths == [sum(packing.slot(int(frames[i])) for i in b) for b in free.batches]
    with pytest.raises(ValueError):
        packing.plan_batches(frames, 0)


def test_row_index_places_frames_and_samples():
    index = packing.row_index([400, 720, 560], 20, window_size=400, window_shift=160)
    assert index["frames"].tolist() == [1, 3, 2] and index["starts"].tolist() == [0, 4, 10]
    assert index["columns"].tolist() == [0, 4, 5, 6, 10, 11]
    assert index["segment"].tolist() == [0, 1, 1, 1, 2, 2]
    assert index["sample_starts"].tolist() == [0, 400, 560, 720, 1120, 1280]  # each file's own frames
    assert index["zero_full"].tolist() == [1, 2, 3, 7, 8, 9] + list(range(12, 20))
    assert index["zero_half"].tolist() == [1, 4] + list(range(6, 10))


@pytest.mark.slow
def test_masking_writes_only_the_gap_columns():
    """Counted, not timed: in a packed row of mixed lengths the masking writes (elements) are the gap
    columns alone, a small fraction of what the network writes; no other pass is added per layer."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    from sveval.models.dfresnet import build, fold_batchnorm

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops: list[tuple[str, int]] = []  # (op, elements written)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = func.overloadpacket.__name__
            if name.startswith("index_fill"):
                self_, dim, index = args[0], args[1], args[2]
                written = self_.numel() // self_.shape[dim] * index.numel()
            else:
                written = out.numel() if isinstance(out, torch.Tensor) else 0
            self.ops.append((name, written))
            return out

    torch.manual_seed(0)
    model = fold_batchnorm(build("Gemini_DF_ResNet60").eval()).use_channels_last().use_matrix_products()
    frames = frames_of(voxceleb_like_durations(4, seed=2) / 4)  # 1-4 s: a small, mixed-length row
    equal = [int(frames.mean())] * 4
    counts = {}
    for name, lengths in (("mixed", frames), ("equal", equal)):
        layout = packing.Layout.of(lengths)
        zero_full, zero_half = (torch.from_numpy(z) for z in layout.zero_columns())
        row = torch.randn(1, layout.width, 80)
        with torch.inference_mode(), Count() as count:
            model.frame_map(row, (zero_full, zero_half))
        counts[name] = count.ops
        masking = sum(n for op, n in count.ops if op.startswith("index_fill"))
        network = sum(n for op, n in count.ops if not op.startswith("index_fill"))
        gaps = len(zero_full) / layout.width
        assert masking < 0.01 * network, (name, masking / network, gaps)
    assert [op for op, _ in counts["mixed"]] == [op for op, _ in counts["equal"]]  # the same passes
