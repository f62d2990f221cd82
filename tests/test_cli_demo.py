"""`sveval demo` and what `sveval score` adds to its folder: DET plots, overlays, report.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write
from sveval.cli.main import cli

from sveval.app.demo import input_names
from sveval.io.atomic import write_bytes
from sveval.io.demo_files import npz_bytes
from sveval.io.lock import LOCK_NAME, folder_lock
from sveval.io.results import read_result_file
from sveval.io.trials import write_kaldi_trials
from sveval.synthetic import cohort_ids, embed, vox1_like_trials, vox1_like_utterances

pytestmark = pytest.mark.slow  # each runs the whole demo pipeline (or shares one run)


def invoke(*args, env=None):
    result = CliRunner().invoke(cli, [*map(str, args)], env=env)
    return result.exit_code, result.output


def table_rows(markdown: str) -> dict[str, list[str]]:
    """Method -> cells of the report's results table."""
    rows = {}
    for line in markdown.split("## Results", 1)[1].split("##", 1)[0].splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 2 and cells[0] not in ("System", "---"):
            rows[cells[1]] = cells[2:]
    return rows


def result_numbers(folder, prefix):
    (path,) = folder.glob(f"{prefix}*_result")
    (block,) = read_result_file(path)
    return [f"{block.eer_percent:.3f}", f"{block.min_dcf:.3f}"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One demo run (about 10 s) shared by the tests that read it; they must not change it."""
    tmp_path = tmp_path_factory.mktemp("demo")
    code, out = invoke("demo", "--out", tmp_path / "demo", "--no-plots", "--quiet")
    assert code == 0, out
    return tmp_path, out


def test_demo_runs_offline_and_reports_what_the_result_files_say(demo):
    tmp_path, out = demo
    scores = tmp_path / "demo" / "scores"
    assert out.strip().endswith(f"report: {scores / 'report.md'}")
    assert (tmp_path / "demo/embeddings/synthetic_vox1/embeddings.npz").is_file()
    assert (tmp_path / "demo/trials/synthetic_vox1_O.kaldi").read_text().count("\n") == 37611
    rows = table_rows((scores / "report.md").read_text())
    assert rows["cosine"] == result_numbers(scores, "synthetic_vox1_cos")
    assert rows["S-norm"] == result_numbers(scores, "synthetic_vox1_snorm")
    assert rows["AS-norm (top 300)"] == result_numbers(scores, "synthetic_vox1_asnorm300")
    assert 2 < float(rows["cosine"][0]) < 7 and float(rows["AS-norm (top 300)"][0]) < 0.85 * float(
        rows["cosine"][0]
    )
    assert "| synthetic demo | cosine |" in out  # the table is printed too
    # the calibration step: ranking unchanged by the monotone map, LLR metrics in the report
    assert rows["AS-norm (top 300), calibrated"] == rows["AS-norm (top 300)"]
    calibration = json.loads((scores / "calibration.json").read_text())
    assert calibration["model"]["training"]["n_target"] == 2000
    after = calibration["files"][0]["after"]
    # trained at prior 0.01: the actual DCF there improves, and Cllr is near its minimum
    assert after["dcf"][0]["act_dcf"] < calibration["files"][0]["before"]["dcf"][0]["act_dcf"]
    assert after["cllr"] < after["min_cllr"] + 0.05
    assert f"| {after['dcf'][0]['act_dcf']:.3f} | {after['cllr']:.3f} |" in (scores / "report.md").read_text()
    assert not list(scores.glob("*.png"))
    record = json.loads((scores / "results.json").read_text())
    assert record["command"] == f"sveval demo --out {tmp_path / 'demo'} --no-plots"
    assert record["artifacts"] == {"report": {"markdown": "report.md"}}


def test_the_demo_folder_validates_and_a_tampered_calibrated_figure_fails(demo, tmp_path):
    # sveval's own folder, calibrated file and its `cali_*.result` included, passes every check
    folder = demo[0] / "demo"
    for args in ((), ("--trials-dir", folder / "trials")):
        code, out = invoke("validate", folder, *args, "--json", "--quiet")
        assert code == 0, out
        checks = json.loads(out)["checks"]
        assert not [c for c in checks if c["status"] == "fail"]
    calibrated = [c for c in checks if c["file"].startswith("cali_")]
    assert {c["name"] for c in calibrated if c["status"] == "pass"} == {
        "parse", "finite", "trials", "coverage", "labels", "result", "result-file", "metrics"
    }  # fmt: skip
    (result,) = folder.glob("scores/cali_*.result")
    assert "actDCF" in next(
        c["message"] for c in checks if c["file"] == result.name and c["name"] == "metrics"
    )
    # each printed figure is checked: the EER block line and the LLR-only Cllr line
    text = result.read_text()
    for line_start, needle in (("EER = ", "EER printed"), ("Cllr = ", "Cllr printed")):
        copy = tmp_path / line_start.strip(" =")
        shutil.copytree(folder / "scores", copy)
        lines = text.splitlines(keepends=True)
        k = next(i for i, line in enumerate(lines) if line.startswith(line_start))
        number = re.search(r"= (\d+\.\d+)", lines[k]).group(1)
        lines[k] = lines[k].replace(number, f"{float(number) + 0.002:.3f}", 1)
        (copy / result.name).write_text("".join(lines))
        code, out = invoke("validate", copy, "--trials-dir", folder / "trials", "--quiet")
        assert code == 1, out  # sveval's own folder: the record's SHA-256 no longer matches
        failed = [line for line in out.splitlines() if line.startswith("FAIL")]
        assert any(result.name in line and "changed" in line for line in failed), out
        assert all(result.name.removesuffix(".result") in line for line in failed), out  # nothing else
        for record in ("results.json", "calibration.json"):  # as a folder from elsewhere: figures recomputed
            (copy / record).unlink()
        code, out = invoke("validate", copy, "--trials-dir", folder / "trials", "--quiet")
        assert code == 1, out
        failed = [line for line in out.splitlines() if line.startswith("FAIL")]
        assert len(failed) == 1 and result.name in failed[0] and needle in failed[0], out


def test_demo_with_a_given_list_makes_embeddings_for_its_utterances(tmp_path):
    lines = [
        "1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav",
        "0 id10270/x6uYqmx31kE/00001.wav id10300/ize_eiCFEg0/00003.wav",
        "1 id10300/ize_eiCFEg0/00003.wav id10300/Zz0aXbwCAqY/00002.wav",
        "0 id10300/Zz0aXbwCAqY/00002.wav id10270/8jEAjG6SegY/00008.wav",
    ]
    trials = write(tmp_path / "mini.txt", "\n".join(lines) + "\n")
    code, out = invoke("demo", "--out", tmp_path / "d", "--trials", trials, "--no-plots", "--quiet")
    assert code == 0, out
    assert (tmp_path / "d/scores/mini.txt.score").read_text().count("\n") == 4
    assert not (tmp_path / "d/trials").exists()


def small_experiment(tmp_path):
    utts = vox1_like_utterances(n_speakers=6, n_utterances=90, seed=1)
    trials = vox1_like_trials(utts, n_target=150, n_nontarget=150, seed=1)
    vectors = embed(np.concatenate([utts, cohort_ids(120, 2)]), seed=1)
    write_bytes(tmp_path / "eval.npz", npz_bytes(type(vectors)(vectors.ids[:90], vectors.vectors[:90])))
    write_bytes(tmp_path / "coh" / "e.npz", npz_bytes(type(vectors)(vectors.ids[90:], vectors.vectors[90:])))
    write_kaldi_trials(tmp_path / "list.kaldi", trials)
    return ["score", "--embeddings", tmp_path / "eval.npz", "--cohort", tmp_path / "coh/e.npz"] + [
        "--trials",
        tmp_path / "list.kaldi",
        "--top-n",
        "50",
        "--eval-name",
        "vox1",
        "--quiet",
    ]


def test_score_writes_plots_overlay_and_report(tmp_path):
    args = small_experiment(tmp_path)
    code, out = invoke(*args, "--out", tmp_path / "scores", env={"SOURCE_DATE_EPOCH": "1735689600"})
    assert code == 0, out
    folder = tmp_path / "scores"
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert pngs == [
        "coh_asnorm50_list.kaldi.det.png",
        "coh_snorm_list.kaldi.det.png",
        "list.kaldi.det.png",
        "list.kaldi.overlay.det.png",
    ]
    record = json.loads((folder / "results.json").read_text())
    assert record["date"] == "2025-01-01T00:00:00Z"
    assert record["artifacts"]["det_plots"]["list.kaldi.score"] == "list.kaldi.det.png"
    assert record["artifacts"]["det_plots"]["list.kaldi"] == "list.kaldi.overlay.det.png"
    report = (folder / "report.md").read_text()
    assert "on 2025-01-01T00:00:00Z" in report and "](list.kaldi.overlay.det.png)" in report
    rows = table_rows(report)
    assert rows["cosine"] == result_numbers(folder, "vox1_cos")
    assert rows["AS-norm (top 50)"] == result_numbers(folder, "vox1_asnorm50")
    assert re.search(r"\| cohort \| coh \(120 speakers, 240 utterances\) \|", report)
    assert f"report: {folder / 'report.md'}" in out


def test_score_no_plots_still_writes_the_report(tmp_path):
    code, out = invoke(*small_experiment(tmp_path), "--out", tmp_path / "s", "--no-plots")
    assert code == 0, out
    assert not list((tmp_path / "s").glob("*.png")) and (tmp_path / "s" / "report.md").is_file()


def test_score_of_an_unlabelled_list_writes_a_report_without_metrics(tmp_path):
    args = small_experiment(tmp_path)
    text = (tmp_path / "list.kaldi").read_text().splitlines()
    write(tmp_path / "bare.txt", "".join(" ".join(line.split()[:2]) + "\n" for line in text))
    args[args.index(tmp_path / "list.kaldi")] = tmp_path / "bare.txt"
    code, out = invoke(*args, "--out", tmp_path / "u", "--norm", "cos")
    assert code == 0, out
    report = (tmp_path / "u" / "report.md").read_text()
    assert "`bare.txt.score` has no label column" in report and not list((tmp_path / "u").glob("*.png"))


def test_score_plots_in_wespeaker_mode_agree_with_its_result_files(tmp_path):
    # write_run_plots raises if a curve's EER/minDCF differ from the run's (printed-score) metrics
    code, out = invoke(*small_experiment(tmp_path), "--out", tmp_path / "w", "--compat", "wespeaker")
    assert code == 0, out
    assert len(list((tmp_path / "w").glob("*.det.png"))) == 4


@pytest.mark.parametrize("earlier", [False, True])
def test_a_stopped_demo_says_its_folder_is_incomplete(tmp_path, monkeypatch, earlier):
    """The demo writes in place (it reads its inputs back): a stop half-way must not pass for a whole run."""
    import sveval.app.demo as demo_calibration

    out = tmp_path / "d"
    if earlier:
        out.mkdir()
        (out / "from-an-earlier-run").write_text("")

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_calibration, "calibrate_demo", stopped)
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--quiet", "--no-plots"])
    mixed = " (this run's files beside an earlier run's)" if earlier else ""
    assert (result.exit_code, result.stderr) == (
        130,
        f"sveval: interrupted: {out} is incomplete{mixed}; run the same command again\n",
    )


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with its bytes (None for a folder, the target for a link)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = os.readlink(path).encode()
        else:
            found[key] = path.read_bytes() if path.is_file() else None
    return found


@pytest.mark.parametrize("name", sorted(input_names().values()))
def test_a_users_file_where_the_demo_writes_an_input_is_refused_and_nothing_changes(tmp_path, name):
    """The demo writes its inputs under --out: over a file of an earlier demo, unchanged since, and over
    nothing else (a user's trial list, embeddings or calibration list is left byte-identical)."""
    out = tmp_path / "d"
    write(out / name, "mine\n")
    before = tree(out)
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--quiet", "--no-plots"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"sveval: error: {out / name}: {name} is already there and is a file sveval did not write (not "
        "listed in .sveval-demo.json): sveval replaces only files it wrote; move it away or write elsewhere "
        "(--out). Nothing was changed\n"
    )
    assert tree(out) == before


def test_a_link_or_a_foreign_record_where_the_demo_writes_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "d"
    out.mkdir()
    (out / "trials").symlink_to(elsewhere)  # the demo would write into the user's folder
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--quiet", "--no-plots"])
    assert result.exit_code == 2
    assert f"{out / 'trials'}: trials is already there and is a link" in result.stderr
    assert list(elsewhere.iterdir()) == [] and sorted(p.name for p in out.iterdir()) == ["trials"]
    (out / "trials").unlink()
    write(out / ".sveval-demo.json", '{"mine": 1}\n')  # not the demo's record: it would be written over
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--quiet", "--no-plots"])
    assert result.exit_code == 2
    assert ".sveval-demo.json is already there and is a file sveval did not write" in result.stderr
    assert tree(out) == {".sveval-demo.json": b'{"mine": 1}\n'}


def test_a_rerun_with_another_seed_replaces_the_demos_own_files_and_refuses_an_edited_one(tmp_path):
    out = tmp_path / "d"
    trials = out / "trials" / "synthetic_vox1_O.kaldi"
    code, text = invoke("demo", "--out", out, "--seed", "1", "--no-plots", "--quiet")
    assert code == 0, text
    first = trials.read_bytes()
    code, text = invoke("demo", "--out", out, "--no-plots", "--quiet")  # seed 0: every input is new
    assert code == 0, text
    assert trials.read_bytes() != first
    code, text = invoke("validate", out / "scores", "--trials-dir", out / "trials", "--quiet")
    assert code == 0, text
    record = json.loads((out / ".sveval-demo.json").read_text())
    assert sorted(record["written"]) == sorted(input_names().values())
    before = tree(out)
    listed = out / "calibration" / "synthetic_vox2_cali.kaldi"  # a demo's file, but this run's input
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--trials", str(listed), "--quiet"])
    assert result.exit_code == 2, result.output
    assert f"is this command's input {listed}: it would be overwritten" in result.stderr
    assert tree(out) == before
    trials.write_bytes(trials.read_bytes() + b"1 a b\n")  # the user edits the demo's list
    before = tree(out)
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--quiet", "--no-plots"])
    assert result.exit_code == 2, result.output
    edited = "trials/synthetic_vox1_O.kaldi is already there and is changed since sveval wrote it"
    assert edited in result.stderr
    assert tree(out) == before


@pytest.mark.parametrize("held", [".", "scores"])
def test_a_demo_into_a_folder_another_run_holds_exits_2_touching_nothing(tmp_path, held):
    """Another demo (or `score --out OUT`) holds OUT; a `score --out OUT/scores` holds its scores folder."""
    out = tmp_path / "d"
    (out / held).mkdir(parents=True, exist_ok=True)
    before = tree(out)
    with folder_lock(out / held):
        result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--quiet", "--no-plots"])
        during = {k: v for k, v in tree(out).items() if Path(k).name != LOCK_NAME}
    assert result.exit_code == 2, result.output
    assert f"output folder {out / held} is being written by process" in result.stderr
    assert during == before


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
def test_two_demos_into_one_folder_leave_the_first_ones_consistent_folder(tmp_path):
    """The tester's race: a second demo (another seed) started while the first runs exits 2 without
    rewriting the first one's trial list or embeddings, so the finished folder validates."""
    sveval = shutil.which("sveval", path=str(Path(sys.executable).parent)) or shutil.which("sveval")
    if sveval is None:
        pytest.skip("sveval console script not found")
    out = tmp_path / "d"
    command = [sveval, "demo", "--out", str(out), "--no-plots", "--quiet"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        lock = out / LOCK_NAME
        while not (lock.exists() and f'"pid": {first.pid},' in lock.read_text()):  # it holds the lock
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.005)
        os.kill(first.pid, signal.SIGSTOP)  # hold it mid-run, so the second surely meets it
        before = tree(out)
        second = subprocess.run([*command, "--seed", "1"], capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"output folder {out} is being written by process {first.pid}" in second.stderr
        assert tree(out) == before
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    code, text = invoke("validate", out / "scores", "--trials-dir", out / "trials", "--quiet")
    assert code == 0, text
