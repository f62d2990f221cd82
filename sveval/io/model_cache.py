"""The model cache: where published models live, resumable downloads, checksums and archive unpacking.

Layout: `$SVEVAL_CACHE_DIR/models/<folder>/` (default `~/.cache/sveval/models`), one folder per model,
installed atomically (a staging folder renamed into place) with `sveval-download.json` recording what was
downloaded (URL, size, sha256 of the download and of every installed file). Partial downloads wait in
`.downloads/<file>.part` and are resumed with an HTTP Range request; `.downloads/<file>.lock` (an flock,
`sveval.io.lock`) admits one process at a time to a model's download, so two fetches never append to one
`.part` (published file names differ from model to model). An archive installs only the members the
catalogue names for the model; anything else in it is left out and listed in the record.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sveval.errors import InputError
from sveval.io.atomic import write_text
from sveval.io.catalog import cache_root
from sveval.io.lock import FolderLock

RECORD_NAME = "sveval-download.json"
CHUNK = 1 << 20
LOCK_POLL_S = 0.5  # how often a fetch waiting for another process's download of the same model looks again


def cache_dir() -> Path:
    return cache_root() / "models"


def downloads_dir() -> Path:
    return cache_dir() / ".downloads"


@contextmanager
def download_lock(file_name: str, notify=None):
    """Hold the lock of the download of `file_name` (one per model: the catalogue's file names differ),
    waiting while another process holds it. `notify(message)` is called once, naming who holds it; by
    default the message goes to stderr. The lock goes with the process however it ends (flock), so a
    crashed fetch never blocks the next one."""
    lock = FolderLock(downloads_dir() / f"{file_name}.lock", f"{file_name} (a model download)")
    told = False
    while True:
        try:
            lock.acquire()
            break
        except InputError as exc:
            if exc.path != str(lock.path.parent):  # not busy: the lock file cannot be made
                raise
            if not told:
                message = f"waiting: {str(exc).split('; one writer', 1)[0]}"
                (notify or notify_stderr)(message)
                told = True
            time.sleep(LOCK_POLL_S)
    try:
        yield lock
    finally:
        lock.release()


def notify_stderr(message: str) -> None:
    """A note for the person running sveval, on stderr (stdout may be JSON)."""
    sys.stderr.write(f"sveval: {message}\n")
    sys.stderr.flush()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", str(path)) from exc
    return digest.hexdigest()


@dataclass(frozen=True)
class Download:
    """A complete download waiting in `.downloads/`: its path, the URL it came from, size and sha256."""

    path: Path
    url: str
    size: int
    sha256: str


class DownloadError(Exception):
    """A download that failed for a network reason (the caller turns it into a message saying what to do)."""


def download(
    urls: list[str], file_name: str, *, size: int | None, sha256: str | None, progress: bool, timeout=60.0
) -> Download:
    """Download `file_name` from the first URL that answers, resuming a partial `.part` file.

    A download shorter than the server announced stays as `.part` for the next run to resume (and raises
    DownloadError); one whose size or sha256 differ from the expected values is deleted and refused
    (InputError): nothing corrupted is kept.
    """
    part = downloads_dir() / f"{file_name}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    reasons = []
    for url in urls:
        try:
            total = _fetch(url, part, progress, timeout)
            break
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reasons.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
    else:
        raise DownloadError("; ".join(reasons))
    got = part.stat().st_size
    if total is not None and got < total:
        raise DownloadError(
            f"{url}: the download stopped at {got:,} of {total:,} bytes (run again to resume)"
        )
    problems = []
    if size is not None and got != size:
        problems.append(f"{got:,} bytes, expected {size:,}")
    digest = sha256_file(part)
    if sha256 is not None and digest != sha256:
        problems.append(f"sha256 {digest[:16]}..., expected {sha256[:16]}...")
    if problems:
        part.unlink()
        raise InputError(
            f"refused the download from {url} ({'; '.join(problems)}); nothing was cached", file_name
        )
    return Download(part, url, got, digest)


def _fetch(url: str, part: Path, progress: bool, timeout: float) -> int | None:
    """Append the rest of `url` to `part` (Range request when part is non-empty). Returns the full size the
    server announced, or None if it did not say."""
    from sveval.progress import progress as progress_bar

    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not have:  # 416: our part is already whole (or stale): start again
            raise
        part.unlink()
        return _fetch(url, part, progress, timeout)
    with response:
        length = response.headers.get("Content-Length")
        if response.status == 206:
            announced = response.headers.get("Content-Range", "").rsplit("/", 1)[-1]
            total = int(announced) if announced.isdigit() else None  # `bytes a-b/*`: size unknown
            mode = "ab"
        else:  # the server ignored the Range header: the whole file again
            total, have, mode = (int(length) if length else None), 0, "wb"
        name = url.rsplit("/", 1)[-1].split("?")[0]
        with (
            open(part, mode) as handle,
            progress_bar(
                total=total, initial=have, unit="B", unit_scale=True, desc=name, disable=not progress
            ) as bar,
        ):
            while block := response.read(CHUNK):
                handle.write(block)
                bar.update(len(block))
    return total


@dataclass(frozen=True)
class Unpacked:
    """What `unpack` installed (relative POSIX paths) and what it left out of the archive: members the
    catalogue does not name for the model, with their sizes."""

    installed: tuple[str, ...]
    left_out: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Member:
    """An archive member as `select_members` sees it."""

    name: str  # as the archive names it
    size: int
    is_file: bool  # a regular file (not a folder, link or device)


def unpack(archive: Path, file_name: str, into: Path, expected: tuple[str, ...]) -> Unpacked:
    """Put the download into the (empty) folder `into`. A .zip or .tar(.gz) installs only its members
    named in `expected` (paths inside the model folder, at the archive's top or inside one top folder):
    a mirror's archive may carry anything beside the model (a 25 MB zip can unpack to gigabytes), and
    nothing the catalogue does not name becomes part of a "verified" model. Any other file is copied
    under `file_name`. InputError naming the download when the archive is unreadable, holds a wanted file
    twice or as a link."""
    into.mkdir(parents=True, exist_ok=True)
    lower = file_name.lower()
    try:
        if lower.endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped:
                infos = zipped.infolist()
                members = [Member(i.filename, i.file_size, not i.is_dir()) for i in infos]
                chosen = select_members(members, expected, file_name)
                for name, index in chosen.items():
                    with zipped.open(infos[index]) as source:
                        _write_member(source, into / name)
        elif lower.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(archive) as tarred:
                infos = tarred.getmembers()
                members = [Member(m.name, m.size, m.isfile()) for m in infos]
                chosen = select_members(members, expected, file_name)
                for name, index in chosen.items():
                    with tarred.extractfile(infos[index]) as source:
                        _write_member(source, into / name)
        else:
            shutil.copyfile(archive, into / file_name)
            return Unpacked((file_name,))
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, RuntimeError, zlib.error) as exc:
        # RuntimeError: zipfile's refusal of an encrypted member; zlib.error: a corrupt compressed member
        raise InputError(
            f"the download is not a readable archive ({exc}); nothing was cached", file_name
        ) from exc
    taken = set(chosen.values())
    left_out = tuple((m.name, m.size) for i, m in enumerate(members) if m.is_file and i not in taken)
    return Unpacked(tuple(sorted(chosen)), left_out)


def select_members(members: list[Member], expected: tuple[str, ...], file_name: str) -> dict[str, int]:
    """Which archive members to install: {path in the model folder: index in `members`}, for the regular
    files whose name, less a top folder holding every file, is one of `expected`; nothing else. InputError
    when an expected path occurs twice (which copy would be the model?) or is not a regular file (a link
    could point anywhere)."""
    names = [PurePosixPath(m.name.replace("\\", "/")) for m in members]
    files = [n for m, n in zip(members, names) if m.is_file and n.parts[:1] != ("__MACOSX",)]
    tops = {n.parts[0] for n in files if n.parts}
    nested = len(tops) == 1 and all(len(n.parts) > 1 for n in files)  # WeSpeaker's zips: <model>/...
    chosen: dict[str, int] = {}
    for index, (member, name) in enumerate(zip(members, names)):
        inside = name.parts[1:] if nested and name.parts[:1] == tuple(tops) else name.parts
        key = "/".join(inside)
        if key not in expected:
            continue
        if not member.is_file:
            raise InputError(
                f"the archive holds {member.name!r}, but not as a regular file (a link, folder or device); "
                "refused",
                file_name,
            )
        if key in chosen:
            first = members[chosen[key]].name
            raise InputError(
                f"the archive holds {key} twice ({first!r}, {member.name!r}); refused", file_name
            )
        chosen[key] = index
    return chosen


def _write_member(source, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as handle:
        shutil.copyfileobj(source, handle, CHUNK)


def _model_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, path) of every file below `folder`, sorted, the record's own file excepted."""
    return [
        (path.relative_to(folder).as_posix(), path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != RECORD_NAME
    ]


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file below `folder` (relative POSIX paths), the record's own file excepted."""
    return {name: sha256_file(path) for name, path in _model_files(folder)}


def file_sizes(folder: Path) -> dict[str, int]:
    """Size in bytes of every file below `folder` (as `file_hashes` names them)."""
    return {name: path.stat().st_size for name, path in _model_files(folder)}


@dataclass(frozen=True)
class Record:
    """The parts of `sveval-download.json` that later checks rely on, with their types checked.

    size / sha256: of the download (what a later download must match); files: sha256 of each installed
    file; sizes: their sizes in bytes (None in records older than that field).
    """

    size: int | None
    sha256: str | None
    files: dict[str, str]
    sizes: dict[str, int] | None


def write_record(folder: Path, record: dict) -> None:
    write_text(folder / RECORD_NAME, json.dumps(record, indent=2) + "\n")


def read_record(folder: Path, name: str) -> Record | None:
    """The download record of the model `name` installed in `folder`, or None when there is none (a model
    placed by hand). InputError in one line when it is damaged (not JSON, or fields of the wrong types):
    nothing can be checked against it, and `sveval models fetch --force` rewrites it."""
    path = folder / RECORD_NAME
    if not path.is_file():
        return None
    try:
        return parse_record(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        raise InputError(
            f"the download record is damaged ({reason}); nothing can be checked against it: run "
            f"`sveval models fetch --force {name}` to download the model again",
            str(path),
        ) from exc


_SHA256 = re.compile(r"[0-9a-f]{64}")


def parse_record(data) -> Record:
    """A Record from the decoded JSON; ValueError saying which field is wrong. File names must be plain
    paths inside the model folder: a record naming `/etc/passwd` or `../x` is damaged, not a file to stat."""
    if not isinstance(data, dict):
        raise ValueError(f"a JSON {type(data).__name__}, not an object")
    download = data.get("download", {})
    if not isinstance(download, dict):
        raise ValueError("'download' is not an object")
    size, sha256 = download.get("size"), download.get("sha256")
    if size is not None and not _is_size(size):
        raise ValueError(f"'download.size' is {size!r}, not a byte count")
    if sha256 is not None and not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
        raise ValueError(f"'download.sha256' is {_shown(sha256)}, not a sha256")
    files = _file_map(data.get("files"), "files", lambda v: isinstance(v, str) and _SHA256.fullmatch(v))
    sizes = None if data.get("sizes") is None else _file_map(data["sizes"], "sizes", _is_size)
    return Record(size, sha256, files, sizes)


def _is_size(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _file_map(value, field: str, valid) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"'{field}' is {'missing' if value is None else 'not an object'}")
    for key, item in value.items():
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or ".." in parts or "\\" in key:
            raise ValueError(f"'{field}' names {_shown(key)}, not a file inside the model folder")
        if not valid(item):
            raise ValueError(f"'{field}' gives {_shown(item)} for {_shown(key)}")
    return dict(value)


def discard(path: Path) -> None:
    """Remove a staging folder or a download that must not be kept (nothing if it is not there)."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def install(staging: Path, target: Path) -> None:
    """Move a verified staging folder into place (replacing an older copy) with one rename."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)
