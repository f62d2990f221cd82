"""Published models by name: `sveval models fetch` against a loopback HTTP server (resume, truncation,
corruption, archives), the offline messages, and `--model NAME`."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # models and extraction: torch at import, model runs

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from click.testing import CliRunner  # noqa: E402
from models_helpers import random_model, save_checkpoint, write_corpus  # noqa: E402
from onnx_helpers import mean_pool_graph  # noqa: E402
from sveval.cli.main import cli  # noqa: E402

from sveval import pretrained  # noqa: E402
from sveval.errors import InputError  # noqa: E402
from sveval.models import registry  # noqa: E402
from sveval.models.onnx_model import OnnxModel  # noqa: E402

ONNX_NAME = "wespeaker-gemini-dfresnet114-lm-onnx"
ZIP_NAME = "wespeaker-gemini-dfresnet114-lm"


@pytest.fixture(scope="module")
def onnx_bytes(tmp_path_factory):
    path = mean_pool_graph(
        tmp_path_factory.mktemp("g") / "g.onnx", np.random.default_rng(0).normal(size=(80, 8))
    )
    return path.read_bytes()


@pytest.fixture(scope="module")
def zip_bytes(tmp_path_factory):
    """WeSpeaker's zip layout: one folder holding config.yaml and avg_model.pt (a random DF-ResNet114)."""
    root = tmp_path_factory.mktemp("z")
    save_checkpoint(random_model("Gemini_DF_ResNet114"), root / "avg_model.pt")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("voxceleb_gemini_dfresnet114_LM/config.yaml", "model: Gemini_DFResNet114\n")
        zipped.write(root / "avg_model.pt", "voxceleb_gemini_dfresnet114_LM/avg_model.pt")
    return buffer.getvalue()


@pytest.fixture
def toy_entry(monkeypatch):
    """The ONNX entry as if the published model were the 80x8 toy graph (640 parameters, 8 dims)."""
    entry = dataclasses.replace(pretrained.PRETRAINED[ONNX_NAME], embed_dim=8, params_millions=640e-6)
    monkeypatch.setitem(pretrained.PRETRAINED, ONNX_NAME, entry)
    return entry


def cached_files(tmp_path):
    root = tmp_path / "cache" / "models"
    return (
        sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        if root.exists()
        else []
    )


