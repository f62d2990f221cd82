"""The committed example reports in reports/ are what the documented commands produce today.

The two regenerations take several seconds each (they are the whole pipelines the reports document).

Volatile parts, handled explicitly: the date is fixed by SOURCE_DATE_EPOCH (as reports/README.md says); the
JSON is compared number by number (to 1e-9: the calibration fit is float64 arithmetic whose BLAS summation
order differs between CPUs by ~1e-16 relative per operation, far below 1e-9 after the fit's few dozen
steps); DET images are regenerated and checked to be PNGs, not compared byte for byte (pixels depend on the
matplotlib and FreeType versions).

Why the text can be compared byte for byte on any x86-64 CPU: every printed number comes from scores as
printed (5 decimals), and those are exact by construction where float32 would not be (AS-norm: fixed-point
cohort products) and float64 elsewhere, where a last-bit difference moves a 5-decimal score with a
probability of about 1e-11. Checked with OpenBLAS's SkylakeX, Haswell and Prescott kernels
(OPENBLAS_CORETYPE); with the earlier float32 AS-norm products the Haswell/Zen kernels changed the demo's
calibration model in the 8th digit.
"""

from __future__ import annotations

import json
import math
import runpy
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REAL_SCORES, SHARED, shared
from sveval.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
EPOCH = {"SOURCE_DATE_EPOCH": "1764115200"}


def same_numbers(a, b, path="$"):
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            same_numbers(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b)):
            same_numbers(x, y, f"{path}[{k}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), path
    else:
        assert a == b, path


def _listed(record: dict) -> dict:
    """A record with the files it lists by name only: their SHA-256 follow the last bits of the scores and
    the PNG encoder, which differ between machines and library versions."""
    if "written" in record:
        record["written"] = sorted(record["written"])
    return record


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A copy of the repository's relative layout: tmp/wt is the working folder, tmp/shared the data."""
    shared(REAL_SCORES / "groundtruth_labels.npy")
    (tmp_path / "shared").symlink_to(SHARED.resolve(), target_is_directory=True)
    work = tmp_path / "wt"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.mark.slow
def test_vggvox_report_regenerates_unchanged(workspace, monkeypatch):
    script = REPO / "reports" / "vggvox" / "make_score_files.py"
    argv = [
        str(script),
        "../shared/data/real_scores/vggvox_gvlad_scores_veri_test",
        "../shared/data/voxceleb/veri_test.txt",
        "reports/vggvox/systems",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(script), run_name="__main__")
    systems = sorted(str(p.relative_to(workspace)) for p in (workspace / "reports/vggvox/systems").iterdir())
    assert len(systems) == 6
    args = ["report", *systems, "--out", "reports/vggvox/report.md"]
    args += ["--meta", "../shared/data/voxceleb/vox1_meta.csv", "--bootstrap", "1000", "--plots", "--json"]
    args += ["--quiet", "--title", "VGG GhostVLAD systems on Vox1-O (original)"]
    result = CliRunner().invoke(cli, args, env=EPOCH)
    assert result.exit_code == 0, result.output
    made, committed = workspace / "reports/vggvox", REPO / "reports/vggvox"
    assert (made / "report.md").read_text() == (committed / "report.md").read_text()
    same_numbers(
        json.loads((made / "report.json").read_text()), json.loads((committed / "report.json").read_text())
    )
    assert (made / "report.vox1_O.det.png").read_bytes()[:4] == b"\x89PNG"
    assert (committed / "report.vox1_O.det.png").is_file()


@pytest.mark.slow
def test_demo_report_regenerates_unchanged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "--out", "reports/demo", "--quiet"], env=EPOCH)
    assert result.exit_code == 0, result.output
    made, committed = tmp_path / "reports/demo/scores", REPO / "reports/demo/scores"
    tracked = sorted(p.name for p in committed.iterdir() if not p.name.endswith(".score"))  # ignored data
    assert tracked == sorted(p.name for p in made.iterdir() if not p.name.endswith(".score"))
    for name in tracked:
        if name.endswith(".png"):
            assert (made / name).read_bytes()[:4] == b"\x89PNG"
        elif name.endswith(".json"):  # results.json, calibration.json, calibration_model.json
            same_numbers(*(_listed(json.loads((d / name).read_text())) for d in (made, committed)))
        else:
            assert (made / name).read_text() == (committed / name).read_text(), name
