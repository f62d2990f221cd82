"""torchrun with 2 CPU processes (gloo): the same embeddings as one process, one merged xvector.scp."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest

pytestmark = pytest.mark.slow  # models and extraction: torch at import, model runs

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

from models_helpers import random_model, save_checkpoint, write_corpus  # noqa: E402

from sveval.io.audio import list_wav_dir  # noqa: E402
from sveval.models.checkpoint import load_model  # noqa: E402
from sveval.models.extract import extract_to_dir  # noqa: E402


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend")
def test_two_ranks_equal_one_process(tmp_path):
    checkpoint = save_checkpoint(random_model(), tmp_path / "m.pt")
    write_corpus(tmp_path / "wav", [8000, 8050, 9600, 12000, 7000, 16000])
    utts = list_wav_dir(tmp_path / "wav")
    single = extract_to_dir(load_model(checkpoint), utts, tmp_path / "one", device="cpu", progress=False)

    sveval = shutil.which("sveval", path=str(Path(sys.executable).parent)) or shutil.which("sveval")
    if sveval is None:
        pytest.skip("sveval console script not found")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += [sveval, "extract", "--model", str(checkpoint), "--wav-dir", str(tmp_path / "wav")]
    command += ["--out", str(tmp_path / "two"), "--device", "cpu", "--num-workers", "0", "--quiet", "--json"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert '"extracted": 6' in run.stdout  # rank 0 reports the total of both ranks

    parts = sorted(p.name for p in (tmp_path / "two").glob("*.ark"))
    assert parts == ["xvector.rank0000-of-0002.ark", "xvector.rank0001-of-0002.ark"]
    for part in parts:  # both ranks did work (balanced by duration)
        assert (tmp_path / "two" / part).stat().st_size > 0
    one = dict(kaldiio.load_scp(str(single.scp)))
    two = dict(kaldiio.load_scp(str(tmp_path / "two" / "xvector.scp")))
    assert list(two) == list(one)
    for utt in one:
        np.testing.assert_allclose(two[utt], one[utt], atol=1e-5, rtol=0)

    # The ranks' parts are reusable by any later run (here a single process): nothing left to do.
    again = extract_to_dir(load_model(checkpoint), utts, tmp_path / "two", device="cpu", progress=False)
    assert (again.extracted, again.already_done) == (0, 6)
    assert list(dict(kaldiio.load_scp(str(again.scp)))) == list(one)
