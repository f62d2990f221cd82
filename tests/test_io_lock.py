"""sveval.io.lock: one writer per folder, told who holds it; a lock left by a killed process is taken over.

The holders here are real other processes (a lock held by this process would prove nothing about another).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from sveval.errors import InputError
from sveval.io import lock


def hold(folder, kind: str = "folder") -> subprocess.Popen:
    """Another process that takes `folder`'s lock, says 'held', and keeps it until its stdin closes."""
    take = {
        "folder": "lock.folder_lock(folder)",
        "shared": "lock.folder_lock(folder, shared=True)",
        "part": "lock.part_lock(folder, 'xvector.shard0000-of-0002')",
    }[kind]
    code = textwrap.dedent(
        f"""
        import sys
        from sveval.io import lock
        folder = sys.argv[1]
        held = {take}.acquire()
        print("held", flush=True)
        sys.stdin.read()
        held.release()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def let_go(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0


def test_a_second_writer_is_refused_naming_the_holder_then_gets_the_lock(tmp_path):
    holder = hold(tmp_path)
    try:
        with pytest.raises(
            InputError, match=rf"output folder {tmp_path} is being written by process {holder.pid}"
        ):
            lock.folder_lock(tmp_path).acquire()
        with pytest.raises(InputError, match="one writer per folder"):
            lock.check_unlocked(tmp_path)
    finally:
        let_go(holder)
    with lock.folder_lock(tmp_path) as mine:
        assert mine.stale is None  # released cleanly: nothing to take over
    assert not (tmp_path / lock.LOCK_NAME).exists()  # removed on release: no lock file outlives its run


def test_a_lock_left_by_a_killed_process_is_taken_over_and_said(tmp_path):
    holder = hold(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=20)
    assert str(holder.pid) in (tmp_path / lock.LOCK_NAME).read_text()  # its record is still there
    with lock.folder_lock(tmp_path) as mine:
        assert mine.stale is not None and mine.stale.pid == holder.pid
        message = lock.stale_message(mine)
    assert f"left by process {holder.pid}" in message and "ended without releasing" in message


def test_shards_share_the_folder_but_not_a_part_and_exclude_a_lone_writer(tmp_path):
    shard = hold(tmp_path, "shared")
    part = hold(tmp_path, "part")
    try:
        with lock.folder_lock(tmp_path, shared=True):  # another shard: fine
            pass
        with pytest.raises(InputError, match=f"process {shard.pid}"):
            lock.folder_lock(tmp_path).acquire()  # a whole-folder writer: refused
        with pytest.raises(InputError, match=f"part xvector.shard0000-of-0002 .* process {part.pid}"):
            lock.part_lock(tmp_path, "xvector.shard0000-of-0002").acquire()  # the same shard twice
        with lock.part_lock(tmp_path, "xvector.shard0001-of-0002"):  # the other shard
            pass
    finally:
        let_go(shard)
        let_go(part)
    with lock.folder_lock(tmp_path) as mine:
        assert mine.stale is None


def test_an_unwritable_place_for_the_lock_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="cannot create lock file"):
        lock.folder_lock(tmp_path / "file" / "sub").acquire()


def test_sveval_score_into_a_folder_held_by_another_process_exits_2(tmp_path):
    from click.testing import CliRunner
    from sveval.cli.main import cli

    (tmp_path / "t.kaldi").write_text("a b target\n")
    holder = hold(tmp_path / "scores")
    try:
        args = ["score", "--embeddings", tmp_path / "never-read.npz", "--trials", tmp_path / "t.kaldi"]
        result = CliRunner().invoke(cli, [str(a) for a in [*args, "--out", tmp_path / "scores"]])
    finally:
        let_go(holder)
    assert result.exit_code == 2, result.output
    assert f"is being written by process {holder.pid}" in result.output


def test_a_lock_file_that_cannot_be_written_is_an_input_error_and_frees_the_lock(tmp_path, monkeypatch):
    import errno

    write = lock._write_holders

    def full(fd, holders):
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(lock, "_write_holders", full)
    with pytest.raises(InputError, match=r"\.sveval\.lock: cannot write lock file: File too large"):
        lock.folder_lock(tmp_path).acquire()
    monkeypatch.setattr(lock, "_write_holders", write)
    lock.folder_lock(tmp_path).acquire().release()  # not left held by the failed attempt
