"""Kaldi ark/scp output for extraction: resumable parts, published as one `xvector.scp`.

An output folder holds one or more *parts*, each written by exactly one process:

- `<part>.ark`      Kaldi binary archive of float32 vectors, only ever appended to;
- `<part>.ark.idx`  its journal, one line per finished record: `<utt> <offset> <end>` (byte offset of the
                    record's data as an scp would give it, and the end of the record). A journal line is
                    written only after the record's bytes are flushed, so every journalled id is complete.

`xvector.ark` is the part of a single-process run, `xvector.rank0001-of-0004.ark` a torchrun rank's and
`xvector.shard0001-of-0004.ark` a `--num-shards` shard's. Resuming reopens a part, drops any record the
journal does not vouch for (truncating the ark) and appends. `publish_scp` merges every part's journal into
`xvector.scp` (absolute paths, readable by kaldiio and WeSpeaker), written atomically.
"""

from __future__ import annotations

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
class Record:
    utt: str
    ark: Path
    offset: int
    end: int


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
        parts = line.split(" ")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit() or int(parts[2]) > ark_size:
            dropped += 1
            continue
        records.append(Record(parts[0], ark, int(parts[1]), int(parts[2])))
    return records, dropped


def read_parts(folder: str | os.PathLike) -> list[Record]:
    """Every finished record in `folder`'s parts, parts in name order, records in journal order."""
    records: list[Record] = []
    for journal in sorted(Path(folder).glob("xvector*" + JOURNAL_SUFFIX)):
        records.extend(_read_journal(journal)[0])
    return records


class PartWriter:
    """Appends float32 vectors to one part (`<folder>/<name>.ark`), resuming what is already there."""

    def __init__(self, folder: str | os.PathLike, name: str = "xvector"):
        self.folder = Path(folder)
        self.ark_path = self.folder / f"{name}.ark"
        self.journal_path = self.folder / f"{name}{JOURNAL_SUFFIX}"
        records, dropped = _read_journal(self.journal_path)
        good_end = max((r.end for r in records), default=0)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self.ark_path.exists() and self.ark_path.stat().st_size != good_end:
                os.truncate(self.ark_path, good_end)  # bytes of a record cut off by a crash
            if dropped or (self.journal_path.exists() and not records):
                write_text(self.journal_path, "".join(f"{r.utt} {r.offset} {r.end}\n" for r in records))
            self._ark = open(self.ark_path, "ab")
            self._journal = open(self.journal_path, "a", encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"cannot write extraction output: {exc.strerror or exc}", str(self.ark_path)
            ) from exc
        self.resumed = len(records)

    def write(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Append records, then journal them (after the archive bytes are flushed)."""
        lines = []
        for utt, vector in items:
            if not utt or any(c.isspace() for c in utt):
                raise InputError(f"utterance id {utt!r} is empty or contains whitespace (not valid in scp)")
            start = self._ark.tell()
            kaldiio.save_ark(self._ark, {utt: np.asarray(vector, dtype=np.float32)})
            lines.append(f"{utt} {start + len(utt.encode()) + 1} {self._ark.tell()}\n")
        self._ark.flush()
        self._journal.write("".join(lines))
        self._journal.flush()

    def close(self) -> None:
        for handle in (self._ark, self._journal):
            if not handle.closed:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class MergeResult:
    scp: Path
    count: int
    duplicates: tuple[str, ...]  # ids found in more than one part; the first part's record is used


def publish_scp(
    folders: Iterable[str | os.PathLike], out: str | os.PathLike, order: Iterable[str] | None = None
) -> MergeResult:
    """Merge the parts of `folders` into `out/xvector.scp` atomically.

    Lines follow `order` (e.g. the wav.scp order, as WeSpeaker writes them), then any other ids sorted by
    byte value (Kaldi's `LC_ALL=C sort`); without `order`, all sorted.
    """
    chosen: dict[str, Record] = {}
    duplicates = []
    folders = list(folders)
    manifests = {str(f): read_manifest(f) for f in folders if Path(f).is_dir()}
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
    for folder in folders:
        if not Path(folder).is_dir():
            raise InputError("extraction folder not found", str(folder))
        for record in read_parts(folder):
            if record.utt in chosen:
                duplicates.append(record.utt)
            else:
                chosen[record.utt] = record
    if not chosen:
        raise InputError("no extracted embeddings found (no xvector*.ark.idx journals)", str(out))
    ids: list[str] = []
    if order is not None:
        ids = [utt for utt in dict.fromkeys(order) if utt in chosen]
    listed = set(ids)
    ids += sorted((u for u in chosen if u not in listed), key=lambda u: u.encode())
    lines = [f"{u} {chosen[u].ark.resolve()}:{chosen[u].offset}\n" for u in ids]
    scp = Path(out) / SCP_NAME
    write_text(scp, "".join(lines))
    if known and Path(out).resolve() not in {Path(f).resolve() for f in folders}:
        write_text(
            Path(out) / MANIFEST_NAME, json.dumps(json.loads(known.pop()), indent=2, sort_keys=True) + "\n"
        )
    return MergeResult(scp, len(ids), tuple(duplicates))


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
        keys = (set(existing) | set(manifest)) - {"checkpoint"}  # the same weights may be found elsewhere
        differ = sorted(k for k in keys if existing.get(k) != manifest.get(k))
        if differ:
            details = "; ".join(
                f"{k}: folder has {existing.get(k)!r}, this run {manifest.get(k)!r}" for k in differ
            )
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


def read_manifest(folder: str | os.PathLike) -> dict | None:
    path = Path(folder) / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read extraction manifest: {exc}", str(path)) from exc
