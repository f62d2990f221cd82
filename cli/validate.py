"""`sveval validate`: check a released score folder against trial lists, result files, published numbers."""

from __future__ import annotations

from dataclasses import asdict

import click

from sveval import json_output
from sveval.errors import shown_id
from sveval.reporting.published import PUBLISHED
from sveval.validation.checks import FAIL, NOT_CHECKABLE, PASS

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
def command(path, trials_specs, as_json, quiet, **options):
    """Check a released model folder: do its files say what its numbers say?

    PATH is a release folder (containing scores/, maybe config.yaml and models/*.pt) or a scores folder.
    Every score file must parse, have finite scores, cover the trial list its name gives exactly once with
    the right labels, and have a block in the result file of its method whose EER and minDCF equal the
    recomputed ones (WeSpeaker's definitions) to the printed decimals. One line per check: pass, FAIL or
    not checkable (with the reason; a trial list that is not available is never a pass).

    Only the folder is read: a symbolic link leaving it, a broken link, a FIFO, socket or device under a
    name validation would read fails the `file` check and is never opened. Names holding invisible
    characters (a newline, a terminal escape) are shown escaped in the table; --json holds them as they are.

    No lock is taken (a released folder may be read-only): while a run (score, calibrate, report) writes
    into it, or if one wrote into it during validation, validate exits 2 naming it; validate again then.

    Exit status: 0 no check failed, 1 a check failed (or, with --strict, could not be made), 2 bad usage or
    a run writing into the folder.

    \b
    Examples:
      sveval validate 0615-Gemini_df_resnet110-emb256-fbank80-...-epoch165
      sveval validate release/scores --trials-dir ~/data/voxceleb --published golden-gemini
      sveval validate release --json > checks.json
      sveval validate kaldi/ --trials data/voxceleb1_test/trials   # 3-column scores, labels from the list
    """
    from sveval.app.validate import ValidateJob, run  # noqa: PLC0415
    from sveval.errors import ValidationFailed  # noqa: PLC0415

    # every other option is the job's field of the same name
    outcome = run(ValidateJob(path=path, trials=trials_specs, progress=not quiet, **options))
    report, counts = outcome.report, outcome.counts
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
    if outcome.failure:
        raise ValidationFailed(outcome.failure)


def _table(report) -> str:
    # one line per check: a name holding a newline or a terminal escape (here as file or inside a
    # message) is shown escaped, `bad\nname.score`, as sveval shows odd ids
    rows = [(STATUS_LABELS[c.status], c.name, shown_id(c.file), shown_id(c.message)) for c in report.checks]
    head = ("status", "check", "file", "message")
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(3)]
    return "\n".join(
        f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in [head, *rows]
    )
