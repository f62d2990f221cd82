"""The folders the README's recipes start from, made from synthetic data: what a user arrives with.

    exp/m/embeddings/{vox1,vox2_dev}/xvector.{ark,scp}   a WeSpeaker experiment (system m; m2 likewise)
    emb/vox1.npz, emb/vox2_dev.npz                       the same embeddings as .npz
    release/gemini/scores/                               a released folder: Kaldi score and result files
    kaldi/voxceleb1_test.score, data/voxceleb1_test/{trials,utt2spk}   Kaldi 3-column scores, Kaldi ids
    data/vox2_dev/utt2dur                                cohort durations (for a calibration list)
    model/avg_model.pt, data/vox1/{wav.scp,trials.kaldi}  a checkpoint and a few utterances of audio

The eval embeddings are synthetic vectors for the utterances of the real Vox1-O (cleaned) list, so the
built-in name `vox1_O_cleaned` works with SVEVAL_TRIALS_DIR pointing at the shared data.
"""

from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pandas as pd

from sveval.io.catalog import load_trials
from sveval.synthetic import cohort_ids, embed
from sveval.types import Embeddings


def _ark(folder: Path, embeddings) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    vectors = {u: v.astype(np.float32) for u, v in zip(embeddings.ids.tolist(), embeddings.vectors)}
    kaldiio.save_ark(str(folder / "xvector.ark"), vectors, scp=str(folder / "xvector.scp"))


def build(root: Path, with_model: bool = False) -> None:
    """Everything above under `root` (the model and audio only `with_model`: they need torch)."""
    from click.testing import CliRunner
    from sveval.cli.main import cli

    trials = load_trials("vox1_O_cleaned")
    utterances = pd.unique(np.concatenate([trials.enroll, trials.test]))
    cohort = cohort_ids(n_speakers=3000, per_speaker=6)  # enough for a default calibration list
    for system, seed in (("m", 0), ("m2", 1)):
        vectors = embed(np.concatenate([utterances, cohort]), seed=seed)
        n = len(utterances)
        evaluation = Embeddings(vectors.ids[:n], vectors.vectors[:n])
        cohort_emb = Embeddings(vectors.ids[n:], vectors.vectors[n:])
        _ark(root / "exp" / system / "embeddings" / "vox1", evaluation)
        _ark(root / "exp" / system / "embeddings" / "vox2_dev", cohort_emb)
        if system == "m":
            (root / "emb").mkdir(parents=True, exist_ok=True)
            for name, emb in (("vox1", evaluation), ("vox2_dev", cohort_emb)):
                np.savez(root / "emb" / f"{name}.npz", ids=emb.ids.astype(str), vectors=emb.vectors)
    (root / "data" / "vox2_dev").mkdir(parents=True, exist_ok=True)
    seconds = np.random.default_rng(3).uniform(2.0, 12.0, len(cohort))  # short (2-6 s) and long ones
    lines = (f"{u} {s:.2f}\n" for u, s in zip(cohort.tolist(), seconds))
    (root / "data" / "vox2_dev" / "utt2dur").write_text("".join(lines))

    # a released folder: what sveval score writes, less sveval's own record, report and plots
    release = root / "release" / "gemini" / "scores"
    result = CliRunner().invoke(cli, ["score", "--embeddings", str(root / "emb" / "vox1.npz"), "--cohort",
                                      str(root / "emb" / "vox2_dev.npz"), "--trials", "vox1_O_cleaned",
                                      "--eval-name", "vox1", "--cohort-name", "vox2_dev", "--no-plots",
                                      "--quiet", "--out", str(release)])  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("results.json", "report.md"):
        (release / name).unlink()

    # Kaldi: 3-column scores, ids without '/', speakers from a utt2spk
    def kaldi_id(utt: str) -> str:
        return utt.removesuffix(".wav").replace("/", "-")

    cos = (release / "vox1_O_cleaned.kaldi.score").read_text().split("\n")
    (root / "kaldi").mkdir()
    rows = [line.split() for line in cos if line]
    lines = (f"{kaldi_id(e)} {kaldi_id(t)} {s}\n" for e, t, s, *_ in rows)
    (root / "kaldi" / "voxceleb1_test.score").write_text("".join(lines))
    (root / "data" / "voxceleb1_test").mkdir(parents=True)
    (root / "data" / "voxceleb1_test" / "trials").write_text(
        "".join(f"{kaldi_id(e)} {kaldi_id(t)} {label}\n" for e, t, _, label in rows)
    )
    utts = sorted({u for e, t, *_ in rows for u in (e, t)})
    speakers = "".join(f"{kaldi_id(u)} {u.split('/')[0]}\n" for u in utts)
    (root / "data" / "voxceleb1_test" / "utt2spk").write_text(speakers)

    if with_model:
        from models_helpers import random_model, save_checkpoint, write_audio

        save_checkpoint(random_model(seed=1), root / "model" / "avg_model.pt")
        ids = [f"id{s}/v{u % 2}/{u:05d}.wav" for s in range(3) for u in range(2)]
        for i, utt in enumerate(ids):
            write_audio(root / "data" / "vox1" / "wav" / utt, 0.5, seed=i)
        (root / "data" / "vox1" / "wav.scp").write_text("".join(f"{u} data/vox1/wav/{u}\n" for u in ids))
        pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
        (root / "data" / "vox1" / "trials.kaldi").write_text(
            "".join(f"{a} {b} {'target' if a[:3] == b[:3] else 'nontarget'}\n" for a, b in pairs)
        )
