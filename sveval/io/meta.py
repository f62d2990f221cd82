"""Speaker metadata tables (VoxCeleb's vox1_meta.csv / vox2_meta.csv): speaker id -> gender.

vox1_meta.csv is tab-separated (`VoxCeleb1 ID, VGGFace1 ID, Gender, Nationality, Set`); vox2_meta.csv has a
byte-order mark, CRLF line ends and comma-separated fields padded with spaces (`VoxCeleb2 ID ,Gender ,...`).
Both are read here: the delimiter is the header's (tab if it has one, else comma), fields are stripped, the
speaker column is the first whose header contains "ID", the gender column is the one named "Gender".
"""

from __future__ import annotations

import os

from sveval.errors import InputError
from sveval.io.atomic import read_text

GENDERS = {"m": "m", "f": "f", "male": "m", "female": "f"}


def parse_speaker_genders(text: str, source: str) -> dict[str, str]:
    """Speaker id -> 'm' or 'f'. Every data line must name a speaker once with a known gender."""
    lines = text.lstrip("\ufeff").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2:
        raise InputError("speaker metadata needs a header line and at least one speaker", source)
    delimiter = "\t" if "\t" in lines[0] else ","
    header = [h.strip().lower() for h in lines[0].split(delimiter)]
    id_col = next((i for i, h in enumerate(header) if "id" in h.split()), None)
    if id_col is None or "gender" not in header:
        raise InputError(
            f"header must have a speaker ID column and a Gender column, found {lines[0].strip()!r}", source, 1
        )
    gender_col = header.index("gender")
    genders: dict[str, str] = {}
    for number, line in enumerate(lines[1:], start=2):
        fields = [f.strip() for f in line.split(delimiter)]
        if len(fields) != len(header):
            raise InputError(
                f"expected {len(header)} fields like the header, found {len(fields)}", source, number
            )
        speaker, gender = fields[id_col], fields[gender_col].lower()
        if gender not in GENDERS:
            raise InputError(f"gender {fields[gender_col]!r} of {speaker} is not m or f", source, number)
        if speaker in genders:
            raise InputError(f"speaker {speaker} listed twice", source, number)
        genders[speaker] = GENDERS[gender]
    return genders


def read_speaker_genders(path: str | os.PathLike) -> dict[str, str]:
    return parse_speaker_genders(read_text(path, "speaker metadata"), str(path))
