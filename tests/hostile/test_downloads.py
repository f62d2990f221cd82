"""Hostile downloads: a mirror's archive carrying more than the model, an archive nesting the model one
folder too deep, a damaged download record, two fetches of one model at once, and a trial list far longer
than its trials. All against a loopback HTTP server (127.0.0.1) that the test makes."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # models and extraction: torch at import, model runs

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from click.testing import CliRunner  # noqa: E402
from download_server import Server  # noqa: E402
from models_helpers import random_model, save_checkpoint  # noqa: E402
from onnx_helpers import mean_pool_graph  # noqa: E402
from sveval.cli.main import cli  # noqa: E402

from sveval import pretrained  # noqa: E402
from sveval.errors import InputError  # noqa: E402
from sveval.io import catalog, model_cache  # noqa: E402
from sveval.io.lock import FolderLock  # noqa: E402
from sveval.models import registry  # noqa: E402

ZIP_NAME = "wespeaker-gemini-dfresnet114-lm"
ONNX_NAME = "wespeaker-gemini-dfresnet114-lm-onnx"
MODEL_FILES = ["avg_model.pt", "config.yaml", "sveval-download.json"]


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    """A random DF-ResNet60 checkpoint: the smallest architecture, for the toy zip entry below."""
    path = save_checkpoint(random_model("Gemini_DF_ResNet60"), tmp_path_factory.mktemp("c") / "avg_model.pt")
    return path.read_bytes()


@pytest.fixture
def toy_zip_entry(monkeypatch):
    """The WeSpeaker zip entry as if its model were DF-ResNet60 (4.05 M parameters, loads faster)."""
    entry = dataclasses.replace(
        pretrained.PRETRAINED[ZIP_NAME], arch="Gemini_DF_ResNet60", params_millions=4.05
    )
    monkeypatch.setitem(pretrained.PRETRAINED, ZIP_NAME, entry)
    return entry


@pytest.fixture
def toy_onnx_entry(monkeypatch, tmp_path):
    """The ONNX entry as if the published graph were an 80x8 mean-pool graph (640 parameters, 8 dims)."""
    entry = dataclasses.replace(pretrained.PRETRAINED[ONNX_NAME], embed_dim=8, params_millions=640e-6)
    monkeypatch.setitem(pretrained.PRETRAINED, ONNX_NAME, entry)
    graph = mean_pool_graph(tmp_path / "g.onnx", np.random.default_rng(0).normal(size=(80, 8)))
    return entry, graph.read_bytes()


def model_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return buffer.getvalue()


def cache_listing(tmp_path: Path) -> list[str]:
    """Every file under the model cache, lock files aside (a lock is not part of any model)."""
    root = tmp_path / "cache" / "models"
    if not root.exists():
        return []
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.suffix != ".lock"
    )


def one_line_error(result, *causes: str) -> str:
    """Exit 2 (an InputError; under CliRunner any other exception is exit 1) and one line on stderr."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for cause in causes:
        assert cause in lines[0], lines[0]
    return lines[0]


