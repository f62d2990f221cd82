"""What a run may do to its output folder (`sveval score`, `calibrate`, `fuse`): write the files it makes,
replace or remove the files that the previous run of its kind wrote there, and nothing else.

    with OutputFolder(out, "results.json", inputs=[...]) as folder:
        write_everything(folder.stage)          # a hidden subfolder of `out`
        folder.publish()                        # the run's files take their names, the record last

The rules (README, "What a rerun does to a folder"):

lock      `out/.sveval.lock` (`sveval.io.lock`) is taken before anything in `out` is created or removed; a
          run that does not get it touches nothing. The folder itself is created first if missing (mkdir
          cannot harm: it either makes an empty folder or finds one).
stage     every output is written into `out/.sveval-stage-XXXXXXXX/`, a subfolder this run makes, so on the
          file system of `out` itself; no final name changes before the run has made all its files.
publish   with Ctrl-C and SIGTERM held (renames only, milliseconds): each staged file is renamed onto its
          name, which must be free or hold a regular file that the previous record lists; a name held by
          anything else (a user's file, a folder, a link, a mount point) stops the run before any rename.
          Then the previous record's files that this run did not write are removed, each only if it is a
          regular file on the folder's own file system whose content is what the record says; the new
          record is renamed in last.
record    results.json (score) or calibration.json (calibrate, fuse) lists under "written" every file of
          the run with its size and SHA-256; `current_files` gives report and validate only those.
failure   (an error, Ctrl-C, SIGTERM) the stage's own files are removed and the stage with them; `out` is as
          the previous run left it; a folder the run created is removed again only if it is empty (a
          `score --model` run keeps its finished embeddings there, and the rerun resumes).
Nothing here is recursive: no walk follows a link, enters a subfolder or crosses into another file system.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sveval.errors import InputError
from sveval.io.lock import folder_lock, stale_message
from sveval.signals import held_signals

STAGE_PREFIX = ".sveval-stage-"
STAGE_MARK = ".sveval-stage"  # inside every stage: only a folder holding it is ever cleaned up as one
_STAGE_NAME = re.compile(re.escape(STAGE_PREFIX) + "[a-z0-9_]{8}")  # as tempfile.mkdtemp names them
RECORDS = ("results.json", "calibration.json")  # score's record; calibrate's and fuse's
WRITTEN = "written"  # the record's key: {file name: {"bytes": n, "sha256": hex}}
REPORT = "report.md"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: str | os.PathLike) -> dict:
    """What a record keeps of a written file: its size and SHA-256."""
    return {"bytes": os.stat(path).st_size, "sha256": sha256_of(path)}


def read_written(folder: str | os.PathLike, record: str) -> dict[str, dict] | None:
    """The files that `folder/record` says its run wrote (name -> {"bytes", "sha256"}; an empty dict for
    a name recorded by a version of sveval that kept no hashes), or None when there is no such record.
    A record that cannot be read is an InputError (a rerun cannot tell what it may replace); a JSON object
    that is not sveval's record (another tool's results.json) is no record: None."""
    path = Path(folder) / record
    if not _is_regular(path):
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON ({exc.msg}): this record of an earlier run says what sveval may replace here; "
            "move it away to write here",
            str(path),
            exc.lineno,
        ) from None
    except RecursionError:
        raise InputError("not a record of sveval: nested deeper than the parser allows", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read this record of an earlier run: {exc}", str(path)) from None
    if not isinstance(doc, dict) or not _sveval_record(doc, record):
        return None  # another tool's file of that name (a release's own results.json): not sveval's record
    written = doc.get(WRITTEN)
    if isinstance(written, dict):
        found = {str(k): v if isinstance(v, dict) else {} for k, v in written.items()}
    else:
        found = {name: {} for name in _legacy_names(doc)}
    # a record names files of its own folder: anything else (`../x`, `a/b`) it cannot have written there
    return {k: v for k, v in found.items() if _plain_name(k)} | {record: {}}


def _sveval_record(doc: dict, record: str) -> bool:
    """Whether a parsed JSON object is the record sveval writes under that name."""
    if record == "results.json":
        return str(doc.get("schema", "")).startswith("sveval.score/")
    return isinstance(doc.get("model"), dict) and isinstance(doc.get("files"), list)


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def _legacy_names(doc: dict) -> list[str]:
    """Files named by a record written before records kept "written": results.json's "files" (names) and
    "artifacts"; calibration.json's "files" (one entry per output, with its result file) and model file."""
    files = doc.get("files") if isinstance(doc.get("files"), list) else []
    names = [f for f in files if isinstance(f, str)]
    for group in (doc.get("artifacts") or {}).values() if isinstance(doc.get("artifacts"), dict) else ():
        names += [v for v in group.values() if isinstance(v, str)] if isinstance(group, dict) else []
    for entry in (f for f in files if isinstance(f, dict)):
        names += [entry[k] for k in ("output", "result") if isinstance(entry.get(k), str)]
        names.append("calibration_model.json")
    return names


