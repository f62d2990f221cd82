"""Hostile tests of what `score`, `calibrate` and `fuse` do to an output folder: races of real processes, a
file system mounted inside it, a user's files, links and subfolders, inputs named as outputs, stops, reruns
with fewer outputs, and what the record says about where it was written."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import race_out  # noqa: E402


def invoke(*args, cwd=None):
    if cwd is None:
        return CliRunner().invoke(cli, [*map(str, args)])
    here = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, [*map(str, args)])
    finally:
        os.chdir(here)


@pytest.fixture
def inputs(tmp_path):
    """Embeddings and a list (race_out's), plus a cohort so that s-norm and AS-norm run too."""
    args = race_out.make_inputs(tmp_path)
    rng = np.random.default_rng(1)
    ids = [f"c{s}/v/{u}.wav" for s in range(8) for u in range(3)]
    np.savez(tmp_path / "cohort.npz", ids=np.array(ids), vectors=rng.normal(size=(24, 16)))
    return tmp_path, args


def full_args(tmp_path):
    return ["score", "--embeddings", tmp_path / "eval.npz", "--cohort", tmp_path / "cohort.npz",
            "--trials", tmp_path / "t.kaldi", "--top-n", 4, "--cohort-name", "cohort", "--quiet"]  # fmt: skip


# ---- races of real processes ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("writers", [2, 3])
@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "existing-folder"])
def test_races_of_real_runs_into_one_folder_lose_nothing(tmp_path, writers, existing):
    """The old design decided 'existed' before the lock: the loser removed the winner's folder (about one
    try in three). benchmarks/race_out.py runs 100 tries of each."""
    outcome = race_out.race(4, writers, existing, root=tmp_path)
    assert outcome.lost == 0, outcome.problems
    # every run either wrote (a run that starts after another has finished writes too) or was refused
    assert outcome.wrote >= 4 and outcome.wrote + outcome.refused == 4 * writers


# ---- the folder's other contents ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_rerun_leaves_files_folders_and_links_it_did_not_write(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--out", out).exit_code == 0
    race_out.user_files(out)
    outside = tmp_path / "outside.txt"
    outside.write_text("outside\n")
    (out / "into").symlink_to(outside)
    before = race_out.snapshot_user(out)
    result = invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out)
    assert result.exit_code == 0, result.output
    assert race_out.snapshot_user(out) == before and outside.read_text() == "outside\n"
    assert (out / "into").is_symlink()
    assert race_out.check_folder(out) == []
    names = {p.name for p in out.iterdir()}
    assert not any("snorm" in n or "asnorm" in n for n in names)  # the previous run's files went


