"""`sveval det` and `sveval ape` as one job: score files drawn one plot per file, or all on one (overlay).

images = run(PlotJob("det", ("a/vox1_O.kaldi.score", "b/vox1_O.kaldi.score"), overlay=True))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sveval.app.output_folder import refuse_collisions, stderr_line
from sveval.errors import InputError
from sveval.reporting.labels import file_labels

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")


@dataclass(frozen=True)
class PlotJob:
    """kind: "det" (DET curves with the EER and minDCF points) or "ape" (Bayes error rates of LLRs);
    out: one image file, or a folder (default: beside each score file); labels: the curves' names, one per
    file (default `file_labels`); trials: a list naming the labels of 3-column files; p_target: the DET
    plot's minDCF point."""

    kind: str
    score_files: tuple[str, ...]
    out: str | None = None
    overlay: bool = False
    title: str | None = None
    labels: tuple[str, ...] = ()
    trials: str | None = None
    p_target: float = 0.01
    progress: bool = True


def run(job: PlotJob, say=stderr_line) -> list[Path]:
    """Draw the plots; returns the images written, in order. Tie warnings of a DET plot go to `say`."""
    from sveval.io.catalog import load_trials  # noqa: PLC0415
    from sveval.io.figures import SIGNATURES, figure_format  # noqa: PLC0415
    from sveval.io.output_folder import (  # noqa: PLC0415
        refuse_output_over_input,
        refuse_replacing_foreign,
        refuse_writing_into_a_run,
    )

    if job.kind == "det" and not 0 < job.p_target < 1:
        raise InputError(f"--p-target must be between 0 and 1, got {job.p_target}")
    targets = image_paths(job.score_files, job.out, job.overlay, job.kind)
    for target in targets:  # every image checked before any is drawn: a refusal leaves all files as they are
        signature, at_end = SIGNATURES[figure_format(target)]
        refuse_output_over_input(target, [*job.score_files, job.trials])
        # an image sveval drew is redrawn; a user's file, a link, a folder or a FIFO under its name is not
        refuse_replacing_foreign(target, signature, "--out" if job.out else "the plot", at_end)
        refuse_writing_into_a_run(target, "--out" if job.out else "the plot")
    labels = curve_labels(job.score_files, job.labels)
    trials = load_trials(job.trials, progress=job.progress) if job.trials else None
    draw = _det if job.kind == "det" else _ape
    curves = [draw(path, label, trials, job, say) for path, label in zip(job.score_files, labels)]
    write = _writer(job.kind)
    for target, group in zip(targets, [curves] if job.overlay else [[c] for c in curves]):
        write(group, target, title=job.title)
    return targets


def _det(path, label: str, trials, job: PlotJob, say):
    from sveval.io.folders import read_labelled_scores  # noqa: PLC0415
    from sveval.metrics.detection import SortedScores  # noqa: PLC0415
    from sveval.reporting.det import det_plot_curve  # noqa: PLC0415

    values, is_target = read_labelled_scores(path, trials)
    scores = SortedScores.of(values, is_target)  # one sort for the curve, its numbers and the tie check
    det = scores.det_curve()  # one sweep for them too
    curve = det_plot_curve(scores, label, p_target=job.p_target, det=det)
    point = (job.p_target, 1.0, 1.0)
    for warning in scores.summary(("nist",), (point,), tie_check=True, curve=det).tie_warnings:
        say(f"sveval: warning: {path}: {warning} (the legend shows the first)")
    return curve


def _ape(path, label: str, trials, job: PlotJob, say):
    from sveval.io.folders import read_labelled_scores  # noqa: PLC0415
    from sveval.reporting.ape import ape_curve  # noqa: PLC0415

    values, is_target = read_labelled_scores(path, trials)
    return ape_curve(values, is_target, label)


def _writer(kind: str):
    from sveval.io.figures import write_ape_plot, write_det_plot  # noqa: PLC0415

    return write_det_plot if kind == "det" else write_ape_plot


def image_paths(score_files, out, overlay: bool, kind: str = "det") -> list[Path]:
    """Image paths: --out as one file, or `<score file without .score>.<kind>.png` (`overlay.<kind>.png`) in
    --out or beside each score file."""
    from sveval.io.score_folder import det_plot_name  # noqa: PLC0415

    def image_name(path) -> str:  # `-` (standard input) is `stdin`; a gzip file is named as the file inside
        name = "stdin.score" if str(path) == "-" else Path(path).name.removesuffix(".gz")
        return det_plot_name(name) if kind == "det" else f"{name.removesuffix('.score')}.{kind}.png"

    n_plots = 1 if overlay else len(score_files)
    if out and Path(out).suffix.lower() in IMAGE_SUFFIXES:
        if n_plots != 1:
            raise InputError(
                f"--out is one file but {n_plots} plots are drawn; give a folder or --overlay", out
            )
        return [Path(out)]
    if out and Path(out).suffix and not Path(out).is_dir():
        raise InputError("--out must end in .png, .svg or .pdf, or be a folder", out)
    if overlay:
        folder = Path(out) if out else Path(score_files[0]).parent
        return [folder / f"overlay.{kind}.png"]
    targets = [(Path(out) if out else Path(p).parent) / image_name(p) for p in score_files]
    refuse_collisions(score_files, targets)  # two plots into one file: one would be lost
    return targets


def curve_labels(score_files, given=()) -> list[str]:
    """The curves' names: --label (one per file, in order) where given; else `labels.file_labels`: the file
    name without `.score`, and where files share a name, the folders in which their paths differ
    (`a/x.score`, `b/x.score` -> a, b), followed by the file name only where the names differ too."""
    if given:
        if len(given) != len(score_files):
            raise InputError(
                f"--label given {len(given)} time(s) for {len(score_files)} score file(s): one per file"
            )
        return list(given)
    return file_labels(score_files)