@dataclass(frozen=True)
class CurrentFiles:
    """What a folder's records make of its files (None from `current_files` for a folder without records,
    such as a released one, whose every file counts).

    names: files a record lists, present and as written; changed: listed but missing or changed since;
    stale: records whose run read a file of the folder that has changed since (calibrated outputs of an
    earlier scoring), as (record, input) pairs; their files are not in `names`."""

    names: frozenset[str]
    changed: tuple[str, ...]
    stale: tuple[tuple[str, str], ...]
    stale_files: frozenset[str] = frozenset()  # the files of the stale records


def current_files(folder: str | os.PathLike) -> CurrentFiles | None:
    """The files of `folder` that its records vouch for (see `CurrentFiles`); None when it has none."""
    root = Path(folder)
    found = [(record, read_written(root, record)) for record in RECORDS]
    found = [(record, written) for record, written in found if written is not None]
    if not found:
        return None
    listed: dict[str, list[dict]] = {}
    stale: list[tuple[str, str]] = []
    stale_files: set[str] = set()
    for record, written in found:
        inputs = _record_inputs(root / record)
        moved = next((n for n, h in inputs.items() if not _matches(root / n, {"sha256": h})), None)
        if moved is not None:
            stale.append((record, moved))
            stale_files.update(written)
            continue
        for name, entry in written.items():
            listed.setdefault(name, []).append(entry)
    # a file two records list (the demo's calibration inside its score run) must match both
    changed = sorted(n for n, entries in listed.items() if not all(_matches(root / n, e) for e in entries))
    names = frozenset(listed) - set(changed)
    return CurrentFiles(names, tuple(changed), tuple(stale), frozenset(stale_files))


def _record_inputs(path: Path) -> dict[str, str]:
    try:
        inputs = json.loads(path.read_text(encoding="utf-8")).get("inputs_in_folder") or {}
    except (OSError, ValueError, AttributeError, RecursionError):
        return {}
    if not isinstance(inputs, dict):
        return {}
    return {str(k): str(v) for k, v in inputs.items() if _plain_name(str(k))}


def _matches(path: Path, entry: dict) -> bool:
    if not _is_regular(path):
        return False
    if "bytes" in entry and os.stat(path).st_size != entry["bytes"]:
        return False
    return "sha256" not in entry or sha256_of(path) == entry["sha256"]


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


