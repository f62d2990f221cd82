"""Atomic output: write to a temporary file beside the target, then rename over it.

An interrupted run therefore leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import BinaryIO

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
def _read_errors(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Turn the OS errors of reading `path` into an InputError that names the file."""
    try:
        yield
    except FileNotFoundError as exc:
        raise InputError(f"{what} not found", str(path)) from exc
    except IsADirectoryError as exc:
        raise InputError(f"expected a {what}, found a folder", str(path)) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not UTF-8 text (byte {exc.start})", str(path)) from exc
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", str(path)) from exc


@contextlib.contextmanager
def open_binary(path: str | os.PathLike, what: str = "file") -> Iterator[BinaryIO]:
    """The file opened for reading bytes; OS errors (on opening and reading) become an InputError naming it,
    worded as `read_text` words them."""
    with _read_errors(path, what), open(path, "rb") as handle:
        yield handle


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """Read a UTF-8 text file, turning OS errors into an InputError that names the file."""
    with _read_errors(path, what):
        return Path(path).read_text(encoding="utf-8")


@contextlib.contextmanager
def staged_folder(path: str | os.PathLike, drop: Collection[str] = ()) -> Iterator[Path]:
    """Build a new version of folder `path` aside and swap it in only when the block succeeds.

    Yields an empty staging folder beside `path` (same file system). On success, entries of the existing
    `path` that the block did not write (other lists' files, an embeddings cache) are first linked into the
    staging folder, then it replaces `path` by two renames with Ctrl-C held off, so the folder is always one
    complete run: the old one or the new one. Entries named in `drop` (the previous run's outputs that this
    run replaces as a set) are not carried over. On any error or Ctrl-C the staging folder is removed and
    `path` is left exactly as it was. Raises InputError when the staging folder cannot be created.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(stage, 0o777 & ~umask)  # mkdtemp's 0700 would become the output folder's mode
    except OSError as exc:
        raise InputError(
            f"cannot write beside the output folder: {exc.strerror or exc}", str(target)
        ) from exc
    try:
        yield stage
        if target.is_dir():
            link_missing(target, stage, drop)
        _swap_in(stage, target)
    except InputError as exc:  # name files as the user will know them, not by the staging folder's name
        if str(stage) not in str(exc):
            raise
        raise type(exc)(str(exc).replace(str(stage), str(target))) from exc
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def remove_stale_stages(path: str | os.PathLike) -> list[Path]:
    """Remove the staging folders (`.<name>.new-XXXXXXXX`) that killed runs of `staged_folder` left beside
    folder `path`; returns those removed.

    Call it only while holding `path`'s exclusive folder lock (`sveval.io.lock.folder_lock`): every writer
    that stages `path` holds that lock from before it creates its staging folder until the folder is gone, and
    the kernel drops a lock with its process, so a staging folder seen under the lock has no live owner (a
    SIGKILL or power loss skipped its cleanup). Only names `tempfile.mkdtemp` gives that prefix match; a
    symlink or a file of such a name is left alone.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    pattern = re.compile(rf"\.{re.escape(target.name)}\.new-[a-z0-9_]{{8}}")
    removed = []
    for entry in parent.glob(f".{glob.escape(target.name)}.new-*"):
        if pattern.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return sorted(removed)


def link_missing(old: Path, new: Path, drop: Collection[str] = ()) -> None:
    """Hard-link (or copy, across devices) into `new` every entry of `old` that `new` lacks, except those
    named in `drop`."""
    for entry in old.iterdir():
        if (new / entry.name).exists() or entry.name.startswith(".sveval-write-test-") or entry.name in drop:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, copy_function=_link_or_copy, symlinks=True)
        else:
            _link_or_copy(entry, new / entry.name)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _swap_in(stage: Path, target: Path) -> None:
    """Replace `target` by `stage`: two renames and the removal of the previous run, with Ctrl-C and
    SIGTERM held until all are done (`sveval.signals.held_signals`; a stop that came is delivered after)."""
    with held_signals():
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=stage.parent))
            os.rename(target, old / target.name)
        try:
            os.rename(stage, target)
        except OSError:
            if old is not None:  # put the previous run back
                os.rename(old / target.name, target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def removed_on_failure(path: str | os.PathLike) -> Iterator[None]:
    """Remove folder `path` if the block fails (or is interrupted) and `path` did not exist before it."""
    folder = Path(path)
    existed = folder.exists()
    try:
        yield
    except BaseException:
        if not existed and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        raise
