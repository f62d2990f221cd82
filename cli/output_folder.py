"""The guard around a command that writes one output folder (`sveval score`, `calibrate`, `fuse`)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from sveval.errors import InputError, Interrupted, Terminated
from sveval.io.atomic import check_writable_dir, remove_stale_stages, removed_on_failure
from sveval.io.lock import folder_lock


@contextlib.contextmanager
def one_writer(out_dir, kept_note: str = ""):
    """One writer per output folder: its lock is taken (a holder already there is an InputError, exit 2) and
    held until the command ends (released by click's context teardown; a staged swap hard-links the lock
    file into the new folder: same inode, same lock). A folder this run created is removed again if the run
    fails; staging folders that killed runs left beside it are removed (under the lock no live run owns
    them); Ctrl-C or SIGTERM becomes Interrupted saying what was kept (`kept_note` is added when the folder
    existed). The files themselves are swapped in by the command (`staged_folder`)."""
    out = Path(out_dir)
    existed = out.is_dir()
    inode = out.stat().st_ino if existed else None
    try:
        with removed_on_failure(out):
            check_writable_dir(out)
            click.get_current_context().call_on_close(folder_lock(out).acquire().release)
            for stale in remove_stale_stages(out):  # under the lock: no live run can own them
                click.echo(f"sveval: removed {stale}, left by a run that was killed while writing", err=True)
            yield out
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated)
        if not existed:
            kept = f"nothing written ({out} removed)"
        elif out.is_dir() and out.stat().st_ino != inode:  # the stop came during the swap, held until done
            kept = f"{out} holds this run's output, complete"
        else:
            kept = f"{out} is as the previous run left it{kept_note}"
        raise Interrupted(kept, terminated=isinstance(exc, Terminated)) from None


def refuse_collisions(inputs, outputs) -> None:
    """InputError (exit 2) before any work when two inputs would write the same output name (one would
    silently replace the other): `outputs[i]` is the name `inputs[i]` writes (str or Path, or a tuple of
    names when an input writes several)."""
    seen: dict[str, str] = {}
    for source, names in zip(inputs, outputs):
        for name in names if isinstance(names, tuple) else (names,):
            if str(name) in seen:
                raise InputError(
                    f"{seen[str(name)]} and {source} would both write {name}: rename or drop one of them"
                )
            seen[str(name)] = str(source)