class OutputFolder:
    """One run's hold on its output folder (see the module docstring). `record` is the name of the run's
    record file in it; `inputs` are the paths the run reads (an output that would replace one of them is
    refused, and an input is never removed as a previous run's file); `shown` names the folder in
    messages (default: as given).

    After `__enter__`: `stage` (write here), `created` (the run made the folder), `messages` (lines for
    the user: a lock taken over, stages of killed runs removed). After `publish()`: `published` True and
    `kept` (files of the previous run left because they changed since it wrote them)."""

    def __init__(self, path: str | os.PathLike, record: str, inputs=(), shown: str | None = None):
        given = Path(path)
        self.shown = shown or str(given)
        # a link to a folder is written through (the folder it names is the output); `.` and `a/..` as well
        self.path = Path(os.path.realpath(given))
        self.record = record
        self.inputs = {Path(os.path.realpath(p)) for p in inputs if p}
        self.created = False
        self.published = False
        self.messages: list[str] = []
        self.kept: list[str] = []
        self.stage: Path | None = None
        self.previous: dict[str, dict] = {}
        self.others: set[str] = set()
        self._lock = None

    def refuse_replacing_inputs(self, names) -> None:
        """InputError (exit 2) when an output name of this run is one of its inputs; call it as soon as the
        names are known (before the work), publish() checks again."""
        for name in names:
            if self.path / name in self.inputs:
                raise InputError(
                    f"{name} would be written over one of this run's inputs; write the outputs elsewhere "
                    "(--out) or move the input",
                    str(Path(self.shown) / name),
                )

    def __enter__(self) -> OutputFolder:
        if self.path in self.inputs:
            raise InputError("the output folder is one of this run's inputs", self.shown)
        if os.path.lexists(self.path) and not self.path.is_dir():
            what = "a file" if os.path.isfile(self.path) else "not a folder (or a link that leads nowhere)"
            raise InputError(f"--out must be a folder; this is {what}", self.shown)
        try:
            self.path.mkdir(parents=True)
            self.created = True
        except FileExistsError:
            pass  # (another run may have made it a moment ago: the lock decides who writes)
        except OSError as exc:
            raise InputError(f"output folder is not writable: {exc.strerror or exc}", self.shown) from None
        self._lock = folder_lock(self.path)
        try:
            self._lock.acquire()  # (signals are held inside: a stop comes after it returns, lock held)
        except InputError:
            self._lock = None
            raise  # lost (or could not take) the lock: nothing of ours to undo, and nothing else to touch
        except BaseException as exc:  # a stop held during the acquire: let go of the lock and its file
            self.__exit__(type(exc), exc, None)
            raise
        try:
            if (line := stale_message(self._lock)) is not None:
                self.messages.append(line)
            self._remove_stages_of_killed_runs()
            self.previous = read_written(self.path, self.record) or {}
            # what the other records list is sveval's too (a score run's folder that was calibrated): it
            # may be replaced by a file of this run, but a leftover of theirs is not this run's to remove
            self.others = {
                name
                for record in RECORDS
                if record != self.record
                for name in read_written(self.path, record) or {}
            }
            self.stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=self.path))
            (self.stage / STAGE_MARK).write_text(f"{os.getpid()}\n")  # what tells a stage from a look-alike
        except OSError as exc:
            self.__exit__(type(exc), exc, None)
            raise InputError(f"output folder is not writable: {exc.strerror or exc}", self.shown) from None
        except BaseException as exc:
            self.__exit__(type(exc), exc, None)
            raise
        return self

    def publish(self, inputs_in_folder=()) -> None:
        """Give the staged files their names (the record last) and remove the previous record's files that
        this run did not write. `inputs_in_folder`: files of this folder that the run read (a calibration
        of the folder's scores); the record keeps their SHA-256, so that its outputs count as current only
        while those files are unchanged."""
        staged = sorted(n for n in os.listdir(self.stage) if n != STAGE_MARK)
        if self.record not in staged:
            raise RuntimeError(f"the run staged no {self.record}")
        for name in staged:
            if not _is_regular(self.stage / name):
                raise RuntimeError(f"staged {name} is not a regular file")
        self.refuse_replacing_inputs(staged)
        folder_device = os.stat(self.path).st_dev
        for name in staged:
            self._check_replaceable(name, folder_device)
        self._seal_record(staged, inputs_in_folder)
        leftovers = [n for n in self.previous if n not in staged and os.path.lexists(self.path / n)]
        self.kept = [n for n in leftovers if not self._removable(n, folder_device)]  # (hashes read here)
        with held_signals():  # renames and unlinks only: the folder is one run's, the old or the new
            for name in staged:
                if name != self.record:
                    os.rename(self.stage / name, self.path / name)
            for name in leftovers:
                if name not in self.kept:
                    (self.path / name).unlink(missing_ok=True)
            os.rename(self.stage / self.record, self.path / self.record)
            os.unlink(self.stage / STAGE_MARK)
            os.rmdir(self.stage)
            self.published = True

    def _check_replaceable(self, name: str, device: int) -> None:
        target = self.path / name
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            return
        mine = name in self.previous or name in self.others
        entry = self.previous.get(name, {})
        # report.md is sveval's to regenerate: `sveval report DIR` rewrites it in place
        unchanged = name == REPORT or "sha256" not in entry or _matches(target, entry)
        if stat.S_ISREG(info.st_mode) and info.st_dev == device and mine and unchanged:
            return
        what = (
            "a link" if stat.S_ISLNK(info.st_mode)
            else "a folder" if stat.S_ISDIR(info.st_mode)
            else "on another file system" if info.st_dev != device
            else "not a regular file" if not stat.S_ISREG(info.st_mode)
            else f"a file sveval did not write (not listed in {self.record})" if not mine
            else f"changed since sveval wrote it (not the SHA-256 {self.record} lists)"
        )
        raise InputError(
            f"{name} is already there and is {what}: sveval replaces only files it wrote; move it away or "
            "write elsewhere (--out). Nothing was changed",
            str(Path(self.shown) / name),
        )

    def _seal_record(self, staged: list[str], inputs_in_folder) -> None:
        path = self.stage / self.record
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc[WRITTEN] = {n: file_entry(self.stage / n) for n in staged if n != self.record}
        inside = {}
        for given in (g for g in inputs_in_folder if g):
            real = Path(os.path.realpath(given))
            if real.parent == self.path and real.name not in staged:
                inside[real.name] = sha256_of(real)
        if inside:
            doc["inputs_in_folder"] = inside
        path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")

    def _removable(self, name: str, device: int) -> bool:
        """Whether a file the previous record lists, and this run did not rewrite, may go: a regular file on
        the folder's own file system, unchanged since the record was written, and not an input of this
        run."""
        target = self.path / name
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            return True
        entry = self.previous.get(name, {})
        return (
            stat.S_ISREG(info.st_mode)
            and info.st_dev == device
            and target not in self.inputs
            and ("sha256" not in entry or _matches(target, entry))
        )

    def _remove_stages_of_killed_runs(self) -> None:
        """Stages left by runs that were killed (SIGKILL, power loss) before they could clean up: under the
        lock no live run owns one. Only folders of the stage's name are touched, and in them only regular
        files and links (unlinked, never followed)."""
        device = os.stat(self.path).st_dev
        for entry in os.scandir(self.path):
            if not (_STAGE_NAME.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)):
                continue
            stage = Path(entry.path)
            # a mount point has the device of what is mounted there; a look-alike folder has no mark
            if entry.stat(follow_symlinks=False).st_dev != device or not _is_regular(stage / STAGE_MARK):
                continue
            if _empty_flat_folder(stage):
                self.messages.append(f"removed {Path(self.shown) / entry.name}, left by a killed run")

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.stage is not None and not self.published and os.path.isdir(self.stage):
                _empty_flat_folder(self.stage)
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None
            if exc_type is not None and self.created and not self.published:
                try:
                    self.path.rmdir()  # only if empty: finished embeddings or a user's files keep it
                except OSError:
                    pass


