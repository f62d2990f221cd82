"""Published models by name: fetch into the cache (verified), and `--model NAME` resolution.

`fetch` downloads (resuming a partial file), checks size and sha256 against the published values or, since
none are published, against what the first download recorded; unpacks archives into a staging folder;
verifies the architecture by loading it (PyTorch: every state-dict key and the published parameter count;
ONNX: the input/output contract and one forward pass); only then renames the folder into the cache. A
failure at any step leaves nothing in the cache but a resumable `.part` of an interrupted download.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from sveval.errors import InputError
from sveval.io import model_cache
from sveval.pretrained import PRETRAINED, PretrainedModel, lookup_pretrained

# An exported graph's initializers differ from the PyTorch parameter count: the exporter folds BatchNorm
# into the convolutions before it (and drops what the graph does not use). Measured on our own
# DF-ResNet114 via `sveval export-onnx`: 6,490,688 initializer values against 6,531,552 parameters, 0.6 %
# below the published 6.53 M (DF-ResNet60: -0.5 %, 183: -0.7 % of their own). 2 % accepts that with a
# margin and still refuses another architecture (DF-ResNet60 / 183 are 38 % / 40 % away).
ONNX_PARAMS_TOLERANCE = 0.02


def base_url() -> str | None:
    """`$SVEVAL_MODELS_URL`: a mirror holding the files under their names (replaces the published links)."""
    return os.environ.get("SVEVAL_MODELS_URL") or None


def folder(entry: PretrainedModel) -> Path:
    return model_cache.cache_dir() / entry.folder


def installed_path(entry: PretrainedModel) -> Path | None:
    """What `--model NAME` loads (the .onnx file, or the model folder), or None if not in the cache."""
    path = folder(entry) / entry.installed
    if not path.is_file():
        return None
    return path if entry.format == "onnx" else folder(entry)


def missing_message(entry: PretrainedModel) -> str:
    where = folder(entry)
    if entry.downloadable:
        what = f"put {entry.file_name}" + (" (unpacked)" if entry.file_name.endswith(".zip") else "")
        return (
            f"{what} into {where}/ (so that {where / entry.installed} exists), run `sveval models fetch "
            f"{entry.name}` where there is internet, or pass the file's path to --model"
        )
    return (
        f"sveval cannot download it (Google Drive asks a browser to confirm): open {entry.page}, unpack the "
        f"release folder and put it at {where}/ (so that {where / entry.installed} exists), or pass its "
        "path to --model"
    )


def resolve(spec: str, *, download: bool = True, progress: bool = False) -> Path:
    """A path as given, or the cached copy of a published model (downloaded first when allowed)."""
    path = Path(spec)
    entry = lookup_pretrained(spec)
    if path.exists() or entry is None:
        if not path.exists():
            raise InputError(
                f"model not found: not a file or folder, and not a published name ({', '.join(PRETRAINED)})",
                spec,
            )
        return path
    found = installed_path(entry)
    if found is not None:
        check_sizes(entry)
        return found
    if not download or not entry.downloadable:
        raise InputError(f"{entry.name} is not in the cache; {missing_message(entry)}", entry.name)
    return fetch(entry, progress=progress)


def fetch(
    entry: PretrainedModel,
    *,
    url: str | None = None,
    force: bool = False,
    progress: bool = False,
    notify=None,
) -> Path:
    """Download, verify and install `entry`; returns what `--model NAME` loads. InputError on any failure.

    One process at a time per model (`model_cache.download_lock`): another fetch of it waits, then finds
    it installed. `notify(message)` (default: stderr) hears who it waits for and what an archive held
    beyond the model's files (left out)."""
    if not entry.downloadable:
        raise InputError(f"{entry.name}: {missing_message(entry)}", entry.name)
    with model_cache.download_lock(entry.file_name, notify):
        if installed_path(entry) is not None and not force:
            return installed_path(entry)  # installed by the process this one waited for, if any
        return _fetch_locked(entry, url, notify or model_cache.notify_stderr, progress)


def _fetch_locked(entry: PretrainedModel, url: str | None, notify, progress: bool) -> Path:
    target = folder(entry)
    try:
        old = model_cache.read_record(target, entry.name)
    except InputError:
        old = None  # damaged: it binds nothing, and the new download replaces it
    mirror = url or base_url()
    urls = [mirror.rstrip("/") + "/" + entry.file_name] if mirror else list(entry.urls)
    size = entry.size if entry.size is not None else (old.size if old else None)
    sha256 = entry.sha256 or (old.sha256 if old else None)
    try:
        got = model_cache.download(urls, entry.file_name, size=size, sha256=sha256, progress=progress)
    except model_cache.DownloadError as exc:
        raise InputError(
            f"cannot download {entry.file_name} ({exc}); {missing_message(entry)}", entry.name
        ) from exc
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}")
    model_cache.discard(staging)
    try:
        unpacked = model_cache.unpack(got.path, entry.file_name, staging, entry.expected_files)
        if not (staging / entry.installed).is_file():
            held = ", ".join(name for name, _ in unpacked.left_out[:4]) or "nothing"
            raise InputError(
                f"the download holds no {entry.installed} (expected {', '.join(entry.expected_files)} at "
                f"its top or in one top folder; found {held}); nothing was cached",
                entry.file_name,
            )
        verified = verify(entry, staging)
        record = {
            "name": entry.name,
            "download": {"url": got.url, "file": entry.file_name, "size": got.size, "sha256": got.sha256},
            # No checksums are published: the first download's size and sha256 are what later ones must match.
            "checked_against": "published"
            if entry.sha256
            else ("earlier download" if sha256 else "nothing yet"),
            "verified": verified,
            "fetched": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "files": model_cache.file_hashes(staging),
            "sizes": model_cache.file_sizes(staging),
            "left_out": [{"member": name, "size": size} for name, size in unpacked.left_out],
        }
        model_cache.write_record(staging, record)
    except InputError:
        model_cache.discard(got.path)  # a corrupted file is never kept, not even for resuming
        raise
    finally:
        if staging.exists() and not (staging / model_cache.RECORD_NAME).exists():
            model_cache.discard(staging)
    model_cache.install(staging, target)
    model_cache.discard(got.path)
    if unpacked.left_out:
        shown = ", ".join(f"{name} ({size:,} bytes)" for name, size in unpacked.left_out[:5])
        more = f" and {len(unpacked.left_out) - 5} more" if len(unpacked.left_out) > 5 else ""
        notify(
            f"{entry.name}: left out of the cache {len(unpacked.left_out)} member(s) of {entry.file_name} "
            f"that are not the model's files ({', '.join(entry.expected_files)}): {shown}{more}"
        )
    return installed_path(entry)


