"""The bad-input corpus (tests/bad_inputs/): every command on every case exits 2 (1 for a failed validation),
prints one message naming the file (and line) instead of a traceback, and writes nothing."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = json.loads((CORPUS / "cases.json").read_text())["cases"]


def _make_binary_inputs(folder: Path) -> None:
    """Inputs that are binary or large enough to be better generated than committed (see README.md)."""
    ids = ["a", "b", "c", "d"]
    vectors = np.random.default_rng(0).normal(size=(4, 4))
    np.savez(folder / "eval.npz", ids=np.array(ids), vectors=vectors)
    cohort_ids = np.array([f"spk{i}/u" for i in range(4)])
    np.savez(folder / "cohort_dim3.npz", ids=cohort_ids, vectors=vectors[:, :3])
    bad = vectors.copy()
    bad[2, 1] = np.nan
    np.savez(folder / "nan.npz", ids=np.array(ids), vectors=bad)
    # a Kaldi binary ark cut in the middle of its second vector, with an scp pointing into it
    import kaldiio

    with kaldiio.WriteHelper(f"ark,scp:{folder / 'full.ark'},{folder / 'full.scp'}") as writer:
        for utt, vec in zip(ids, vectors.astype(np.float32)):
            writer(utt, vec)
    data = (folder / "full.ark").read_bytes()
    (folder / "truncated.ark").write_bytes(data[: len(data) // 2 - 3])
    scp = (folder / "full.scp").read_text().replace(str(folder / "full.ark"), str(folder / "truncated.ark"))
    (folder / "truncated.scp").write_text(scp)
    (folder / "full.ark").unlink()
    (folder / "full.scp").unlink()
    # gzip copies of text inputs: a bad line in one is named file:line like in the plain file
    for name in ("ragged.score", "ragged_trials.kaldi"):
        (folder / f"{name}.gz").write_bytes(gzip.compress((folder / name).read_bytes()))


def _make_model_inputs(folder: Path) -> None:
    """Checkpoints and audio for the cases marked "torch" (made only where one of them runs)."""
    import torch
    from models_helpers import random_model, save_checkpoint, write_audio

    # a real DF-ResNet60 whose every key carries a wrapper's prefix
    state = {f"encoder.{k}": v for k, v in random_model().state_dict().items()}
    torch.save(state, folder / "foreign.pt")
    save_checkpoint(random_model(), folder / "model_dir" / "avg_model.pt")
    write_audio(folder / "audio" / "u1.wav", 1.0, seed=1)
    (folder / "wav.scp").write_text("u1 audio/u1.wav\n")


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The corpus plus its generated inputs, built once; each case runs on its own copy."""
    folder = tmp_path_factory.mktemp("bad_inputs") / "in"
    shutil.copytree(CORPUS, folder)
    _make_binary_inputs(folder)
    return folder


@pytest.fixture(scope="module")
def model_corpus(corpus, tmp_path_factory):
    """The corpus plus the model inputs, for the cases that need torch (slow: torch and two models)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        pytest.skip("needs torch (the model extra)")
    folder = tmp_path_factory.mktemp("bad_inputs_model") / "in"
    shutil.copytree(corpus, folder)
    _make_model_inputs(folder)
    return folder


def test_the_corpus_is_large_and_covers_every_command():
    assert len(CASES) >= 30 and len({c["id"] for c in CASES}) == len(CASES)
    commands = {c["args"][0] for c in CASES}
    assert commands >= {"metrics", "det", "trials", "score", "report", "validate", "extract"}


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c["id"], marks=[pytest.mark.slow] if c.get("torch") else []) for c in CASES]
)
def test_bad_input(case, request, tmp_path, monkeypatch):
    source = request.getfixturevalue("model_corpus" if case.get("torch") else "corpus")
    folder = tmp_path / "in"
    shutil.copytree(source, folder)
    out = tmp_path / "out"
    monkeypatch.chdir(folder)
    if case.get("offline"):
        monkeypatch.setenv("SVEVAL_TRIALS_URL", "http://127.0.0.1:9/")  # the discard port: refused at once
    args = [a.replace("{in}", str(folder)).replace("{out}", str(out)) for a in case["args"]]
    for key, value in case.get("env", {}).items():
        monkeypatch.setenv(key, value.replace("{in}", str(folder)))
    before = _snapshot(folder)
    result = CliRunner().invoke(cli, args)
    output = result.output
    assert "Traceback" not in output and not isinstance(result.exception, AssertionError)
    assert result.exit_code == case["exit"], output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if case["exit"] == 2:  # one error line (after any progress lines), or click's usage error
        errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        assert len(errors) == 1, result.stderr
        assert errors[0].startswith("sveval: error: ") or errors[0].startswith("Error: "), result.stderr
    for needle in case["expect"]:
        assert needle.replace("{in}", str(folder)) in output, output
    for needle in case.get("absent", []):
        assert needle not in output, output
    assert _snapshot(folder) == before, "the command changed its input folder"
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("out*/**/*") if p.is_file())
    left += sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("out*") if p.is_file())
    assert left == case.get("leaves", []), "the command left an output behind"
    if not case.get("leaves"):
        assert not any(tmp_path.glob("out*")), "the command left an output folder behind"
