"""Writing the demo's synthetic inputs in the formats users have: `.npz` embeddings and a Kaldi trial list."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from sveval.io.atomic import write_bytes
from sveval.io.trials import write_kaldi_trials
from sveval.types import Embeddings, TrialList


def write_embeddings_npz(path: str | os.PathLike, embeddings: Embeddings) -> Path:
    """`ids` (unicode) + `vectors` arrays, the .npz layout `sveval score --embeddings` reads; atomic."""
    buffer = io.BytesIO()
    np.savez(buffer, ids=np.asarray(embeddings.ids, dtype=str), vectors=embeddings.vectors)
    write_bytes(path, buffer.getvalue())
    return Path(path)


def write_demo_inputs(out_dir: str | os.PathLike, setup, trials_path: str | None) -> dict[str, Path]:
    """embeddings/<eval>/embeddings.npz, embeddings/<cohort>/embeddings.npz and, for the synthetic list,
    trials/<name>.kaldi under `out_dir`. Returns the paths by role ('eval', 'cohort', 'trials')."""
    out = Path(out_dir)
    paths = {
        "eval": write_embeddings_npz(
            out / "embeddings" / "synthetic_vox1" / "embeddings.npz", setup.evaluation
        ),
        "cohort": write_embeddings_npz(
            out / "embeddings" / "synthetic_vox2_dev" / "embeddings.npz", setup.cohort
        ),
    }
    if trials_path is None:
        trials: TrialList = setup.trials
        paths["trials"] = out / "trials" / f"{trials.name}.kaldi"
        write_kaldi_trials(paths["trials"], trials)
    return paths
