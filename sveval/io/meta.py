"""Speaker metadata tables (VoxCeleb's vox1_meta.csv / vox2_meta.csv): speaker id -> gender, nationality.

vox1_meta.csv is tab-separated (`VoxCeleb1 ID, VGGFace1 ID, Gender, Nationality, Set`); vox2_meta.csv has a
byte-order mark, CRLF line ends and comma-separated fields padded with spaces (`VoxCeleb2 ID ,Gender ,...`).
Both are read here: the delimiter is the header's (tab if it has one, else comma), fields are stripped, the
speaker column is the first whose header contains "ID", the other columns are found by name ("Gender",
"Nationality").
"""

from __future__ import annotations

import os

from sveval.errors import InputError
from sveval.io.fields import read_source_text, text_lines

GENDERS = {"m": "m", "f": "f", "male": "m", "female": "f"}


def parse_speaker_column(text: str, source: str, column: str) -> dict[str, str]:
    """Speaker id -> the value of `column` (e.g. 'Gender', 'Nationality'). Every data line must name a
    speaker once, with a value."""
    return {speaker: value for _, speaker, value in _column_rows(text, source, column)}


def parse_speaker_genders(text: str, source: str) -> dict[str, str]:
    """Speaker id -> 'm' or 'f' (the Gender column: m, f, male or female in any case)."""
    genders = {}
    for number, speaker, gender in _column_rows(text, source, "Gender"):
        if gender.lower() not in GENDERS:
            raise InputError(f"gender {gender!r} of {speaker} is not m or f", source, number)
        genders[speaker] = GENDERS[gender.lower()]
    return genders


def _column_rows(text: str, source: str, column: str) -> list[tuple[int, str, str]]:
    """(line number, speaker, value of `column`) per data line, checked as `parse_speaker_column` says."""
    lines = text_lines(text.lstrip("\ufeff"), source)
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2:
        raise InputError("speaker metadata needs a header line and at least one speaker", source)
    delimiter = "\t" if "\t" in lines[0] else ","
    header = [h.strip().lower() for h in lines[0].split(delimiter)]
    id_col = next((i for i, h in enumerate(header) if "id" in h.split()), None)
    if id_col is None or column.lower() not in header:
        raise InputError(
            f"header must have a speaker ID column and a {column} column, found {lines[0].strip()!r}",
            source,
            1,
        )
    col = header.index(column.lower())
    rows, seen = [], set()
    for number, line in enumerate(lines[1:], start=2):
        fields = [f.strip() for f in line.split(delimiter)]
        if len(fields) != len(header):
            raise InputError(
                f"expected {len(header)} fields like the header, found {len(fields)}", source, number
            )
        speaker = fields[id_col]
        if not fields[col]:
            raise InputError(f"{column} of {speaker} is empty", source, number)
        if speaker in seen:
            raise InputError(f"speaker {speaker} listed twice", source, number)
        seen.add(speaker)
        rows.append((number, speaker, fields[col]))
    return rows


def read_speaker_column(path: str | os.PathLike, column: str) -> dict[str, str]:
    return parse_speaker_column(read_source_text(path, "speaker metadata"), str(path), column)


def read_speaker_genders(path: str | os.PathLike) -> dict[str, str]:
    return parse_speaker_genders(read_source_text(path, "speaker metadata"), str(path))
