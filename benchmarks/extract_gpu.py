"""Extraction at scale on one GPU: WeSpeaker-style batch-1 fp32 against sveval's path, in one run.

    python benchmarks/extract_gpu.py                     # DF-ResNet114, 8.2 s utterances, on cuda
    python benchmarks/extract_gpu.py --device cpu --tiny # smoke test of the script itself (any machine)

Synthetic audio from --speakers synthetic voices (harmonic source, per-speaker f0 and spectral tilt,
per-utterance phase, gain and noise), all --seconds long; a random-weight model (BatchNorm statistics
randomised; or --model for a real checkpoint). In one process:
  1. WeSpeaker-style: --baseline-utts utterances one at a time, fp32, fbank on the device (the forward is
     what is timed; WeSpeaker computes fbank in loader workers, which overlap it);
  2. sveval, end to end (`extract_to_dir`: header scan, worker decoding, pinned memory, fbank on the device,
     equal-frame batches, --precision, ark/scp writing) over all --utts utterances;
  3. sveval fp32 batched over the same utterances (equal to batch-1 to 1e-5, tested), as the reference for
     the bf16 accuracy checks: cosine of bf16 to fp32 embeddings (target >= 0.999) and the EER of a
     Vox1-O-sized trial list (18,860 target + 18,860 nontarget pairs) printed to 3 decimals with each.
With random weights every embedding shares a large common part and the utterance-specific rest is small,
so bf16 rounding in the trunk shows in the mean-subtracted cosine and in the EER far more than it would
with a trained model: judge the EER line with --model. Prints utt/s, the ratio and projected minutes for
Vox1 (153,516) and VoxCeleb2-dev (1,092,009). Aimed to finish in under 3 minutes on one H100.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from extract_cpu import wespeaker_style  # the same batch-1 fp32 baseline as the CPU benchmark

try:
    import sveval  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VOX1_UTTS = 153_516
VOX2_DEV_UTTS = 1_092_009
RATE = 16000


def _write_speaker(job) -> int:
    """All utterances of one synthetic speaker."""
    import soundfile

    folder, speaker, count, seconds = job
    rng = np.random.default_rng(1000 + speaker)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    f0 = 85 + 170 * rng.random()
    tilt = 0.6 + 0.9 * rng.random()
    harmonics = [k for k in range(1, 40) if f0 * k < 7000]
    for i in range(count):
        phases = rng.random(len(harmonics)) * 2 * np.pi
        drift = 1 + 0.03 * rng.standard_normal()
        source = sum(np.sin(2 * np.pi * f0 * drift * k * t + p) / k**tilt for k, p in zip(harmonics, phases))
        envelope = 0.4 + 0.6 * np.sin(2 * np.pi * (1.5 + 3 * rng.random()) * t + rng.random() * 6) ** 2
        signal = 0.08 * source * envelope * (0.5 + rng.random()) + 0.005 * rng.standard_normal(n)
        path = Path(folder) / f"id{speaker:05d}" / "synth" / f"{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, np.clip(signal, -1, 1).astype(np.float32), RATE, subtype="PCM_16")
    return count


def synthesize(folder: Path, utts: int, speakers: int, seconds: float, processes: int) -> None:
    per = [utts // speakers + (s < utts % speakers) for s in range(speakers)]
    jobs = [(str(folder), s, c, seconds) for s, c in enumerate(per) if c]
    with ProcessPoolExecutor(max_workers=processes) as pool:
        list(pool.map(_write_speaker, jobs))


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


def trial_eer(vectors: dict[str, np.ndarray], pairs: int, seed: int = 0) -> float:
    """EER (NIST/WeSpeaker definition, %) of `pairs` target + `pairs` nontarget cosine trials."""
    from sveval import metrics

    ids = sorted(vectors)
    speaker = np.array([u.split("/")[0] for u in ids])
    x = np.stack([vectors[u] for u in ids]).astype(np.float64)
    x -= x.mean(axis=0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    chosen = {True: [], False: []}
    while min(len(chosen[True]), len(chosen[False])) < pairs:
        draws = rng.integers(len(ids), size=(1_000_000, 2))
        draws = draws[draws[:, 0] != draws[:, 1]]
        same = speaker[draws[:, 0]] == speaker[draws[:, 1]]
        chosen[True].extend(draws[same].tolist())
        chosen[False].extend(draws[~same].tolist())
    trials = np.array(chosen[True][:pairs] + chosen[False][:pairs])
    enroll, test = trials[:, 0], trials[:, 1]
    target = np.arange(2 * pairs) < pairs
    scores = np.einsum("ij,ij->i", x[enroll], x[test])
    return 100 * metrics.eer(scores, target).value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="Gemini_DF_ResNet114")
    parser.add_argument("--model", help="a real checkpoint or model folder instead of random weights")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--utts", type=int, default=3000)
    parser.add_argument("--baseline-utts", type=int, default=300)
    parser.add_argument("--speakers", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=8.2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    parser.add_argument("--num-workers", type=int, default=8)
    parser.add_argument("--trial-pairs", type=int, default=18_860)
    parser.add_argument("--tiny", action="store_true", help="DF-ResNet60, 24 x 2 s utterances: a smoke test")
    args = parser.parse_args()
    if args.tiny:
        args.arch, args.utts, args.baseline_utts, args.speakers, args.seconds = (
            "Gemini_DF_ResNet60",
            24,
            4,
            4,
            2.0,
        )
        args.batch_size, args.num_workers, args.trial_pairs = 8, 1, 200

    import kaldiio
    import torch

    from sveval.io.audio import list_wav_dir
    from sveval.models.checkpoint import LoadedModel, load_model
    from sveval.models.extract import Embedder, extract_to_dir
    from sveval.models.fbank import FbankConfig

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --device cpu --tiny for a smoke test")
    started = time.perf_counter()
    if args.model:
        loaded = load_model(args.model, args.arch if args.arch != parser.get_default("arch") else None)
        args.arch = loaded.arch
    else:
        model = random_model(args.arch)
        loaded = LoadedModel(model, args.arch, "benchmark", Path("random"), "wespeaker", (), FbankConfig())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthesize(tmp / "wav", args.utts, args.speakers, args.seconds, processes=max(1, args.num_workers))
        utts = list_wav_dir(tmp / "wav")
        t_synth = time.perf_counter() - started
        device = args.device
        samples = int(args.seconds * RATE)
        for precision in ("fp32", args.precision):  # warm-up: kernels, autotuning, allocator
            embedder = Embedder(loaded, device, precision)
            for batch in (1, min(args.batch_size, len(utts))):
                embedder(torch.zeros(batch, samples), torch.full((batch,), samples))
        loaded.model.to(memory_format=torch.contiguous_format)._channels_last = False

        subset = utts[:: max(1, len(utts) // args.baseline_utts)][: args.baseline_utts]
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        sync()
        start = time.perf_counter()
        baseline = wespeaker_style(loaded, subset, device)
        sync()
        t_base = time.perf_counter() - start

        runs = {}
        for name, precision in (("sveval", args.precision), ("fp32", "fp32")):
            start = time.perf_counter()
            result = extract_to_dir(
                loaded,
                utts,
                tmp / name,
                device=device,
                batch_size=args.batch_size,
                precision=precision,
                num_workers=args.num_workers,
                progress=False,
            )
            sync()
            runs[name] = (time.perf_counter() - start, dict(kaldiio.load_scp(str(result.scp))))
            loaded.model.to(memory_format=torch.contiguous_format)._channels_last = False
        t_ours, ours = runs["sveval"]
        _, fp32 = runs["fp32"]

    base_rate, our_rate = len(subset) / t_base, len(utts) / t_ours
    batch_diff = max(float(np.abs(fp32[u] - baseline[u]).max()) for u in baseline)
    cosines = [
        float(ours[u] @ fp32[u] / np.linalg.norm(ours[u]) / np.linalg.norm(fp32[u]))  # bf16 vs fp32
        for u in fp32
    ]
    mean = np.mean([fp32[u] for u in fp32], axis=0)
    centered = [
        float(
            (ours[u] - mean)
            @ (fp32[u] - mean)
            / np.linalg.norm(ours[u] - mean)
            / np.linalg.norm(fp32[u] - mean)
        )
        for u in fp32
    ]
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    print(f"{args.arch}, {args.seconds:g} s utterances, {name}, torch {torch.__version__}")
    print(f"  WeSpeaker-style batch-1 fp32: {base_rate:9.1f} utt/s  ({len(subset)} utterances)")
    print(
        f"  sveval batch {args.batch_size} {args.precision}, {args.num_workers} workers, end to end: "
        f"{our_rate:9.1f} utt/s  ({len(utts)} utterances)"
    )
    print(f"  ratio {our_rate / base_rate:.1f}x")
    for label, count in (("Vox1", VOX1_UTTS), ("VoxCeleb2-dev", VOX2_DEV_UTTS)):
        print(
            f"  projected {label} ({count:,} utt): WeSpeaker-style {count / base_rate / 60:7.1f} min, "
            f"sveval {count / our_rate / 60:6.1f} min"
        )
    print(f"  fp32 batched vs batch-1: max |difference| {batch_diff:.2e}")
    for label, values in (("cosine", cosines), ("cosine after subtracting the fp32 mean", centered)):
        print(f"  {args.precision} vs fp32 {label}: min {min(values):.5f}, mean {np.mean(values):.5f}")
    eer_fp32, eer_ours = trial_eer(fp32, args.trial_pairs), trial_eer(ours, args.trial_pairs)
    same = f"{eer_fp32:.3f}" == f"{eer_ours:.3f}"
    print(
        f"  EER of {2 * args.trial_pairs:,} synthetic trials: fp32 {eer_fp32:.3f} %, {args.precision} "
        f"{eer_ours:.3f} % ({'same' if same else 'DIFFERENT'} at 3 decimals)"
    )
    print(f"  total {time.perf_counter() - started:.0f} s (synthesis {t_synth:.0f} s)")


if __name__ == "__main__":
    main()
