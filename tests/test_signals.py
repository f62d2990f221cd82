"""Stopping a run cleanly: signals held over a folder swap, none raised inside an import, plot processes
ended at once, one stop at a time."""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time

import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

import sveval.scoring.outputs as score_outputs
from sveval.errors import Terminated
from sveval.io.output_folder import OutputFolder
from sveval.signals import held_signals, unsafe_to_raise


def metrics_with(step, tmp_path, monkeypatch):
    """`sveval metrics` in this process with its reading step replaced by `step`. A SIGTERM that escaped
    sveval's handler would end pytest itself, so a harmless one stands behind it."""
    import sveval.cli.metrics as metrics_cli

    monkeypatch.setattr(metrics_cli, "read_labelled_scores", step)
    (tmp_path / "s.score").write_text("a b 0.9 target\nc d 0.1 nontarget\n")
    previous = signal.signal(signal.SIGTERM, lambda *a: None)
    try:
        return CliRunner().invoke(cli, ["metrics", str(tmp_path / "s.score")])
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_signal_inside_held_signals_comes_after_the_block():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with held_signals():
            signal.raise_signal(signal.SIGINT)
            steps.append("after the signal")  # not cut short
            time.sleep(0.01)
            steps.append("end of block")
        steps.append("never: the held Ctrl-C is raised as the block ends")
    assert steps == ["after the signal", "end of block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with held_signals(redeliver=False):
        signal.raise_signal(signal.SIGINT)  # dropped: a stop is already on its way
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_during_publishing_lets_every_rename_and_the_clean_up_finish(tmp_path, monkeypatch):
    """A Ctrl-C between two renames of the publishing would leave the folder half old, half new: it is held
    until the record is in place, even with another thread idle (as pyarrow's) that could take it."""
    target = tmp_path / "scores"
    with OutputFolder(target, "results.json") as first:
        record = '{"schema": "sveval.score/1", "run": "old"}'
        for name, text in (("a", "old"), ("b", "old"), ("results.json", record)):
            (first.stage / name).write_text(text)
        first.publish()
    rename = os.rename
    idle = threading.Event()
    other = threading.Thread(target=idle.wait, daemon=True)
    other.start()

    def rename_then_signal(src, dst):
        rename(src, dst)
        if str(dst).endswith("/a"):  # after the first of the renames
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # time for the handler to run, as it would

    monkeypatch.setattr(os, "rename", rename_then_signal)
    try:
        with pytest.raises(KeyboardInterrupt):
            with OutputFolder(target, "results.json") as second:
                record = '{"schema": "sveval.score/1", "run": "new"}'
                for name, text in (("a", "new"), ("b", "new"), ("results.json", record)):
                    (second.stage / name).write_text(text)
                second.publish()
    finally:
        idle.set()
    assert second.published
    files = {p.name: p.read_text() for p in target.iterdir() if p.name != "results.json"}
    assert files == {"a": "new", "b": "new"}
    assert json.loads((target / "results.json").read_text())["run"] == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores"]


def test_unsafe_to_raise_inside_an_import_and_a_finaliser(tmp_path, monkeypatch):
    (tmp_path / "probe_module.py").write_text(
        "import sys\nfrom sveval.signals import unsafe_to_raise\nSEEN = unsafe_to_raise(sys._getframe())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert importlib.import_module("probe_module").SEEN is True
    assert unsafe_to_raise(sys._getframe()) is False
    seen = []

    class Finalised:
        def __del__(self):
            seen.append(unsafe_to_raise(sys._getframe()))

    Finalised()
    assert seen == [True]


def test_sigterm_during_an_import_waits_for_it_and_still_stops_the_command(tmp_path, monkeypatch):
    """Raised inside an import, the exception aborts torch's C++ start-up or leaves half-imported modules;
    the stop is asked for again once the import is done."""
    (tmp_path / "slow_module.py").write_text(
        "import os, signal, time\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "for _ in range(20):\n    time.sleep(0.005)\n"
        "COMPLETE = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    def importing(*args, **kwargs):
        importlib.import_module("slow_module")
        time.sleep(5)  # the retried signal stops the command here
        raise AssertionError("SIGTERM was lost")

    result = metrics_with(importing, tmp_path, monkeypatch)
    assert (result.exit_code, result.stderr) == (143, "sveval: terminated (SIGTERM)\n")
    assert sys.modules["slow_module"].COMPLETE


def test_only_the_first_stop_counts(tmp_path, monkeypatch):
    """A second signal during the clean-up of the first is ignored, so the clean-up finishes."""
    cleaned = []

    def stopped(*args, **kwargs):
        try:
            signal.raise_signal(signal.SIGTERM)
            time.sleep(1)
        finally:
            signal.raise_signal(signal.SIGINT)  # while cleaning up after the first
            time.sleep(0.01)
            cleaned.append(True)

    result = metrics_with(stopped, tmp_path, monkeypatch)
    assert (result.exit_code, result.stderr, cleaned) == (143, "sveval: terminated (SIGTERM)\n", [True])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_stop_ends_the_plot_processes_at_once():
    started = time.monotonic()
    with pytest.raises(Terminated):
        with score_outputs._plot_pool() as pool:
            for _ in range(3):
                pool.submit(time.sleep, 30)
            workers = multiprocessing.active_children()
            raise Terminated()
    assert time.monotonic() - started < 10  # not after the queued plots
    assert workers and not any(w.is_alive() for w in workers)
