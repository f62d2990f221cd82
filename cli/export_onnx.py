"""`sveval export-onnx`: a checkpoint as an ONNX file in WeSpeaker's runtime contract (the job:
`sveval.app.extract.export`)."""

from __future__ import annotations

import click

from sveval import json_output


@click.command("export-onnx")
@click.option("--model", required=True, help="Checkpoint file, model folder or published name.")
@click.option("--arch", help="Architecture, e.g. Gemini_DF_ResNet114 (default: config.yaml, else the keys).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The .onnx file.")
@click.option(
    "--mean-vec",
    type=click.Path(dir_okay=False, exists=True),
    help="A .npy mean vector (embed_dim,) subtracted inside the graph (WeSpeaker's --mean_vec).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.option("--quiet", is_flag=True, help="No download progress (a published name not yet cached).")
def command(as_json, quiet, **options):
    """Export a checkpoint sveval loads to ONNX, as WeSpeaker's export_onnx.py does.

    The graph takes `feats` (batch, frames, 80): Kaldi fbank after per-utterance mean normalisation, and
    gives `embs` (batch, embed_dim), minus the mean vector when one is given; opset 14, batch and frames
    dynamic. Any ONNX runtime (onnxruntime, TensorRT, WeSpeaker's C++ runtime) can then run it, and
    `sveval extract --model OUT.onnx` gives the same embeddings as the checkpoint (cosine >= 0.9999).

    \b
    Examples:
      sveval export-onnx --model exp/Gemini_df_resnet110 --out gemini114.onnx
      sveval export-onnx --model avg_model.pt --arch Gemini_DF_ResNet114 --out m.onnx --mean-vec mean_vec.npy
      sveval export-onnx --model wespeaker-gemini-dfresnet114-lm --out lm.onnx
    """
    from sveval.app.extract import ExportJob, export  # noqa: PLC0415

    outcome = export(ExportJob(**options, progress=not quiet))
    summary = outcome.summary
    if as_json:
        click.echo(json_output.dumps(summary, indent=2))
    else:
        click.echo(
            f"wrote {outcome.path}: {outcome.arch}, {summary['input']} -> {summary['output']}, opset 14"
        )
