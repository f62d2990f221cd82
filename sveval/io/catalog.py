"""Built-in trial lists: the manifest, where a list is found, and verified downloads.

Look-up order for a name: explicit path, $SVEVAL_TRIALS_DIR, the user cache, download (trials/README.md).
A built-in list read from anywhere is checked against the manifest's counts and fingerprint: a wrong list
is an error, never a silent substitute.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from sveval.errors import InputError, NotTheList
from sveval.io.atomic import write_bytes
from sveval.io.fields import STDIN
from sveval.io.trials import parse_trials, read_trials
from sveval.types import TrialList


@dataclass(frozen=True)
class BuiltinList:
    name: str
    source: str
    trials: int
    target: int
    nontarget: int
    fingerprint: str | None

    @property
    def kaldi_name(self) -> str:
        return f"{self.name}.kaldi"


@dataclass(frozen=True)
class Location:
    """Where a built-in list was found: `where` is 'trials dir', 'cache' or None when missing."""

    path: Path | None
    where: str | None


def load_manifest() -> tuple[str, dict[str, BuiltinList]]:
    data = json.loads(resources.files("sveval.trials").joinpath("manifest.json").read_text("utf-8"))
    lists = {name: BuiltinList(name=name, **entry) for name, entry in data["lists"].items()}
    return data["base_url"], lists


def builtin(name: str) -> BuiltinList | None:
    return load_manifest()[1].get(name)


# A VoxCeleb trial line takes about 63 bytes (`1 id10270/5r0dWxy17C8/00001.wav id10270/x6uYqmx31kE/...`); a
# download longer than its trials could need at 4 times that is not the list, and is cut off there instead of
# filling memory (a hostile or broken mirror may send gigabytes under the list's name).
MAX_TRIAL_LINE_BYTES = 256


def cache_root() -> Path:
    """sveval's cache: `$SVEVAL_CACHE_DIR`, else `$XDG_CACHE_HOME/sveval` (default `~/.cache/sveval`)."""
    root = os.environ.get("SVEVAL_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "sveval"


def cache_dir() -> Path:
    return cache_root() / "trials"


def base_url() -> str:
    return os.environ.get("SVEVAL_TRIALS_URL") or load_manifest()[0]


def locate(entry: BuiltinList) -> Location:
    """Find a built-in list on disk without downloading."""
    trials_dir = os.environ.get("SVEVAL_TRIALS_DIR")
    if trials_dir:
        for file_name in (entry.source, entry.kaldi_name):
            candidate = Path(trials_dir) / file_name
            if candidate.is_file():
                return Location(candidate, "$SVEVAL_TRIALS_DIR")
    for file_name in (entry.source, entry.kaldi_name):
        candidate = cache_dir() / file_name
        if candidate.is_file():
            return Location(candidate, "cache")
    return Location(None, None)


def check_against_manifest(trials: TrialList, entry: BuiltinList) -> None:
    """Refuse a file that claims to be `entry` but has other counts or another fingerprint (NotTheList, an
    InputError saying which counts were expected)."""
    found = (len(trials), trials.n_target, trials.n_nontarget)
    expected = (entry.trials, entry.target, entry.nontarget)
    if found != expected:
        raise NotTheList(
            f"this is not {entry.name}: {found[0]:,} trials ({found[1]:,} target / {found[2]:,} nontarget), "
            f"expected {expected[0]:,} ({expected[1]:,} / {expected[2]:,})",
            trials.source,
        )
    if entry.fingerprint and trials.fingerprint != entry.fingerprint:
        raise NotTheList(
            f"this is not {entry.name}: the counts match but the trials differ "
            f"(fingerprint {trials.fingerprint[:19]}…, expected {entry.fingerprint[:19]}…)",
            trials.source,
        )


def identify(trials: TrialList) -> str | None:
    """The built-in name whose fingerprint `trials` has, if any."""
    for entry in load_manifest()[1].values():
        if entry.fingerprint == trials.fingerprint:
            return entry.name
    return None


def load_trials(spec: str | os.PathLike, download: bool = True, progress: bool = False) -> TrialList:
    """Resolve `spec` (a path or a built-in name) to a verified TrialList."""
    path = Path(spec)
    entry = builtin(str(spec))
    if path.is_file() or entry is None:
        if not path.exists() and str(spec) != STDIN:
            names = ", ".join(load_manifest()[1])
            raise InputError(f"no such trial list: not a file and not a built-in name ({names})", str(spec))
        trials = read_trials(path)
        return _with_builtin(trials, identify(trials))
    location = locate(entry)
    if location.path is None:
        if not download:
            raise InputError(f"trial list not available here; {missing_message(entry)}", entry.name)
        location = Location(fetch(entry, progress=progress), "cache")
    trials = read_trials(location.path, name=entry.name, basename=entry.kaldi_name)
    check_against_manifest(trials, entry)
    return _with_builtin(trials, entry.name)


def _with_builtin(trials: TrialList, name: str | None) -> TrialList:
    return replace(trials, builtin=name)


def missing_message(entry: BuiltinList, suggest_fetch: bool = True) -> str:
    """Where to put the file by hand (and, unless a download just failed, that `trials fetch` can get it)."""
    fetch = f", run `sveval trials fetch {entry.name}`" if suggest_fetch else ""
    url = f"{base_url().rstrip('/')}/{entry.source}"
    return (
        f"put {entry.source} (from {url}, or WeSpeaker's {entry.kaldi_name}) "
        f"into $SVEVAL_TRIALS_DIR or {cache_dir()}{fetch}, or pass the file's path instead of the name"
    )


def fetch(
    entry: BuiltinList, url_base: str | None = None, progress: bool = False, timeout: float = 60
) -> Path:
    """Download `entry` into the cache; keep it only if it parses and matches the manifest."""
    url = (url_base or base_url()).rstrip("/") + "/" + entry.source
    limit = entry.trials * MAX_TRIAL_LINE_BYTES
    try:
        data = _download(url, timeout, progress, limit + 1)
    except (OSError, ValueError) as exc:  # (urllib's URLError is an OSError)
        reason = getattr(exc, "reason", None) or exc
        raise InputError(
            f"cannot download {url} ({reason}); {missing_message(entry, suggest_fetch=False)}", entry.name
        ) from exc
    if len(data) > limit:
        raise InputError(
            f"refused the download from {url}: it runs past {limit:,} bytes, more than {entry.trials:,} "
            f"trial lines take; nothing was cached",
            entry.name,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"download from {url} is not a text trial list; nothing was cached", entry.name
        ) from exc
    try:
        trials = parse_trials(text, url, name=entry.name, basename=entry.kaldi_name)
        check_against_manifest(trials, entry)
    except InputError as exc:
        raise InputError(f"refused the download, nothing was cached: {exc}", entry.name) from exc
    target = cache_dir() / entry.source
    write_bytes(target, data)
    return target


def _download(url: str, timeout: float, progress: bool, at_most: int) -> bytes:
    """The body of `url`, read in memory but never more than `at_most` bytes, whatever the server sends."""
    import urllib.request  # noqa: PLC0415 (25 ms of import every command reading a list would pay)

    from sveval.progress import progress as progress_bar

    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        chunks, got = [], 0
        with progress_bar(
            total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], disable=not progress
        ) as bar:
            while got < at_most and (chunk := response.read(min(1 << 16, at_most - got))):
                chunks.append(chunk)
                got += len(chunk)
                bar.update(len(chunk))
    return b"".join(chunks)
