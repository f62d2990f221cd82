"""Checks of a release folder's model side: config.yaml, checkpoints, and the published numbers.

config      config.yaml names a known Gemini DF-ResNet (release names Gemini_df_resnet56/110/179 are
            DF-ResNet60/114/183), model_args.feat_dim 80 and embed_dim 256, and agrees with the folder name
checkpoint  each checkpoint loads with weights_only=True into that architecture (projection head ignored)
            with the architecture's parameter count, which rounds to the published one (needs torch and
            sveval.models)
published   the result files' AS-norm numbers equal a published table's for the model the folder name or
            config.yaml names
"""

from __future__ import annotations

import re
from pathlib import Path

from sveval.errors import InputError
from sveval.io.release import ReleaseFolder, ResultEntry, parse_score_name, read_model_config
from sveval.reporting.published import PublishedRow, lookup, paper_depth, published_table
from sveval.validation.checks import FAIL, NOT_CHECKABLE, PASS, Check

# Gemini DF-ResNet depths (DESIGN.md); release folders say 56/110/179 for 60/114/183.
KNOWN_DEPTHS = (60, 114, 183, 237)
FEAT_DIM, EMBED_DIM = 80, 256


def check_config(release: ReleaseFolder):
    file = _relative(release.config, release.root)
    try:
        config = read_model_config(release.config)
    except ImportError:
        return Check(
            "config", NOT_CHECKABLE, file, "pyyaml is not installed (pip install 'sveval[model]')"
        ), None
    except InputError as exc:
        return Check("config", FAIL, file, str(exc)), None
    problems = []
    depth = paper_depth(config.model) if config.model else None
    if config.model is None:
        problems.append("no `model:` entry naming the architecture")
    elif depth not in KNOWN_DEPTHS:
        known = ", ".join(f"Gemini_DF_ResNet{d}" for d in KNOWN_DEPTHS)
        problems.append(f"model {config.model!r} is not a known architecture ({known})")
    for key, value, expected in (
        ("feat_dim", config.feat_dim, FEAT_DIM),
        ("embed_dim", config.embed_dim, EMBED_DIM),
    ):
        if value != expected:
            problems.append(f"model_args.{key} is {value!r}, expected {expected}")
    folder_depth = paper_depth(release.root.name)
    if depth in KNOWN_DEPTHS and folder_depth is not None and folder_depth != depth:
        problems.append(f"the folder name says DF-ResNet{folder_depth} but the config says {config.model}")
    if problems:
        return Check("config", FAIL, file, "; ".join(problems)), config
    message = f"{config.model} (DF-ResNet{depth}), feat_dim {FEAT_DIM}, embed_dim {EMBED_DIM}"
    return Check("config", PASS, file, message), config


def check_checkpoint(path: Path, config) -> Check:
    """Load with weights_only=True (a downloaded file must not run code) into the config's architecture,
    projection head ignored, and compare the parameter count with the architecture's and the published one."""
    import importlib.util

    file = path.name if path.parent.name != "models" else f"models/{path.name}"
    if importlib.util.find_spec("torch") is None:
        return Check(
            "checkpoint", NOT_CHECKABLE, file, "torch is not installed (pip install 'sveval[model]')"
        )
    try:
        from sveval.models.checkpoint import load_model
        from sveval.models.dfresnet import ARCHS
    except ImportError:
        return Check("checkpoint", NOT_CHECKABLE, file, "sveval.models not available in this build")
    if config is None or config.model is None or paper_depth(config.model) not in KNOWN_DEPTHS:
        return Check(
            "checkpoint", NOT_CHECKABLE, file, "config.yaml names no known architecture to load into"
        )
    try:
        loaded = load_model(path, arch=config.model, arch_from="config.yaml")
    except InputError as exc:
        return Check("checkpoint", FAIL, file, _one_line(str(exc)))
    n = sum(p.numel() for p in loaded.model.parameters())
    expected = ARCHS[loaded.arch].parameters
    row = lookup(loaded.arch)
    ignored = f", ignored {len(loaded.ignored_keys)} training-only key(s)" if loaded.ignored_keys else ""
    message = f"loads into {loaded.arch} ({loaded.layout} layout{ignored}): {n:,} parameters"
    if n != expected:
        return Check("checkpoint", FAIL, file, f"{message}, expected {expected:,}")
    if row is not None and f"{n / 1e6:.2f}" != f"{row.params_millions:.2f}":
        return Check("checkpoint", FAIL, file, f"{message}; the paper says {row.params_millions:.2f} M")
    published = f" = {row.params_millions:.2f} M as published" if row is not None else ""
    return Check("checkpoint", PASS, file, message + published)


