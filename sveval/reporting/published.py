"""Published reference numbers, as printed by their authors, and how release folders name the models.

One table so far, `golden-gemini`: the Golden Gemini DF-ResNet releases (Liu, Lee, Wang, Li, "Golden
Gemini Is All You Need", TASLP 2024; README of Liu-Tianchi/Golden-Gemini-for-Speaker-Verification).
EER in percent and minDCF (p_target 0.01, c_miss 1, c_fa 1), both to 3 decimals, on the cleaned Vox1-O/E/H
lists, AS-norm with the top 300 of a VoxCeleb2-dev cohort. Release folders call DF-ResNet60/114/183
`Gemini_df_resnet56/110/179` (e.g. `0615-Gemini_df_resnet110-emb256-fbank80-...-epoch165`); the large-margin
fine-tuned one ends in `-LM`.

Used by `sveval validate --published` and by reports (the same table and API: `PUBLISHED`,
`published_table(name)`, rows with `results`; `lookup` resolves release names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedRow:
    """One published system.

    model: as the paper prints it (`DF-ResNet183 LM`); params_millions: as published (the classifier head is
    not counted); release_name: what the release folder calls the network (`Gemini_df_resnet179`);
    method/top_n/cohort: the scoring behind the numbers; results: trial-list name -> (EER %, minDCF), exactly
    as printed; architecture: the WeSpeaker class (`Gemini_DF_ResNet183`); large_margin: the LM fine-tuned
    variant; release_folder: the folder name of the release.
    """

    model: str
    params_millions: float
    release_name: str
    method: str
    top_n: int | None
    cohort: str
    results: dict[str, tuple[float, float]]
    architecture: str = ""
    large_margin: bool = False
    release_folder: str = ""

    def result(self, trial_list: str) -> tuple[float, float] | None:
        """(EER percent, minDCF) for a trial list such as `vox1_O_cleaned`, or None if not published."""
        return self.results.get(trial_list)


@dataclass(frozen=True)
class PublishedTable:
    """A published table, its operating point and how many decimals its numbers are printed with."""

    name: str
    source: str
    rows: tuple[PublishedRow, ...]
    p_target: float = 0.01
    c_miss: float = 1.0
    c_fa: float = 1.0
    decimals: int = 3


_FOLDER = (
    "{date}-Gemini_df_resnet{n}-emb256-fbank80-num_frms200-aug0.6-spTrue-saFalse-ArcMargin-AdamW-epoch165"
)


def _gemini(model, params, release, o, e, h, large_margin=False, date="") -> PublishedRow:
    results = {"vox1_O_cleaned": o, "vox1_E_cleaned": e, "vox1_H_cleaned": h}
    depth = int(release.rsplit("resnet", 1)[1])
    folder = _FOLDER.format(date=date, n=depth) + ("-LM" if large_margin else "")
    architecture = "Gemini_DF_ResNet" + model.split("ResNet")[1].split()[0]
    return PublishedRow(
        model, params, release, "asnorm", 300, "vox2_dev", results, architecture, large_margin, folder
    )


PUBLISHED = {
    "golden-gemini": PublishedTable(
        "golden-gemini",
        "Golden Gemini release README (Liu et al., IEEE/ACM TASLP 2024), "
        "AS-norm top 300, VoxCeleb2-dev cohort",
        (
            _gemini(
                "DF-ResNet60",
                4.05,
                "Gemini_df_resnet56",
                (0.941, 0.089),
                (1.051, 0.116),
                (1.799, 0.166),
                date="0611",
            ),
            _gemini(
                "DF-ResNet114",
                6.53,
                "Gemini_df_resnet110",
                (0.686, 0.067),
                (0.863, 0.097),
                (1.490, 0.144),
                date="0615",
            ),
            _gemini(
                "DF-ResNet183",
                9.20,
                "Gemini_df_resnet179",
                (0.596, 0.065),
                (0.806, 0.090),
                (1.440, 0.137),
                date="0621",
            ),
            _gemini(
                "DF-ResNet183 LM",
                9.20,
                "Gemini_df_resnet179",
                (0.569, 0.045),
                (0.768, 0.078),
                (1.342, 0.126),
                large_margin=True,
                date="0621",
            ),
        ),
    )
}


def published_table(name: str) -> PublishedTable:
    """The table registered under `name`; KeyError lists the known names."""
    if name not in PUBLISHED:
        raise KeyError(f"no published table {name!r}; known: {', '.join(sorted(PUBLISHED))}")
    return PUBLISHED[name]


# Release depth -> paper depth (the release names count layers differently).
RELEASE_DEPTHS = {56: 60, 110: 114, 179: 183, 233: 237}
_DEPTH = re.compile(r"df_?-?resnet_?(\d+)", re.IGNORECASE)
_LM = re.compile(r"(?:^|[^a-z0-9])lm(?:[^a-z0-9]|$)|large[_ -]?margin", re.IGNORECASE)


def paper_depth(name: str) -> int | None:
    """The paper's depth named in `name` (`Gemini_df_resnet110` -> 114, `DF-ResNet114` -> 114), or None."""
    match = _DEPTH.search(name)
    if not match:
        return None
    depth = int(match.group(1))
    return RELEASE_DEPTHS.get(depth, depth)


def is_large_margin(name: str) -> bool:
    """True when `name` marks the large-margin fine-tuned variant (`...-epoch165-LM`, `DF-ResNet183 LM`)."""
    return bool(_LM.search(name))


def lookup(name: str, table: str = "golden-gemini") -> PublishedRow | None:
    """The row of `table` for a model named by paper name, WeSpeaker class, release name or release folder.

    `Gemini_df_resnet179` and `DF-ResNet183` both give the DF-ResNet183 row; a name marked LM (`-LM`,
    `_LM`, ` LM`, `large margin`) gives the LM row. None when the name names no model of the table.
    """
    depth = paper_depth(name)
    if depth is None:
        return None
    large_margin = is_large_margin(name)
    for row in published_table(table).rows:
        if paper_depth(row.architecture) == depth and row.large_margin == large_margin:
            return row
    return None
