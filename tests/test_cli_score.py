"""`sveval score` end to end: WeSpeaker layout in, WeSpeaker scores/ folder out, bad input refused."""

from __future__ import annotations

import json

import kaldiio
import numpy as np
import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

from sveval.io.results import read_result_file
from sveval.io.score_folder import det_plot_name, read_run_record, write_run_record, write_score_folder
from sveval.io.scores import read_score_file
from sveval.io.trials import read_trials
from sveval.metrics import detection as metrics
from sveval.record import SCHEMA, CohortSet


def write_set(root, ids, vectors):
    root.mkdir(parents=True, exist_ok=True)
    with kaldiio.WriteHelper(f"ark,scp:{root}/xvector.ark,{root}/xvector.scp") as writer:
        for key, vec in zip(ids, vectors):
            writer(key, vec)


@pytest.fixture
def exp(tmp_path):
    """exp/embeddings/{vox1,vox2_dev}/xvector.scp and a labelled + an unlabelled trial list."""
    rng = np.random.default_rng(7)
    ids = [f"id1{s:04d}/v/{u:05d}.wav" for s in range(10) for u in range(6)]
    centres = rng.standard_normal((10, 16)) * 1.5
    vectors = (centres.repeat(6, 0) + rng.standard_normal((60, 16)) + 0.5).astype(np.float32)
    write_set(tmp_path / "exp" / "embeddings" / "vox1", ids, vectors)
    c_ids = [f"id0{s:04d}/c/{u:05d}.wav" for s in range(30) for u in range(2)]
    write_set(
        tmp_path / "exp" / "embeddings" / "vox2_dev",
        c_ids,
        (rng.standard_normal((60, 16)) + 0.5).astype(np.float32),
    )
    pairs = [(ids[i], ids[j]) for i in range(60) for j in range(i + 1, 60) if (i * 7 + j) % 5 == 0]
    lines = [f"{a} {b} {'target' if a[:7] == b[:7] else 'nontarget'}" for a, b in pairs]
    (tmp_path / "mine.kaldi").write_text("\n".join(lines) + "\n")
    (tmp_path / "blind.txt").write_text("".join(f"{a} {b}\n" for a, b in pairs[:50]))
    return tmp_path


def _record_json(folder):
    """results.json of a folder as JSON: what the tests check is the file users read."""
    return json.loads((folder / "results.json").read_text())


def run(*args):
    result = CliRunner().invoke(cli, ["score", "--quiet", *map(str, args)])
    return result.exit_code, result.output


@pytest.mark.slow
def test_exp_dir_writes_the_wespeaker_folder(exp):
    code, out = run("--exp-dir", exp / "exp", "--trials", exp / "mine.kaldi", "--top-n", 10)
    assert code == 0, out
    scores = exp / "exp" / "scores"
    names = {p.name for p in scores.iterdir() if p.name != ".sveval.lock"}  # the one-writer lock file
    assert names == {
        "mine.kaldi.score",
        "vox2_dev_snorm_mine.kaldi.score",
        "vox2_dev_asnorm10_mine.kaldi.score",
        "vox1_cos_result",
        "vox1_snorm10_result",
        "vox1_asnorm10_result",
        "results.json",
        # added after the scores (sveval.scoring.outputs): DET plots, the methods' overlay, the report
        "mine.kaldi.det.png",
        "vox2_dev_snorm_mine.kaldi.det.png",
        "vox2_dev_asnorm10_mine.kaldi.det.png",
        "mine.kaldi.overlay.det.png",
        "report.md",
    }
    trials = read_trials(exp / "mine.kaldi")
    record = read_run_record(scores)
    assert record.schema == SCHEMA and record.compat == "exact"
    assert record.cohort == CohortSet(name="vox2_dev", utterances=60, speakers=30)
    assert record.eval.name == "vox1" and record.mean == "cohort"
    doc = json.loads((scores / "results.json").read_text())
    for method, result_file in (("cos", "vox1_cos_result"), ("asnorm", "vox1_asnorm10_result")):
        entry = doc["lists"][0]["methods"][method]
        sf = read_score_file(scores / entry["score_file"])
        assert (
            sf.enroll.tolist() == trials.enroll.tolist() and sf.labels.tolist() == trials.is_target.tolist()
        )
        assert (sf.extra is None) == (method == "cos")
        # metrics recomputed independently from the written file (5-decimal scores) agree to the print
        m = metrics.evaluate(sf.values, sf.labels)
        (block,) = read_result_file(scores / result_file)
        assert block.score_file == entry["score_file"]
        assert f"{block.eer_percent:.3f}" == f"{100 * m.eer:.3f}" == f"{entry['eer']:.3f}"
        assert f"{block.min_dcf:.3f}" == f"{m.min_dcf:.3f}"
        # metrics come from the printed scores: recomputing them from the file gives the same numbers exactly
        assert entry["eer"] == 100 * m.eer and entry["min_dcf"] == m.min_dcf
        assert entry["n_target"] == trials.n_target and entry["n_nontarget"] == trials.n_nontarget
        assert ("top-n:10" in entry["signature"]) == (method == "asnorm")
        assert f"trials:mine(custom)@{trials.short_fingerprint}" in entry["signature"]
    assert "asnorm10" in out and "EER" in out


