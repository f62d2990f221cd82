"""Names for several files shown together (metrics blocks, DET and APE legends, fusion inputs, JSON): the
file name where it is unique, else the parts of the paths in which the files differ."""

from __future__ import annotations

import os
from pathlib import Path


def file_labels(paths, suffix: str = ".score", folders_alone: bool = True) -> list[str]:
    """One name per path, in order. Each is the file name without `suffix`; where files share a name, the
    shortest form that tells them apart, as `sveval report` names systems by their folders: the folder
    components in which their paths differ (`a/x.score`, `b/x.score` -> `a/x`, `b/x`; `exp/A/scores/x.score`,
    `exp/B/scores/x.score` -> `A/x`, `B/x`), followed by the file name. folders_alone: when every file has the
    same name, the folders alone (`a`, `b`: legends). The same file given twice is numbered: `x (1)`, `x (2)`.
    """
    names = [Path(p).name.removesuffix(suffix) if suffix else Path(p).name for p in paths]
    if len(set(names)) == len(names):
        return names
    folders = [Path(os.path.abspath(p)).parent.parts for p in paths]
    lead = common_length(folders)
    tail = common_length([f[lead:][::-1] for f in folders])
    middles = ["/".join(f[lead : len(f) - tail]) for f in folders]
    same_name = folders_alone and len(set(names)) == 1
    labels = [m if same_name and m else f"{m}/{n}" if m else n for m, n in zip(middles, names)]
    if len(set(labels)) < len(labels):  # the same file twice: number the repeats
        labels = [
            f"{label} ({k + 1})" if labels.count(label) > 1 else label for k, label in enumerate(labels)
        ]
    return labels


def common_length(sequences) -> int:
    """How many leading items every sequence shares."""
    n = 0
    while all(len(s) > n and s[n] == sequences[0][n] for s in sequences):
        n += 1
    return n
