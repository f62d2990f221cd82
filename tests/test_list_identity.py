"""A list is named by its content everywhere a person reads its name; a killed run's leftovers are cleared.

A list saved under the Vox1-H source file name (`list_test_hard2.txt`) but holding a few thousand trials is no
Vox1-H: the score table, results.json, signatures, DET plot titles, reports and `metrics --json` call it
`list_test_hard2` (custom). Score-file names keep WeSpeaker's `<trial file name>.score` (validate and users'
scripts find files by it), so result-file headers, which name score files, keep it too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sveval.cli.main import cli
from test_cli_score import exp  # noqa: F401 (the fixture)

from sveval.io.lock import folder_lock
from sveval.io.results import read_result_file

BUILTIN_NAMES = ("Vox1-H", "vox1_H", "vox1_h")


def _fake_hard_list(exp_root: Path) -> Path:
    """Every pair of the fixture's 60 utterances in both orders (3,540 trials) as list_test_hard2.txt."""
    ids = sorted({w for line in (exp_root / "mine.kaldi").read_text().split("\n") for w in line.split()[:2]})
    assert len(ids) == 60
    lines = []
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            label = "target" if a[:7] == b[:7] else "nontarget"
            lines += [f"{a} {b} {label}\n", f"{b} {a} {label}\n"]
    path = exp_root / "list_test_hard2.txt"
    path.write_text("".join(lines))
    return path


def _record_titles(monkeypatch):
    """DET plots are drawn in forked workers: record each title as the image's content instead."""
    import sveval.scoring.outputs as score_outputs

    def write(curves, path, title=None):
        Path(path).write_text(f"title: {title}\nlegend: {[c.label for c in curves]}\n")
        return Path(path)

    monkeypatch.setattr(score_outputs, "write_det_plot", write)


def test_a_builtin_list_under_a_name_of_its_own_is_named_by_its_content(tmp_path):
    """Found by a tester: score files of Vox1-O named after their systems were each shown as a custom list
    of their own, though their fingerprint is vox1_O_cleaned's. A list is known by its content."""
    from conftest import VOXCELEB, shared

    lines = shared(VOXCELEB / "veri_test2.txt").read_text().split("\n")
    rows = [line.split() for line in lines if line.strip()]
    text = "".join(
        f"{e} {t} {0.5 * int(lab) + i % 7 / 10:.5f} {('nontarget', 'target')[int(lab)]}\n"
        for i, (lab, e, t) in enumerate(rows)
    )
    for name in ("gvlad_softmax.score", "other_system.kaldi.score"):
        (tmp_path / "sys" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "sys" / name).write_text(text)
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "sys"), "--quiet"])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "sys" / "report.md").read_text()
    assert "| System | Method | Vox1-O EER | Vox1-O MinDCF |" in report and "(custom)" not in report


