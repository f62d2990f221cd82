"""`sveval extract`: embeddings of audio files (Gemini DF-ResNet checkpoint or ONNX model) into a Kaldi
ark/scp folder."""

from __future__ import annotations

import contextlib
import os

import click

from sveval.errors import InputError

from . import json_output


@click.command("extract")
@click.argument("merge_dirs", nargs=-1, type=click.Path(file_okay=False))
@click.option(
    "--model",
    "model_path",
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
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Output folder (xvector.ark/.scp).")
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
def command(
    merge_dirs,
    model_path,
    arch,
    wav_scp,
    wav_dir,
    out_dir,
    device,
    batch_size,
    frames_per_batch,
    precision,
    num_workers,
    skip_bad,
    num_shards,
    shard_index,
    merge,
    quiet,
    as_json,
):
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
    from sveval.models import require_torch

    require_torch()
    if merge:
        _merge(merge_dirs, out_dir, wav_scp, wav_dir, as_json)
        return
    if merge_dirs:
        raise InputError(f"unexpected argument {merge_dirs[0]!r} (folders are only taken with --merge)")
    if not model_path or not out_dir:
        raise InputError("--model and --out are required")
    if bool(wav_scp) == bool(wav_dir):
        raise InputError("give exactly one of --wav-scp and --wav-dir")
    if num_workers is not None and num_workers < 0:
        raise InputError(f"--num-workers must be >= 0, got {num_workers}")
    from sveval.models import parallel

    try:  # the shard options, before the list and the model are read
        parallel.from_environment(num_shards, shard_index)
    except ValueError as exc:
        raise InputError(str(exc)) from exc

    from sveval.io.atomic import check_writable_dir
    from sveval.io.lock import check_unlocked
    from sveval.io.output_folder import refuse_output_over_input
    from sveval.models.extract import extract_to_dir
    from sveval.models.registry import load

    # Everything that needs no audio before the first utterance: the list, its files (a stat each: a
    # missing one is found before any folder is made), the folder, the model.
    for name in ("xvector.scp", "xvector.ark", "xvector.json"):  # (names of the single-process run)
        refuse_output_over_input(os.path.join(out_dir, name), [wav_scp, model_path])
    utts = read_audio_list(wav_scp, wav_dir, skip_bad)
    if not skip_bad:
        from sveval.io.audio import require_audio_files

        require_audio_files(utts, wav_scp or wav_dir)
    # a folder created only for these checks goes again if they fail and it is still empty (another run
    # may have started in it meanwhile; a started extraction stays: it resumes)
    created = not os.path.lexists(out_dir)
    try:
        check_writable_dir(out_dir)
        check_unlocked(out_dir, shared=(num_shards or 1) > 1 or int(os.environ.get("WORLD_SIZE", "1")) > 1)
        loaded = load(model_path, arch, progress=not quiet)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(out_dir)
        raise
    result = extract_to_dir(
        loaded,
        utts,
        out_dir,
        device=device,
        batch_size=batch_size,
        frames_per_batch=frames_per_batch,
        precision=precision,
        num_workers=num_workers,
        skip_bad=skip_bad,
        num_shards=num_shards,
        shard_index=shard_index,
        progress=not quiet,
    )
    if os.environ.get("RANK", "0") != "0":
        return  # torchrun: rank 0 speaks for everyone
    _report(loaded, result, as_json)


def read_audio_list(wav_scp, wav_dir, skip_bad: bool):
    """The utterances of a wav.scp or an audio folder; a folder's left-out files are named on stderr."""
    from sveval.io.audio import list_wav_dir, read_wav_scp, scan_audio_folder

    if wav_scp:
        return read_wav_scp(wav_scp)
    utts = list_wav_dir(wav_dir, skip_bad=skip_bad)  # refuses undecodable audio unless skip_bad
    for line in scan_audio_folder(wav_dir).notes():
        click.echo(f"sveval: warning: {line}", err=True)
    return utts


def _merge(merge_dirs, out_dir, wav_scp, wav_dir, as_json) -> None:
    from sveval.io import ark
    from sveval.io.lock import folder_lock

    if not merge_dirs:
        raise InputError("--merge needs one or more extraction folders")
    target = out_dir or (merge_dirs[0] if len(merge_dirs) == 1 else None)
    if target is None:
        raise InputError("--merge with several folders needs --out for the merged xvector.scp")
    wanted = None
    skipped: set[str] = set()
    if wav_scp or wav_dir:
        for folder in merge_dirs:
            skipped |= ark.read_skipped(folder)
        utts = read_audio_list(wav_scp, wav_dir, skip_bad=True)
        wanted = ark.wanted_from((u.utt, u.path) for u in utts if u.utt not in skipped)
    with folder_lock(target):
        result = ark.publish_scp(merge_dirs, target, wanted)
    if result.duplicates:
        click.echo(
            f"sveval: warning: {len(result.duplicates)} ids found in several parts; the last written record "
            f"is used (e.g. {result.duplicates[0]}); give --wav-scp to choose by audio",
            err=True,
        )
    if skipped and wanted is not None:
        click.echo(
            f"sveval: warning: {len(skipped)} listed utterances were skipped by the extraction", err=True
        )
    if result.points_into:
        click.echo(
            f"sveval: note: {result.scp} points into the arks of {', '.join(map(str, result.points_into))}: "
            "it is not self-contained; keep those folders",
            err=True,
        )
    summary = {
        "scp": str(result.scp),
        "count": result.count,
        "duplicates": len(result.duplicates),
        "checked_against_list": wanted is not None,
        "points_into": [str(p) for p in result.points_into],
    }
    merged = f"merged {result.count} embeddings into {result.scp}"
    click.echo(json_output.dumps(summary) if as_json else merged)


def _report(loaded, result, as_json: bool) -> None:
    warnings = result.warnings()
    if loaded.ignored_keys:
        prefixes = sorted({k.split(".")[0] + ".*" for k in loaded.ignored_keys})
        warnings.append(f"ignored training-only checkpoint keys: {', '.join(prefixes)}")
    for line in warnings:
        click.echo(f"sveval: warning: {line}", err=True)
    summary = {
        "model": str(loaded.checkpoint),
        "arch": loaded.arch,
        "arch_from": loaded.arch_source,
        "layout": loaded.layout,
        "device": result.device,
        "precision": result.precision,
        "extracted": result.extracted,
        "already_done": result.already_done,
        "skipped": len(result.skipped),
        "resampled": result.resampled,
        "multichannel": result.multichannel,
        "changed_audio": len(result.changed),
        "silent": len(result.silent),
        "seconds": round(result.seconds, 3),
        "utt_per_second": round(result.utt_per_second, 2),
        "scp": str(result.scp) if result.scp else None,
    }
    if as_json:
        click.echo(json_output.dumps(summary, indent=2))
        return
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