@pytest.mark.slow
def test_a_file_system_mounted_inside_out_is_never_touched(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--no-plots", "--out", out).exit_code == 0
    mount = out / "volume"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:  # fmt: skip
        mount.rmdir()
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        (mount / "data.txt").write_text("on the volume\n")
        # a file named like an output of this run, on the mounted file system: refused, never replaced
        for args in ((), ("--norm", "cos")):
            result = invoke(*full_args(tmp_path), "--no-plots", *args, "--out", out)
            assert result.exit_code == 0, result.output
            assert (mount / "data.txt").read_text() == "on the volume\n"
            assert os.path.ismount(mount)
        assert not [p for p in tmp_path.iterdir() if ".old-" in p.name or ".new-" in p.name]
        # --out the mount point itself: written there like any folder
        result = invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", mount)
        assert result.exit_code == 0, result.output
        assert race_out.check_folder(mount) == [] and (mount / "data.txt").is_file()
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.slow
def test_a_users_file_under_an_output_name_is_refused_before_anything_changes(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    out.mkdir()
    (out / "t.kaldi.score").write_text("the user's own scores\n")
    result = invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "t.kaldi.score is already there and is a file sveval did not write" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["t.kaldi.score"]
    assert (out / "t.kaldi.score").read_text() == "the user's own scores\n"


def test_a_folder_under_an_output_name_is_refused(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    (out / "results.json").mkdir(parents=True)
    result = invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out)
    assert result.exit_code == 2 and "results.json is already there and is a folder" in result.stderr
    assert [p.name for p in out.iterdir()] == ["results.json"]


# ---- where --out points -------------------------------------------------------------------------------


def test_out_as_a_link_writes_where_it_points_and_stays_a_link(inputs):
    tmp_path, _ = inputs
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    result = invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", tmp_path / "link")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "link").is_symlink() and race_out.check_folder(real) == []


@pytest.mark.parametrize("given", [".", "sub/..", "./"])
def test_out_dot_forms_write_into_that_folder(inputs, given):
    tmp_path, _ = inputs
    here = tmp_path / "here"
    (here / "sub").mkdir(parents=True)
    result = invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", given, cwd=here)
    assert result.exit_code == 0, result.output
    assert race_out.check_folder(here) == [] and (here / "sub").is_dir()


def test_out_that_is_a_file_is_refused(inputs):
    tmp_path, _ = inputs
    result = invoke(*full_args(tmp_path), "--norm", "cos", "--out", tmp_path / "t.kaldi")
    assert result.exit_code == 2 and "Traceback" not in result.output


# ---- inputs are never outputs -------------------------------------------------------------------------


def test_calibrate_refuses_to_write_over_its_own_input(tmp_path):
    rng = np.random.default_rng(0)
    lab = rng.random(200) < 0.3
    lines = "".join(f"e{i % 9} t{i} {2 * x + rng.normal():.5f} {'target' if x else 'nontarget'}\n"
                    for i, x in enumerate(lab))  # fmt: skip
    out = tmp_path / "cal"
    out.mkdir()
    (out / "cali_x.score").write_text(lines)  # e.g. the output of an earlier calibration, given again
    (tmp_path / "x.score").write_text(lines)
    before = (out / "cali_x.score").read_text()
    args = ("--train", out / "cali_x.score", "--apply", tmp_path / "x.score", "--out", out)
    result = invoke("calibrate", *args)
    assert result.exit_code == 2 and "over one of this run's inputs" in result.stderr, result.output
    assert (out / "cali_x.score").read_text() == before


def test_make_calibration_refuses_out_equal_to_its_durations(tmp_path):
    utt2dur = tmp_path / "utt2dur"
    utt2dur.write_text("".join(f"s{i % 5}/v/{i}.wav {1 + i % 7}.0\n" for i in range(60)))
    before = utt2dur.read_text()
    for out in (utt2dur, tmp_path / "." / "utt2dur"):
        result = invoke("trials", "make-calibration", "--utt2dur", utt2dur, "--out", out)
        assert result.exit_code == 2 and "--out is this command's input" in result.stderr, result.output
    assert utt2dur.read_text() == before


@pytest.mark.slow
def test_export_onnx_refuses_out_over_the_checkpoint_or_inside_the_model_folder(tmp_path):
    pytest.importorskip("torch")
    from models_helpers import random_model, save_checkpoint

    checkpoint = save_checkpoint(random_model(seed=1), tmp_path / "model" / "avg_model.pt")
    before = checkpoint.read_bytes()
    for model, out in ((checkpoint, checkpoint), (checkpoint.parent, checkpoint)):
        result = invoke("export-onnx", "--model", model, "--out", out)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert "--out" in result.stderr and str(out) in result.stderr
    assert checkpoint.read_bytes() == before


# ---- stops --------------------------------------------------------------------------------------------

STOP_IN_SCORING = """
import os, signal, sys
import sveval.scoring.run as score_run
SIGNAL = getattr(signal, sys.argv[1])
def stop(*a, **k):
    os.kill(os.getpid(), SIGNAL)
    raise SystemExit("the signal did not stop the run")
score_run.score_lists = stop
from sveval.cli.main import main
sys.argv[1:] = sys.argv[2:]
main()
"""


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_a_stop_in_a_first_model_run_keeps_its_embeddings_and_the_rerun_resumes(tmp_path, stop):
    """The old design removed a new folder on Ctrl-C, embeddings and all (hours of GPU time on Vox2)."""
    pytest.importorskip("torch")
    from models_helpers import random_model, save_checkpoint, write_audio

    checkpoint = save_checkpoint(random_model(seed=1), tmp_path / "model" / "avg_model.pt")
    ids = [f"id{s}/v/{u}.wav" for s in range(2) for u in range(2)]
    for i, utt in enumerate(ids):
        write_audio(tmp_path / "wav" / utt, 0.4, seed=i)
    (tmp_path / "wav.scp").write_text("".join(f"{u} {tmp_path / 'wav' / u}\n" for u in ids))
    (tmp_path / "t.kaldi").write_text(f"{ids[0]} {ids[1]} target\n{ids[0]} {ids[2]} nontarget\n")
    out = tmp_path / "out"
    args = ["score", "--model", str(checkpoint), "--wav-scp", str(tmp_path / "wav.scp"), "--trials",
            str(tmp_path / "t.kaldi"), "--out", str(out), "--device", "cpu", "--num-workers", "0",
            "--quiet"]  # fmt: skip
    stopped = subprocess.run([sys.executable, "-c", STOP_IN_SCORING, stop, *args], capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert stopped.returncode == (130 if stop == "SIGINT" else 143), stopped.stderr
    assert "embeddings extracted so far are kept" in stopped.stderr and "Traceback" not in stopped.stderr
    assert (out / "embeddings" / "wav" / "xvector.scp").is_file() or any(out.glob("embeddings/*/xvector.scp"))
    assert not (out / "results.json").exists() and not list(out.glob(".sveval*"))
    rerun = subprocess.run([sys.executable, "-c", "from sveval.cli.main import main; main()", *args],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert race_out.check_folder(out) == []
    record = json.loads((out / "results.json").read_text())
    folder = record["model"]["embeddings"]["eval"]["folder"]  # relative to the score folder
    assert folder == f"embeddings/{tmp_path.name}" and (out / folder / "xvector.scp").is_file()


def _results_section(report: str) -> str:
    return report.split("## Results")[1].split("\n## ")[0]


# ---- reruns, reports, records -------------------------------------------------------------------------


@pytest.mark.slow
def test_a_rerun_with_fewer_methods_shows_and_validates_only_the_new_run(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--out", out).exit_code == 0
    asnorm = out / "cohort_asnorm4_t.kaldi.score"
    calibrated = invoke("calibrate", "--train", asnorm, "--apply", asnorm, "--out", out)
    assert calibrated.exit_code == 0, calibrated.output
    result = invoke(*full_args(tmp_path), "--mean", "none", "--norm", "cos", "--no-plots", "--out", out)
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "snorm" not in report and "asnorm" not in report and ".det.png" not in report
    shown = invoke("report", out, "--out", tmp_path / "r.md")
    assert shown.exit_code == 0, shown.output
    results = _results_section((tmp_path / "r.md").read_text())
    assert "cosine" in results and "AS-norm" not in results and "calibrated" not in results


def test_calibrated_outputs_of_earlier_scores_are_not_shown_as_current(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--no-plots", "--out", out).exit_code == 0
    asnorm = out / "cohort_asnorm4_t.kaldi.score"
    calibrated = invoke("calibrate", "--train", asnorm, "--apply", asnorm, "--out", out)
    assert calibrated.exit_code == 0, calibrated.output
    assert invoke("report", out, "--out", tmp_path / "a.md").exit_code == 0
    assert "AS-norm (top 4), calibrated" in _results_section((tmp_path / "a.md").read_text())
    # new scores (another mean): the calibration of the earlier ones is stale
    assert invoke(*full_args(tmp_path), "--mean", "none", "--no-plots", "--out", out).exit_code == 0
    assert invoke("report", out, "--out", tmp_path / "b.md").exit_code == 0
    text = (tmp_path / "b.md").read_text()
    assert "made from an earlier `cohort_asnorm4_t.kaldi.score`" in text
    assert "calibrated" not in _results_section(text) and "## Calibration" not in text


@pytest.mark.slow
def test_the_record_names_the_published_folder_and_paths_as_given(inputs):
    tmp_path, _ = inputs
    result = invoke("score", "--embeddings", "eval.npz", "--cohort", "cohort.npz", "--trials", "t.kaldi",
                    "--top-n", 4, "--quiet", "--out", "scores", cwd=tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    out = tmp_path / "scores"
    for name in ("report.md", "results.json"):
        text = (out / name).read_text()
        assert ".sveval-stage" not in text and str(tmp_path) not in text, name
    assert "| folders | `scores` |" in (out / "report.md").read_text()
    record = json.loads((out / "results.json").read_text())
    assert record["lists"][0]["source"] == "t.kaldi"


def test_a_run_that_loses_the_lock_touches_nothing_and_no_lock_file_is_left(inputs):
    from sveval.io.lock import folder_lock

    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out).exit_code == 0
    assert not (out / ".sveval.lock").exists()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with folder_lock(out):
        busy = invoke(*full_args(tmp_path), "--out", out)
        assert busy.exit_code == 2 and "one writer per folder" in busy.stderr
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".sveval.lock"} == before
    fresh = tmp_path / f"new-{uuid.uuid4().hex[:6]}"
    with folder_lock(fresh):  # a live writer in a folder that did not exist: the loser leaves it alone
        busy = invoke(*full_args(tmp_path), "--out", fresh)
        assert busy.exit_code == 2 and fresh.is_dir()
    assert not fresh.exists() or not any(fresh.iterdir())


def test_a_failed_first_run_leaves_no_folder(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "new" / "out"
    result = invoke(*full_args(tmp_path), "--top-n", 99, "--out", out)  # more than the cohort's speakers
    assert result.exit_code == 2
    assert not out.exists()


def test_sigkill_during_publishing_is_detected_by_the_hashes(inputs):
    """Only SIGKILL or a power cut can stop the renames half-way; the record then no longer matches its
    files, and readers say so instead of mixing two runs silently."""
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out).exit_code == 0
    lines = (out / "t.kaldi.score").read_text().splitlines(keepends=True)
    (out / "t.kaldi.score").write_text("".join(lines[:-1]))  # as if another run's file had replaced it
    result = invoke("report", out, "--out", tmp_path / "r.md")
    assert result.exit_code == 0, result.output
    assert "`t.kaldi.score` has changed since sveval wrote it" in (tmp_path / "r.md").read_text()


def test_signals_are_restored_after_a_run(inputs):
    tmp_path, _ = inputs
    assert invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", tmp_path / "o").exit_code == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.slow
def test_validate_checks_what_the_record_lists_and_fails_what_changed(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--no-plots", "--out", out).exit_code == 0
    asnorm = out / "cohort_asnorm4_t.kaldi.score"
    assert invoke("calibrate", "--train", asnorm, "--apply", asnorm, "--out", out).exit_code == 0
    # a rerun with fewer methods: the previous run's AS-norm files are gone, the calibration is stale
    rerun = invoke(*full_args(tmp_path), "--mean", "none", "--norm", "cos,asnorm", "--no-plots", "--out", out)
    assert rerun.exit_code == 0, rerun.output
    checked = invoke("validate", out, "--trials-dir", tmp_path)
    assert checked.exit_code == 1, checked.output
    assert "calibration.json" in checked.output and "made from an earlier" in checked.output
    assert "snorm" not in checked.output.replace("asnorm", "")
    # the calibration redone: everything listed is checked and passes
    assert invoke("calibrate", "--train", asnorm, "--apply", asnorm, "--out", out).exit_code == 0
    passed = invoke("validate", out, "--trials-dir", tmp_path)
    assert passed.exit_code == 0, passed.output
    # a listed file changed behind sveval's back: a failed check, not a silently different number
    lines = (out / "t.kaldi.score").read_text().splitlines(keepends=True)
    (out / "t.kaldi.score").write_text("".join(lines[:-1]))
    changed = invoke("validate", out, "--trials-dir", tmp_path)
    assert changed.exit_code == 1 and "t.kaldi.score" in changed.output and "changed" in changed.output


def test_report_rewriting_the_folders_report_md_does_not_make_it_fail_validation(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out).exit_code == 0
    assert invoke("report", out).exit_code == 0  # writes out/report.md, which the record lists
    checked = invoke("validate", out, "--trials-dir", tmp_path)
    assert checked.exit_code == 0, checked.output
    assert invoke("report", out, "--out", tmp_path / "r.md").exit_code == 0
    assert "changed since" not in (tmp_path / "r.md").read_text()


@pytest.mark.slow
def test_extract_refuses_an_output_over_its_wav_scp(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "emb"
    out.mkdir()
    scp = out / "xvector.scp"
    scp.write_text("u1 /nowhere/u1.wav\n")
    result = invoke("extract", "--model", tmp_path / "m.pt", "--wav-scp", scp, "--out", out)
    assert result.exit_code == 2 and "--out is this command's input" in result.stderr, result.output
    assert scp.read_text() == "u1 /nowhere/u1.wav\n"


def test_a_previous_runs_file_changed_since_is_kept_with_a_warning(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--no-plots", "--out", out).exit_code == 0
    edited = out / "cohort_asnorm4_t.kaldi.score"
    with open(edited, "a") as handle:
        handle.write("# my note\n")  # the user's edit: no longer the file sveval wrote
    result = invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out)
    assert result.exit_code == 0, result.output
    assert edited.read_text().endswith("# my note\n")
    assert f"kept {out / edited.name} of the previous run: it changed since sveval wrote it" in result.stderr
    assert not (out / "cohort_snorm_t.kaldi.score").exists()  # unchanged leftovers go


# ---- a second tester's findings ------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--eval-name", "--cohort-name"])
def test_set_names_that_would_write_outside_out_are_refused(inputs, option):
    tmp_path, _ = inputs
    victim = tmp_path / "victim_cos_result"
    victim.write_text("USERDATA\n")
    for name in (str(tmp_path / "victim"), "../victim", "sub/x", "..", "."):
        result = invoke(*full_args(tmp_path), option, name, "--no-plots", "--out", tmp_path / "o")
        assert result.exit_code == 2 and "must be a plain name" in result.stderr, result.output
        assert "Traceback" not in result.output
    assert victim.read_text() == "USERDATA\n" and not (tmp_path / "o").exists()


def test_default_set_names_of_relative_parent_paths_are_the_folder_names(inputs):
    tmp_path, _ = inputs
    work = tmp_path / "work"
    work.mkdir()
    result = invoke("score", "--embeddings", "../eval.npz", "--trials", "../t.kaldi", "--norm", "cos",
                    "--no-plots", "--quiet", "--out", "o", cwd=work)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (work / "o" / f"{tmp_path.name}_cos_result").is_file()


def test_a_record_naming_files_outside_its_folder_removes_nothing_there(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    args = (*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out)
    assert invoke(*args).exit_code == 0
    precious = tmp_path / "precious.txt"
    precious.write_text("PRECIOUS\n")
    record = json.loads((out / "results.json").read_text())
    entry = {"bytes": 9, "sha256": hashlib.sha256(b"PRECIOUS\n").hexdigest()}
    record["written"].update({"../precious.txt": entry, str(precious): entry})
    (out / "results.json").write_text(json.dumps(record))
    assert invoke(*args).exit_code == 0
    assert precious.read_text() == "PRECIOUS\n"


def test_stage_look_alikes_without_the_mark_and_mounts_are_never_cleaned(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    (out / ".sveval-stage-mydata01").mkdir(parents=True)
    (out / ".sveval-stage-mydata01" / "thesis.txt").write_text("IMPORTANT\n")
    mount = out / ".sveval-stage-backup99"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                             capture_output=True).returncode == 0  # fmt: skip
    try:
        if mounted:
            (mount / "f.txt").write_text("IMPORTANT\n")
            (mount / ".sveval-stage").write_text("1\n")  # even with the mark: another file system
        result = invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out)
        assert result.exit_code == 0, result.output
        assert "left by a killed run" not in result.stderr
        assert (out / ".sveval-stage-mydata01" / "thesis.txt").read_text() == "IMPORTANT\n"
        if mounted:
            assert (mount / "f.txt").read_text() == "IMPORTANT\n"
    finally:
        if mounted:
            subprocess.run(["umount", str(mount)], check=True)


def test_a_listed_file_edited_since_is_not_overwritten(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    args = (*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out)
    assert invoke(*args).exit_code == 0
    (out / "t.kaldi.score").write_text("my hand-made analysis\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = invoke(*args)
    assert result.exit_code == 2 and "t.kaldi.score is already there and is changed since" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_report_never_replaces_a_users_report_or_a_link(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out).exit_code == 0
    assert invoke("report", out).exit_code == 0  # sveval's own report.md: regenerated
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "t.kaldi.score").write_bytes((out / "t.kaldi.score").read_bytes())
    (plain / "report.md").write_text("MYNOTES\n")
    result = invoke("report", plain)
    assert result.exit_code == 2 and "is a file sveval did not write" in result.stderr, result.output
    assert (plain / "report.md").read_text() == "MYNOTES\n"
    (plain / "report.md").unlink()
    (plain / "report.md").symlink_to(tmp_path / "t.kaldi")
    result = invoke("report", plain)
    assert result.exit_code == 2 and "is a link" in result.stderr
    assert (plain / "report.md").is_symlink()


def test_a_stop_while_the_lock_is_taken_leaves_no_lock_file(tmp_path, monkeypatch):
    import sveval.io.lock as lock
    from sveval.io.output_folder import OutputFolder

    write = lock._write_holders

    def stopped_while_writing(fd, holders):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.02)  # the handler would run here if the signal were not held
        write(fd, holders)

    monkeypatch.setattr(lock, "_write_holders", stopped_while_writing)
    with pytest.raises(KeyboardInterrupt):
        with OutputFolder(tmp_path / "new", "results.json"):
            pass
    assert not (tmp_path / "new").exists()


def test_out_that_is_a_file_or_a_broken_link_is_one_line(inputs):
    tmp_path, _ = inputs
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "afile").write_text("")
    for out, what in ((tmp_path / "afile", "this is a file"), (tmp_path / "loop1", "leads nowhere")):
        result = invoke(*full_args(tmp_path), "--norm", "cos", "--out", out)
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
        assert what in result.stderr


def test_a_released_folders_own_results_json_is_not_taken_for_sveval_s_record(inputs):
    """A release may ship a results.json of its own: validate must still check every score file, and a
    run into the folder must not replace that file."""
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out).exit_code == 0
    release = tmp_path / "release"
    release.mkdir()
    for path in (out / "t.kaldi.score", *out.glob("*_cos_result")):
        (release / path.name).write_bytes(path.read_bytes())
    (release / "results.json").write_text('{"EER": 1.23, "files": ["model.pt"]}\n')
    checked = invoke("validate", release, "--trials-dir", tmp_path)
    assert checked.exit_code == 0 and "t.kaldi.score" in checked.output and "metrics" in checked.output
    refused = invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", release)
    assert refused.exit_code == 2 and "a file sveval did not write" in refused.stderr
    assert (release / "results.json").read_text() == '{"EER": 1.23, "files": ["model.pt"]}\n'


# ---- a third tester's findings --------------------------------------------------------------------------


def _calibrate_args(out):
    asnorm = out / "cohort_asnorm4_t.kaldi.score"
    return ("calibrate", "--train", asnorm, "--apply", out / "t.kaldi.score", "--quiet")


def test_another_tools_records_are_not_sveval_s_and_nothing_they_list_is_removed(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--no-plots", "--out", out).exit_code == 0
    foreign = tmp_path / "c1"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("notes\n")
    record = '{"tool": "mine", "model": {"type": "plda"}, "files": ["notes.txt", {"output": "notes.txt"}]}\n'
    (foreign / "calibration.json").write_text(record)
    result = invoke(*_calibrate_args(out), "--out", foreign)
    assert result.exit_code == 2 and "calibration.json is already there" in result.stderr, result.output
    assert (foreign / "notes.txt").is_file() and (foreign / "calibration.json").read_text() == record
    mimic = tmp_path / "r1"
    mimic.mkdir()
    (mimic / "README.txt").write_text("readme\n")
    (mimic / "results.json").write_text('{"schema": "sveval.score/legacy-export", "files": ["README.txt"]}\n')
    result = invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", mimic)
    assert result.exit_code == 2 and (mimic / "README.txt").is_file()


def test_record_entries_without_a_hash_or_naming_housekeeping_remove_nothing(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    args = (*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out)
    assert invoke(*args).exit_code == 0
    assert invoke(*_calibrate_args(out)[:-1], "--out", out).exit_code in (0, 2)  # (scores are cosine here)
    (out / "precious.txt").write_text("PRECIOUS\n")
    record = json.loads((out / "results.json").read_text())
    record["written"].update({"precious.txt": {}, ".sveval.lock": {}, "calibration.json": {}})
    (out / "results.json").write_text(json.dumps(record))
    calibration = (out / "calibration.json").read_text() if (out / "calibration.json").exists() else None
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert (out / "precious.txt").read_text() == "PRECIOUS\n"
    assert "kept" in result.stderr and "precious.txt" in result.stderr
    if calibration is not None:
        assert (out / "calibration.json").read_text() == calibration


def test_a_file_the_other_record_lists_and_a_hand_written_report_are_not_overwritten(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--no-plots", "--out", out).exit_code == 0
    asnorm = out / "cohort_asnorm4_t.kaldi.score"
    assert invoke("calibrate", "--train", asnorm, "--apply", asnorm, "--out", out).exit_code == 0
    cali = out / "cali_cohort_asnorm4_t.kaldi.score"
    with open(cali, "a") as handle:
        handle.write("USER EDIT\n")
    # a score run whose list makes a file of calibrate's name: refused, the edit kept
    shutil.copy(tmp_path / "t.kaldi", tmp_path / "cali_t.kaldi")
    result = invoke(*full_args(tmp_path), "--trials", tmp_path / "cali_t.kaldi", "--no-plots", "--out", out)
    assert "USER EDIT" in cali.read_text()
    (out / "report.md").write_text("# My own notes\n")
    result = invoke(*full_args(tmp_path), "--no-plots", "--out", out)
    assert result.exit_code == 2 and "report.md is already there" in result.stderr
    assert (out / "report.md").read_text() == "# My own notes\n"


@pytest.mark.slow
def test_report_never_writes_over_a_record_or_a_users_image(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    assert invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out).exit_code == 0
    record = (out / "results.json").read_text()
    result = invoke("report", out, "--out", out / "results.md", "--json", "--quiet")
    assert result.exit_code == 2 and "record" in result.stderr
    assert (out / "results.json").read_text() == record
    assert invoke("report", out, "--plots", "--quiet").exit_code == 0
    assert invoke("report", out, "--plots", "--quiet").exit_code == 0  # its own image: redrawn
    (image,) = out.glob("report.*.det.png")
    image.write_text("my image\n")
    result = invoke("report", out, "--plots", "--quiet")
    assert result.exit_code == 2 and image.read_text() == "my image\n"


def test_empty_out_a_dangling_link_and_names_with_spaces_are_refused(inputs):
    tmp_path, _ = inputs
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    for out in ("", tmp_path / "broken"):
        for args in (full_args(tmp_path), _calibrate_args(tmp_path)):
            result = invoke(*args, "--out", out)
            assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert not (tmp_path / "nowhere").exists() and not list(Path.cwd().glob("cali_*"))
    for name in ("a b", "a\nb", " x", "x\t"):
        result = invoke(*full_args(tmp_path), "--cohort-name", name, "--out", tmp_path / "o")
        assert result.exit_code == 2 and "must be a plain name" in result.stderr


@pytest.mark.slow
def test_an_empty_stage_look_alike_goes_and_a_bind_mount_with_a_mark_is_never_entered(inputs):
    tmp_path, _ = inputs
    out = tmp_path / "out"
    (out / ".sveval-stage-emptyone").mkdir(parents=True)  # left by a clean-up cut short: nothing in it
    source = tmp_path / "elsewhere"
    source.mkdir()
    (source / "mine.txt").write_text("mine\n")
    (source / ".sveval-stage").write_text("forged\n")
    bind = out / ".sveval-stage-bindmnt1"
    bind.mkdir()
    bound = subprocess.run(["mount", "--bind", str(source), str(bind)], capture_output=True).returncode == 0
    try:
        result = invoke(*full_args(tmp_path), "--norm", "cos", "--no-plots", "--out", out)
        assert result.exit_code == 0, result.output
        assert not (out / ".sveval-stage-emptyone").exists()
        assert (source / "mine.txt").read_text() == "mine\n"
    finally:
        if bound:
            subprocess.run(["umount", str(bind)], check=True)