def test_a_custom_list_under_a_builtin_file_name_is_named_by_its_stem(exp, tmp_path, monkeypatch):  # noqa: F811
    trials = _fake_hard_list(exp)
    _record_titles(monkeypatch)
    out = exp / "exp" / "scores"
    result = CliRunner().invoke(
        cli, ["score", "--quiet", "--exp-dir", str(exp / "exp"), "--trials", str(trials), "--top-n", "10"]
    )
    assert result.exit_code == 0, result.output
    table = [line.split("  ")[0] for line in result.stdout.splitlines()[1:4]]
    assert table == ["list_test_hard2 (custom)"] * 3  # cos, snorm, asnorm rows

    doc = json.loads((out / "results.json").read_text())
    (entry,) = doc["lists"]
    assert (entry["name"], entry["custom"], entry["builtin"], entry["n_trials"]) == (
        "list_test_hard2",
        True,
        None,
        3540,
    )
    for method in entry["methods"].values():
        assert "|trials:list_test_hard2(custom)@" in method["signature"]

    titles = {p.name: p.read_text() for p in out.glob("*.det.png")}
    assert titles["list_test_hard2.txt.det.png"].startswith("title: list_test_hard2 (custom): cosine\n")
    assert titles["list_test_hard2.txt.overlay.det.png"].startswith(
        "title: list_test_hard2 (custom): 3 methods"
    )

    # score files keep WeSpeaker's layout rule (<trial file name>.score) and result blocks name those files
    assert [b.score_file for b in read_result_file(out / "vox1_cos_result")] == ["list_test_hard2.txt.score"]

    metrics = CliRunner().invoke(
        cli, ["metrics", "--json", "--trials", str(trials), str(out / "list_test_hard2.txt.score")]
    )
    assert metrics.exit_code == 0, metrics.output
    (report,) = json.loads(metrics.stdout)
    assert report["trials"]["name"] == "list_test_hard2" and report["trials"]["custom"] is True
    assert "|trials:list_test_hard2(custom)@" in report["signature"]

    info = CliRunner().invoke(cli, ["trials", "info", str(trials), "--json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["name"] == "list_test_hard2" and json.loads(info.stdout)["custom"] is True

    report_md = tmp_path / "r.md"
    made = CliRunner().invoke(cli, ["report", str(out), "--out", str(report_md)])
    assert made.exit_code == 0, made.output
    assert "| list_test_hard2 (custom) |" in report_md.read_text()

    said = [
        result.output,
        json.dumps(doc),
        *titles.values(),
        metrics.output,
        info.output,
        made.output,
        report_md.read_text(),
    ]
    said.append((out / "report.md").read_text())
    for text in said:
        assert not any(name in text for name in BUILTIN_NAMES), text


def _run_files(folder: Path) -> dict[str, bytes]:
    """The run's files (a lock file left by a killed run names its holder and is left aside)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != ".sveval.lock"}


KILL_DURING_REPORT = """
import os, signal, sys
import sveval.scoring.outputs as score_outputs
score_outputs.finish_score_folder = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
from sveval.cli.main import cli
cli(sys.argv[1:])
"""


@pytest.mark.slow
def test_a_killed_runs_stage_is_removed_by_the_next_run_under_the_lock(exp, tmp_path):  # noqa: F811
    args = [
        "score",
        "--quiet",
        "--exp-dir",
        str(exp / "exp"),
        "--trials",
        str(exp / "mine.kaldi"),
        "--norm",
        "cos",
    ]
    scores = exp / "exp" / "scores"
    assert CliRunner().invoke(cli, [*args, "--no-plots"]).exit_code == 0
    before = _run_files(scores)
    assert not (scores / ".sveval.lock").exists()  # a finished run leaves no lock file

    # (a timeout: workers left behind by the killed run would hold its stderr open and hang the test)
    killed = subprocess.run(
        [sys.executable, "-c", KILL_DURING_REPORT, *args], capture_output=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (stage,) = [p for p in scores.iterdir() if p.name.startswith(".sveval-stage-")]
    assert (stage / "mine.kaldi.score").is_file()  # the killed run had written its scores into its stage
    assert _run_files(scores) == before  # the previous run stands

    # look-alikes that no run made: left alone, and a link is never followed
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep\n")
    (scores / ".sveval-stage-decoy").write_text("a file\n")
    (scores / ".sveval-stage-linked0").symlink_to(outside)

    with folder_lock(scores):  # a live writer holds the folder: the next run refuses and touches nothing
        busy = CliRunner().invoke(cli, args)
        assert busy.exit_code == 2 and stage.is_dir()

    rerun = CliRunner().invoke(cli, args)
    assert rerun.exit_code == 0, rerun.output
    assert f"sveval: removed {scores / stage.name}, left by a killed run\n" in rerun.stderr
    assert sorted(p.name for p in scores.iterdir() if p.name.startswith(".")) == [
        ".sveval-stage-decoy",
        ".sveval-stage-linked0",
    ]
    assert (outside / "precious.txt").read_text() == "keep\n"
    assert os.path.isfile(scores / "mine.kaldi.score")
