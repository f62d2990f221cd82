"""`sveval extract`: embeddings of audio files (Gemini DF-ResNet checkpoint or ONNX model) into a Kaldi
ark/scp folder (the job: `sveval.app.extract`)."""

from __future__ import annotations

import click

from sveval import json_output


@click.command("extract")
@click.argument("merge_dirs", nargs=-1, type=click.Path(file_okay=False))
@click.option(
    "--model",
    help="Checkpoint file or model folder, an .onnx file (WeSpeaker's contract), or a published name "
    "(sveval models).",
)
@click.option("--arch", help="Architecture, e.g. Gemini_DF_ResNet114 (default: config.yaml, else the keys).")
@click.option("--wav-scp", type=click.Path(dir_okay=False), help="Kaldi wav.scp: '<utt-id> <audio path>'.")
@click.option(
    "--wav-dir",
    type=click.Path(file_okay=False),
    help="Audio folder (symlinks followed; every format libsndfile reads); ids spk/video/00001.wav.",
)
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (xvector.ark/.scp).")
@click.option(
    "--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (torchrun: LOCAL_RANK)."
)
@click.option(
    "--batch-size",
    type=int,
    help="At most this many utterances per batch. Default: none on GPU (the frame budget decides), "
    "1 on CPU (where batching is slower).",
)
@click.option(
    "--frames-per-batch",
    type=int,
    help="Frames (10 ms) per batch: utterances are packed side by side into rows this wide, every row "
    "the same shape. Default 49152 on GPU (about 64 x 8 s); none on CPU.",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "tf32", "bf16"]),
    default="fp32",
    show_default=True,
    help="fp32: float32 arithmetic (TF32 off on GPU); tf32: TF32 convolutions and products on GPU; "
    "bf16: bfloat16 network trunk, fbank and pooling float32. Recorded in xvector.json.",
)
@click.option(
    "--num-workers",
    type=int,
    help="Processes decoding audio ahead (0: inline). Default on GPU: the usable cores less one "
    "(2-16, shared among torchrun's local ranks); on CPU 2.",
)
@click.option("--skip-bad", is_flag=True, help="Skip unreadable or too-short files and list them.")
@click.option(
    "--num-shards", type=int, help="Split the list into K shards (for schedulers without torchrun)."
)
@click.option("--shard-index", type=int, help="Which shard this job extracts (0..K-1).")
@click.option(
    "--merge",
    is_flag=True,
    help="Only merge the parts of the given folders into --out/xvector.scp; with --wav-scp/--wav-dir, "
    "exactly that list, refused if anything is missing.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def command(quiet, as_json, **options):
    """Extract whole-utterance embeddings with a Gemini DF-ResNet checkpoint or an ONNX model.

    Writes OUT/xvector.ark and OUT/xvector.scp (kaldiio / WeSpeaker readable). On GPU utterances are
    packed side by side into rows of --frames-per-batch frames (one tensor shape for the whole run); the
    gaps between them are zeroed inside the network before every 3x3 convolution, so every embedding
    equals batch-1 inference. Resumable: an id already in OUT whose audio has the same path, size and
    modification time is reused, an interrupted run continues. One writer per OUT (a second run exits 2
    naming the process that holds it); xvector.scp lists exactly the utterances given, once all are done.

    --model also takes an .onnx file in WeSpeaker's runtime contract (any architecture; run by onnxruntime,
    CUDA provider when present; batches of equal frame counts only) or a published name (sveval models).

    Front-end: Kaldi fbank (80 mel bins, 25/10 ms, Hamming, dither 0, int16 scale) + mean normalisation.
    Audio at other rates is resampled to 16 kHz and multi-channel audio uses its first channel (both
    with a warning).

    \b
    Examples:
      sveval extract --model exp/Gemini_df_resnet110 --wav-dir voxceleb1/wav --out emb/vox1
      sveval extract --model avg_model.pt --arch Gemini_DF_ResNet114 --wav-scp data/vox1/wav.scp \\
          --out emb/vox1 --device cuda --precision bf16
      torchrun --nproc-per-node 8 $(which sveval) extract --model M --wav-scp S --out emb/vox2_dev
      sveval extract --model M --wav-scp S --out emb/x --num-shards 4 --shard-index 0   # job 0 of 4
      sveval extract --merge emb/x --wav-scp S               # publish scp; refused if any is missing
      sveval extract --model voxceleb_gemini_dfresnet114_LM.onnx --wav-scp S --out emb/x  # ONNX
      sveval extract --model wespeaker-gemini-dfresnet114-lm --wav-scp S --out emb/x      # by name
    """
    from sveval.app.extract import Extracted, ExtractJob, run  # noqa: PLC0415

    job = ExtractJob(**options, progress=not quiet)
    outcome = run(job, say=lambda line: click.echo(line, err=True))
    if outcome is None:
        return  # torchrun: rank 0 speaks for everyone
    if as_json:
        click.echo(json_output.dumps(outcome.summary(), indent=2 if isinstance(outcome, Extracted) else None))
    elif isinstance(outcome, Extracted):
        _print(outcome.loaded, outcome.result)
    else:
        click.echo(f"merged {outcome.result.count} embeddings into {outcome.result.scp}")


def _print(loaded, result) -> None:
    click.echo(
        f"{loaded.arch} ({loaded.arch_source}) on {result.device}, {result.precision}: extracted "
        f"{result.extracted} utterances in {result.seconds:.1f} s ({result.utt_per_second:.1f} utt/s); "
        f"{result.already_done} were already done"
    )
    if result.scp:
        click.echo(f"wrote {result.scp}")
    else:
        click.echo(
            f"this shard is done; xvector.scp is published when every shard is (or: sveval extract "
            f"--merge {result.out_dir})"
        )
