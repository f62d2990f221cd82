"""`sveval validate`: check a released score folder against trial lists, result files, published numbers."""

from __future__ import annotations

from dataclasses import asdict

import click

from sveval.errors import shown_id
from sveval.published import PUBLISHED

from . import json_output

STATUS_LABELS = {"pass": "pass", "fail": "FAIL", "not-checkable": "not checkable"}


@click.command("validate")
@click.argument("path", type=click.Path(), metavar="PATH")
@click.option(
    "--trials-dir",
    type=click.Path(exists=True, file_okay=False),
    help="Folder with trial lists (source files such as veri_test2.txt, or <name>.kaldi); searched before "
    "$SVEVAL_TRIALS_DIR and the cache. Nothing is downloaded.",
)
@click.option(
    "--trials",
    "trials_specs",
    multiple=True,
    metavar="NAME|PATH",
    help="Trial list(s) the score files were scored on, matched to files by name as `report --trials` "
    "matches them (one list: every file whose name points to no built-in list); labels of 3-column "
    "files come from it.",
)
@click.option(
    "--published",
    type=click.Choice(sorted(PUBLISHED)),
    help="Also compare the result files with this published table, for the model the folder name or "
    "config.yaml names.",
)
@click.option(
    "--regenerate-det",
    "det_dir",
    type=click.Path(file_okay=False),
    help="Redraw the DET plot of every score file into this folder.",
)
@click.option("--strict", is_flag=True, help="Exit 1 also when a check could not be made.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON instead of a table.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(path, trials_dir, trials_specs, published, det_dir, strict, as_json, quiet):
    """Check a released model folder: do its files say what its numbers say?

    PATH is a release folder (containing scores/, maybe config.yaml and models/*.pt) or a scores folder.
    Every score file must parse, have finite scores, cover the trial list its name gives exactly once with
    the right labels, and have a block in the result file of its method whose EER and minDCF equal the
    recomputed ones (WeSpeaker's definitions) to the printed decimals. One line per check: pass, FAIL or
    not checkable (with the reason; a trial list that is not available is never a pass).

    Only the folder is read: a symbolic link leaving it, a broken link, a FIFO, socket or device under a
    name validation would read fails the `file` check and is never opened. Names holding invisible
    characters (a newline, a terminal escape) are shown escaped in the table; --json holds them as they are.

    Exit status: 0 no check failed, 1 a check failed (or, with --strict, could not be made), 2 bad usage.

    \b
    Examples:
      sveval validate 0615-Gemini_df_resnet110-emb256-fbank80-...-epoch165
      sveval validate release/scores --trials-dir ~/data/voxceleb --published golden-gemini
      sveval validate release --json > checks.json
      sveval validate kaldi/ --trials data/voxceleb1_test/trials   # 3-column scores, labels from the list
    """
    from sveval.errors import ValidationFailed
    from sveval.io.catalog import load_trials
    from sveval.io.release import discover_release
    from sveval.progress import progress as progress_bar
    from sveval.validate import FAIL, NOT_CHECKABLE, PASS, Check, ValidationReport, validate_release

    release = discover_release(path)
    trials = tuple(load_trials(spec, progress=not quiet) for spec in dict.fromkeys(trials_specs))
    det_checks: list[Check] = []
    redraw = _det_redrawer(det_dir, det_checks) if det_dir else None

    def progress(files):
        quiet_here = quiet or len(files) < 2
        return progress_bar(files, desc="validating", unit="file", disable=quiet_here, leave=False)

    report = validate_release(
        release,
        trials_dir=trials_dir,
        published=published,
        progress=progress,
        on_scores=redraw,
        trials=trials,
    )
    if det_dir and redraw is None:
        det_checks.append(
            Check("det", NOT_CHECKABLE, det_dir, "not redrawn: sveval.plot is not in this build")
        )
    report = ValidationReport(report.path, report.checks + tuple(det_checks))
    counts = {status: report.count(status) for status in (PASS, FAIL, NOT_CHECKABLE)}
    if as_json:
        out = {"path": report.path, "passed": report.passed, "counts": counts}
        out["checks"] = [asdict(c) for c in report.checks]
        click.echo(json_output.dumps(out, indent=2))  # strings and counts only: never NaN
    else:
        click.echo(_table(report))
        click.echo(
            f"\n{counts[PASS]} passed, {counts[FAIL]} failed, {counts[NOT_CHECKABLE]} not checkable "
            f"({len(report.checks)} checks on {shown_id(report.path)})"
        )
    if counts[FAIL] or (strict and counts[NOT_CHECKABLE]):
        what = (
            f"{counts[FAIL]} check(s) failed" if counts[FAIL] else "some checks could not be made (--strict)"
        )
        raise ValidationFailed(what)


def _det_redrawer(det_dir: str, out: list):
    """A callback drawing each score file's DET plot into det_dir (None when the plotting code is absent)."""
    from sveval.io.atomic import check_writable_dir
    from sveval.validate import NOT_CHECKABLE, PASS, Check

    folder = check_writable_dir(det_dir)  # before any long work: exit 2 if it cannot be written
    try:
        from sveval.io.figures import write_det_plot
        from sveval.io.score_folder import det_plot_name
        from sveval.metrics import SortedScores
        from sveval.plot import det_plot_curve
    except ImportError:
        return None

    def redraw(file, values, is_target):
        if values is None:
            out.append(Check("det", NOT_CHECKABLE, file, "no finite, labelled scores to draw"))
            return
        label = file[: -len(".score")] if file.endswith(".score") else file
        curve = det_plot_curve(SortedScores.of(values, is_target), label)
        written = write_det_plot([curve], folder / det_plot_name(file))
        out.append(Check("det", PASS, file, f"DET plot redrawn: {written}"))

    return redraw


def _table(report) -> str:
    # one line per check: a name holding a newline or a terminal escape (here as file or inside a
    # message) is shown escaped, `bad\nname.score`, as sveval shows odd ids
    rows = [(STATUS_LABELS[c.status], c.name, shown_id(c.file), shown_id(c.message)) for c in report.checks]
    head = ("status", "check", "file", "message")
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(3)]
    return "\n".join(
        f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in [head, *rows]
    )