@pytest.mark.slow
def test_rerun_rewrites_result_files_and_folder_takes_artifacts(exp):
    args = ("--exp-dir", exp / "exp", "--trials", exp / "mine.kaldi", "--norm", "cos")
    assert run(*args)[0] == 0
    assert run(*args)[0] == 0
    assert len(read_result_file(exp / "exp" / "scores" / "vox1_cos_result")) == 1  # rewritten, not appended
    name = det_plot_name("mine.kaldi.score")
    assert name == "mine.kaldi.det.png"
    scores = exp / "exp" / "scores"
    text = (scores / "results.json").read_text()
    record = read_run_record(scores)
    assert record.artifacts["det_plots"] == {"mine.kaldi.score": name}  # recorded by the run itself
    assert record.artifacts["report"] == {"markdown": "report.md"}
    # the one reader and the one writer agree: a record read and written again is the same bytes
    write_run_record(scores, record)
    assert (scores / "results.json").read_text() == text


@pytest.mark.slow
def test_explicit_paths_unlabelled_list_and_wespeaker_compat(exp, tmp_path):
    emb = exp / "exp" / "embeddings"
    out = tmp_path / "out"
    code, text = run(
        "--embeddings", emb / "vox1" / "xvector.scp", "--cohort", emb / "vox2_dev",
        "--cohort-name", "cohortX", "--eval-name", "evalY",
        "--trials", exp / "mine.kaldi", "--trials", exp / "blind.txt",
        "--norm", "cos,asnorm", "--top-n", 5, "--compat", "wespeaker", "--out", out,
    )  # fmt: skip
    assert code == 0, text
    assert "blind (custom): unlabelled, scores written, metrics skipped" in text
    assert (out / "cohortX_asnorm5_blind.txt.score").is_file() and (out / "evalY_asnorm5_result").is_file()
    assert len((out / "blind.txt.score").read_text().splitlines()[0].split()) == 3
    assert len((out / "cohortX_asnorm5_blind.txt.score").read_text().splitlines()[0].split()) == 3
    doc = json.loads((out / "results.json").read_text())
    assert doc["compat"] == "wespeaker" and "float32" in doc["precision"]
    assert "skipped" in doc["lists"][1]["methods"]["cos"]["metrics"]
    entry = doc["lists"][0]["methods"]["asnorm"]
    sf = read_score_file(out / entry["score_file"])
    m = metrics.evaluate(sf.values, sf.labels, sweep="wespeaker")
    assert (
        "sweep:wespeaker" in entry["signature"]
        and entry["eer"] == 100 * m.eer
        and entry["min_dcf"] == m.min_dcf
    )
    assert len(read_result_file(out / "evalY_cos_result")) == 1  # the unlabelled list has no block


@pytest.mark.slow
def test_missing_utterances(exp, tmp_path):
    trials = exp / "extra.kaldi"
    trials.write_text(
        (exp / "mine.kaldi").read_text() + "id19999/v/00000.wav id10000/v/00000.wav nontarget\n"
    )
    code, text = run("--exp-dir", exp / "exp", "--trials", trials, "--norm", "cos")
    assert (
        code == 2 and "1 trial(s) name 1 utterance(s) without an embedding, e.g. id19999/v/00000.wav" in text
    )
    code, text = run("--exp-dir", exp / "exp", "--trials", trials, "--norm", "cos", "--allow-missing")
    assert code == 0 and "dropped 1 trial(s) of extra (custom)" in text
    entry = _record_json(exp / "exp" / "scores")["lists"][0]
    assert entry["n_dropped"] == 1 and entry["missing_utterances"] == ["id19999/v/00000.wav"]
    # the report's results table marks numbers computed on fewer trials than the list has
    m = read_result_file(exp / "exp" / "scores" / "vox1_cos_result")[0]
    assert (
        f"| {m.eer_percent:.3f} (1 dropped) | {m.min_dcf:.3f} |"
        in (exp / "exp" / "scores" / "report.md").read_text()
    )


