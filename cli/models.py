"""`sveval models`: the architectures `sveval extract` can load, with their parameter counts."""

from __future__ import annotations

import json

import click


@click.command("models")
@click.option("--feat-dim", type=int, default=80, show_default=True, help="Mel bins the model takes.")
@click.option("--embed-dim", type=int, default=256, show_default=True, help="Embedding size.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def command(feat_dim, embed_dim, as_json):
    """List the Gemini DF-ResNet architectures and their parameter counts.

    Counts are weights and biases (not BatchNorm running statistics), computed from the module itself.
    Release folders of Golden Gemini name the same models Gemini_df_resnet56/110/179 (= 60/114/183);
    `--arch` and config.yaml accept either name.

    \b
    Examples:
      sveval models
      sveval models --json
    """
    from sveval.models import require_torch

    require_torch()
    from sveval.models.dfresnet import ARCHS, count_parameters

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
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'architecture':<22}{'release name':<22}{'stage depths':<16}{'parameters':>24}")
    for row in rows:
        depths = ",".join(map(str, row["stage_depths"]))
        params = f"{row['parameters']:,} ({row['parameters'] / 1e6:.2f} M)"
        click.echo(f"{row['arch']:<22}{row['release_name']:<22}{depths:<16}{params:>24}")
    click.echo(f"(feat_dim {feat_dim}, embed_dim {embed_dim}, TSTP pooling)")
