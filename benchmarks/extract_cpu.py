"""Extraction speed on CPU: WeSpeaker-style batch-1 fp32 against sveval's path, in one run.

    python benchmarks/extract_cpu.py [--arch Gemini_DF_ResNet60] [--utts 16] [--seconds 8] [--repeats 2]
                                     [--batch-size N] [--num-workers 1]

Synthetic 16 kHz audio (all utterances the same length, the best case for equal-length batching; real lists
have many lengths and batch less fully), a random-weight model. Both paths are warmed up first (oneDNN
builds its kernels on the first call of each shape), then timed alternately, best of --repeats:
  * WeSpeaker-style: per utterance read the file, Kaldi fbank + CMN, forward with batch 1, fp32
    (what `wespeaker/bin/extract.py` does, with sveval's torch fbank standing in for torchaudio's);
  * sveval: `extract_to_dir` with its CPU defaults (batch 1: on CPU, batches of 8-second utterances run
    slower per utterance because the activations leave the caches; `--batch-size 16` shows it), header
    scan, packed rows when batched, decoding in a worker process, writing xvector.ark/scp.
  * ONNX (when onnxruntime is installed; --no-onnx skips it): the same weights exported by
    `sveval export-onnx`, run by `extract_to_dir` through onnxruntime's CPU provider (batches of equal
    frame counts only, fbank in torch).
The embeddings of the paths are compared before the times are printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import sveval  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def synthesize(folder: Path, count: int, seconds: float, rate: int = 16000) -> list[Path]:
    """Voice-like signals: a harmonic source with a per-file f0 and slow amplitude modulation, plus noise."""
    import soundfile

    rng = np.random.default_rng(0)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    paths = []
    for i in range(count):
        f0 = 90 + 150 * rng.random()
        source = sum(np.sin(2 * np.pi * f0 * k * t + rng.random() * 6) / k for k in range(1, 25))
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * (2 + 3 * rng.random()) * t) ** 2
        signal = 0.1 * source * envelope + 0.01 * rng.standard_normal(n)
        path = folder / f"id{i % 10:05d}" / "synth" / f"{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, signal.astype(np.float32), rate, subtype="PCM_16")
        paths.append(path)
    return paths


def wespeaker_style(loaded, utts, device: str = "cpu") -> dict[str, np.ndarray]:
    """One utterance at a time, fp32: read, fbank + CMN, forward."""
    import torch

    from sveval.io.audio import read_audio
    from sveval.models.fbank import Fbank

    fbank = Fbank(loaded.fbank).to(device)
    model = loaded.model.to(device).eval()
    out = {}
    with torch.inference_mode():
        for utt in utts:
            samples = torch.from_numpy(read_audio(utt.path).samples).to(device)
            feats = fbank(samples[None])
            out[utt.utt] = model(feats)[0].float().cpu().numpy()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="Gemini_DF_ResNet60")
    parser.add_argument("--utts", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--batch-size", type=int, default=None, help="default: sveval's CPU default (1)")
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX path")
    args = parser.parse_args()

    import kaldiio
    import torch

    from sveval.io.audio import list_wav_dir
    from sveval.models import packing
    from sveval.models.checkpoint import LoadedModel
    from sveval.models.dfresnet import build
    from sveval.models.embedder import Embedder, default_batching
    from sveval.models.extract import extract_to_dir
    from sveval.models.fbank import FbankConfig

    batch_size = args.batch_size or default_batching("cpu")[1]
    torch.manual_seed(0)
    model = build(args.arch).eval()
    loaded = LoadedModel(model, args.arch, "benchmark", Path("random"), "wespeaker", (), FbankConfig())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthesize(tmp / "wav", args.utts, args.seconds)
        utts = list_wav_dir(tmp / "wav")
        samples = int(args.seconds * 16000)
        embedder = Embedder(loaded, "cpu")  # warm-up of both shapes
        for batch in {1, min(batch_size, args.utts)}:
            lengths = [samples] * batch
            index = packing.row_index(lengths, None, 400, 160) if batch > 1 else None
            embedder(torch.zeros(samples * batch), torch.tensor(lengths), index)
        onnx = None if args.no_onnx else onnx_model(loaded, tmp, batch_size, samples)

        t_onnx = float("inf")

        t_base = t_ours = float("inf")
        for rep in range(args.repeats):  # interleaved, best of N: the machine may be shared
            start = time.perf_counter()
            baseline = wespeaker_style(loaded, utts)
            t_base = min(t_base, time.perf_counter() - start)
            start = time.perf_counter()
            result = extract_to_dir(
                loaded,
                utts,
                tmp / f"out{rep}",
                device="cpu",
                batch_size=batch_size,
                num_workers=args.num_workers,
                progress=False,
            )
            t_ours = min(t_ours, time.perf_counter() - start)
            if onnx is not None:
                start = time.perf_counter()
                onnx_result = extract_to_dir(
                    onnx,
                    utts,
                    tmp / f"onnx{rep}",
                    batch_size=batch_size,
                    num_workers=args.num_workers,
                    progress=False,
                )
                t_onnx = min(t_onnx, time.perf_counter() - start)
        ours = dict(kaldiio.load_scp(str(result.scp)))
        worst = max(float(np.abs(ours[u] - baseline[u]).max()) for u in baseline)
        assert worst < 1e-4, f"embeddings differ by {worst}"
        if onnx is not None:
            got = dict(kaldiio.load_scp(str(onnx_result.scp)))
            cosine = min(
                float(got[u] @ baseline[u] / np.linalg.norm(got[u]) / np.linalg.norm(baseline[u]))
                for u in baseline
            )
            assert cosine >= 0.9999, f"ONNX embeddings differ: cosine {cosine}"

    threads = torch.get_num_threads()
    print(
        f"{args.arch}, {args.utts} utterances of {args.seconds:g} s, CPU, {threads} torch threads, "
        f"best of {args.repeats}"
    )
    print(f"  WeSpeaker-style batch-1 fp32   {args.utts / t_base:8.2f} utt/s  ({t_base:.1f} s)")
    print(
        f"  sveval batch {batch_size:<3} fp32 workers {args.num_workers}"
        f"  {args.utts / t_ours:6.2f} utt/s  ({t_ours:.1f} s, end to end incl. ark/scp)"
    )
    print(f"  ratio {t_base / t_ours:.2f}x; max |difference| of embeddings {worst:.2e}")
    if onnx is not None:
        print(
            f"  sveval ONNX  batch {batch_size:<3} onnxruntime CPU {args.utts / t_onnx:6.2f} utt/s  "
            f"({t_onnx:.1f} s, end to end incl. ark/scp)"
        )
        print(f"  ratio {t_base / t_onnx:.2f}x against WeSpeaker-style; lowest cosine to it {cosine:.7f}")


def onnx_model(loaded, tmp: Path, batch_size: int, samples: int):
    """The model exported to ONNX and warmed up (onnxruntime optimises the graph in its first session); None
    without onnxruntime."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print("onnxruntime not installed: ONNX path skipped (pip install 'sveval[onnx]')", file=sys.stderr)
        return None
    import torch

    from sveval.models.export import export_onnx
    from sveval.models.onnx_model import OnnxEmbedder, load_onnx

    model = load_onnx(export_onnx(loaded, tmp / "model.onnx"))
    embedder = OnnxEmbedder(model, ["CPUExecutionProvider"])
    embedder(torch.zeros(batch_size, samples), torch.full((batch_size,), samples))
    return model


if __name__ == "__main__":
    main()
