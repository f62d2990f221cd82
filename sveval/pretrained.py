"""Published pretrained speaker models sveval knows by name (`sveval models`, `--model NAME`).

Facts only (names, links, folder names, published figures); downloading is `sveval.models.registry`.
Sources: the Golden Gemini release README (Google Drive files, which need a browser confirmation, so sveval
says where to put them) and WeSpeaker's docs/pretrained.md (direct links, tried in order). No checksums are
published for any of these files: the first download records size and sha256 in the cache, and the
architecture is verified by loading (keys and parameter count; the ONNX contract for .onnx files).
"""

from __future__ import annotations

from dataclasses import dataclass

from sveval.reporting.published import published_table

_WENET = "https://wenet.org.cn/downloads?models=wespeaker&version="
_HF = "https://huggingface.co/Wespeaker/wespeaker-voxceleb-gemini-DFresnet114-LM"
_DRIVE = "https://drive.google.com/file/d/{}/view"


@dataclass(frozen=True)
class PretrainedModel:
    """One published model.

    folder: its folder under the cache; file_name: what is downloaded (or what the user fetches by hand);
    installed: the path inside `folder` that exists once the model is in place; members: for an archive,
    every path inside `folder` it may install (`installed` among them; anything else in the archive is
    left out); urls: direct-download links,
    tried in order (empty: no direct download, `page` says where a person gets it); size / sha256: None
    when not published; figures: (what, text) pairs of published EER % / minDCF(0.01); embed_dim: the
    embedding size the architecture outputs (256 for every Gemini DF-ResNet released).
    """

    name: str
    official: str
    source: str
    format: str  # "pytorch" or "onnx"
    arch: str
    params_millions: float
    large_margin: bool
    folder: str
    file_name: str
    installed: str
    members: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    page: str | None = None
    size: int | None = None
    sha256: str | None = None
    figures: tuple[tuple[str, str], ...] = ()
    embed_dim: int = 256

    @property
    def downloadable(self) -> bool:
        return bool(self.urls)

    @property
    def expected_files(self) -> tuple[str, ...]:
        """What a download may install in the model folder: `members`, else `installed` alone."""
        return self.members or (self.installed,)


def _golden_gemini() -> list[PretrainedModel]:
    drive_ids = {
        "DF-ResNet60": "1zfck1eEOFCxGonRRxUzsLKeruwv4f-kU",
        "DF-ResNet114": "1hruxkctjIzzUkooXikExb3if8wurR6pv",
        "DF-ResNet183": "1Bb1VaD8ZoUREoRoQ73oiCXjIJ21SuKLS",
        "DF-ResNet183 LM": "1rEb5UpeOvirCt9mhIW54BRAd-6EF3n_c",
    }
    models = []
    for row in published_table("golden-gemini").rows:
        figures = ", ".join(
            f"{list_name.split('_')[1]} {eer:.3f} / {dcf:.3f}"
            for list_name, (eer, dcf) in row.results.items()
        )
        models.append(
            PretrainedModel(
                name="gemini-" + row.model.lower().replace("-", "").replace(" ", "-"),
                official=f"Gemini {row.model}",
                source="Golden Gemini release (Google Drive)",
                format="pytorch",
                arch=row.architecture,
                params_millions=row.params_millions,
                large_margin=row.large_margin,
                folder=row.release_folder,
                file_name=f"{row.release_folder} (Google Drive file {drive_ids[row.model]})",
                installed="models/model_165.pt",
                page=_DRIVE.format(drive_ids[row.model]),
                figures=(("Vox1 cleaned, EER % / minDCF(0.01), AS-norm 300", figures),),
            )
        )
    return models


_WESPEAKER_FIGURES = (
    ("WeSpeaker VoxCeleb v2, EER % O / E / H cleaned, LM", "0.771 / 0.906 / 1.599"),
    ("WeSpeaker VoxCeleb v2, EER % O / E / H cleaned, LM + AS-norm", "0.638 / 0.839 / 1.427"),
)

PRETRAINED: dict[str, PretrainedModel] = {
    m.name: m
    for m in [
        *_golden_gemini(),
        PretrainedModel(
            name="wespeaker-gemini-dfresnet114-lm",
            official="Gemini_DFResnet114_LM (WeSpeaker checkpoint)",
            source="WeSpeaker docs/pretrained.md",
            format="pytorch",
            arch="Gemini_DF_ResNet114",
            params_millions=6.53,
            large_margin=True,
            folder="wespeaker-gemini-dfresnet114-lm",
            file_name="voxceleb_gemini_dfresnet114_LM.zip",
            installed="avg_model.pt",
            members=("avg_model.pt", "config.yaml"),  # WeSpeaker's zips: <model>/avg_model.pt, config.yaml
            urls=(_WENET + "voxceleb_gemini_dfresnet114_LM.zip",),
            page=_HF + "/tree/main",
            figures=_WESPEAKER_FIGURES,
        ),
        PretrainedModel(
            name="wespeaker-gemini-dfresnet114-lm-onnx",
            official="Gemini_DFResnet114_LM (WeSpeaker runtime model, ONNX)",
            source="WeSpeaker docs/pretrained.md",
            format="onnx",
            arch="Gemini_DF_ResNet114",
            params_millions=6.53,
            large_margin=True,
            folder="wespeaker-gemini-dfresnet114-lm-onnx",
            file_name="voxceleb_gemini_dfresnet114_LM.onnx",
            installed="voxceleb_gemini_dfresnet114_LM.onnx",
            urls=(
                _HF + "/resolve/main/voxceleb_gemini_dfresnet114_LM.onnx?download=true",
                _WENET + "voxceleb_gemini_dfresnet114_LM.onnx",
            ),
            page=_HF,
            figures=_WESPEAKER_FIGURES,
        ),
    ]
}


def lookup_pretrained(name: str) -> PretrainedModel | None:
    return PRETRAINED.get(name)
