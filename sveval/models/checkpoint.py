"""Loading Gemini DF-ResNet checkpoints strictly: every key accounted for, or an error naming it.

Accepted: a bare state dict; a dict holding one under `model` or `state_dict`; a WeSpeaker model folder
(`config.yaml` + `avg_model.pt` / `final_model.pt`, at the top or under `models/`); a Golden Gemini release
folder (`config.yaml` + `models/model_<epoch>.pt`). Always `torch.load(..., weights_only=True)`.

Key layouts: WeSpeaker (`seg_1.*`) and the Golden Gemini release (`embedding.*`, renamed to `seg_1.*`).
Training-only keys (`projection.*`, the classifier head, and the margin/loss modules) are ignored and listed.
"""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from sveval.errors import InputError
from sveval.models.dfresnet import ARCHS, GeminiDFResNet, build, depths_from_keys
from sveval.models.fbank import FbankConfig

TRAINING_ONLY_PREFIXES = ("projection.", "margin.", "loss.")
_RELEASE_ALIASES = {"56": "60", "110": "114", "179": "183", "233": "237"}


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """An eval-mode model on CPU and how it was found."""

    model: GeminiDFResNet
    arch: str
    arch_source: str  # "--arch", "config.yaml" or "state-dict keys"
    checkpoint: Path
    layout: str  # "wespeaker" (seg_1.*) or "golden_gemini_release" (embedding.*)
    ignored_keys: tuple[str, ...]
    fbank: FbankConfig


def canonical_arch(name: str, where: str = "--arch") -> str:
    """`Gemini_DF_ResNet114`, `dfresnet114`, `DF-ResNet114` or the release name `Gemini_df_resnet110`."""
    match = re.fullmatch(r"(?:gemini[_-]?)?df[_-]?resnet[_-]?(\d+)", name.strip().lower())
    depth = match.group(1) if match else None
    if depth in _RELEASE_ALIASES:
        depth = _RELEASE_ALIASES[depth]  # Golden Gemini release folders count layers differently
    canonical = f"Gemini_DF_ResNet{depth}"
    if canonical not in ARCHS:
        known = ", ".join(ARCHS)
        raise InputError(f"unknown architecture {name!r} ({where}); known: {known}")
    return canonical


def _find_checkpoint(folder: Path) -> Path:
    for name in ("avg_model.pt", "final_model.pt", "models/avg_model.pt", "models/final_model.pt"):
        if (folder / name).is_file():
            return folder / name
    epochs = []
    for path in (folder / "models").glob("model_*.pt"):
        match = re.fullmatch(r"model_(\d+)\.pt", path.name)
        if match:
            epochs.append((int(match.group(1)), path))
    if epochs:
        return max(epochs)[1]
    raise InputError(
        "no checkpoint in model folder (looked for avg_model.pt, final_model.pt, models/avg_model.pt, "
        "models/final_model.pt, models/model_<epoch>.pt)",
        str(folder),
    )


def read_config(path: Path) -> dict:
    """config.yaml as a mapping; InputError naming the file otherwise."""
    import yaml

    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read model config: {exc}", str(path)) from exc
    if not isinstance(config, dict):
        raise InputError("model config is not a YAML mapping", str(path))
    return config


def fbank_config(config: dict) -> FbankConfig:
    """The front-end a WeSpeaker config.yaml trained with (`dataset_args.fbank_args`; defaults: 80 mel bins,
    or `model_args.feat_dim`, 25 ms / 10 ms)."""
    feat_dim = int((config.get("model_args") or {}).get("feat_dim", 80))
    dataset_args = config.get("dataset_args") or {}
    rate = dataset_args.get("resample_rate", 16000)
    if rate != 16000:  # the front-end and audio decoding work at 16 kHz only: refuse rather than ignore
        raise InputError(f"config.yaml dataset_args.resample_rate is {rate}; sveval extracts at 16000 Hz")
    fbank_args = dataset_args.get("fbank_args") or {}
    return FbankConfig(
        num_mel_bins=int(fbank_args.get("num_mel_bins", feat_dim)),
        frame_length_ms=float(fbank_args.get("frame_length", 25)),
        frame_shift_ms=float(fbank_args.get("frame_shift", 10)),
    )


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, refused globals
        raise InputError(_load_failure(exc), str(path)) from exc
    for wrapper in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError("checkpoint is not a state dict (a mapping of names to tensors)", str(path))
    if obj and all(k.startswith("module.") for k in obj):  # saved from DistributedDataParallel
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def _load_failure(exc: Exception) -> str:
    """One line for a failed `torch.load(weights_only=True)`. torch's own text runs to many lines, advises
    weights_only=False (which sveval never does: unpickling other objects than tensors can run any code)
    and, for some refusals, to file an issue with PyTorch; what it refused is the useful part."""
    text = " ".join(str(exc).split())
    if isinstance(exc, pickle.UnpicklingError) and "Weights only load failed" in text:
        return (
            f"not a plain state dict checkpoint: its pickle {_refused(text)}, which "
            "torch.load(weights_only=True) refuses; it was not loaded"
        )
    detail = text.split(". ")[0]
    if "zip archive" in detail or "central directory" in detail:
        return "not a complete PyTorch checkpoint (its zip archive is truncated or corrupt)"
    return (
        "not a PyTorch checkpoint that loads with weights_only=True "
        f"({type(exc).__name__}{': ' + detail[:200] if detail else ''}); it was not loaded"
    )