def test_an_archive_installs_only_the_files_the_catalogue_names(
    server, tmp_path, toy_zip_entry, checkpoint_bytes
):
    """A mirror's zip of a few MB holding a 64 MB extra file (zeros compress to almost nothing) beside the
    model: the cache gets the model's files only, and the person fetching is told what was left out."""
    extra = bytes(64 << 20)
    server.files[toy_zip_entry.file_name] = model_zip(
        {
            "m/avg_model.pt": checkpoint_bytes,
            "m/config.yaml": b"model: Gemini_DF_ResNet60\n",
            "m/blob.bin": extra,
            "m/models/avg_model.pt": b"a second checkpoint somewhere else",
            "m/../../outside.txt": b"never written anywhere",
        }
    )
    result = CliRunner().invoke(cli, ["models", "fetch", ZIP_NAME, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert cache_listing(tmp_path) == [f"{ZIP_NAME}/{name}" for name in MODEL_FILES]
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path / "cache" / "outside.txt").exists()
    note = [line for line in result.stderr.splitlines() if "left out" in line]
    assert len(note) == 1 and f"m/blob.bin ({len(extra):,} bytes)" in note[0], result.stderr
    assert "m/models/avg_model.pt" in note[0] and "3 member(s)" in note[0]
    record = json.loads((tmp_path / "cache" / "models" / ZIP_NAME / "sveval-download.json").read_text())
    assert {"member": "m/blob.bin", "size": len(extra)} in record["left_out"]
    assert sorted(record["files"]) == ["avg_model.pt", "config.yaml"]
    assert registry.load(ZIP_NAME).arch == "Gemini_DF_ResNet60"


def test_a_tar_archive_too_installs_only_the_models_files_and_never_a_link(tmp_path):
    weights = b"weights, as far as unpacking cares"

    def tar_of(entries) -> Path:
        path = tmp_path / f"m{len(list(tmp_path.glob('*.tgz')))}.tgz"
        with tarfile.open(path, "w:gz") as tarred:
            for name, data in entries:
                info = tarfile.TarInfo(name)
                if data is None:  # a symbolic link to a file outside
                    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                    tarred.addfile(info)
                else:
                    info.size = len(data)
                    tarred.addfile(info, io.BytesIO(data))
        return path

    expected = ("avg_model.pt", "config.yaml")
    archive = tar_of([("avg_model.pt", weights), ("extra.bin", b"x" * 1000), ("link", None)])
    unpacked = model_cache.unpack(archive, "m.tar.gz", tmp_path / "into", expected)
    assert unpacked.installed == ("avg_model.pt",)
    assert unpacked.left_out == (("extra.bin", 1000),)  # the link is neither installed nor followed
    assert sorted(p.name for p in (tmp_path / "into").iterdir()) == ["avg_model.pt"]
    linked = tar_of([("config.yaml", None), ("avg_model.pt", weights)])
    with pytest.raises(InputError, match="'config.yaml', but not as a regular file"):
        model_cache.unpack(linked, "m.tar.gz", tmp_path / "into2", expected)
    twice = tar_of([("avg_model.pt", weights), ("avg_model.pt", b"another")])
    with pytest.raises(InputError, match="holds avg_model.pt twice"):
        model_cache.unpack(twice, "m.tar.gz", tmp_path / "into3", expected)


def test_a_zip_nesting_the_model_in_a_folder_of_the_same_name_is_one_line(
    server, tmp_path, toy_zip_entry, checkpoint_bytes
):
    """`m/m/avg_model.pt` is not WeSpeaker's layout (`m/avg_model.pt`): one line, and nothing cached."""
    server.files[toy_zip_entry.file_name] = model_zip(
        {"m/m/avg_model.pt": checkpoint_bytes, "m/m/config.yaml": b"model: Gemini_DF_ResNet60\n"}
    )
    result = CliRunner().invoke(cli, ["models", "fetch", ZIP_NAME, "--json"])
    line = one_line_error(result, toy_zip_entry.file_name, "holds no avg_model.pt", "found m/m/avg_model.pt")
    assert "nothing was cached" in line
    assert cache_listing(tmp_path) == []


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (b"{not json", "Expecting property name"),
        (b"[]", "a JSON list, not an object"),
        (json.dumps({"files": ["avg_model.pt"]}).encode(), "'files' is not an object"),
        (json.dumps({"files": {"/etc/passwd": "0" * 64}}).encode(), "not a file inside the model folder"),
        (json.dumps({"files": {}, "sizes": {"x.onnx": "big"}}).encode(), "'sizes' gives 'big'"),
        (json.dumps({"download": {"size": "12"}, "files": {}}).encode(), "'download.size' is '12'"),
        (b"\xff\xfe", "can't decode"),
    ],
)
def test_a_damaged_download_record_is_one_line_then_fetch_force_repairs_it(
    server, tmp_path, toy_onnx_entry, damage, reason
):
    entry, graph = toy_onnx_entry
    server.files[entry.file_name] = graph
    assert CliRunner().invoke(cli, ["models", "fetch", ONNX_NAME]).exit_code == 0
    record = tmp_path / "cache" / "models" / ONNX_NAME / "sveval-download.json"
    record.write_bytes(damage)
    result = CliRunner().invoke(cli, ["models", "fetch", ONNX_NAME, "--json"])
    line = one_line_error(result, str(record), "the download record is damaged", reason)
    assert f"sveval models fetch --force {ONNX_NAME}" in line
    with pytest.raises(InputError, match="the download record is damaged"):  # `--model NAME`
        registry.resolve(ONNX_NAME)
    repaired = CliRunner().invoke(cli, ["models", "fetch", "--force", ONNX_NAME])
    assert repaired.exit_code == 0, repaired.output
    again = CliRunner().invoke(cli, ["models", "fetch", ONNX_NAME])
    assert again.exit_code == 0 and "1 files match the download record" in again.output
    assert json.loads(record.read_text())["download"]["sha256"] == hashlib.sha256(graph).hexdigest()


def test_a_fetch_waits_for_another_fetch_of_the_same_model_and_is_told_who(server, tmp_path, toy_onnx_entry):
    """While another process holds the model's download lock, a fetch neither touches the `.part` nor
    asks the server: it says who holds it, waits, then goes on."""
    entry, graph = toy_onnx_entry
    server.files[entry.file_name] = graph
    lock_path = tmp_path / "cache" / "models" / ".downloads" / f"{entry.file_name}.lock"
    holder = FolderLock(lock_path, "another fetch").acquire()  # as a `models fetch` in another process
    notes: list[str] = []
    outcome: dict = {}

    def fetch():
        try:
            outcome["path"] = registry.fetch(entry, notify=notes.append)
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            outcome["error"] = exc

    thread = threading.Thread(target=fetch)
    thread.start()
    deadline = time.monotonic() + 10
    while not notes and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(3 * model_cache.LOCK_POLL_S)
    assert thread.is_alive() and server.requests == [], (notes, outcome, server.requests)
    assert len(notes) == 1 and notes[0].startswith("waiting: ") and f"process {os.getpid()}" in notes[0]
    assert entry.file_name in notes[0]
    holder.release()
    thread.join(30)
    assert "error" not in outcome, outcome
    assert outcome["path"].read_bytes() == graph and len(server.requests) == 1


