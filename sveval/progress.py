"""Progress on stderr, the one helper every progress display goes through.

On a terminal: a tqdm bar (carriage-return updates on one line). Anywhere else (a log file, a pipe, a
scheduler's output file): a few whole lines, never a carriage return: the first once the work has run
`FIRST_LINE_S` seconds, then at most one per `EVERY_S` seconds and, when the total is known, only where the
work has crossed another tenth of it; a last line when the work ends, if anything was printed before. Work
that ends within `FIRST_LINE_S` prints nothing. Disabled (`--quiet`): nothing at all.
"""

from __future__ import annotations

import sys
import time

FIRST_LINE_S = 10.0
EVERY_S = 30.0


def progress(
    iterable=None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool = False,
    file=None,
    **tqdm_options,
):
    """A tqdm bar when `file` (default stderr) is a terminal, else `PlainProgress`; a no-op when disabled.
    Every form has update(n), set_postfix(**values), close(), works as a context manager and, given an
    iterable, iterates over it. tqdm_options (unit_scale, initial, smoothing, leave) go to tqdm; `initial`
    is honoured by the plain lines too."""
    stream = sys.stderr if file is None else file
    if disable:
        return PlainProgress(iterable, total, desc, unit, None, tqdm_options.get("initial", 0))
    if _is_terminal(stream):
        from tqdm import tqdm  # noqa: PLC0415

        if not tqdm_options.get("unit_scale"):  # tqdm writes "0utt", "3.2utt/s": "0 utt", "3.2 utt/s"
            unit = f" {unit}"
        return tqdm(iterable, total=total, desc=desc, unit=unit, file=stream, **tqdm_options)
    return PlainProgress(iterable, total, desc, unit, stream, tqdm_options.get("initial", 0))


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class PlainProgress:
    """Whole progress lines (`sveval: DESC: 1,200/5,000 utt (24 %), 31 s`); stream None: silent."""

    def __init__(self, iterable, total, desc: str, unit: str, stream, initial: int = 0):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.n = self.start = initial
        self.postfix = ""
        self.began = self.last = time.monotonic()
        self.printed = False
        self.tenth = 0  # the last tenth of the total a line was printed at
        self.closed = False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.close()
        else:  # stopped by an error or a signal: the error says what happened, no "done" line
            self.closed = True

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self.began < FIRST_LINE_S or (self.printed and now - self.last < EVERY_S):
            return
        if self.total:
            tenth = min(int(10 * self.n / self.total), 10)  # (past the total: no more lines)
            if tenth <= self.tenth:
                return
            self.tenth = tenth
        self._line(now)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.stream is not None and self.printed:
            self._line(time.monotonic(), done=True)

    def _line(self, now: float, done: bool = False) -> None:
        count = _amount(self.n, self.unit)
        if self.total and not done:
            count = f"{_amount(self.n, self.unit, False)}/{_amount(self.total, self.unit)} "
            count += f"({100 * self.n / self.total:.0f} %)"
        text = f"sveval: {self.desc}: {count}{' done' if done else ''}, {now - self.began:.0f} s"
        if self.postfix:
            text += f" ({self.postfix})"
        print(text, file=self.stream, flush=True)
        self.printed, self.last = True, now


def _amount(n: float, unit: str, with_unit: bool = True) -> str:
    if unit == "B":
        text = f"{n / 1e6:,.1f}"
        return f"{text} MB" if with_unit else text
    return f"{n:,.0f} {unit}" if with_unit else f"{n:,.0f}"
