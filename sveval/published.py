"""Published reference numbers, as printed by their authors, and how release folders name the models.

One table so far, `golden-gemini`: the Golden Gemini DF-ResNet releases (Liu, Lee, Wang, Li, "Golden
Gemini Is All You Need", TASLP 2024; README of Liu-Tianchi/Golden-Gemini-for-Speaker-Verification).
EER in percent and minDCF (p_target 0.01, c_miss 1, c_fa 1), both to 3 decimals, on the cleaned Vox1-O/E/H
lists, AS-norm with the top 300 of a VoxCeleb2-dev cohort. Release folders call DF-ResNet60/114/183
`Gemini_df_resnet56/110/179` (e.g. `0615-Gemini_df_resnet110-emb256-fbank80-...-epoch165`); the large-margin
fine-tuned one ends in `-LM`.

Used by `sveval validate --published` and by reports; keep both reading this table rather than copies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedModel:
    """One row of a published table.

    name: as the paper prints it (`DF-ResNet183 LM`); architecture: the WeSpeaker class name
    (`Gemini_DF_ResNet183`); release_name: what the release folder calls it (`Gemini_df_resnet179`);
    params_m: parameters in millions as published (2 decimals; the classifier head is not counted);
    results: (trial list, EER percent, minDCF) rows, exactly as printed.
    """

    name: str
    architecture: str
    release_name: str
    large_margin: bool
    params_m: float
    results: tuple[tuple[str, float, float], ...]
    release_folder: str

    def result(self, trial_list: str) -> tuple[float, float] | None:
        """(EER percent, minDCF) for a trial list name such as `vox1_O_cleaned`, or None if not published."""
        for name, eer, min_dcf in self.results:
            if name == trial_list:
                return eer, min_dcf
        return None


@dataclass(frozen=True)
class PublishedTable:
    """A published table: which scoring produced it, at which operating point, and its rows."""

    key: str
    title: str
    source: str
    method: str
    top_n: int | None
    cohort: str
    p_target: float
    c_miss: float
    c_fa: float
    decimals: int
    models: tuple[PublishedModel, ...]


def _rows(o: tuple[float, float], e: tuple[float, float], h: tuple[float, float]):
    return tuple(
        (name, *numbers)
        for name, numbers in zip(("vox1_O_cleaned", "vox1_E_cleaned", "vox1_H_cleaned"), (o, e, h))
    )


_FOLDER = (
    "{date}-Gemini_df_resnet{n}-emb256-fbank80-num_frms200-aug0.6-spTrue-saFalse-ArcMargin-AdamW-epoch165"
)

GOLDEN_GEMINI = PublishedTable(
    key="golden-gemini",
    title="Golden Gemini DF-ResNet (TASLP 2024), AS-norm 300",
    source="https://github.com/Liu-Tianchi/Golden-Gemini-for-Speaker-Verification (README table)",
    method="asnorm",
    top_n=300,
    cohort="vox2_dev",
    p_target=0.01,
    c_miss=1.0,
    c_fa=1.0,
    decimals=3,
    models=(
        PublishedModel(
            "DF-ResNet60",
            "Gemini_DF_ResNet60",
            "Gemini_df_resnet56",
            False,
            4.05,
            _rows((0.941, 0.089), (1.051, 0.116), (1.799, 0.166)),
            _FOLDER.format(date="0611", n=56),
        ),
        PublishedModel(
            "DF-ResNet114",
            "Gemini_DF_ResNet114",
            "Gemini_df_resnet110",
            False,
            6.53,
            _rows((0.686, 0.067), (0.863, 0.097), (1.490, 0.144)),
            _FOLDER.format(date="0615", n=110),
        ),
        PublishedModel(
            "DF-ResNet183",
            "Gemini_DF_ResNet183",
            "Gemini_df_resnet179",
            False,
            9.20,
            _rows((0.596, 0.065), (0.806, 0.090), (1.440, 0.137)),
            _FOLDER.format(date="0621", n=179),
        ),
        PublishedModel(
            "DF-ResNet183 LM",
            "Gemini_DF_ResNet183",
            "Gemini_df_resnet179",
            True,
            9.20,
            _rows((0.569, 0.045), (0.768, 0.078), (1.342, 0.126)),
            _FOLDER.format(date="0621", n=179) + "-LM",
        ),
    ),
)

TABLES = {GOLDEN_GEMINI.key: GOLDEN_GEMINI}

# Release depth -> paper depth (the release names count layers differently).
RELEASE_DEPTHS = {56: 60, 110: 114, 179: 183}
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


def lookup(name: str, table: str = "golden-gemini") -> PublishedModel | None:
    """The row of `table` for a model named by paper name, WeSpeaker class, release name or release folder.

    `Gemini_df_resnet179` and `DF-ResNet183` both give the DF-ResNet183 row; a name marked LM (`-LM`,
    `_LM`, ` LM`, `large margin`) gives the LM row. None when the name names no model of the table.
    """
    depth = paper_depth(name)
    if depth is None:
        return None
    large_margin = is_large_margin(name)
    for model in TABLES[table].models:
        if paper_depth(model.architecture) == depth and model.large_margin == large_margin:
            return model
    return None
