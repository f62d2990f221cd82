"""Writing the demo's synthetic inputs in the formats users have (`.npz` embeddings, Kaldi trial lists, a
score file) under its --out, over nothing but what an earlier demo wrote there.

The inputs live in subfolders of --out (`embeddings/*/embeddings.npz`, `trials/`, `calibration/`), so the
flat record of `sveval.io.output_folder.OutputFolder` cannot list them; they get a record of the same kind
instead, `OUT/.sveval-demo.json`: under "written", each file's path relative to OUT with its size and
SHA-256, read with `read_record` and checked with `refuse_unless_recorded`, as score's results.json is. A
file is written only where its name is free, or holds a regular file that the record lists, unchanged
since; anything else (a user's file, one edited since, a folder, a link) is an InputError naming it. The
caller holds OUT's lock (`sveval.io.lock.folder_lock`), so no other sveval run writes there meanwhile.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from sveval.errors import InputError
from sveval.io.atomic import write_bytes, write_text
from sveval.io.output_folder import (
    DEMO_RECORD,
    DEMO_SCHEMA,
    WRITTEN,
    file_entry,
    read_record,
    refuse_unless_recorded,
)
from sveval.io.trials import canonical_text
from sveval.signals import held_signals
from sveval.types import Embeddings, TrialList


def npz_bytes(embeddings: Embeddings) -> bytes:
    """`ids` (unicode) + `vectors` arrays: the .npz layout `sveval score --embeddings` reads."""
    buffer = io.BytesIO()
    np.savez(buffer, ids=np.asarray(embeddings.ids, dtype=str), vectors=embeddings.vectors)
    return buffer.getvalue()


def kaldi_bytes(trials: TrialList) -> bytes:
    """A labelled list in the Kaldi form (`write_kaldi_trials` writes the same)."""
    return canonical_text(trials.enroll, trials.test, trials.is_target).encode("utf-8")


def write_demo_inputs(out_dir: str | os.PathLike, setup, names: dict[str, str]) -> dict[str, Path]:
    """The setup's evaluation and cohort embeddings (.npz) and, when `names` has "trials", its list
    (Kaldi), each written at `names[role]` under `out_dir` (`write_recorded`). Returns the paths by role."""
    paths = {
        "eval": write_recorded(out_dir, names["eval"], npz_bytes(setup.evaluation)),
        "cohort": write_recorded(out_dir, names["cohort"], npz_bytes(setup.cohort)),
    }
    if "trials" in names:
        paths["trials"] = write_recorded(out_dir, names["trials"], kaldi_bytes(setup.trials))
    return paths


def refuse_foreign(out_dir: str | os.PathLike, names) -> None:
    """InputError (exit 2) when one of `names` (paths relative to `out_dir`) may not be written: call it
    for all of them before writing any, so that a refused demo changes nothing. The record itself, and
    every folder on the way to a name, must be sveval's too (a folder, not a link or a file). `out_dir` as
    the user gave it: messages name the files under it."""
    out = Path(out_dir)
    written = _recorded(out)
    device = os.stat(out).st_dev
    for name in names:
        parts = Path(name).parts
        for depth in range(1, len(parts)):
            _refuse_non_folder(out, Path(*parts[:depth]))
        refuse_unless_recorded(out, name, DEMO_RECORD, written.get(name), device)


def write_recorded(out_dir: str | os.PathLike, name: str, data: bytes) -> Path:
    """Write `data` to `out_dir/name` (a path relative to it) if `refuse_foreign` allows it, and record it.
    The file (atomic) and its record entry are written with Ctrl-C and SIGTERM held, so a stop never
    leaves a file that the record does not vouch for (a rerun would refuse it)."""
    out = Path(out_dir)
    refuse_foreign(out, [name])
    written = _recorded(out)
    with held_signals():
        write_bytes(out / name, data)
        written[name] = file_entry(out / name)
        doc = {"schema": DEMO_SCHEMA, WRITTEN: dict(sorted(written.items()))}
        write_text(out / DEMO_RECORD, json.dumps(doc, indent=2) + "\n")
    return out / name


def _recorded(out: Path) -> dict[str, dict]:
    """relative path -> {"bytes", "sha256"} of the files earlier demos wrote under `out`; a file of the
    record's name that is not the record is refused (it would be written over)."""
    doc = read_record(out, DEMO_RECORD)
    if doc is None:
        refuse_unless_recorded(out, DEMO_RECORD, DEMO_RECORD, None, os.stat(out).st_dev)
        return {}
    return {str(k): v for k, v in doc[WRITTEN].items() if isinstance(v, dict) and "sha256" in v}


def _refuse_non_folder(out: Path, sub: Path) -> None:
    path = out / sub
    if os.path.islink(path) or (os.path.lexists(path) and not path.is_dir()):
        what = "a link" if os.path.islink(path) else "not a folder"
        raise InputError(
            f"{sub} is already there and is {what}: the demo writes its inputs into a folder of that name; "
            "move it away or write elsewhere (--out). Nothing was changed",
            str(out / sub),
        )