def test_bad_input_exits_2_before_any_work(exp, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, text = run("--exp-dir", exp / "exp", "--trials", exp / "mine.kaldi", "--out", blocker / "sub")
    assert code == 2 and "output folder is not writable" in text
    code, text = run("--exp-dir", exp / "exp", "--trials", exp / "mine.kaldi", "--top-n", 31)
    assert code == 2 and "--top-n 31 is larger than the cohort (30 speakers in vox2_dev)" in text
    np.save(tmp_path / "mean.npy", np.zeros(3))
    code, text = run(
        "--exp-dir", exp / "exp", "--trials", exp / "mine.kaldi", "--mean", tmp_path / "mean.npy"
    )
    assert code == 2 and "mean vector has shape (3,), expected (16,)" in text
    code, text = run("--embeddings", exp / "exp" / "embeddings" / "vox1", "--trials", exp / "mine.kaldi")
    assert code == 2 and "pass --out DIR" in text
    code, text = run("--exp-dir", exp / "exp", "--trials", "no_such_list")
    assert code == 2 and "no such trial list" in text


@pytest.mark.slow
def test_cohort_precision_float64(exp):
    args = ("--exp-dir", exp / "exp", "--trials", exp / "mine.kaldi", "--top-n", 10)
    assert run(*args, "--cohort-precision", "float64")[0] == 0
    assert _record_json(exp / "exp" / "scores")["precision"].startswith(
        "float64 throughout: mean vector"
    )


@pytest.mark.slow
def test_mean_file_and_none(exp, tmp_path):
    emb = exp / "exp" / "embeddings" / "vox1"
    np.save(tmp_path / "mean.npy", np.full(16, 0.5, dtype=np.float32))
    for mean, label in (("none", "none"), (tmp_path / "mean.npy", f"file:{tmp_path / 'mean.npy'}")):
        out = tmp_path / f"o{len(label)}"
        code, text = run("--embeddings", emb, "--trials", exp / "mine.kaldi", "--mean", mean, "--out", out)
        assert code == 0, text
        assert _record_json(out)["mean"] == label and _record_json(out)["methods"] == ["cos"]


@pytest.mark.slow
def test_real_vox1_o_list_with_synthetic_embeddings(voxceleb_dir, tmp_path):
    """The published Vox1-O (cleaned) list, 37,611 trials over 4,708 utterances, scored by cosine."""
    trials = read_trials(voxceleb_dir / "veri_test2.txt")
    utts = sorted(set(trials.enroll) | set(trials.test))
    assert len(utts) == 4708
    rng = np.random.default_rng(0)
    speakers = {u.split("/")[0] for u in utts}
    centre = {s: rng.standard_normal(32) * 1.5 for s in sorted(speakers)}
    vectors = np.array([centre[u.split("/")[0]] + rng.standard_normal(32) for u in utts], dtype=np.float32)
    np.savez(tmp_path / "vox1.npz", ids=np.array(utts), vectors=vectors)
    out = tmp_path / "scores"
    code, text = run(
        "--embeddings", tmp_path / "vox1.npz", "--trials", voxceleb_dir / "veri_test2.txt", "--out", out
    )
    assert code == 0, text
    sf = read_score_file(out / "veri_test2.txt.score")
    assert len(sf) == 37611 and sf.labels.sum() == 18802
    unit = {u: v / np.linalg.norm(v) for u, v in zip(utts, vectors.astype(np.float64))}
    for i in rng.choice(len(sf), 200, replace=False):
        assert sf.values[i] == float(f"{np.dot(unit[sf.enroll[i]], unit[sf.test[i]]):.5f}")
    doc = _record_json(out)
    assert doc["lists"][0]["builtin"] == "vox1_O_cleaned" and doc["eval"]["scored_utterances"] == 4708
    # proven by its fingerprint, the list is named vox1_O_cleaned, not after its file (veri_test2.txt)
    entry = doc["lists"][0]
    assert (entry["name"], entry["custom"]) == ("vox1_O_cleaned", False)
    assert "|trials:vox1_O_cleaned@" in entry["methods"]["cos"]["signature"]


def _folder_bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("stop", "code", "said"), [("ctrl-c", 130, "interrupted"), ("sigterm", 143, "terminated (SIGTERM)")]
)
def test_a_stop_during_a_rerun_keeps_the_previous_run(exp, monkeypatch, stop, code, said):
    """Ctrl-C, or SIGTERM (a scheduler's time limit), while the new run's files are being made: the previous
    run's folder is left exactly as it was and no staging folder stays beside it."""
    import os
    import signal

    import sveval.scoring.outputs as score_outputs

    args = ("--exp-dir", exp / "exp", "--trials", exp / "mine.kaldi", "--norm", "cos", "--no-plots")
    assert run(*args)[0] == 0
    scores = exp / "exp" / "scores"
    before = _folder_bytes(scores)

    def stopped(*a, **k):
        if stop == "ctrl-c":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)  # sveval's handler raises at the next bytecode
        raise AssertionError("SIGTERM did not stop the command")

    def not_ours(signum, frame):  # without sveval's handler the signal would end pytest itself
        raise RuntimeError("SIGTERM reached the test's own handler")

    # the new score and result files are written by then; the stop comes while the report is made
    monkeypatch.setattr(score_outputs, "finish_score_folder", stopped)
    trials = exp / "mine.kaldi"
    trials.write_text("".join(trials.read_text().splitlines(keepends=True)[:-3]))  # another list, same name
    previous = signal.signal(signal.SIGTERM, not_ours)
    try:
        result = CliRunner().invoke(cli, ["score", "--quiet", *map(str, args)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == code, result.stderr
    assert result.stderr == f"sveval: {said}: {scores} is as the previous run left it\n"
    assert _folder_bytes(scores) == before
    assert sorted(p.name for p in scores.parent.iterdir()) == ["embeddings", "scores"]  # nothing aside


def test_a_full_disk_while_plotting_is_one_line_exit_2_and_keeps_the_previous_run(exp, monkeypatch):
    """The plots are drawn by forked processes; their write error comes back as the same one line."""
    import errno

    import matplotlib.figure

    args = ("--exp-dir", exp / "exp", "--trials", exp / "mine.kaldi", "--norm", "cos", "--no-plots")
    assert run(*args)[0] == 0
    scores = exp / "exp" / "scores"
    before = _folder_bytes(scores)

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    result = CliRunner().invoke(cli, ["score", "--quiet", *map(str, args[:-1])])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.stderr.startswith("sveval: error: ") and result.stderr.count("\n") == 1
    # named as the user will find it, not by the staging folder the plot was drawn into
    assert f"{scores / 'mine.kaldi.det.png'}: cannot write: No space left on device" in result.stderr
    assert _folder_bytes(scores) == before
    assert sorted(p.name for p in scores.parent.iterdir()) == ["embeddings", "scores"]


def test_ctrl_c_in_a_new_folder_leaves_nothing(exp, tmp_path, monkeypatch):
    import sveval.scoring.outputs as score_outputs

    monkeypatch.setattr(
        score_outputs, "finish_score_folder", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt)
    )
    out = tmp_path / "new"
    result = CliRunner().invoke(
        cli,
        [
            "score",
            "--quiet",
            "--exp-dir",
            str(exp / "exp"),
            "--trials",
            str(exp / "mine.kaldi"),
            "--norm",
            "cos",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 130, result.stderr
    assert f"nothing written ({out} removed)" in result.stderr
    assert not out.exists()


def test_a_rerun_replaces_the_previous_runs_files_and_only_them(exp, tmp_path):
    """A folder holds one run: a rerun with another list removes the files the previous run recorded (its
    list's score file, plots), keeps files sveval did not write, and its report shows only the new run."""
    other = tmp_path / "other.kaldi"
    other.write_text("".join((exp / "mine.kaldi").read_text().splitlines(keepends=True)[:40]))
    base = ("--exp-dir", exp / "exp", "--norm", "cos")
    assert run(*base, "--trials", exp / "mine.kaldi")[0] == 0
    scores = exp / "exp" / "scores"
    (scores / "notes.txt").write_text("mine\n")  # the user's
    assert run(*base, "--trials", other, "--no-plots")[0] == 0
    names = {p.name for p in scores.iterdir()}
    assert "other.kaldi.score" in names and "notes.txt" in names
    assert not {"mine.kaldi.score", "mine.kaldi.det.png"} & names
    report = (scores / "report.md").read_text()
    assert "other (custom) EER" in report and "mine (custom)" not in report
    written = json.loads((scores / "results.json").read_text())["written"]
    assert set(written) == names - {"notes.txt", "results.json"}


def test_readme_python_example_prints_what_the_cli_prints(exp, tmp_path):
    # the README's loop, on this fixture: `res.metrics.eer_percent` to 3 decimals is the CLI's EER
    from sveval.io.catalog import load_trials
    from sveval.io.embeddings import read_embeddings
    from sveval.scoring.run import Cohort, ScoreOptions, score_lists
    from sveval.speakers import speaker_map

    evaluation = read_embeddings(str(exp / "exp" / "embeddings" / "vox1"))
    cohort_emb = read_embeddings(str(exp / "exp" / "embeddings" / "vox2_dev"))
    cohort = Cohort("vox2_dev", cohort_emb, speaker_map().of(cohort_emb.ids, "vox2_dev"))
    run_ = score_lists(evaluation, [load_trials(exp / "mine.kaldi")], ScoreOptions(top_n=10), cohort=cohort)
    printed = {res.score_file: f"{res.metrics.eer_percent:.3f}" for lst in run_.lists for res in lst.methods}
    assert all(0 < res.metrics.eer < 1 for lst in run_.lists for res in lst.methods)  # fractions
    code, _ = run("--exp-dir", exp / "exp", "--trials", exp / "mine.kaldi", "--top-n", 10, "--no-plots")
    assert code == 0
    for score_file, eer_text in printed.items():
        result = CliRunner().invoke(cli, ["metrics", str(exp / "exp" / "scores" / score_file)])
        assert f"EER = {eer_text}\n" in result.stdout


def test_tied_scores_warn_where_the_per_trial_rule_prints_otherwise(tmp_path):
    # identical embeddings: every trial scores 1.00000, a constant system. Default: EER 50 %, minDCF 1, in
    # any order; WeSpeaker's per-trial rule would print 100 % with the targets listed first.
    ids = [f"spk{i}/u" for i in range(8)]
    np.savez(tmp_path / "emb.npz", ids=np.array(ids), vectors=np.tile([1.0, 0.0, 0.0], (8, 1)))
    lines = [f"{ids[i]} {ids[i + 1]} target\n" for i in range(0, 8, 2)]
    lines += [f"{ids[i]} {ids[i + 3]} nontarget\n" for i in range(0, 4)]
    (tmp_path / "t.kaldi").write_text("".join(lines))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["score", "--quiet", "--embeddings", str(tmp_path / "emb.npz"), "--trials", str(tmp_path / "t.kaldi")]
        + ["--mean", "none", "--no-plots", "--eval-name", "vox1", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    block = read_result_file(out / "vox1_cos_result")[0]
    assert (f"{block.eer_percent:.3f}", f"{block.min_dcf:.3f}") == ("50.000", "1.000")
    warning = "t.kaldi.score: tied scores: EER 50.000 here; the per-trial sweep in file order"
    assert f"sveval: warning: {warning} (--sweep per-trial) prints 100.000" in result.stderr
    entry = _record_json(out)["lists"][0]["methods"]["cos"]
    assert entry["warnings"] and "prints 100.000" in entry["warnings"][0]


def test_a_new_output_folder_gets_the_usual_permissions(exp, tmp_path):
    """The folder is the staging folder swapped in: mkdtemp's 0700 must not become the output's mode."""
    import os

    out = tmp_path / "new"
    args = ("--exp-dir", exp / "exp", "--trials", exp / "mine.kaldi", "--norm", "cos", "--no-plots")
    code, output = run(*args, "--out", out)
    assert code == 0, output
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask


def test_the_record_a_run_writes_is_the_record_read_back(exp, tmp_path):
    """The RunRecord write_score_folder returns, written by the one writer, reads back as the same object."""
    from sveval.io.embeddings import read_embeddings
    from sveval.scoring.run import ScoreOptions, score_lists

    evaluation = read_embeddings(str(exp / "exp" / "embeddings" / "vox1" / "xvector.scp"))
    lists = [read_trials(exp / "mine.kaldi"), read_trials(exp / "blind.txt")]  # labelled and unlabelled
    run_ = score_lists(evaluation, lists, ScoreOptions(methods=("cos",)))
    record = write_score_folder(run_, tmp_path / "out", command="sveval score ...")
    assert not (tmp_path / "out" / "results.json").exists()  # written once, by whoever finishes the folder
    write_run_record(tmp_path / "out", record)
    assert read_run_record(tmp_path / "out") == record
    assert record.lists[1].methods[0].metrics is None  # unlabelled: no numbers, and recorded so
    assert json.loads((tmp_path / "out" / "results.json").read_text())["lists"][1]["methods"]["cos"] == {
        "score_file": "blind.txt.score",
        "signature": record.lists[1].methods[0].signature.format(),
        "metrics": "skipped: the list has no target/nontarget labels (or only one class)",
    }
