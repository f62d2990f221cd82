"""Published reference tables that reports can print beside a user's own rows.

golden-gemini: the Golden Gemini DF-ResNet release README (Liu et al., "Golden Gemini Is All You Need",
IEEE/ACM TASLP 2024; github.com/Liu-Tianchi/Golden-Gemini-for-Speaker-Verification), as transcribed in
DESIGN.md: EER in % and minDCF (p_target 0.01, c_miss 1, c_fa 1) after AS-norm with the top 300 of a
VoxCeleb2-dev cohort, on the cleaned Vox1-O/E/H lists. Release folders are named Gemini_df_resnet56/110/179
for DF-ResNet60/114/183.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedRow:
    """One published system: results maps a trial-list name to (EER %, minDCF)."""

    model: str
    params_millions: float
    release_name: str
    method: str
    top_n: int | None
    cohort: str
    results: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class PublishedTable:
    name: str
    source: str
    rows: tuple[PublishedRow, ...]


def _gemini(model, params, release, o, e, h) -> PublishedRow:
    results = {"vox1_O_cleaned": o, "vox1_E_cleaned": e, "vox1_H_cleaned": h}
    return PublishedRow(model, params, release, "asnorm", 300, "vox2_dev", results)


PUBLISHED = {
    "golden-gemini": PublishedTable(
        "golden-gemini",
        "Golden Gemini release README (Liu et al., IEEE/ACM TASLP 2024), AS-norm top 300, "
        "VoxCeleb2-dev cohort",
        (
            _gemini(
                "DF-ResNet60", 4.05, "Gemini_df_resnet56", (0.941, 0.089), (1.051, 0.116), (1.799, 0.166)
            ),
            _gemini(
                "DF-ResNet114", 6.53, "Gemini_df_resnet110", (0.686, 0.067), (0.863, 0.097), (1.490, 0.144)
            ),
            _gemini(
                "DF-ResNet183", 9.20, "Gemini_df_resnet179", (0.596, 0.065), (0.806, 0.090), (1.440, 0.137)
            ),
            _gemini(
                "DF-ResNet183 LM",
                9.20,
                "Gemini_df_resnet179 (large-margin fine-tuned)",
                (0.569, 0.045),
                (0.768, 0.078),
                (1.342, 0.126),
            ),
        ),
    )
}


def published_table(name: str) -> PublishedTable:
    """The table registered under `name`; KeyError lists the known names."""
    if name not in PUBLISHED:
        raise KeyError(f"no published table {name!r}; known: {', '.join(sorted(PUBLISHED))}")
    return PUBLISHED[name]
