"""Shared fixtures: where the read-only project data lives, and helpers to write small files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

# The read-only data lives beside the repository (../shared), never inside it; every test finds it here.
SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_DATA = SHARED / "data"
VOXCELEB = SHARED_DATA / "voxceleb"
REAL_SCORES = SHARED_DATA / "real_scores" / "vggvox_gvlad_scores_veri_test"


def shared(path: Path) -> Path:
    """`path` (under SHARED), or skip the calling test where the shared data is not there (a bare clone)."""
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


def pytest_sessionstart(session):
    """sveval's modules compiled to bytecode once, as an installed package has them: hundreds of tests run
    sveval in a fresh process, and where PYTHONDONTWRITEBYTECODE is set (containers, CI) each of those
    compiled every module it imported again (0.05-0.1 s of CPU a process). compileall writes the files
    whatever that variable says; they go to __pycache__, which git ignores."""
    import compileall  # noqa: PLC0415
    import signal  # noqa: PLC0415

    root = Path(__file__).resolve().parents[1]
    for package in ("sveval", "cli", "trials"):
        compileall.compile_dir(root / package, quiet=1)
    # A suite started as a background job of a non-interactive shell (`bash .ci/run &`, some batch
    # systems) inherits SIGINT ignored, and Python then installs no Ctrl-C handler: the tests of stops
    # expect the interpreter's usual one (sveval's commands install their own either way).
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# A module whose every test is slow says so in a line of its own; see pytest_ignore_collect.
SLOW_MODULE = re.compile(r"^pytestmark = pytest\.mark\.slow\b", re.MULTILINE)


def pytest_ignore_collect(collection_path: Path, config):
    """When slow tests are deselected (`pytest -m "not slow"`), a module marked slow as a whole is not even
    imported: those are the model and extraction tests, and importing torch and onnx for them was most of
    the collection time. (None: pytest's usual rules decide.)"""
    markexpr = config.getoption("markexpr")
    if not markexpr or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    from _pytest.mark.expression import Expression  # noqa: PLC0415 (what -m itself evaluates)

    if Expression.compile(markexpr).evaluate(lambda name, **_: name == "slow"):
        return None  # a test marked slow (and nothing else) would run
    return True if SLOW_MODULE.search(collection_path.read_text()) else None


@pytest.fixture
def voxceleb_dir() -> Path:
    shared(VOXCELEB / "veri_test2.txt")
    return VOXCELEB


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's real cache or trial folder from a test."""
    monkeypatch.setenv("SVEVAL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("SVEVAL_TRIALS_DIR", raising=False)
    monkeypatch.delenv("SVEVAL_TRIALS_URL", raising=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random-weight DF-ResNet checkpoint in WeSpeaker's layout, one per test module (needs torch)."""
    from models_helpers import random_model, save_checkpoint

    return save_checkpoint(random_model(), tmp_path_factory.mktemp("model") / "avg_model.pt")


@pytest.fixture(scope="module")
def loaded(checkpoint):
    """`checkpoint` loaded (sveval.models.checkpoint.LoadedModel)."""
    from sveval.models.checkpoint import load_model

    return load_model(checkpoint)


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A loopback download server (tests/download_server.py) that SVEVAL_MODELS_URL points at, with an
    empty model cache."""
    from download_server import Server

    monkeypatch.setenv("SVEVAL_CACHE_DIR", str(tmp_path / "cache"))
    srv = Server()
    monkeypatch.setenv("SVEVAL_MODELS_URL", srv.url)
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