def test_onnx_download_verified_recorded_and_used_by_name(server, onnx_bytes, tmp_path, toy_entry):
    entry = toy_entry
    server.files[entry.file_name] = onnx_bytes
    result = CliRunner().invoke(cli, ["models", "fetch", ONNX_NAME, "--json"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "cache" / "models" / ONNX_NAME / entry.file_name
    assert json.loads(result.stdout)[0]["path"] == str(path) and path.read_bytes() == onnx_bytes
    record = json.loads((path.parent / "sveval-download.json").read_text())
    assert record["download"]["sha256"] == hashlib.sha256(onnx_bytes).hexdigest()
    assert record["download"]["size"] == len(onnx_bytes) and "ONNX contract" in record["verified"]
    assert isinstance(registry.load(ONNX_NAME), OnnxModel)
    again = CliRunner().invoke(cli, ["models", "fetch", ONNX_NAME])
    assert again.exit_code == 0 and "already in the cache" in again.output and "match" in again.output
    listed = json.loads(CliRunner().invoke(cli, ["models", "--json"]).stdout)["published"]
    assert {row["name"]: row["cached"] for row in listed}[ONNX_NAME] == str(path)
    # The first download's checksums bind later ones: a changed file on the server is refused.
    server.files[entry.file_name] = onnx_bytes[:-1] + b"\0"
    with pytest.raises(InputError, match="sha256 .* expected"):
        registry.fetch(entry, force=True)
    assert path.read_bytes() == onnx_bytes


def test_truncated_download_is_kept_for_resuming_then_completed(server, zip_bytes, tmp_path):
    entry = pretrained.PRETRAINED[ZIP_NAME]
    server.files[entry.file_name] = zip_bytes
    server.cut[entry.file_name] = len(zip_bytes) // 3
    with pytest.raises(InputError, match=r"stopped at .* bytes \(run again to resume\)"):
        registry.fetch(entry)
    assert cached_files(tmp_path) == [f".downloads/{entry.file_name}.part"]
    folder = registry.fetch(entry)
    assert server.requests[-1] == (entry.file_name, f"bytes={len(zip_bytes) // 3}-")
    assert sorted(p.name for p in folder.iterdir()) == ["avg_model.pt", "config.yaml", "sveval-download.json"]
    assert cached_files(tmp_path) == [
        f"{ZIP_NAME}/{n}" for n in ("avg_model.pt", "config.yaml", "sveval-download.json")
    ]
    loaded = registry.load(ZIP_NAME)
    assert loaded.arch == "Gemini_DF_ResNet114"


def test_corrupted_downloads_are_never_cached(server, onnx_bytes, tmp_path, toy_entry):
    entry = toy_entry
    server.files[entry.file_name] = b"\x08" + onnx_bytes[1:200]  # no checksum known: caught by loading
    with pytest.raises(InputError, match="onnxruntime cannot load the graph"):
        registry.fetch(entry)
    assert cached_files(tmp_path) == []
    published = dataclasses.replace(
        entry, sha256=hashlib.sha256(onnx_bytes).hexdigest(), size=len(onnx_bytes)
    )
    server.files[entry.file_name] = onnx_bytes[:-1] + b"\0"
    with pytest.raises(InputError, match="refused the download"):
        registry.fetch(published)
    assert cached_files(tmp_path) == []
    zip_entry = pretrained.PRETRAINED[ZIP_NAME]
    server.files[zip_entry.file_name] = b"PK\x03\x04 not really a zip"
    with pytest.raises(InputError, match="not a readable archive"):
        registry.fetch(zip_entry)
    assert cached_files(tmp_path) == []


def test_wrong_architecture_in_the_archive_is_refused(server, tmp_path):
    root = tmp_path / "m"
    save_checkpoint(random_model("Gemini_DF_ResNet60"), root / "avg_model.pt")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.write(root / "avg_model.pt", "avg_model.pt")
    server.files[pretrained.PRETRAINED[ZIP_NAME].file_name] = buffer.getvalue()
    result = CliRunner().invoke(cli, ["models", "fetch", ZIP_NAME])
    assert result.exit_code == 2 and "stage depths" in result.output
    assert cached_files(tmp_path) == []


def test_offline_and_by_hand_messages_name_the_file_and_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("SVEVAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SVEVAL_MODELS_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    folder = tmp_path / "cache" / "models" / ONNX_NAME
    result = CliRunner().invoke(cli, ["models", "fetch", ONNX_NAME])
    assert result.exit_code == 2
    assert (
        "cannot download voxceleb_gemini_dfresnet114_LM.onnx" in result.output
        and str(folder) in result.output
    )
    drive = CliRunner().invoke(cli, ["models", "fetch", "gemini-dfresnet183-lm"])
    assert (
        drive.exit_code == 2 and "drive.google.com/file/d/1rEb5UpeOvirCt9mhIW54BRAd-6EF3n_c" in drive.output
    )
    assert "0621-Gemini_df_resnet179" in drive.output and "models/model_165.pt" in drive.output
    unknown = CliRunner().invoke(cli, ["models", "fetch", "resnet9000"])
    assert unknown.exit_code == 2 and "unknown model" in unknown.output
    missing = CliRunner().invoke(
        cli, ["extract", "--model", "gemini-dfresnet60", "--wav-dir", ".", "--out", "o"]
    )
    assert missing.exit_code == 2 and "not in the cache" in missing.output


def test_a_release_folder_placed_by_hand_is_found_by_name(monkeypatch, tmp_path):
    monkeypatch.setenv("SVEVAL_CACHE_DIR", str(tmp_path / "cache"))
    entry = pretrained.PRETRAINED["gemini-dfresnet60"]
    folder = tmp_path / "cache" / "models" / entry.folder
    save_checkpoint(random_model(), folder / "models" / "model_165.pt", layout="golden_gemini_release")
    (folder / "config.yaml").write_text("model: Gemini_df_resnet56\n")
    write_corpus(tmp_path / "wav", [8000])
    args = [
        "extract",
        "--model",
        "gemini-dfresnet60",
        "--wav-dir",
        str(tmp_path / "wav"),
        "--out",
        str(tmp_path / "e"),
    ]
    result = CliRunner().invoke(cli, args + ["--device", "cpu", "--num-workers", "0", "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["arch"] == "Gemini_DF_ResNet60"


def test_a_fetched_graph_must_have_the_published_dimension_and_parameter_count(server, tmp_path):
    """DF-ResNet114 gives 256 dims from ~6.53 M parameters: a toy graph under its file name is refused."""
    name = pretrained.PRETRAINED[ONNX_NAME].file_name
    for dim, message in ((8, "outputs 8-dim embeddings, but"), (256, "holds 20,480 parameters")):
        path = mean_pool_graph(tmp_path / f"g{dim}.onnx", np.ones((80, dim)))
        server.files[name] = path.read_bytes()
        result = CliRunner().invoke(cli, ["models", "fetch", ONNX_NAME])
        assert result.exit_code == 2 and message in result.output and "nothing was cached" in result.output
        assert cached_files(tmp_path) == [] and "Traceback" not in result.output


def test_file_mirror_then_use_by_name_notices_a_replaced_file(monkeypatch, tmp_path, onnx_bytes, toy_entry):
    monkeypatch.setenv("SVEVAL_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / toy_entry.file_name).write_bytes(onnx_bytes)
    url = f"file://{tmp_path / 'mirror'}/"
    result = CliRunner().invoke(cli, ["models", "fetch", ONNX_NAME, "--base-url", url])
    assert result.exit_code == 0 and "verified" in result.output, result.output
    write_corpus(tmp_path / "wav", [8000])
    args = ["extract", "--model", ONNX_NAME, "--wav-dir", str(tmp_path / "wav"), "--quiet"]
    args += ["--num-workers", "0"]
    assert CliRunner().invoke(cli, args + ["--out", str(tmp_path / "e1")]).exit_code == 0
    cached = tmp_path / "cache" / "models" / ONNX_NAME / toy_entry.file_name
    cached.write_bytes(onnx_bytes + b"\0")
    changed = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "e2")])
    assert changed.exit_code == 2 and "changed since the download" in changed.output, changed.output
    assert str(cached) in changed.output and "Traceback" not in changed.output
