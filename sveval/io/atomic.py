"""Atomic output: write to a temporary file beside the target, then rename over it.

An interrupted run therefore leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from sveval.errors import InputError
from sveval.signals import held_signals


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to `path` only if the block succeeds.

    For writers that want a file name (matplotlib, kaldiio). The temporary name keeps the target's
    suffix so that writers choosing a format by extension still do the right thing. An OS error while
    writing (a full disk, a quota) is an InputError naming `path`; the temporary file is removed.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # the folders this write makes
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=folder)
    except OSError as exc:
        raise InputError(f"cannot write here: {exc.strerror or exc}", str(target)) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    done = False
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
        done = True
    except Exception as exc:
        failed = _os_error_behind(exc)
        if failed is None or isinstance(exc, InputError):
            raise
        raise InputError(f"cannot write: {failed.strerror or failed}", str(target)) from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
        for made in created if not done else ():  # a failed write leaves no empty folder behind
            with contextlib.suppress(OSError):
                made.rmdir()  # (only if still empty: another writer may be using it)


def _os_error_behind(exc: BaseException) -> OSError | None:
    """The OSError that `exc` is or that led to it: matplotlib's PDF writer, cut off by a full disk, fails
    in its own clean-up with a zlib or attribute error whose context is the OSError."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def check_writable_dir(path: str | os.PathLike) -> Path:
    """Create `path` if needed and prove we can write into it, before any long computation starts."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with held_signals(), tempfile.NamedTemporaryFile(dir=folder, prefix=".sveval-write-test-"):
            pass  # (a stop between creating and removing the file would leave it behind)
    except OSError as exc:
        raise InputError(f"output folder is not writable: {exc.strerror or exc}", str(folder)) from exc
    return folder


@contextlib.contextmanager
def read_errors(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Turn the OS errors of reading `path` into an InputError that names the file (a gzip stream that
    ends early or is corrupt included)."""
    try:
        yield
    except FileNotFoundError as exc:
        raise InputError(f"{what} not found", str(path)) from exc
    except IsADirectoryError as exc:
        raise InputError(f"expected a {what}, found a folder", str(path)) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not UTF-8 text (byte {exc.start})", str(path)) from exc
    except gzip.BadGzipFile as exc:  # (an OSError) a .gz that is not gzip, or bytes after its last stream
        raise InputError(
            f"cannot read {what}: not gzip data where a gzip stream should start ({exc}): a file named .gz "
            "that is not gzip, or bytes after the end of the gzip data",
            str(path),
        ) from exc
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", str(path)) from exc
    except (EOFError, zlib.error) as exc:  # gzip: cut short, or a corrupt stream
        raise InputError(f"cannot read {what} (gzip): {exc}", str(path)) from exc


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """Read a UTF-8 text file, turning OS errors into an InputError that names the file."""
    with read_errors(path, what):
        return Path(path).read_text(encoding="utf-8")
