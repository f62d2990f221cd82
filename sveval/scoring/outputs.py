"""What `sveval score` (and `sveval demo`) add to a score folder after the scores: DET plots and report.md.

<score file without .score>.det.png     one per score file of a labelled list
<list basename>.overlay.det.png         one per labelled list scored with several methods
report.md                               `sveval report` of the folder, made from the files just written
                                        and from the run's record as the run holds it

Both are recorded in the run's `RunRecord` (under "artifacts"), which is then written whole, once:
results.json is never written early nor read back to be rewritten.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import numpy as np

from sveval import __version__
from sveval.io.atomic import write_text
from sveval.io.figures import write_det_plot
from sveval.io.score_folder import (
    RESULTS_JSON,
    det_plot_name,
    result_file_name,
    score_file_name,
    write_run_record,
)
from sveval.metrics.detection import SortedScores
from sveval.record import RunRecord
from sveval.reporting.det import det_plot_curve
from sveval.reporting.markdown import ReportInfo, list_title, method_title, render_markdown
from sveval.reporting.systems import load_system
from sveval.scoring.cosine import round_half_even_decimal
from sveval.signals import HELD, end_with_parent, held_signals

REPORT = "report.md"


def overlay_name(list_basename: str) -> str:
    return f"{list_basename}.overlay.det.png"


def write_run_plots(run, out_dir: str | os.PathLike, progress=None) -> dict[str, str]:
    """DET plots of a `sveval.scoring.run.ScoringRun` into `out_dir`; returns {score file or list: image}.

    Lists without labels, or with a single class after dropping trials, get no plot (no curve exists).
    Matplotlib draws on one core, so the plots are drawn by one forked process per core: a full O+E+H run
    has twelve of them. progress: optional callable(str) told each image as it is written.
    """
    out = Path(out_dir)
    opts = run.options
    sweep = opts.sweep
    singles, groups = [], []
    for lst in run.lists:
        is_target = lst.is_target
        if is_target is None or is_target.all() or not is_target.any():
            continue
        group = []
        for res in lst.methods:
            # drawn from the scores as printed in the score file, with the sweep the run's metrics used
            # (sveval.scoring.run computes the result files that way), so the legend equals the result file
            printed = np.asarray(res.values)
            if opts.compat != "wespeaker":
                printed = round_half_even_decimal(printed, 5)
            expected = (res.metrics.eer, res.metrics.min_dcf) if res.metrics is not None else None
            label = method_title(res.method, opts.top_n)
            scores = SortedScores.of(printed, is_target, sweep)  # sorted in the plot process
            curve_args = (scores, label, opts.p_target, opts.c_miss, opts.c_fa)
            # titled by the list's content identity, never by the file name it was read from
            title = f"{list_title(lst.trials.display_name)}: {label}"
            if res.method != "cos":
                title += f", cohort {run.cohort_name}"
            singles.append((curve_args, expected, out / det_plot_name(res.score_file), res.score_file, title))
            group.append(len(singles) - 1)
        if len(group) > 1:
            title = f"{list_title(lst.trials.display_name)}: {len(group)} methods"
            groups.append((group, out / overlay_name(lst.trials.basename), title, lst.trials.basename))
    images: dict[str, str] = {}
    with _plot_pool() as pool:
        curves = list(pool.map(_single_plot, singles))
        for (*_, path, score_file, _title), _curve in zip(singles, curves):
            images[score_file] = path.name
            if progress:
                progress(path.name)
        overlays = [([curves[i] for i in group], path, title) for group, path, title, _ in groups]
        for (*_, basename), path in zip(groups, pool.map(_overlay_plot, overlays)):
            images[basename] = path.name
            if progress:
                progress(path.name)
    return images


@contextlib.contextmanager
def _plot_pool():
    """Forked plot processes (matplotlib draws on one core). When the run stops (an error, Ctrl-C, SIGTERM)
    they are killed at once, before the caller removes the staging folder they draw into, with further
    signals held meanwhile: waiting for queued plots made a stop slow, a second signal during that wait
    hung the run at exit, and queued plots re-created the removed folder. (Not multiprocessing.Pool: its
    terminate() waits for a queue lock that a process killed by a group-wide SIGTERM may hold, forever.)
    They are forked with Ctrl-C and SIGTERM blocked, so none reaches one before it has set its own
    handlers (`_plot_process_start`), and each dies with the run."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = max(1, min(2, os.cpu_count() or 1))
    pool = None
    try:
        with held_signals():  # a stop while the pool starts comes once it exists, so it is ended below
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
            try:
                pool = ProcessPoolExecutor(
                    workers,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_plot_process_start,
                    initargs=(os.getpid(),),
                )
                pool.submit(int).result()  # a forking pool starts all its processes now, signals blocked
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        yield pool
    except BaseException:
        if pool is not None:
            with held_signals(redeliver=False):  # this is the clean-up of a stop already on its way
                for process in list(pool._processes.values()):  # (no public kill before Python 3.14)
                    process.kill()
                pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _plot_process_start(parent_pid: int) -> None:
    """In each plot process: Ctrl-C is the parent's to handle (it ends the pool), SIGTERM ends the process
    (no Python handler inherited from the parent, no traceback), and so does the parent's end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    end_with_parent(parent_pid)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)


def _single_plot(job):
    curve_args, expected, path, score_file, title = job
    curve = det_plot_curve(*curve_args)
    if expected is not None and (curve.eer, curve.min_dcf) != expected:
        raise RuntimeError(f"DET plot of {score_file} disagrees with its metrics")
    write_det_plot([curve], path, title=title)
    return curve


def _overlay_plot(job) -> Path:
    curves, path, title = job
    return write_det_plot(curves, path, title=title)


def output_names(trial_lists, methods, cohort_name, top_n: int, eval_name: str) -> list[str]:
    """The names of the score, result and record files a run of these lists and methods writes (the DET
    plots are named after the score files)."""
    names = [RESULTS_JSON, REPORT]
    for method in methods:
        names.append(result_file_name(eval_name, method, top_n))
        for trials in trial_lists:
            score_file = score_file_name(method, trials.basename, cohort_name, top_n)
            names += [score_file, det_plot_name(score_file)]
    names += [overlay_name(t.basename) for t in trial_lists]
    return names


def finish_score_folder(
    run,
    record: RunRecord,
    out_dir: str | os.PathLike,
    plots: bool = True,
    progress=None,
    name: str | None = None,
    shown: str | None = None,
) -> RunRecord:
    """After `write_score_folder`, which returned `record`: DET plots (unless `plots` is False) and
    report.md, both added to the record under "artifacts"; results.json is written with them before the
    report is rendered from the record (the folder a report reads is then the one it describes). name: the
    system's name in the report (default: from the folder's name); shown: the folder as the report names
    it (give both when writing into a stage). Returns the record as written."""
    if plots:
        images = write_run_plots(run, out_dir, progress)
        if images:
            record = record.with_artifacts("det_plots", images)
    record = record.with_artifacts("report", {"markdown": REPORT})
    write_run_record(out_dir, record)
    # `sveval report` of the folder, headed with the run's command and date
    out = Path(out_dir)
    system = load_system(out, name=name, report_dir=out, shown=shown, record=record)
    info = ReportInfo(__version__, record.command or "", record.date or "", "sveval score report")
    write_text(out / REPORT, render_markdown([system], info))
    return record
