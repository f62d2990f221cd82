"""The guard around a job that writes one output folder (`sveval score`, `demo`, `calibrate`, `fuse`), and
the stderr line every job reports through."""

from __future__ import annotations

import contextlib
import os
import sys

from sveval.errors import InputError, Interrupted, Terminated
from sveval.io.output_folder import OutputFolder


def stderr_line(line: str) -> None:
    """A job's default `say`: one line on stderr, flushed, so that it lands between the progress bars it
    describes (a job reports what it finds as it goes; the command prints its outcome at the end)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@contextlib.contextmanager
def one_writer(out_dir, record: str, inputs=(), kept_note: str = "", say=stderr_line):
    """The run's `OutputFolder` (lock, stage, publish: see sveval.io.output_folder), its messages through
    `say`, and Ctrl-C or SIGTERM turned into Interrupted saying what the folder holds (`kept_note` is added
    when the run did not publish: e.g. that finished embeddings are kept). The job calls `publish()`."""
    folder = OutputFolder(out_dir, record, inputs)
    try:
        with folder:
            for line in folder.messages:
                say(f"sveval: {line}")
            yield folder
    except InputError as exc:  # a file is named where the user will find it, not in the stage
        if folder.stage is None or str(folder.stage) not in str(exc):
            raise
        raise type(exc)(str(exc).replace(str(folder.stage), folder.shown)) from None
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated)
        if folder.published:  # the stop came during the publishing, held until it was done
            kept = f"{folder.shown} holds this run's output, complete"
        elif folder.created and not os.path.isdir(folder.path):
            kept = f"nothing written ({folder.shown} removed)"
        elif folder.created:
            kept = f"{folder.shown} holds no output of this run{kept_note}"
        else:
            kept = f"{folder.shown} is as the previous run left it{kept_note}"
        raise Interrupted(kept, terminated=isinstance(exc, Terminated)) from None
    for name in folder.kept:
        say(
            f"sveval: warning: kept {os.path.join(folder.shown, name)} of the previous run: it changed since "
            "sveval wrote it (or is one of this run's inputs), so it is no longer this folder's output"
        )


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
