"""GPU extraction on a real length distribution, against WeSpeaker baselines measured in the same run.

    python benchmarks/extract_gpu.py                       # DF-ResNet114, 20,000 VoxCeleb-like lengths, bf16
    python benchmarks/extract_gpu.py --lengths fixed       # every utterance --seconds long (the best case)
    python benchmarks/extract_gpu.py --device cpu --tiny   # smoke test of the script itself (any machine)
    (the loader alone: benchmarks/extract_feed.py)

Synthetic audio (--speakers voices: harmonic source, per-speaker f0 and tilt, per-utterance excerpt, gain and
noise); durations 4 s + lognormal (mean 8.2 s, cap 60 s, `sveval.synthetic.voxceleb_like_durations`) or all
--seconds; a random-weight DF-ResNet (BatchNorm statistics randomised; --model for a real checkpoint).
Prints, in one run:
  * sveval end to end on --cold-utts utterances in a fresh process (every first-call cost included: CUDA
    context, cuDNN kernel choice, worker start), with the defaults of `sveval extract --precision P`;
  * sveval end to end on all --utts in this process (first calls included), then steady (the same again),
    the number of distinct batch shapes of the plan, and true-fp32 end to end on the --cold-utts subset;
  * the Embedder alone on rows decoded beforehand, and the loader alone (decoding workers, packing,
    pinning) with no model: the two halves of end to end;
  * WeSpeaker-style batch-1 fp32 (true float32, TF32 off), one utterance at a time;
  * model-only forwards (no fbank, no I/O) of 8.2 s utterances: WeSpeaker's module as it builds it
    (unfolded BatchNorm, batch 64) in bf16 autocast + channels-last and in fp32; sveval's network on a packed
    row of the default width (59 x 8.2 s), in bf16 and fp32, with each depthwise variant, and the folded
    cuDNN-only network of the previous version; a mixed-length row against an equal-length one;
  * each ratio, bf16 vs fp32 cosine, projected minutes for Vox1 and VoxCeleb2-dev, and a kernel profile of
    one bf16 row.
Sized to finish in under 4 minutes on one H100/H200.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from extract_cpu import wespeaker_style  # the same batch-1 fp32 baseline as the CPU benchmark
from extract_feed import feed  # the loader alone, no model

try:
    import sveval  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VOX1_UTTS = 153_516
VOX2_DEV_UTTS = 1_092_009
RATE = 16000


def _write_speaker(job) -> int:
    """All utterances of one synthetic speaker: excerpts of one long voiced signal, gain and noise."""
    import soundfile

    folder, speaker, durations = job
    rng = np.random.default_rng(1000 + speaker)
    base_seconds = max(durations) + 1
    t = np.arange(int(base_seconds * RATE)) / RATE
    f0 = 85 + 170 * rng.random()
    tilt = 0.6 + 0.9 * rng.random()
    harmonics = [k for k in range(1, 13) if f0 * k < 7000]
    vibrato = 1 + 0.02 * np.sin(2 * np.pi * 0.7 * t)
    source = sum(np.sin(2 * np.pi * f0 * k * t * vibrato + rng.random() * 6) / k**tilt for k in harmonics)
    envelope = 0.4 + 0.6 * np.sin(2 * np.pi * (1.5 + 3 * rng.random()) * t) ** 2
    voice = (source * envelope).astype(np.float32)
    for i, seconds in enumerate(durations):
        n = int(seconds * RATE)
        start = rng.integers(0, len(voice) - n + 1)
        signal = 0.08 * (0.5 + rng.random()) * voice[start : start + n]
        signal = signal + 0.005 * rng.standard_normal(n, dtype=np.float32)
        path = Path(folder) / f"id{speaker:05d}" / "synth" / f"{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, np.clip(signal, -1, 1), RATE, subtype="PCM_16")
    return len(durations)


def synthesize(folder: Path, durations: np.ndarray, speakers: int, processes: int) -> list[str]:
    """Write the files; returns their paths relative to `folder` (`list_wav_dir` ids) in `durations` order."""
    jobs = [(str(folder), s, durations[s::speakers].tolist()) for s in range(speakers)]
    with ProcessPoolExecutor(max_workers=processes) as pool:
        list(pool.map(_write_speaker, [j for j in jobs if j[2]]))
    return [f"id{i % speakers:05d}/synth/{i // speakers:05d}.wav" for i in range(len(durations))]


def random_model(arch: str):
    import torch

    from sveval.models.dfresnet import build

    torch.manual_seed(0)
    model = build(arch)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def child(args) -> None:
    """A fresh process: `sveval extract` defaults on a list, every first-call cost inside the time."""
    from sveval.io.audio import read_wav_scp
    from sveval.models.checkpoint import load_model
    from sveval.models.extract import extract_to_dir

    loaded = load_model(args.child_model, args.arch)
    result = extract_to_dir(
        loaded,
        read_wav_scp(args.child_scp),
        args.child_out,
        device=args.device,
        precision=args.precision,
        progress=False,
        **({"frames_per_batch": args.frames_per_batch} if args.frames_per_batch else {}),
    )
    print(json.dumps({"seconds": result.seconds, "extracted": result.extracted}))


def time_forward(run, repeats: int, sync) -> float:
    """Seconds per call: two warm-up calls (kernel choice), then the mean of `repeats`."""
    for _ in range(2):
        run()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    sync()
    return (time.perf_counter() - start) / repeats


def model_only(loaded, device: str, seconds: float, batch: int, width: int, repeats: int, mixed_frames):
    """utt/s of model forwards on random features (no fbank, no I/O); returns {label: utt/s or time ratio}."""
    import copy

    import torch

    from sveval.models import packing
    from sveval.models.dfresnet import fold_batchnorm
    from sveval.models.embedder import Embedder, fp32_precision

    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    frames = int(1 + (seconds * RATE - 400) // 160)
    feats = torch.randn(batch, frames, 80, device=dev)
    rows = {}
    with torch.inference_mode():
        wespeaker = copy.deepcopy(loaded.model).to(dev).eval()
        with fp32_precision(dev, "fp32"):
            t = time_forward(lambda: wespeaker(feats), repeats, sync)
        rows[f"WeSpeaker module fp32 (true), batch {batch}"] = batch / t
        wespeaker_cl = copy.deepcopy(loaded.model).to(dev).eval().use_channels_last()
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            t = time_forward(lambda: wespeaker_cl(feats), repeats, sync)
        rows[f"WeSpeaker module bf16 channels-last, batch {batch}"] = batch / t

        per_row = max(1, width // packing.slot(frames))
        equal_index = _index([frames] * per_row, width, dev)
        mixed_index = _index(mixed_frames, width, dev)
        row = torch.randn(1, width, 80, device=dev)
        variants = [("bf16", None), ("fp32", None)]
        if dev.type == "cuda":
            variants += [("tf32", None), ("bf16", "cudnn")]
        for precision, depthwise in variants:
            embedder = Embedder(loaded, device, precision, depthwise=depthwise)
            with fp32_precision(dev, precision):
                t = time_forward(lambda e=embedder: e.model.packed(row, equal_index), repeats, sync)
                label = f"sveval network {precision}, depthwise {embedder.depthwise}, "
                label += f"fused pass {embedder.fused_elementwise}, "
                label += f"row {per_row} x {seconds:g} s"
                rows[label] = per_row / t
                if depthwise is None:
                    t_mixed = time_forward(lambda e=embedder: e.model.packed(row, mixed_index), repeats, sync)
                    mixed_label = f"  {precision} mixed-length row ({len(mixed_frames)} utts), time vs equal"
                    rows[mixed_label] = t_mixed / t
        old = fold_batchnorm(loaded.model).to(dev)
        if dev.type == "cuda":
            old.use_channels_last()
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            t = time_forward(lambda: old(feats), repeats, sync)
        rows[f"previous sveval (folded cuDNN convs + bias) bf16, batch {batch}"] = batch / t
    return rows


def embedder_alone(loaded, utts, device: str, precision: str, frames_per_batch: int):
    """utt/s of `Embedder` on rows decoded beforehand: the device's share of end to end, no loader."""
    import torch

    from sveval.io.audio import audio_info
    from sveval.models import packing
    from sveval.models.embedder import BatchAudio, Embedder
    from sveval.models.fbank import num_frames

    frames = [num_frames(audio_info(u.path).num_samples) for u in utts]
    plan = packing.plan_batches(frames, frames_per_batch if device != "cpu" else 1200)
    dataset = BatchAudio([[utts[i] for i in b] for b in plan.batches], plan.widths, loaded.fbank)
    pin = device.startswith("cuda")
    items = [dataset[i] for i in range(len(dataset))]
    if pin:
        for item in items:
            item["samples"] = item["samples"].pin_memory()
    embedder = Embedder(loaded, device, precision)
    embedder.launch(items[0]["samples"], items[0]["lengths"], items[0]["index"])()  # first call
    start = time.perf_counter()
    waits = [embedder.launch(i["samples"], i["lengths"], i["index"]) for i in items]
    count = sum(len(w()) for w in waits)
    if pin:
        torch.cuda.synchronize()
    return count / (time.perf_counter() - start), embedder.fused_elementwise