def check_onnx(path: Path, config) -> Check:
    """An .onnx runtime model beside the checkpoints: WeSpeaker's input/output contract, one forward pass on
    noise, and the embedding size config.yaml names (when there is one)."""
    import importlib.util

    file = path.name if path.parent.name != "models" else f"models/{path.name}"
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("torch") is None:
        return Check("onnx", NOT_CHECKABLE, file, "onnxruntime is not installed (pip install 'sveval[onnx]')")
    from sveval.models.onnx_model import check_runs, load_onnx

    try:
        model = load_onnx(path)
        dim = check_runs(model)
    except InputError as exc:
        return Check("onnx", FAIL, file, _one_line(str(exc)))
    message = (
        f"input {model.input_name} (batch, frames, {model.fbank.num_mel_bins}), output {model.output_name}"
    )
    message += f" (batch, {dim}), opset {model.opset or 'unknown'}"
    if config is not None and config.embed_dim is not None and config.embed_dim != dim:
        return Check("onnx", FAIL, file, f"{message}; config.yaml says embed_dim {config.embed_dim}")
    return Check("onnx", PASS, file, message)


def check_published(release: ReleaseFolder, table_name: str, entries, config) -> list[Check]:
    table = published_table(table_name)
    names = [release.root.name] + ([config.exp_dir, config.model] if config is not None else [])
    row = next((r for name in names if name and (r := lookup(name, table_name)) is not None), None)
    if row is None:
        tried = ", ".join(repr(n) for n in names if n)
        known = ", ".join(f"{r.model} ({r.release_name})" for r in table.rows)
        message = f"cannot tell which model this is from {tried}; the table has {known}"
        return [Check("published", NOT_CHECKABLE, release.root.name, message)]
    checks = []
    for list_name, (eer, min_dcf) in row.results.items():
        found = _published_blocks(entries, list_name, row, table)
        if not found:
            method = f"{row.method}{row.top_n or ''}"
            checks.append(
                Check("published", NOT_CHECKABLE, list_name, f"no {method} result block for {list_name}")
            )
        for result_file, entry in found:
            want = (f"{eer:.{table.decimals}f}", f"{min_dcf:.{table.decimals}f}")
            got = tuple(f"{float(t):.{table.decimals}f}" for t in (entry.eer_text, entry.min_dcf_text))
            where = f"{entry.block.score_file} (line {entry.line})"
            if got == want:
                message = f"{where}: EER {got[0]}, minDCF {got[1]} as published for {row.model}"
                checks.append(Check("published", PASS, result_file, message))
            else:
                message = (
                    f"{where}: EER {got[0]}, minDCF {got[1]}; {table.name} publishes "
                    f"EER {want[0]}, minDCF {want[1]} for {row.model} on {list_name}"
                )
                checks.append(Check("published", FAIL, result_file, message))
    return checks


def _published_blocks(entries, list_name: str, row: PublishedRow, table) -> list[tuple[str, ResultEntry]]:
    found, seen = [], set()
    for result_file, blocks in entries.items():
        for entry in blocks:
            name = parse_score_name(entry.score_file)
            block = entry.block
            if name is None or name.prefix or name.list_name != list_name or name.method != row.method:
                continue
            if name.top_n != row.top_n or (block.p_target, block.c_miss, block.c_fa) != (
                table.p_target,
                table.c_miss,
                table.c_fa,
            ):
                continue
            key = (result_file, block.score_file, entry.eer_text, entry.min_dcf_text)
            if key not in seen:
                seen.add(key)
                found.append((result_file, entry))
    return found


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _one_line(message: str) -> str:
    """torch's refusal of a pickle that needs code spans many lines; keep what it refused."""
    refused = re.search(r"Unsupported global: GLOBAL (\S+)", message)
    if refused:
        head = message.split(": cannot load", 1)[0]
        return (
            f"{head}: refused by torch.load(weights_only=True): unpickling it would call {refused.group(1)}, "
            "so the file can run code and is not a plain state dict"
        )
    return " ".join(message.split())
