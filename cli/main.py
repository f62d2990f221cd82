"""Entry point: the `sveval` click group. Errors from the library become one line on stderr and an exit code
(2 for bad input or usage, 1 for failed validation, 130 for Ctrl-C, 143 for SIGTERM)."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
import warnings

import click

from sveval import __version__
from sveval.errors import InputError, Interrupted, SvevalError, Terminated, shown_id
from sveval.signals import unsafe_to_raise

# Command name -> module in sveval.cli defining a click command called `command`. Imported lazily, so that
# `sveval metrics` never pays for torch or matplotlib.
COMMANDS = {
    "ape": "ape",
    "calibrate": "calibrate",
    "compare": "compare",
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


NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # (click >= 8.2)


class LazyGroup(click.Group):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """click's main, with its usage errors (a missing argument, an unknown option, a bad value) as one
        `sveval: error: ...` line like every other error, not click's usage, hint and error lines."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            done = super().main(args, prog_name, complete_var, False, **extra)
        except NO_ARGS_IS_HELP as exc:  # `sveval`, `sveval trials`: the help, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            click.echo(f"sveval: error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:  # Ctrl-C while click itself was parsing or prompting
            click.echo(f"sveval: {_stopped(False)}", err=True)
            sys.exit(130)
        sys.exit(done if isinstance(done, int) else 0)  # (--help and --version give 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return importlib.import_module(f"sveval.cli.{COMMANDS[name]}").command

    def invoke(self, ctx: click.Context):
        try:
            if ctx.args.count("-") > 1:  # the second reader would find it used up and blame the data
                raise InputError(
                    "standard input ('-') given more than once: it can be read for one input only"
                )
            _refuse_empty_outputs(ctx.args)
            with _stops(), _warnings_as_lines():
                return super().invoke(ctx)
        except Interrupted as exc:
            click.echo(f"sveval: {_stopped(exc.terminated)}: {exc}", err=True)
            sys.exit(exc.exit_code)
        except SvevalError as exc:
            click.echo(f"sveval: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:  # nothing said what was kept: the bare stop
            stop = Interrupted("", terminated=isinstance(exc, Terminated))
            click.echo(f"sveval: {_stopped(stop.terminated)}", err=True)
            sys.exit(stop.exit_code)
        except BrokenPipeError:
            # the reader went away (`sveval metrics ... | head -1`): exit as a shell does on SIGPIPE, not with
            # 1 (click's default), which here means a failed validation; nothing more can reach stdout
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(128 + 13)


OUTPUT_OPTIONS = ("--out", "--regenerate-det")


def _refuse_empty_outputs(args: list[str]) -> None:
    """An output named by an empty string (`--out "$UNSET"`) would be the current folder: refused."""
    for i, arg in enumerate(args):
        empty = arg in OUTPUT_OPTIONS and i + 1 < len(args) and not args[i + 1].strip()
        if empty or any(arg == f"{option}=" for option in OUTPUT_OPTIONS):
            raise InputError(f"{arg.rstrip('=')} is empty: name a file or folder (an unset variable?)")


@contextlib.contextmanager
def _warnings_as_lines():
    """Python warnings (numpy's RuntimeWarning `overflow encountered in reduce`, a library's UserWarning)
    reach the user as one `sveval: warning: ...` line saying where in sveval they arose, never as Python's
    two raw lines quoting numpy's source. The usual filters still apply (each place warns once); the
    previous `showwarning` is put back after."""

    def show(message, category, filename, lineno, file=None, line=None):
        click.echo(f"sveval: warning: {_warning_line(str(message), category)}", err=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _warning_line(message: str, category: type) -> str:
    """One line: the message, its kind and the innermost sveval code on the stack (numpy's own file says
    nothing to a user), and for numpy's floating-point warnings what it means for the numbers."""
    text = shown_id(" ".join(message.split()))
    frame, where = sys._getframe(1), ""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("sveval") and module != __name__:
            where = f" in {module}, line {frame.f_lineno}"
            break
        frame = frame.f_back
    meaning = ": a number computed there may be inf or nan" if "encountered in" in text else ""
    return f"{text} ({category.__name__}{where}){meaning}"


def _stopped(terminated: bool) -> str:
    return "terminated (SIGTERM)" if terminated else "interrupted"


@contextlib.contextmanager
def _stops():
    """While a command runs, Ctrl-C raises KeyboardInterrupt and SIGTERM raises Terminated (a
    KeyboardInterrupt) in the main thread, so both get the same clean-up (no staging folder or half-made
    output left behind) and exit 130 or 143. One stop at a time: signals after the first are ignored, so
    they cannot cut its clean-up short (a second Ctrl-C used to leave a staging folder behind). A signal
    that comes while a module is being imported or a finaliser runs is asked for again 20 ms later
    (`unsafe_to_raise`), and so is one raised in a callback, where Python would print and drop it. The
    handlers that were there before are put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = []

    def again(signum: int) -> None:
        retry = threading.Timer(0.02, os.kill, (os.getpid(), signum))
        retry.daemon = True
        retry.start()

    def stop(signum, frame):
        if stopping:
            return
        if unsafe_to_raise(frame):
            again(signum)
            return
        stopping.append(signum)
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def swallowed(unraisable):  # raised in a callback, where Python prints and drops it: ask again
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and stopping:
            again(stopping.pop())
        else:
            previous_hook(unraisable)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    previous_hook, sys.unraisablehook = sys.unraisablehook, swallowed
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


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


def main() -> None:
    """The `sveval` program: `cli`, then the interpreter's shutdown with Ctrl-C and SIGTERM ignored (the
    command is over, its outputs complete or cleaned up; a signal now would only print a traceback from
    the shutdown or turn a finished run into a killed one)."""
    try:
        cli()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