def _refused(text: str) -> str:
    """What torch's weights-only unpickler refused, from its message (worded differently across torch
    versions: `Unsupported global: GLOBAL x.y`, `unsupported GLOBAL x.y whose module x is blocked`,
    `Unsupported operand 105`)."""
    named = re.search(r"GLOBAL ([\w.]+)", text, re.IGNORECASE)
    if named:
        return f"calls {named.group(1)}"
    opcode = re.search(r"Unsupported operand (\d+)", text)
    if opcode:
        return f"uses the opcode {chr(int(opcode.group(1)))!r}"
    reason = re.search(r"WeightsUnpickler error: (.+?)(?: Check the documentation|$)", text)
    return (
        f"holds something other than tensors ({reason.group(1)[:200]})" if reason else "holds other objects"
    )


# First components of a Gemini DF-ResNet state dict's keys (release layout already mapped to WeSpeaker's).
_MODEL_PREFIXES = ("downsample_layers.", "stages.", "seg_1.", "pool.")


def _refuse_foreign_keys(state: dict, checkpoint: Path) -> None:
    """No key is a DF-ResNet key (e.g. all carry a wrapper's prefix): name the keys and their common prefix,
    with or without --arch, instead of failing on the architecture."""
    if not state or any(k.startswith(_MODEL_PREFIXES) for k in state):
        return
    keys = sorted(state)
    prefix = os.path.commonprefix(keys)
    prefix = prefix[: prefix.rfind(".") + 1]  # whole dotted components only
    shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
    hint = (
        f"every key starts with {prefix!r}: strip that prefix from the state dict's keys"
        if prefix
        else "no common prefix"
    )
    raise InputError(
        f"checkpoint has no Gemini DF-ResNet keys (downsample_layers.*, stages.*, seg_1.* or embedding.*); "
        f"unexpected keys: {shown}; {hint}",
        str(checkpoint),
    )


def _depth_name(depths: tuple[int, ...]) -> str:
    for name, spec in ARCHS.items():
        if spec.depths == depths:
            return name
    return "an unknown Gemini DF-ResNet"


def load_model(path: str | Path, arch: str | None = None, arch_from: str = "--arch") -> LoadedModel:
    """Build the architecture and load the checkpoint strictly. Raises InputError naming what is wrong.

    `arch_from` names where an explicit `arch` came from, for messages (e.g. "config.yaml" for validate)."""
    path = Path(path)
    config: dict = {}
    if path.is_dir():
        if (path / "config.yaml").is_file():
            config = read_config(path / "config.yaml")
        checkpoint = _find_checkpoint(path)
    elif path.is_file():
        checkpoint = path
        if (path.parent / "config.yaml").is_file() and arch is None:
            config = read_config(path.parent / "config.yaml")
    else:
        raise InputError("model not found (a checkpoint file or a model folder)", str(path))
    state = _state_dict(checkpoint)

    layout = "wespeaker"
    if any(k.startswith("embedding.") for k in state):
        layout = "golden_gemini_release"
        state = {
            ("seg_1." + k[len("embedding.") :] if k.startswith("embedding.") else k): v
            for k, v in state.items()
        }
    ignored = tuple(sorted(k for k in state if k.startswith(TRAINING_ONLY_PREFIXES)))
    state = {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY_PREFIXES)}

    model_args = config.get("model_args") or {}
    feat_dim = int(model_args.get("feat_dim", 80))
    embed_dim = int(model_args.get("embed_dim", 256))
    if model_args.get("two_emb_layer"):
        raise InputError(
            "two_emb_layer models are not supported (released Gemini models use one)", str(checkpoint)
        )
    if str(model_args.get("pooling_func", "TSTP")) != "TSTP":
        raise InputError(
            f"pooling {model_args['pooling_func']!r} is not supported (only TSTP)", str(checkpoint)
        )
    fbank = fbank_config(config)
    if fbank.num_mel_bins != feat_dim:
        raise InputError(f"config: fbank num_mel_bins {fbank.num_mel_bins} != model feat_dim {feat_dim}")

    _refuse_foreign_keys(state, checkpoint)
    found_depths = depths_from_keys(state)
    if arch is not None:
        name, source = canonical_arch(arch, arch_from), arch_from
    elif config.get("model"):
        name, source = canonical_arch(str(config["model"]), "config.yaml model"), "config.yaml"
    else:
        name, source = _depth_name(found_depths), "state-dict keys"
        if name not in ARCHS:
            raise InputError(
                f"cannot tell the architecture (stage depths {found_depths}); give --arch", str(checkpoint)
            )
    if found_depths != ARCHS[name].depths:
        raise InputError(
            f"checkpoint holds {_depth_name(found_depths)} (stage depths {list(found_depths)}), "
            f"but {source} says {name} (stage depths {list(ARCHS[name].depths)})",
            str(checkpoint),
        )

    model = build(name, feat_dim=feat_dim, embed_dim=embed_dim)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k} (checkpoint {list(state[k].shape)}, model {list(expected[k].shape)})"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshaped)):
        if keys:
            shown = ", ".join(keys[:8]) + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
            problems.append(f"{label} keys: {shown}")
    if problems:
        raise InputError(f"checkpoint does not fit {name}: " + "; ".join(problems), str(checkpoint))
    model.load_state_dict(state, strict=True)
    model.eval()
    return LoadedModel(model, name, source, checkpoint, layout, ignored, fbank)
