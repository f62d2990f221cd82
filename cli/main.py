"""Entry point: the `sveval` click group. Errors from the library become one line on stderr and an exit code
(2 for bad input or usage, 1 for failed validation, 130 for Ctrl-C)."""

from __future__ import annotations

import importlib
import os
import sys

import click

from sveval import __version__
from sveval.errors import Interrupted, SvevalError

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
            return super().invoke(ctx)
        except Interrupted as exc:
            click.echo(f"sveval: interrupted: {exc}", err=True)
            sys.exit(exc.exit_code)
        except SvevalError as exc:
            click.echo(f"sveval: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("sveval: interrupted", err=True)
            sys.exit(Interrupted.exit_code)
        except BrokenPipeError:
            # the reader went away (`sveval metrics ... | head -1`): exit as a shell does on SIGPIPE, not with
            # 1 (click's default), which here means a failed validation; nothing more can reach stdout
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(128 + 13)


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
