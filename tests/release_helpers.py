"""Release-style folders for the validate tests, written with sveval's own writers from synthetic scores.

The trial list is the real Vox1-O cleaned list (../shared/data/voxceleb/veri_test2.txt); scores are random
with a target/nontarget offset, written by `write_score_file` (WeSpeaker's %.5f / %.4f text) and the
result blocks by `write_result_file` from `sveval.metrics.detection.evaluate` on the scores as read back,
which is
what WeSpeaker's compute_metrics.py does with the file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from sveval.io.results import write_result_file
from sveval.io.scores import read_score_file, write_score_file
from sveval.io.trials import read_trials
from sveval.metrics.detection import evaluate
from sveval.types import ResultBlock

RELEASE_NAME = (
    "0615-Gemini_df_resnet110-emb256-fbank80-num_frms200-aug0.6-spTrue-saFalse-ArcMargin-AdamW-epoch165"
)
ASNORM = "vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score"
SNORM = "vox2_dev_snorm_vox1_O_cleaned.kaldi.score"
COSINE = "vox1_O_cleaned.kaldi.score"
RESULTS = {ASNORM: "vox1_asnorm300_result", SNORM: "vox1_snorm300_result", COSINE: "vox1_cos_result"}
CONFIG = "model: Gemini_DF_ResNet114\nmodel_args:\n  feat_dim: 80\n  embed_dim: 256\n  pooling_func: TSTP\n"


def build_release(root: Path, voxceleb: Path, files=(ASNORM, SNORM, COSINE), seed: int = 0) -> Path:
    """A release folder `root/RELEASE_NAME` with the given score files, their result files and config.yaml."""
    trials = read_trials(voxceleb / "veri_test2.txt")
    rng = np.random.default_rng(seed)
    folder = root / RELEASE_NAME
    scores_dir = folder / "scores"
    scores_dir.mkdir(parents=True)
    for name in files:
        values = rng.normal(size=len(trials)) + 3.5 * trials.is_target
        extra = None if name == COSINE else np.abs(rng.normal(size=(len(trials), 4)))
        path = scores_dir / name
        write_score_file(path, trials.enroll, trials.test, values, trials.is_target, extra)
        back = read_score_file(path)
        metrics = evaluate(back.values, back.labels)
        write_result_file(scores_dir / RESULTS[name], [ResultBlock(name, 100 * metrics.eer, metrics.min_dcf)])
    (folder / "config.yaml").write_text(CONFIG)
    return folder


def copy_release(clean: Path, tmp_path: Path) -> Path:
    target = tmp_path / clean.name
    shutil.copytree(clean, target)
    return target


def edit_lines(path: Path, edit) -> None:
    """Rewrite a text file through `edit(list of lines) -> list of lines` (lines keep their newlines)."""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(edit(lines)))
