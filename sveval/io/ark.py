"""Kaldi ark/scp output for extraction: resumable parts, published as one `xvector.scp`.

An output folder holds one or more *parts*, each written by exactly one process:

- `<part>.ark`      Kaldi binary archive of float32 vectors, only ever appended to;
- `<part>.ark.idx`  its journal, one line per finished record:
                    `<utt> <offset> <end> <size> <mtime_ns> <audio path>` (byte offset of the record's data
                    as an scp would give it, the end of the record, then what the embedding was computed
                    from: the audio file's absolute path, size in bytes and modification time in ns, as
                    `stat` gave them just before decoding). A journal line is written only after the
                    record's bytes are flushed, so every journalled id is complete. A later line for the
                    same id (the audio changed and was extracted again) supersedes an earlier one.

`xvector.ark` is the part of a single-process run, `xvector.rank0001-of-0004.ark` a torchrun rank's and
`xvector.shard0001-of-0004.ark` a `--num-shards` shard's. Resuming reopens a part, drops any record the
journal does not vouch for (truncating the ark) and appends. `publish_scp` writes `xvector.scp` (absolute
paths, readable by kaldiio and WeSpeaker) atomically: exactly the utterances of the list it is given, each
from a record whose audio path, size and mtime match the list's file now, or refuses naming what is missing.
Journal lines of the older 3-field form have no provenance: they match no audio and are extracted again.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import kaldiio
import numpy as np

from sveval.errors import InputError
from sveval.io.atomic import write_text

JOURNAL_SUFFIX = ".ark.idx"
SCP_NAME = "xvector.scp"


@dataclass(frozen=True)
class Source:
    """What an embedding was computed from: absolute audio path, size in bytes, modification time in ns."""

    path: str
    size: int
    mtime_ns: int


def source_of(path: str) -> Source | None:
    """The audio file's provenance now (symlinks followed), or None if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return Source(os.path.abspath(path), st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Record:
    utt: str
    ark: Path
    offset: int
    end: int
    source: Source | None = None  # None: journalled by a version that did not record provenance


def part_name(kind: str | None = None, index: int = 0, count: int = 1) -> str:
    """`xvector` alone, else `xvector.<kind><index>-of-<count>` (kind: 'rank' or 'shard')."""
    if kind is None:
        return "xvector"
    return f"xvector.{kind}{index:04d}-of-{count:04d}"


def _read_journal(journal: Path) -> tuple[list[Record], int]:
    """Complete, vouched-for records of one part, and how many journal lines were dropped."""
    ark = journal.with_name(journal.name[: -len(JOURNAL_SUFFIX)] + ".ark")
    try:
        text = journal.read_bytes().decode("utf-8")
        ark_size = ark.stat().st_size
    except FileNotFoundError:
        return [], 0
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read extraction journal: {exc}", str(journal)) from exc
    lines = text.split("\n")
    dropped = 1 if lines[-1] else 0  # a last line without newline was cut short
    records = []
    for line in lines[:-1]:
        parts = line.split(" ", 5)
        numbers = parts[1:5] if len(parts) == 6 else parts[1:3]
        if len(parts) not in (3, 6) or not all(n.isdigit() for n in numbers) or int(parts[2]) > ark_size:
            dropped += 1
            continue
        source = Source(parts[5], int(parts[3]), int(parts[4])) if len(parts) == 6 else None
        records.append(Record(parts[0], ark, int(parts[1]), int(parts[2]), source))
    return records, dropped


def _journal_line(record: Record) -> str:
    line = f"{record.utt} {record.offset} {record.end}"
    if record.source is not None:
        line += f" {record.source.size} {record.source.mtime_ns} {record.source.path}"
    return line + "\n"


def read_parts(folder: str | os.PathLike) -> list[Record]:
    """Every finished record in `folder`'s parts, parts in name order, records in journal order."""
    records: list[Record] = []
    for journal in sorted(Path(folder).glob("xvector*" + JOURNAL_SUFFIX)):
        records.extend(_read_journal(journal)[0])
    return records


def valid_id(utt: str) -> bool:
    """Whether `utt` can be an scp key: not empty, no whitespace."""
    return bool(utt) and not any(c.isspace() for c in utt)


