"""The model cache: where published models live, resumable downloads, checksums and archive unpacking.

Layout: `$SVEVAL_CACHE_DIR/models/<folder>/` (default `~/.cache/sveval/models`), one folder per model,
installed atomically (a staging folder renamed into place) with `sveval-download.json` recording what was
downloaded (URL, size, sha256 of the download and of every installed file). Partial downloads wait in
`.downloads/<file>.part` and are resumed with an HTTP Range request.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sveval.errors import InputError
from sveval.io.atomic import write_text
from sveval.io.catalog import cache_root

RECORD_NAME = "sveval-download.json"
CHUNK = 1 << 20


def cache_dir() -> Path:
    return cache_root() / "models"


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
    part = cache_dir() / ".downloads" / f"{file_name}.part"
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
    from tqdm import tqdm

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
            tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=name, disable=not progress
            ) as bar,
        ):
            while block := response.read(CHUNK):
                handle.write(block)
                bar.update(len(block))
    return total


def unpack(archive: Path, file_name: str, into: Path) -> None:
    """Put the download into the (empty) folder `into`: a .zip or .tar(.gz) is unpacked (a single top
    folder inside is flattened away); any other file is copied under `file_name`. Members that would land
    outside the folder are refused."""
    into.mkdir(parents=True, exist_ok=True)
    lower = file_name.lower()
    try:
        if lower.endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped:
                _check_members([m.filename for m in zipped.infolist()], file_name)
                zipped.extractall(into)
        elif lower.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(archive) as tarred:
                members = tarred.getmembers()
                _check_members([m.name for m in members], file_name)
                if any(not (m.isfile() or m.isdir()) for m in members):
                    raise InputError("the archive holds links or devices; refused", file_name)
                tarred.extractall(into)
        else:
            shutil.copyfile(archive, into / file_name)
            return
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(
            f"the download is not a readable archive ({exc}); nothing was cached", file_name
        ) from exc
    entries = [p for p in into.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        inner = entries[0]
        for child in inner.iterdir():
            shutil.move(str(child), into / child.name)
        inner.rmdir()


def _check_members(names: list[str], file_name: str) -> None:
    for name in names:
        if name.startswith(("/", "\\")) or ".." in Path(name).parts:
            raise InputError(
                f"the archive member {name!r} would land outside the model folder; refused", file_name
            )


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


def write_record(folder: Path, record: dict) -> None:
    write_text(folder / RECORD_NAME, json.dumps(record, indent=2) + "\n")


def read_record(folder: Path) -> dict | None:
    path = folder / RECORD_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the download record: {exc}", str(path)) from exc


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
