"""`sveval models`: the architectures `sveval extract` loads, the published models sveval knows by name, and
`sveval models fetch NAME` to put one into the cache."""

from __future__ import annotations

import dataclasses

import click

from sveval import json_output


@click.group("models", invoke_without_command=True)
@click.option("--feat-dim", type=int, default=80, show_default=True, help="Mel bins the model takes.")
@click.option("--embed-dim", type=int, default=256, show_default=True, help="Embedding size.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_context
def command(ctx, feat_dim, embed_dim, as_json):
    """List the Gemini DF-ResNet architectures and the published models known by name.

    Parameter counts are weights and biases (not BatchNorm running statistics), computed from the module
    itself. Release folders of Golden Gemini name the same models Gemini_df_resnet56/110/179
    (= 60/114/183); `--arch` and config.yaml accept either name. A published model's name works wherever
    --model takes a path; `sveval models fetch NAME` downloads it into the cache ($SVEVAL_CACHE_DIR/models,
    default ~/.cache/sveval/models).

    \b
    Examples:
      sveval models
      sveval models --json
      sveval models fetch wespeaker-gemini-dfresnet114-lm-onnx
      sveval extract --model wespeaker-gemini-dfresnet114-lm-onnx --wav-scp wav.scp --out emb/vox1
    """
    if ctx.invoked_subcommand is not None:
        return
    from sveval.models import require_torch

    require_torch()
    from sveval.models.dfresnet import ARCHS, count_parameters
    from sveval.models.registry import installed_path
    from sveval.pretrained import PRETRAINED

    rows = [
        {
            "arch": spec.name,
            "release_name": spec.release_name,
            "stage_depths": list(spec.depths),
            "feat_dim": feat_dim,
            "embed_dim": embed_dim,
            "parameters": count_parameters(spec.name, feat_dim, embed_dim),
        }
        for spec in ARCHS.values()
    ]
    published = []
    for entry in PRETRAINED.values():
        found = installed_path(entry)
        published.append({**dataclasses.asdict(entry), "cached": str(found) if found else None})
    if as_json:
        click.echo(json_output.dumps({"architectures": rows, "published": published}, indent=2))
        return
    click.echo(f"{'architecture':<22}{'release name':<22}{'stage depths':<16}{'parameters':>24}")
    for row in rows:
        depths = ",".join(map(str, row["stage_depths"]))
        params = f"{row['parameters']:,} ({row['parameters'] / 1e6:.2f} M)"
        click.echo(f"{row['arch']:<22}{row['release_name']:<22}{depths:<16}{params:>24}")
    click.echo(f"(feat_dim {feat_dim}, embed_dim {embed_dim}, TSTP pooling)\n")
    click.echo("published models (--model NAME; sveval models fetch NAME):")
    for row in published:
        how = "download" if row["urls"] else "by hand"
        where = row["cached"] or "not cached"
        click.echo(f"  {row['name']:<38}{row['format']:<9}{row['params_millions']:>5.2f} M  {how:<9}{where}")
        click.echo(f"    {row['official']} - {row['source']}")
        for what, text in row["figures"]:
            click.echo(f"    {what}: {text}")


@command.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--base-url", "url", help="Download from this mirror (files under their names) instead.")
@click.option("--force", is_flag=True, help="Download again even if the model is in the cache.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.option("--quiet", is_flag=True, help="No download progress.")
def fetch_command(names, url, force, as_json, quiet):
    """Download published models into the cache: resumable, verified, unpacked; nothing corrupted is kept.

    Size and sha256 are checked where known (no checksums are published for these files: the first
    download records them and later downloads must match); the architecture is verified by loading
    (state-dict keys and parameter count, or the ONNX contract). An archive installs only the model's own
    files (anything else in it is left out, listed on stderr and in the cache's sveval-download.json).
    One fetch per model at a time: a second one waits for the first, saying which process it is. Google
    Drive files cannot be downloaded by sveval: the message says which file to put where.
    $SVEVAL_MODELS_URL sets a mirror like --base-url.

    \b
    Examples:
      sveval models fetch wespeaker-gemini-dfresnet114-lm-onnx
      sveval models fetch wespeaker-gemini-dfresnet114-lm --base-url http://mirror.local/wespeaker
      sveval models fetch gemini-dfresnet114      # says which Google Drive file to put where
    """
    from sveval.errors import InputError
    from sveval.models import require_torch
    from sveval.models.registry import fetch, installed_path, verify_cached
    from sveval.pretrained import PRETRAINED

    unknown = [n for n in names if n not in PRETRAINED]
    if unknown:
        raise InputError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(PRETRAINED)}")
    require_torch()
    summary = []
    for name in names:
        entry = PRETRAINED[name]
        found = installed_path(entry)
        if found is not None and not force:
            ok, message = verify_cached(entry)
            if not ok:
                raise InputError(f"{name}: {message}", str(found))
            summary.append({"name": name, "path": str(found), "status": "cached", "check": message})
            if not as_json:
                click.echo(f"{name}: already in the cache ({found}); {message}")
            continue
        path = fetch(entry, url=url, force=force, progress=not (as_json or quiet))
        summary.append({"name": name, "path": str(path), "status": "downloaded"})
        if not as_json:
            click.echo(f"{name}: verified -> {path}")
    if as_json:
        click.echo(json_output.dumps(summary, indent=2))
