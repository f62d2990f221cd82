"""Guards of an extraction run: one writer per folder (locks) and a prompt, clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from sveval.errors import InputError
from sveval.io import lock
from sveval.models import parallel
from sveval.signals import end_with_parent, unsafe_to_raise


def lock_folder(out_dir: Path, worker: parallel.Worker, part: str) -> list[lock.FolderLock]:
    """One writer per folder: a lone run locks it exclusively; ranks and shards share the folder and each
    lock their own part."""
    if worker.kind is None:
        return [lock.folder_lock(out_dir).acquire()]
    whole = lock.folder_lock(out_dir, shared=True).acquire()
    try:
        return [whole, lock.part_lock(out_dir, part).acquire()]
    except InputError:
        whole.release()
        raise


def checked_embeddings(ids: list[str], vectors: np.ndarray, model: str) -> np.ndarray:
    """`vectors` (U, D) for the utterances `ids`, refused before anything is written when a row is
    non-finite or all zeros: such rows score NaN or fail the cosine later, far from the cause, and a
    network that gives them is broken (NaN weights, all-zero weights), whatever the audio. InputError
    naming the model and the first utterance ids."""
    rows = np.asarray(vectors)
    bad_value = ~np.isfinite(rows).all(axis=1)
    zero = ~bad_value & ~rows.any(axis=1)
    for mask, what in ((bad_value, "NaN or infinite"), (zero, "all-zero")):
        bad = np.flatnonzero(mask)
        if bad.size:
            first = ", ".join(ids[i] for i in bad[:3])
            more = f" and {bad.size - 3} more of this batch" if bad.size > 3 else ""
            raise InputError(
                f"the model gives {what} embeddings (for {first}{more}): the model is broken (check its "
                "weights), not the audio; this batch was not written",
                model,
            )
    return rows


class exit_on_sigterm:
    """While extracting, SIGTERM closes the part (every journalled record complete), lets go of the locks
    and exits 143 at once instead of leaving decoder processes behind; those die with this process
    (`die_with_parent`). Only in the main thread, where Python runs signal handlers."""

    def __init__(self, held: list[lock.FolderLock]):
        self.held = held
        self.previous = None
        self.previous_hook = None
        self.terminated = False

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)
            self.previous_hook, sys.unraisablehook = sys.unraisablehook, self._swallowed
        return self

    def _swallowed(self, unraisable):
        """Raised in a callback (a fork handler, a finaliser): Python drops it; check() stops the run, so
        nothing needs printing."""
        if not isinstance(unraisable.exc_value, _Terminated):
            self.previous_hook(unraisable)

    def _raise(self, signum, frame):
        self.terminated = True  # an exception raised inside a __del__ or a callback is swallowed: see check()
        if not unsafe_to_raise(frame):  # (inside an import: check() stops the run at the next batch)
            raise _Terminated()

    def check(self) -> None:
        """Call between batches: stop if a SIGTERM came while its exception could not propagate."""
        if self.terminated:
            raise _Terminated()

    def __exit__(self, kind, exc, tb):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        if self.previous_hook is not None:
            sys.unraisablehook = self.previous_hook
        if kind is _Terminated or self.terminated:
            for held_lock in reversed(self.held):
                held_lock.release()
            sys.stderr.write("sveval: terminated (SIGTERM); finished records are kept, rerun to resume\n")
            sys.stderr.flush()
            os._exit(128 + signal.SIGTERM)
        return False


class _Terminated(BaseException):
    pass


def die_with_parent(parent_pid: int, worker_id: int) -> None:
    """DataLoader worker init (bind `parent_pid` with functools.partial): `signals.end_with_parent`."""
    end_with_parent(parent_pid)