def _index(frames, width, dev):
    import torch

    from sveval.models import packing

    layout = packing.Layout.of(frames, width)
    zero_full, zero_half = layout.zero_columns()
    return {
        "starts": torch.from_numpy(layout.starts).to(dev),
        "frames": torch.tensor(list(frames), device=dev),
        "zero_full": torch.from_numpy(zero_full).to(dev),
        "zero_half": torch.from_numpy(zero_half).to(dev),
    }


def profile(loaded, device: str, precision: str, width: int, mixed_frames) -> None:
    """Top GPU kernels of one packed row forward (mixed lengths)."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from sveval.models.embedder import Embedder, fp32_precision

    dev = torch.device(device)
    embedder = Embedder(loaded, device, precision)
    index = _index(mixed_frames, width, dev)
    row = torch.randn(1, width, 80, device=dev)
    with torch.inference_mode(), fp32_precision(dev, precision):
        for _ in range(2):
            embedder.model.packed(row, index)
        torch.cuda.synchronize()
        with torch_profile(activities=[ProfilerActivity.CUDA]) as prof:
            embedder.model.packed(row, index)
            torch.cuda.synchronize()
    events = prof.key_averages()
    total = sum(e.device_time_total for e in events)
    print(
        f"\nprofile of one {precision} row ({len(mixed_frames)} mixed-length utterances, {width} frames): "
        f"{total / 1000:.1f} ms of GPU time"
    )
    top = sorted(events, key=lambda e: e.device_time_total, reverse=True)[:14]
    for e in top:
        print(
            f"  {e.device_time_total / 1000:7.2f} ms {100 * e.device_time_total / total:5.1f} % "
            f"{e.count:5d} calls  {e.key[:90]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="Gemini_DF_ResNet114")
    parser.add_argument("--model", help="a real checkpoint or model folder instead of random weights")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--lengths", choices=["voxceleb", "fixed"], default="voxceleb")
    parser.add_argument("--utts", type=int, default=20_000)
    parser.add_argument("--cold-utts", type=int, default=3000)
    parser.add_argument("--baseline-utts", type=int, default=300)
    parser.add_argument("--speakers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8.2, help="--lengths fixed: every utterance")
    parser.add_argument("--frames-per-batch", type=int, help="default: sveval's")
    parser.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="bf16")
    parser.add_argument("--num-workers", type=int, help="default: sveval's (from the cores)")
    parser.add_argument("--repeats", type=int, default=5, help="timed model-only forwards")
    parser.add_argument("--tiny", action="store_true", help="DF-ResNet60, a few short utterances: smoke test")
    for hidden in ("--child-model", "--child-scp", "--child-out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_model:
        return child(args)
    if args.tiny:
        args.arch, args.utts, args.cold_utts, args.baseline_utts, args.speakers = (
            "Gemini_DF_ResNet60",
            16,
            6,
            3,
            4,
        )
        args.frames_per_batch, args.num_workers, args.repeats = args.frames_per_batch or 1200, 1, 1

    import kaldiio
    import torch

    from sveval.io.audio import list_wav_dir
    from sveval.models import packing
    from sveval.models.checkpoint import LoadedModel, load_model
    from sveval.models.embedder import fp32_precision
    from sveval.models.extract import extract_to_dir
    from sveval.models.fbank import FbankConfig, num_frames
    from sveval.synthetic import voxceleb_like_durations

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --device cpu --tiny for a smoke test")
    started = time.perf_counter()
    if args.model:
        loaded = load_model(args.model, args.arch if args.arch != parser.get_default("arch") else None)
        args.arch = loaded.arch
    else:
        loaded = LoadedModel(
            random_model(args.arch), args.arch, "benchmark", Path("random"), "wespeaker", (), FbankConfig()
        )
    if args.lengths == "voxceleb":
        durations = voxceleb_like_durations(args.utts, seed=7)
    else:
        durations = np.full(args.utts, args.seconds)
    if args.tiny:
        durations = durations / 4
    frames_per_batch = args.frames_per_batch or packing.FRAMES_PER_BATCH_GPU
    options = {"frames_per_batch": args.frames_per_batch} if args.frames_per_batch else {}
    if args.num_workers is not None:
        options["num_workers"] = args.num_workers
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    lines = []

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        import os

        ids = synthesize(tmp / "wav", durations, args.speakers, processes=max(1, (os.cpu_count() or 2)))
        utts = list_wav_dir(tmp / "wav")
        by_id = {u.utt: u for u in utts}
        in_plan_order = [by_id[i] for i in ids]  # utts is sorted by path; `frames` follow `durations`
        t_synth = time.perf_counter() - started
        frames = [num_frames(int(d * RATE)) for d in durations]
        plan = packing.plan_batches(frames, frames_per_batch)
        cold = utts[: args.cold_utts]

        # 1. a fresh process, every first-call cost included
        from sveval.io.audio import read_wav_scp  # noqa: F401

        checkpoint = tmp / "model.pt"
        torch.save(loaded.model.state_dict(), checkpoint)
        scp = tmp / "cold.scp"
        scp.write_text("".join(f"{u.utt} {u.path}\n" for u in cold))
        command = [
            sys.executable,
            __file__,
            "--child-model",
            str(checkpoint),
            "--child-scp",
            str(scp),
            "--child-out",
            str(tmp / "cold"),
            "--arch",
            args.arch,
            "--device",
            args.device,
            "--precision",
            args.precision,
        ]
        if args.frames_per_batch:
            command += ["--frames-per-batch", str(args.frames_per_batch)]
        done = subprocess.run(command, capture_output=True, text=True)
        try:
            cold_result = json.loads(done.stdout.strip().splitlines()[-1])
            cold_rate = cold_result["extracted"] / cold_result["seconds"]
        except (IndexError, ValueError, KeyError):
            print(f"fresh-process run failed ({done.returncode}):\n{done.stderr[-3000:]}", flush=True)
            cold_rate = float("nan")
        print(f"fresh process: {cold_rate:.1f} utt/s ({time.perf_counter() - started:.0f} s)", flush=True)

        # 2. this process: all utterances, cold, then again (steady)
        runs = {}
        for name in ("first", "steady"):
            start = time.perf_counter()
            result = extract_to_dir(
                loaded,
                utts,
                tmp / name,
                device=args.device,
                precision=args.precision,
                progress=False,
                **options,
            )
            sync()
            runs[name] = (time.perf_counter() - start, result)
            print(
                f"{name}: {len(utts) / runs[name][0]:.1f} utt/s ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        ours = dict(kaldiio.load_scp(str(runs["first"][1].scp)))
        workers = options.get("num_workers")
        if workers is None:
            from sveval.models.embedder import default_num_workers

            workers = default_num_workers(args.device)

        embedder_rate, fused = embedder_alone(loaded, cold, args.device, args.precision, frames_per_batch)
        fed = feed(
            [[in_plan_order[i] for i in b] for b in plan.batches],
            plan.widths,
            loaded.fbank,
            workers,
            ship_int16=True,
            pin=dev.type == "cuda",
        )
        start = time.perf_counter()
        fp32_result = extract_to_dir(
            loaded, cold, tmp / "fp32", device=args.device, precision="fp32", progress=False, **options
        )
        sync()
        t_fp32 = time.perf_counter() - start
        fp32 = dict(kaldiio.load_scp(str(fp32_result.scp)))

        # 3. WeSpeaker-style batch-1 true fp32
        subset = cold[:: max(1, len(cold) // args.baseline_utts)][: args.baseline_utts]
        wespeaker_style(loaded, subset[:2], args.device)  # warm-up
        sync()
        start = time.perf_counter()
        with fp32_precision(dev, "fp32"):
            baseline = wespeaker_style(loaded, subset, args.device)
        sync()
        t_base = time.perf_counter() - start

    # 4. model-only forwards
    mixed = [frames[i] for i in plan.batches[len(plan.batches) // 2]]
    width = plan.widths[len(plan.batches) // 2]
    model_rows = model_only(
        loaded, args.device, 0.5 if args.tiny else 8.2, 4 if args.tiny else 64, width, args.repeats, mixed
    )

    base_rate = len(subset) / t_base
    first_rate = len(utts) / runs["first"][0]
    steady_rate = len(utts) / runs["steady"][0]
    name = torch.cuda.get_device_name() if dev.type == "cuda" else "CPU"
    lines.append(
        f"{args.arch}, {len(utts):,} utterances, {args.lengths} lengths (mean {durations.mean():.2f} s, "
        f"max {durations.max():.1f} s), {name}, torch {torch.__version__}"
    )
    lines.append(
        f"  plan: {len(plan.batches):,} batches, {len(plan.shapes())} distinct shape(s) "
        f"{sorted(plan.shapes())[:4]}, {100 * plan.padded_fraction(frames):.2f} % padded columns; "
        f"{workers} decoding workers"
    )
    lines.append(
        f"  sveval {args.precision} end to end, fresh process, {len(cold):,} utts: {cold_rate:9.1f} utt/s"
    )
    lines.append(
        f"  sveval {args.precision} end to end, first run incl. first calls: {first_rate:9.1f} utt/s"
    )
    lines.append(
        f"  sveval {args.precision} end to end, steady (second run):         {steady_rate:9.1f} utt/s"
    )
    lines.append(
        f"  sveval fp32 (true) end to end, {len(cold):,} utts:                {len(cold) / t_fp32:9.1f} utt/s"
    )
    lines.append(
        f"  sveval Embedder alone, pre-decoded rows (fbank + network + pooling):   {embedder_rate:9.1f} utt/s"
        f" (fused Triton bias/ReLU pass: {fused})"
    )
    main_ms, decode_ms = 1000 * fed["main_cpu"] / len(plan.batches), 1000 * fed["worker_cpu"] / len(utts)
    lines.append(
        f"  loader alone (decoding, packing, pinning; no model), {workers} workers:   "
        f"{fed['utterances'] / fed['wall']:9.1f} utt/s (main process {main_ms:.1f} ms CPU per row; "
        f"decoding {decode_ms:.2f} ms CPU per utterance)"
    )
    lines.append(f"  WeSpeaker-style batch-1 fp32 (true), {len(subset)} utts:        {base_rate:9.1f} utt/s")
    lines.append("  model only (no fbank, no I/O), utt/s:")
    for label, value in model_rows.items():
        lines.append(
            f"    {label:<75} {value:9.3f}" if label.startswith("  ") else f"    {label:<75} {value:9.1f}"
        )
    we_bf16 = next(v for k, v in model_rows.items() if k.startswith("WeSpeaker module bf16"))
    we_fp32 = next(v for k, v in model_rows.items() if k.startswith("WeSpeaker module fp32"))
    our_fp32 = next(v for k, v in model_rows.items() if k.startswith("sveval network fp32"))
    lines.append("  ratios:")
    lines.append(f"    end to end (first run) / WeSpeaker-style batch-1 fp32: {first_rate / base_rate:6.2f}x")
    lines.append(
        f"    end to end (first run) / WeSpeaker module bf16 forward: {first_rate / we_bf16:6.2f}x "
        "(target >= 1.2)"
    )
    lines.append(f"    end to end (steady)    / WeSpeaker module bf16 forward: {steady_rate / we_bf16:6.2f}x")
    lines.append(
        f"    sveval network fp32 / WeSpeaker module fp32 forward:    {our_fp32 / we_fp32:6.2f}x "
        "(target >= 1.0)"
    )
    diff = max(float(np.abs(fp32[u] - baseline[u]).max()) for u in baseline)
    lines.append(f"  fp32 packed batches vs batch-1 fp32: max |difference| {diff:.2e}")
    for label, centre in (("cosine", 0), ("cosine after subtracting the fp32 mean", 1)):
        mean = np.mean([baseline[u] for u in baseline], axis=0) if centre else 0
        values = [
            float(
                (ours[u] - mean)
                @ (baseline[u] - mean)
                / np.linalg.norm(ours[u] - mean)
                / np.linalg.norm(baseline[u] - mean)
            )
            for u in baseline
        ]
        lines.append(
            f"  {args.precision} vs batch-1 fp32 {label}: min {min(values):.5f}, mean {np.mean(values):.5f}"
        )
    for label, count in (("Vox1", VOX1_UTTS), ("VoxCeleb2-dev", VOX2_DEV_UTTS)):
        lines.append(
            f"  projected {label} ({count:,} utt): WeSpeaker-style {count / base_rate / 60:7.1f} min, "
            f"sveval {count / steady_rate / 60:6.1f} min"
        )
    lines.append(f"  total {time.perf_counter() - started:.0f} s (synthesis {t_synth:.0f} s)")
    print("\n".join(lines), flush=True)
    if dev.type == "cuda":
        try:
            profile(loaded, args.device, args.precision, width, mixed)
        except Exception as exc:  # the figures above are printed already
            print(f"profile failed: {exc!r}")


if __name__ == "__main__":
    main()
