"""What an extraction folder guarantees, tried with real processes: one writer (a second `sveval extract`
exits 2 naming the first), a lock left by a killed run is taken over, SIGTERM stops the decoder processes at
once, and what is left behind resumes into the same embeddings as one uninterrupted run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import kaldiio
import numpy as np
import pytest

pytestmark = pytest.mark.slow  # models and extraction: torch at import, model runs

torch = pytest.importorskip("torch")

from models_helpers import random_model, save_checkpoint, write_corpus  # noqa: E402

from sveval.io import ark  # noqa: E402
from sveval.io.audio import list_wav_dir  # noqa: E402
from sveval.io.lock import LOCK_NAME  # noqa: E402
from sveval.models.checkpoint import load_model  # noqa: E402
from sveval.models.extract import extract_to_dir  # noqa: E402

N_UTTS = 6


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    checkpoint = save_checkpoint(random_model(), root / "m.pt")
    write_corpus(root / "wav", [6400 + 160 * i for i in range(N_UTTS)])  # 0.4-0.5 s, all distinct
    utts = list_wav_dir(root / "wav")
    reference = extract_to_dir(load_model(checkpoint), utts, root / "reference", device="cpu", progress=False)
    return root, checkpoint, dict(kaldiio.load_scp(str(reference.scp)))


def sveval_command(checkpoint, wav, out, *extra) -> list[str]:
    sveval = shutil.which("sveval", path=str(Path(sys.executable).parent)) or shutil.which("sveval")
    if sveval is None:
        pytest.skip("sveval console script not found")
    return [sveval, "extract", "--model", str(checkpoint), "--wav-dir", str(wav), "--out", str(out)] + [
        "--device", "cpu", "--quiet", "--json", *extra,
    ]  # fmt: skip


def start(command) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_until_locked(proc: subprocess.Popen, folder: Path, timeout: float = 60) -> None:
    """Until `proc` has written itself into the folder's lock file (it then holds the lock)."""
    deadline = time.monotonic() + timeout
    lock_file = folder / LOCK_NAME
    while time.monotonic() < deadline:
        if lock_file.exists() and f'"pid": {proc.pid},' in lock_file.read_text():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    raise AssertionError("the first process never took the lock")


def children(pid: int) -> list[int]:
    found = []
    tasks = Path(f"/proc/{pid}/task")
    for task in tasks.iterdir() if tasks.is_dir() else ():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended while we looked
    return found


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def assert_folder_equals(out: Path, reference: dict) -> None:
    """Every id published once, each with the embedding of an uninterrupted single-process run."""
    lines = (out / "xvector.scp").read_text().splitlines()
    ids = [line.split()[0] for line in lines]
    assert ids == list(reference) and len(set(ids)) == len(ids)
    published = dict(kaldiio.load_scp(str(out / "xvector.scp")))
    for utt, vector in reference.items():
        np.testing.assert_allclose(published[utt], vector, atol=1e-5, rtol=0)
    journalled = [r.utt for r in ark.read_parts(out)]
    assert len(journalled) == len(set(journalled))  # nobody extracted anything twice


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
def test_a_second_sveval_extract_into_the_same_folder_exits_2_naming_the_first(setup, tmp_path):
    root, checkpoint, reference = setup
    out = tmp_path / "out"
    command = sveval_command(checkpoint, root / "wav", out, "--num-workers", "0")
    first = start(command)
    try:
        wait_until_locked(first, out)
        os.kill(first.pid, signal.SIGSTOP)  # hold it mid-run, so the second surely meets it
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"output folder {out} is being written by process {first.pid}" in second.stderr
        assert "one writer per folder" in second.stderr
    finally:
        os.kill(first.pid, signal.SIGCONT)
    stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert_folder_equals(out, reference)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
def test_a_killed_run_leaves_a_lock_the_next_run_takes_over_and_completes(setup, tmp_path):
    root, checkpoint, reference = setup
    out = tmp_path / "out"
    command = sveval_command(checkpoint, root / "wav", out, "--num-workers", "0")
    first = start(command)
    wait_until_locked(first, out)
    first.kill()
    first.communicate(timeout=30)
    second = extract_to_dir(
        load_model(checkpoint), list_wav_dir(root / "wav"), out, device="cpu", progress=False
    )
    assert f"took over the lock of {out} left by process {first.pid}" in " ".join(second.warnings())
    assert_folder_equals(out, reference)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux")
def test_sigterm_stops_the_decoder_processes_at_once_and_leaves_a_resumable_part(setup, tmp_path):
    root, checkpoint, _ = setup
    write_corpus(tmp_path / "wav", [24000 + 160 * i for i in range(8)])  # 1.5 s: long enough to catch it
    out = tmp_path / "out"
    run = start(sveval_command(checkpoint, tmp_path / "wav", out, "--num-workers", "2"))
    deadline = time.monotonic() + 60
    while len(workers := children(run.pid)) < 2:  # the decoders are running
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.005)
    run.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    assert run.wait(timeout=30) == 128 + signal.SIGTERM
    while not all(gone(w) for w in workers):
        assert time.monotonic() - sent < 1.0, "decoder processes outlived their parent by a second"
        time.sleep(0.01)
    assert "terminated (SIGTERM)" in run.communicate(timeout=10)[1]
    assert not (out / LOCK_NAME).exists()  # let go cleanly: the lock file goes with its holder
    records = ark.read_parts(out)
    assert len({r.utt for r in records}) == len(records)
    for record in records:  # every journalled record is complete and readable
        assert kaldiio.load_mat(f"{record.ark}:{record.offset}").shape == (256,)
