"""The guard around a command that writes one output folder (`sveval score`, `calibrate`, `fuse`)."""

from __future__ import annotations

import contextlib
import os

import click

from sveval.errors import InputError, Interrupted, Terminated
from sveval.io.output_folder import OutputFolder


@contextlib.contextmanager
def one_writer(out_dir, record: str, inputs=(), kept_note: str = ""):
    """The run's `OutputFolder` (lock, stage, publish: see sveval.io.output_folder), its messages on stderr,
    and Ctrl-C or SIGTERM turned into Interrupted saying what the folder holds (`kept_note` is added when
    the run did not publish: e.g. that finished embeddings are kept). The command calls `publish()`."""
    folder = OutputFolder(out_dir, record, inputs)
    try:
        with folder:
            for line in folder.messages:
                click.echo(f"sveval: {line}", err=True)
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
        click.echo(
            f"sveval: warning: kept {os.path.join(folder.shown, name)} of the previous run: it changed since "
            "sveval wrote it (or is one of this run's inputs), so it is no longer this folder's output",
            err=True,
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
