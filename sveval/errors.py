"""Errors with a meaning for the command line: what went wrong, where, and which exit code it deserves."""

from __future__ import annotations


def shown_id(text) -> str:
    """An id as messages show it: as is when every character is visible, else with the invisible ones
    escaped (a byte-order mark, a zero-width or no-break space: `\\ufeffid10270/...`), so that two ids that
    look the same in a message never differ invisibly."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def quoted(text, limit: int = 120) -> str:
    """`text` quoted (repr) for a message, cut after `limit` characters with how many more there were: a
    message quotes the line it found, and a 5 MB line must not become a 5 MB message."""
    text = str(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text) - limit:,} more characters)"


class SvevalError(Exception):
    """Base class. `exit_code` is what the CLI exits with when this escapes a command."""

    exit_code = 2


class InputError(SvevalError):
    """Bad input or usage: a malformed file, a missing file, inconsistent arguments. Exit code 2."""

    exit_code = 2

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class NotTheList(InputError):
    """A file offered under a built-in list's name whose content is another list (counts or fingerprint
    differ from the manifest). Always an input error, in every command: never "not checkable"."""


class ValidationFailed(SvevalError):
    """The input was readable but a check failed. Exit code 1."""

    exit_code = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, a scheduler's time limit) raised in the main thread as an interruption, so
    that everything Ctrl-C cleans up (staging folders, locks, half-made outputs) is cleaned up for it too."""


class Interrupted(SvevalError):
    """Ctrl-C or SIGTERM: the message says what was kept. Exit code 130 (128 + SIGINT) or 143 (128 +
    SIGTERM), as shells report them."""

    exit_code = 130

    def __init__(self, message: str, terminated: bool = False):
        super().__init__(message)
        self.terminated = terminated
        if terminated:
            self.exit_code = 143