def _empty_flat_folder(folder: Path) -> bool:
    """Unlink the regular files and links directly in `folder` (a stage: flat, ours), then remove it.
    Anything else in it (a folder, a mount point) is left, and so is the folder; returns whether it went."""
    device = os.lstat(folder).st_dev
    for entry in os.scandir(folder):
        info = entry.stat(follow_symlinks=False)
        if (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)) and info.st_dev == device:
            os.unlink(entry.path)
    try:
        folder.rmdir()
    except OSError:
        return False
    return True


def refuse_output_over_input(output: str | os.PathLike, inputs, what: str = "--out") -> None:
    """InputError (exit 2), before any work, when the output file `output` is, or resolves to, one of
    `inputs`, or would replace a file inside an input folder."""
    out = Path(os.path.realpath(output))
    for given in inputs:
        if not given:
            continue
        source = Path(os.path.realpath(given))
        if out == source:
            raise InputError(f"{what} is this command's input {given}: it would be overwritten", str(output))
        if source.is_dir() and source in out.parents and os.path.lexists(out):
            raise InputError(
                f"{what} would replace a file inside the input folder {given}; write elsewhere", str(output)
            )


def refuse_replacing_foreign(path: str | os.PathLike, signature: bytes, what: str = "--out") -> None:
    """InputError (exit 2), before any work, when the output file `path` exists and is not one sveval
    wrote: a link, a folder or a special file, or a file whose first 4 kB lack `signature` (the line every
    such sveval output starts with, e.g. b"Generated by sveval " in a report)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(info.st_mode):
        with open(path, "rb") as handle:
            if signature in handle.read(4096):
                return
        why = "is a file sveval did not write"
    else:
        why = "is a link" if stat.S_ISLNK(info.st_mode) else "is not a regular file"
    raise InputError(f"{what} {why}; sveval replaces only its own outputs: write elsewhere", str(path))