class PartWriter:
    """Appends float32 vectors to one part (`<folder>/<name>.ark`), resuming what is already there."""

    def __init__(self, folder: str | os.PathLike, name: str = "xvector"):
        self.folder = Path(folder)
        self.ark_path = self.folder / f"{name}.ark"
        self.journal_path = self.folder / f"{name}{JOURNAL_SUFFIX}"
        records, dropped = _read_journal(self.journal_path)
        good_end = max((r.end for r in records), default=0)
        with self._writing(self.ark_path):
            self.folder.mkdir(parents=True, exist_ok=True)
            if self.ark_path.exists() and self.ark_path.stat().st_size != good_end:
                os.truncate(self.ark_path, good_end)  # bytes of a record cut off by a crash
            if dropped or (self.journal_path.exists() and not records):
                write_text(self.journal_path, "".join(_journal_line(r) for r in records))
            self._ark = open(self.ark_path, "ab")
            self._journal = open(self.journal_path, "a", encoding="utf-8")
        self.resumed = len(records)

    def write(self, items: Iterable[tuple[str, np.ndarray, Source | None]]) -> None:
        """Append (utt, vector, source) records, then journal them (after the archive bytes are flushed).
        A failed write (a full disk) is an InputError naming the file; the records journalled before it
        stay complete and a rerun resumes after them."""
        lines = []
        with self._writing(self.ark_path):
            for utt, vector, source in items:
                if not valid_id(utt):
                    raise InputError(
                        f"utterance id {utt!r} is empty or contains whitespace (not valid in scp)"
                    )
                if source is not None and "\n" in source.path:
                    raise InputError("audio path contains a newline (cannot be journalled)", source.path)
                start = self._ark.tell()
                kaldiio.save_ark(self._ark, {utt: np.asarray(vector, dtype=np.float32)})
                record = Record(utt, self.ark_path, start + len(utt.encode()) + 1, self._ark.tell(), source)
                lines.append(_journal_line(record))
            self._ark.flush()
        with self._writing(self.journal_path):
            self._journal.write("".join(lines))
            self._journal.flush()

    @staticmethod
    @contextlib.contextmanager
    def _writing(path: Path):
        try:
            yield
        except OSError as exc:
            raise InputError(f"cannot write extraction output: {exc.strerror or exc}", str(path)) from exc

    def close(self) -> None:
        for handle, path in ((self._ark, self.ark_path), (self._journal, self.journal_path)):
            if not handle.closed:
                try:
                    with self._writing(path):
                        handle.flush()
                        os.fsync(handle.fileno())
                finally:
                    try:
                        handle.close()
                    except OSError:  # the same failure as above, already reported
                        pass

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class Wanted:
    """An utterance a folder must hold: its id, audio path as listed, and that file's provenance now (None
    when it cannot be stat'ed, e.g. a merge on a machine without the audio: then the path must match)."""

    utt: str
    path: str
    source: Source | None


def wanted_from(pairs: Iterable[tuple[str, str]]) -> list[Wanted]:
    """(utt, audio path) pairs with each file's provenance read now."""
    return [Wanted(utt, path, source_of(path)) for utt, path in pairs]


def _matches(record: Record, wanted: Wanted) -> bool:
    if record.source is None:
        return False
    if wanted.source is not None:
        return record.source == wanted.source
    return record.source.path == os.path.abspath(wanted.path)


@dataclass(frozen=True)
class Selection:
    """For a list of wanted utterances: the record to use per id (the last written one whose provenance
    matches), ids with no record at all (`missing`) and ids whose records are of other audio (`changed`)."""

    chosen: dict[str, Record]
    missing: tuple[str, ...]
    changed: tuple[str, ...]


def select(records: Iterable[Record], wanted: list[Wanted]) -> Selection:
    by_id: dict[str, list[Record]] = {}
    for record in records:
        by_id.setdefault(record.utt, []).append(record)
    chosen, missing, changed = {}, [], []
    for item in wanted:
        fitting = [r for r in by_id.get(item.utt, ()) if _matches(r, item)]
        if fitting:
            chosen[item.utt] = fitting[-1]
        elif item.utt in by_id:
            changed.append(item.utt)
        else:
            missing.append(item.utt)
    return Selection(chosen, tuple(missing), tuple(changed))


@dataclass(frozen=True)
class MergeResult:
    scp: Path
    count: int
    duplicates: tuple[str, ...]  # without a list: ids with records in several parts (the last one is used)
    points_into: tuple[Path, ...]  # folders other than `out` whose arks the scp points into


