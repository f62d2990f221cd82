"""Entry point: the `sveval` click group. Errors from the library become one line on stderr and an exit code
(2 for bad input or usage, 1 for failed validation, 130 for Ctrl-C, 143 for SIGTERM)."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading

import click

from sveval import __version__
from sveval.errors import Interrupted, SvevalError, Terminated

# Command name -> module in sveval.cli defining a click command called `command`. Imported lazily, so that
# `sveval metrics` never pays for torch or matplotlib.
COMMANDS = {
    "ape": "ape",
    "calibrate": "calibrate",
    "demo": "demo",
    "det": "det",
    "export-onnx": "export_onnx",
    "extract": "extract",
    "fuse": "fuse",
    "metrics": "metrics",
    "models": "models",
    "report": "report",
    "score": "score",
    "trials": "trials",
    "validate": "validate",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return importlib.import_module(f"sveval.cli.{COMMANDS[name]}").command

    def invoke(self, ctx: click.Context):
        try:
            with _sigterm_interrupts():
                return super().invoke(ctx)
        except Interrupted as exc:
            click.echo(f"sveval: {_stopped(exc.terminated)}: {exc}", err=True)
            sys.exit(exc.exit_code)
        except SvevalError as exc:
            click.echo(f"sveval: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, Terminated)
            click.echo(f"sveval: {_stopped(terminated)}", err=True)
            sys.exit(128 + (signal.SIGTERM if terminated else signal.SIGINT))
        except BrokenPipeError:
            # the reader went away (`sveval metrics ... | head -1`): exit as a shell does on SIGPIPE, not with
            # 1 (click's default), which here means a failed validation; nothing more can reach stdout
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(128 + 13)


def _stopped(terminated: bool) -> str:
    return "terminated (SIGTERM)" if terminated else "interrupted"


@contextlib.contextmanager
def _sigterm_interrupts():
    """While a command runs, SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread: the same
    clean-up as Ctrl-C (no staging folder or half-made output left behind), then exit 143. The handler that
    was there before is put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(__version__, prog_name="sveval")
def cli() -> None:
    """Speaker-verification evaluation the way the VoxCeleb literature reports it.

    Scores Vox1-O/E/H trial lists (cosine, s-norm, AS-norm), computes EER and minDCF exactly as WeSpeaker,
    Kaldi and the NIST scorer do, and says how every number was computed.

    \b
    Examples:
      sveval demo                                   # the whole pipeline on built-in synthetic data
      sveval metrics exp/scores/vox1_O_cleaned.kaldi.score
      sveval trials list
    """
