"""One writer per output folder: an OS-level advisory lock (`fcntl.flock`) held for the whole run.

A lock is a file (`<folder>/.sveval.lock`, or `<folder>/<part>.lock` for one part of a folder) locked with
`flock`. The kernel drops the lock when its process ends, however it ends (SIGKILL, out of memory, a lost
node), so a lock can never outlive its holder. While holding it, the holder writes who it is (pid, host,
start time, command) into the file, and removes the file when it lets go. A second writer therefore either
gets the lock or is told at once who holds it; a run that finds a file naming a process that is gone knows the
previous holder died without letting go (a *stale* lock) and takes it over, saying so.

Folder and part locks combine: a single-process run locks its folder exclusively; torchrun ranks and
`--num-shards` jobs lock the folder *shared* plus their own part exclusively, so shards run side by side
but never beside a whole-folder writer, and never two copies of the same shard.

The holder removes the lock file before letting go (the last one, for shared holders), so a finished run
leaves no lock file in its folder. A process that opened the file just before it was removed may then lock an
unlinked inode; `acquire` therefore checks, once it holds the flock, that the path still names the inode it
locked, and starts again if not (the usual protocol for lock files that are removed).

flock is POSIX (Linux, macOS); on NFS, Linux emulates it with byte-range locks that the server enforces.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sveval.errors import InputError
from sveval.signals import held_signals

LOCK_NAME = ".sveval.lock"


@dataclass(frozen=True)
class Holder:
    """Who held (or holds) a lock, as written into the lock file."""

    pid: int
    host: str
    started: str
    command: str

    def describe(self) -> str:
        return f"process {self.pid} on {self.host} (started {self.started}: {self.command})"


class FolderLock:
    """An exclusive (or shared) flock on `path`, held from `acquire()` (or `with`) to `release()`.

    `stale` is the holder recorded by a previous process that ended without releasing (None if the lock
    was left cleanly). `what` names the locked thing in messages ("the folder", "part xvector.shard0001").
    """

    def __init__(self, path: str | os.PathLike, what: str, shared: bool = False):
        self.path = Path(path)
        self.what = what
        self.shared = shared
        self.stale: Holder | None = None
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock without waiting. Raises InputError (exit 2) naming the holder if it is taken."""
        with held_signals():  # a stop between creating the file and recording the lock would leave both
            return self._acquire()

    def _acquire(self) -> FolderLock:
        import fcntl

        while True:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except FileNotFoundError:
                continue  # the folder was removed between the two steps by a holder cleaning up: again
            except OSError as exc:
                raise InputError(f"cannot create lock file: {exc.strerror or exc}", str(self.path)) from exc
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                holders = _read_holders(fd)
                os.close(fd)
                raise InputError(_busy_message(self.what, holders), str(self.path.parent)) from None
            if _still_named(fd, self.path):
                break
            os.close(fd)  # we locked a file its last holder had already removed: take the new one
        self._fd = fd
        me = _me()
        try:
            if self.shared:
                # Shared holders each append a line; a line whose process is gone is a leftover, not a holder.
                alive = [h for h in _read_holders(fd) if _alive(h)]
                _write_holders(fd, [*alive, me])
            else:
                # The lock was free, so whoever the file still names let go without emptying it: it died.
                dead = [h for h in _read_holders(fd) if not _alive(h)]
                self.stale = dead[0] if dead else None
                _write_holders(fd, [me])
        except OSError as exc:  # a full disk or a file-size limit
            self._fd = None
            os.close(fd)
            raise InputError(f"cannot write lock file: {exc.strerror or exc}", str(self.path)) from exc
        return self

    def release(self) -> None:
        """Empty the holder record (our line of it, when shared) and let go."""
        if self._fd is None:
            return
        import fcntl

        fd, self._fd = self._fd, None
        try:
            if self.shared:
                # Upgrade to exclusive if we are the last holder so that removing cannot race another holder;
                # otherwise leave the file and the record to the others.
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return
            # still holding it exclusively: whoever opens the old file after this sees it unlinked (acquire)
            if _still_named(fd, self.path):
                self.path.unlink()
        except OSError:
            pass  # removing failed (a read-only remount): the flock still goes with the descriptor
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def folder_lock(folder: str | os.PathLike, shared: bool = False) -> FolderLock:
    """The whole-folder lock of `folder` (exclusive unless `shared`)."""
    return FolderLock(Path(folder) / LOCK_NAME, f"output folder {folder}", shared=shared)


def part_lock(folder: str | os.PathLike, part: str) -> FolderLock:
    """The exclusive lock of one part (`<folder>/<part>.lock`)."""
    return FolderLock(Path(folder) / f"{part}.lock", f"part {part} of {folder}")


def check_unlocked(folder: str | os.PathLike, shared: bool = False) -> None:
    """Fail early (InputError) if another process holds `folder`'s lock in a way that excludes us (any
    holder, or with `shared` (a shard or rank) an exclusive one).

    For commands that want to refuse before minutes of loading; the real lock is taken by the writer. The
    lock file is only read, so a stale holder record stays for the writer to report.
    """
    path = Path(folder) / LOCK_NAME
    if not path.is_file():
        return
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # the writer's own acquire() will say what is wrong
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        fcntl.flock(fd, mode | fcntl.LOCK_NB)  # dropped by close; the record is left as it is
    except BlockingIOError:
        holders = _read_holders(fd)
        raise InputError(_busy_message(f"output folder {folder}", holders), str(folder)) from None
    except OSError:
        return  # no flock on this file system (ENOLCK): a writer's own acquire() says what is wrong
    finally:
        os.close(fd)


def stale_message(lock: FolderLock) -> str | None:
    """A warning line when `lock` was taken over from a process that died holding it."""
    if lock.stale is None:
        return None
    return (
        f"took over the lock of {lock.path.parent} left by {lock.stale.describe()}, which ended without "
        "releasing it"
    )


def _busy_message(what: str, holders: list[Holder]) -> str:
    who = "; ".join(h.describe() for h in holders) or "another process"
    return f"{what} is being written by {who}; one writer per folder: wait for it to end or write elsewhere"


def _me() -> Holder:
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
    return Holder(os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%dT%H:%M:%S%z"), command[:300])


def _alive(holder: Holder) -> bool:
    if holder.host != socket.gethostname():
        return True  # cannot tell; keep it
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _still_named(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open on `fd` (not removed, not replaced)."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)


def _read_holders(fd: int) -> list[Holder]:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    holders = []
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        try:
            holders.append(Holder(**json.loads(line)))
        except (ValueError, TypeError):
            continue  # a record cut short by a crash mid-write says nothing reliable
    return holders


def _write_holders(fd: int, holders: list[Holder]) -> None:
    data = "".join(json.dumps(h.__dict__) + "\n" for h in holders).encode()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
