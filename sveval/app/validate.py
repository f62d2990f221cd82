"""`sveval validate` as a job: every check of a released score folder (or of sveval's own), the DET plots
redrawn on request, and whether the folder passes.

    outcome = run(ValidateJob(path="release", trials_dir="~/data/voxceleb", published="golden-gemini"))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sveval.errors import InputError
from sveval.validation.checks import FAIL, NOT_CHECKABLE, PASS, Check, ValidationReport


@dataclass(frozen=True)
class ValidateJob:
    """`sveval validate`'s options (see its --help). trials: built-in names or paths of the lists the score
    files were scored on; det_dir: where to redraw each score file's DET plot (None: not redrawn); strict:
    a check that could not be made fails the folder too; progress: a progress bar over the score files."""

    path: str
    trials_dir: str | None = None
    trials: tuple[str, ...] = ()
    published: str | None = None
    det_dir: str | None = None
    strict: bool = False
    progress: bool = True


@dataclass(frozen=True)
class ValidateOutcome:
    """The checks made, counted by status; `failure` says why the folder fails ("" when it passes)."""

    report: ValidationReport
    strict: bool

    @property
    def counts(self) -> dict[str, int]:
        return {status: self.report.count(status) for status in (PASS, FAIL, NOT_CHECKABLE)}

    @property
    def failure(self) -> str:
        counts = self.counts
        if counts[FAIL]:
            return f"{counts[FAIL]} check(s) failed"
        if self.strict and counts[NOT_CHECKABLE]:
            return "some checks could not be made (--strict)"
        return ""


def run(job: ValidateJob) -> ValidateOutcome:
    """Discover the folder's files and run every check (`sveval.validation.release.validate_release`)."""
    from sveval.io.catalog import load_trials  # noqa: PLC0415
    from sveval.io.release import discover_release  # noqa: PLC0415
    from sveval.progress import progress as progress_bar  # noqa: PLC0415
    from sveval.validation.release import validate_release  # noqa: PLC0415

    watched = _folders_written(job.path)
    before = _writers_seen(watched)  # exit 2 naming a run writing into the folder now
    release = discover_release(job.path)
    trials = tuple(load_trials(spec, progress=job.progress) for spec in dict.fromkeys(job.trials))
    det_checks: list[Check] = []
    redraw = _det_redrawer(job.det_dir, det_checks, release.score_files) if job.det_dir else None

    def progress(files):
        quiet_here = not job.progress or len(files) < 2
        return progress_bar(files, desc="validating", unit="file", disable=quiet_here, leave=False)

    report = validate_release(
        release,
        trials_dir=job.trials_dir,
        published=job.published,
        progress=progress,
        on_scores=redraw,
        trials=trials,
    )
    if _writers_seen(watched) != before:  # a run wrote into the folder, and ended, while it was read
        raise InputError(
            "a run wrote into the folder while it was being validated (its record was replaced): validate "
            "again",
            job.path,
        )
    if job.det_dir and redraw is None:
        det_checks.append(
            Check("det", NOT_CHECKABLE, job.det_dir, "not redrawn: sveval.reporting.det is not in this build")
        )
    return ValidateOutcome(ValidationReport(report.path, report.checks + tuple(det_checks)), job.strict)


def _folders_written(path: str) -> tuple[Path, ...]:
    """The folders a run may be writing that validation reads: the one given, and its scores/ folder."""
    given = Path(path)
    return (given, given / "scores") if (given / "scores").is_dir() else (given,)


def _writers_seen(folders) -> tuple:
    """What shows a run writing into `folders`, without writing there (validation must work on read-only
    folders, so it takes no lock): InputError (exit 2) naming the run while one holds a folder's lock (read,
    never created); else each record's identity, None where absent. A run takes the lock before it
    changes anything and renames its record in last, so a run that wrote and ended between two calls has
    replaced its record: a new inode (and mtime) under the name."""
    from sveval.io.lock import check_unlocked  # noqa: PLC0415
    from sveval.io.output_folder import RECORDS  # noqa: PLC0415

    seen = []
    for folder in folders:
        # shared, as a reader: only a writer's exclusive lock excludes it (and a shared flock needs no
        # write access where NFS emulates flock with byte-range locks)
        check_unlocked(folder, shared=True)
        for record in RECORDS:
            try:
                info = os.lstat(folder / record)
            except OSError:
                seen.append(None)
                continue
            seen.append((info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size))
    return tuple(seen)


def _det_redrawer(det_dir: str, out: list, score_files):
    """A callback drawing each score file's DET plot into det_dir (None when the plotting code is absent).
    Before any long work: exit 2 if det_dir cannot be written, or if a plot's name there holds anything but
    a PNG sveval drew (a user's file, a link, a folder)."""
    from sveval.io.atomic import check_writable_dir  # noqa: PLC0415

    folder = check_writable_dir(det_dir)
    try:
        from sveval.io.figures import PNG_SIGNATURE, write_det_plot  # noqa: PLC0415
        from sveval.io.output_folder import (  # noqa: PLC0415
            refuse_replacing_foreign,
            refuse_writing_into_a_run,
        )
        from sveval.io.score_folder import det_plot_name  # noqa: PLC0415
        from sveval.metrics.detection import SortedScores  # noqa: PLC0415
        from sveval.reporting.det import det_plot_curve  # noqa: PLC0415
    except ImportError:
        return None
    for path in score_files:
        refuse_replacing_foreign(folder / det_plot_name(path.name), PNG_SIGNATURE, "--regenerate-det")
        refuse_writing_into_a_run(folder / det_plot_name(path.name), "--regenerate-det")

    def redraw(file, values, is_target):
        if values is None:
            out.append(Check("det", NOT_CHECKABLE, file, "no finite, labelled scores to draw"))
            return
        label = file[: -len(".score")] if file.endswith(".score") else file
        curve = det_plot_curve(SortedScores.of(values, is_target), label)
        written = write_det_plot([curve], folder / det_plot_name(file))
        out.append(Check("det", PASS, file, f"DET plot redrawn: {written}"))

    return redraw