def publish_scp(
    folders: Iterable[str | os.PathLike], out: str | os.PathLike, wanted: list[Wanted] | None = None
) -> MergeResult:
    """Write `out/xvector.scp` atomically from the parts of `folders`.

    With `wanted`: exactly those utterances, in that order (the wav.scp order, as WeSpeaker writes them),
    each from a record of the same audio (see `select`); InputError naming counts and the first ids if any
    is missing or of other audio. Without: every id found, sorted by byte value (Kaldi's `LC_ALL=C sort`),
    the last record of an id winning. Folders whose xvector.json differ are refused.
    """
    folders = [Path(f) for f in folders]
    for folder in folders:
        if not folder.is_dir():
            raise InputError("extraction folder not found", str(folder))
    manifests = {str(f): read_manifest(f) for f in folders}
    known = {
        json.dumps({k: v for k, v in m.items() if k != "checkpoint"}, sort_keys=True)
        for m in manifests.values()
        if m is not None
    }
    if len(known) > 1:
        raise InputError(
            "the folders hold embeddings of different models or settings (their xvector.json differ): "
            + ", ".join(manifests)
        )
    records = [r for f in folders for r in read_parts(f)]
    duplicates: tuple[str, ...] = ()
    if wanted is None:
        if not records:
            raise InputError("no extracted embeddings found (no xvector*.ark.idx journals)", str(out))
        chosen = {r.utt: r for r in records}
        parts_of: dict[str, set[Path]] = {}
        for r in records:
            parts_of.setdefault(r.utt, set()).add(r.ark)
        duplicates = tuple(u for u, arks in parts_of.items() if len(arks) > 1)
        ids = sorted(chosen, key=lambda u: u.encode())
    else:
        selection = select(records, wanted)
        _refuse_incomplete(selection, len(wanted), folders)
        chosen, ids = selection.chosen, [w.utt for w in wanted]
    lines = [f"{u} {chosen[u].ark.resolve()}:{chosen[u].offset}\n" for u in ids]
    scp = Path(out) / SCP_NAME
    write_text(scp, "".join(lines))
    out_resolved = Path(out).resolve()
    points_into = tuple(sorted({chosen[u].ark.parent.resolve() for u in ids} - {out_resolved}))
    if known and out_resolved not in {f.resolve() for f in folders}:
        write_text(
            Path(out) / MANIFEST_NAME, json.dumps(json.loads(known.pop()), indent=2, sort_keys=True) + "\n"
        )
    return MergeResult(scp, len(ids), duplicates, points_into)


def _refuse_incomplete(selection: Selection, total: int, folders: list[Path]) -> None:
    problems = []
    if selection.missing:
        first = ", ".join(selection.missing[:3])
        problems.append(
            f"{len(selection.missing):,} of {total:,} listed utterances have no embedding ({first})"
        )
    if selection.changed:
        first = ", ".join(selection.changed[:3])
        problems.append(
            f"{len(selection.changed):,} have embeddings of other audio (path, size or mtime differ: {first})"
        )
    if problems:
        raise InputError(
            "; ".join(problems) + " in " + ", ".join(map(str, folders)) + "; nothing published (finish "
            "the other shards, or extract again)"
        )


def write_skipped(folder: str | os.PathLike, part: str, rows: list[tuple[str, str, str]]) -> None:
    """`<part>.skipped`: `utt<TAB>path<TAB>reason` per utterance a part could not extract (rewritten)."""
    path = Path(folder) / f"{part}.skipped"
    if rows or path.exists():
        write_text(
            path, "".join(f"{utt}\t{audio}\t{' '.join(reason.split())}\n" for utt, audio, reason in rows)
        )


def read_skipped(folder: str | os.PathLike) -> set[str]:
    """Ids listed in any part's `.skipped` file of `folder`."""
    ids: set[str] = set()
    for path in Path(folder).glob("xvector*.skipped"):
        text = path.read_text(encoding="utf-8")
        ids.update(line.split("\t", 1)[0] for line in text.splitlines() if line)
    return ids


MANIFEST_NAME = "xvector.json"


def check_manifest(folder: str | os.PathLike, manifest: dict) -> None:
    """Record what produced `folder`'s embeddings, or refuse to add to embeddings of something else.

    `manifest` describes the model and front-end (e.g. a weights fingerprint, arch, precision). A folder
    whose `xvector.json` says otherwise is an InputError naming the fields that differ: resuming must never
    mix embeddings of two models in one scp.
    """
    path = Path(folder) / MANIFEST_NAME
    if path.exists():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read extraction manifest: {exc}", str(path)) from exc
        old, new = _flat(existing), _flat(manifest)
        keys = (set(old) | set(new)) - {"checkpoint"}  # the same weights may be found elsewhere
        differ = sorted(k for k in keys if old.get(k) != new.get(k))
        if differ:
            details = "; ".join(f"{k}: folder has {old.get(k)!r}, this run {new.get(k)!r}" for k in differ)
            raise InputError(
                f"the folder holds embeddings from another model or setting ({details}); "
                "use another --out or remove the folder",
                str(path),
            )
        return
    if any(Path(folder).glob("xvector*" + JOURNAL_SUFFIX)) and read_parts(folder):
        raise InputError(
            "the folder holds embeddings but no xvector.json saying which model made them; "
            "use another --out or remove the folder",
            str(path),
        )
    write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _flat(manifest: dict) -> dict:
    """Nested settings as dotted keys (`fbank.frame_shift_ms`), so a difference names the one key."""
    flat = {}
    for key, value in manifest.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def read_manifest(folder: str | os.PathLike) -> dict | None:
    path = Path(folder) / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read extraction manifest: {exc}", str(path)) from exc