def verify(entry: PretrainedModel, where: Path) -> str:
    """Load what was unpacked and check it is the published architecture. Returns what was checked."""
    from sveval.models import require_torch

    require_torch()
    if entry.format == "onnx":
        from sveval.models.onnx_model import check_runs, count_initializers, load_onnx

        model = load_onnx(where / entry.installed)
        dim = check_runs(model)
        if dim != entry.embed_dim:
            raise InputError(
                f"the graph outputs {dim}-dim embeddings, but {entry.official} gives {entry.embed_dim}; "
                "nothing was cached",
                entry.name,
            )
        count = count_initializers(model.path)
        published = entry.params_millions * 1e6
        if abs(count - published) > ONNX_PARAMS_TOLERANCE * published:
            raise InputError(
                f"the graph holds {count:,} parameters (initializers), but {entry.official} has "
                f"{entry.params_millions} M (accepted: within {ONNX_PARAMS_TOLERANCE:.0%}); "
                "nothing was cached",
                entry.name,
            )
        return (
            f"ONNX contract: input {model.input_name} (batch, frames, {model.fbank.num_mel_bins}), "
            f"output {model.output_name} (batch, {dim}); {count:,} parameters in initializers "
            f"({entry.params_millions} M published, {ONNX_PARAMS_TOLERANCE:.0%} accepted)"
        )
    from sveval.models.checkpoint import load_model

    loaded = load_model(where, entry.arch)
    count = sum(p.numel() for p in loaded.model.parameters())
    if round(count / 1e6, 2) != entry.params_millions:
        raise InputError(
            f"{count:,} parameters, but {entry.official} has {entry.params_millions} M; nothing was cached",
            entry.name,
        )
    return f"{loaded.arch}: every state-dict key, {count:,} parameters ({entry.params_millions} M published)"


def check_sizes(entry: PretrainedModel) -> None:
    """Every use by name: the installed files still have the sizes the download recorded (a stat per
    file; re-hashing a 25 MB graph on every use would cost more than a short extraction, so the full
    sha256 check is `sveval models fetch NAME`). InputError naming the changed file otherwise."""
    where = folder(entry)
    record = model_cache.read_record(where, entry.name)
    if record is None:
        return  # placed by hand: nothing to compare with
    sizes = record.sizes
    if sizes is None and entry.format == "onnx":  # an older record: the download is the file
        sizes = {entry.installed: record.size}
    for name, size in sorted((sizes or {}).items()):
        path = where / name
        now = path.stat().st_size if path.is_file() else None
        if size is not None and now != size:
            found = "missing" if now is None else f"{now:,} bytes"
            raise InputError(
                f"{entry.name}: this cached file changed since the download ({found}, recorded {size:,} "
                f"bytes); run `sveval models fetch --force {entry.name}`",
                str(path),
            )


def verify_cached(entry: PretrainedModel) -> tuple[bool, str]:
    """Re-hash the installed files against the record the download left. (ok, message)."""
    record = model_cache.read_record(folder(entry), entry.name)
    if record is None:
        return True, "placed by hand (no download record to check against)"
    now = model_cache.file_hashes(folder(entry))
    changed = sorted(k for k in set(now) | set(record.files) if now.get(k) != record.files.get(k))
    if changed:
        return False, f"files changed since the download: {', '.join(changed)} (sveval models fetch --force)"
    return True, f"{len(now)} files match the download record"


def load(spec: str, arch: str | None = None, *, progress: bool = False):
    """`--model`: a checkpoint file or folder, an .onnx file (or a folder holding one), or a published name.

    Returns `LoadedModel` (PyTorch) or `OnnxModel`. `arch` applies to PyTorch checkpoints only.
    """
    from sveval.models.onnx_model import is_onnx, load_onnx

    path = resolve(spec, progress=progress)
    if is_onnx(path):
        if arch is not None:
            raise InputError(
                "--arch applies to PyTorch checkpoints; an ONNX graph is run as it is", str(path)
            )
        return load_onnx(path)
    from sveval.models.checkpoint import load_model

    return load_model(path, arch)