class GatedServer(Server):
    """A Server whose first download waits until a second one arrives (two fetches racing on one `.part`)
    or `release` is set (the second fetch said it is waiting), so that the two fetches always overlap."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()
        handler = self.httpd.RequestHandlerClass
        served = handler.do_GET
        server = self

        def do_get(handler_self):
            if len(server.requests) >= 1:  # a second request: the first may go on
                server.release.set()
            else:
                server.release.wait(60)
            served(handler_self)

        handler.do_GET = do_get


@pytest.mark.slow
def test_two_fetch_processes_of_one_model_never_corrupt_each_other(tmp_path):
    """Two `sveval models fetch` processes at once: one downloads, the other waits for it (saying so)
    and finds the model installed; the server is asked once, and the cache holds the one verified copy."""
    srv = GatedServer()
    try:
        root = tmp_path / "z"
        save_checkpoint(random_model("Gemini_DF_ResNet114"), root / "avg_model.pt")
        data = model_zip(
            {
                "voxceleb_gemini_dfresnet114_LM/avg_model.pt": (root / "avg_model.pt").read_bytes(),
                "voxceleb_gemini_dfresnet114_LM/config.yaml": b"model: Gemini_DFResNet114\n",
            }
        )
        srv.files[pretrained.PRETRAINED[ZIP_NAME].file_name] = data
        env = {**os.environ, "SVEVAL_CACHE_DIR": str(tmp_path / "cache"), "SVEVAL_MODELS_URL": srv.url}
        command = [str(Path(sys.executable).parent / "sveval"), "models", "fetch", ZIP_NAME, "--json"]
        procs = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        errors: list[list[str]] = [[], []]

        def read(index):
            for line in procs[index].stderr:
                errors[index].append(line)
                if line.startswith("sveval: waiting: "):
                    srv.release.set()

        readers = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(2)]
        for reader in readers:
            reader.start()
        # stdout read here, stderr only by the readers: communicate() would read stderr too, racing the
        # readers for the "waiting" line (which then went unseen now and then)
        outputs = [p.stdout.read() for p in procs]
        for p in procs:
            p.wait(timeout=300)
        for reader in readers:
            reader.join(10)
        assert [p.returncode for p in procs] == [0, 0], errors
        assert not any("Traceback" in line for lines in errors for line in lines), errors
        assert [name for name, _ in srv.requests] == [pretrained.PRETRAINED[ZIP_NAME].file_name]
        assert sum(any("waiting: " in line for line in lines) for lines in errors) == 1
        assert cache_listing(tmp_path) == [f"{ZIP_NAME}/{name}" for name in MODEL_FILES]
        folder = tmp_path / "cache" / "models" / ZIP_NAME
        record = json.loads((folder / "sveval-download.json").read_text())
        assert record["download"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert (folder / "avg_model.pt").read_bytes() == (root / "avg_model.pt").read_bytes()
        for output in outputs:
            assert json.loads(output)[0]["path"] == str(folder)
    finally:
        srv.release.set()
        srv.httpd.shutdown()
        srv.httpd.server_close()


def test_a_trial_list_far_longer_than_its_trials_is_cut_off_and_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SVEVAL_CACHE_DIR", str(tmp_path / "cache"))
    srv = Server()
    try:
        entry = catalog.builtin("vox1_O_cleaned")
        limit = entry.trials * catalog.MAX_TRIAL_LINE_BYTES
        srv.files[entry.source] = b"1 id10001/a/00001.wav id10001/a/00002.wav\n" * (limit // 40)
        with pytest.raises(InputError, match=f"runs past {limit:,} bytes") as info:
            catalog.fetch(entry, url_base=srv.url)
        assert "nothing was cached" in str(info.value) and "\n" not in str(info.value)
        assert not catalog.cache_dir().exists() or not any(catalog.cache_dir().iterdir())
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def test_every_published_model_downloads_to_its_own_part_and_lock():
    """One `.part` (and one lock) per model: they are named after the download, so names must differ."""
    names = [m.file_name for m in pretrained.PRETRAINED.values() if m.downloadable]
    assert len(names) == len(set(names))
    for entry in pretrained.PRETRAINED.values():
        assert entry.installed in entry.expected_files
