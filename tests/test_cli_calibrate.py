"""`sveval calibrate` and `sveval fuse` end to end, and QMF against a transcription of WeSpeaker's script."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

from sveval.io.scores import format_score_lines, read_score_file


def run(*args):
    """(exit code, stdout and stderr), or with --json (exit code, stdout): progress bars go to stderr."""
    result = CliRunner().invoke(cli, list(map(str, args)))
    return result.exit_code, result.stdout if "--json" in args else result.output


def utterances(n_utts=60):
    rng = np.random.default_rng(99)
    return np.array([f"id{k % 30:05d}/v{k}/00001.wav" for k in range(n_utts)], dtype=object), rng.uniform(
        2, 30, n_utts
    )


def write_asnorm(path, n, seed, utts, dur, self_pairs=0):
    """An 8-column AS-norm-like file whose scores shift with duration (so QMF has something to learn),
    with at least `self_pairs` trials e == t; pairs repeat by chance (WeSpeaker's generator makes both)."""
    rng = np.random.default_rng(seed)
    e, t = rng.integers(0, len(utts), n), rng.integers(0, len(utts), n)
    t[:self_pairs] = e[:self_pairs]
    lab = (e % 30 == t % 30) | (rng.random(n) < 0.5)
    # short utterances pull every score down: an additive duration term (what QMF can learn) corrects it
    score = (
        np.where(lab, 0.5, -0.5) + 0.05 * np.minimum(np.minimum(dur[e], dur[t]), 20) + rng.normal(0, 0.4, n)
    )
    extra = np.stack(
        [rng.uniform(8, 20, n), rng.uniform(8, 20, n), rng.uniform(0.05, 0.3, n), rng.uniform(0.05, 0.3, n)],
        axis=1,
    )
    path.write_text(format_score_lines(utts[e], utts[t], score, lab, extra))


def write_utt2dur(path, utts, dur):
    path.write_text("".join(f"{u} {d:.4f}\n" for u, d in zip(utts, dur)))


@pytest.fixture(scope="module")
def qmf_files(tmp_path_factory):
    # WeSpeaker's torch L-BFGS schedule costs the same on 400 trials as on 40: its time goes to the history
    # loops of up to 50 x 20 iterations, not to the data. So the data stays big enough for the statistical
    # tests below, and the schedule is run as few times as possible: once as the transcription, once by
    # sveval (`wespeaker_compat`, shared by the two tests that need it).
    d = tmp_path_factory.mktemp("qmf")
    utts, dur = utterances()
    write_asnorm(d / "cal.score", 400, 0, utts, dur, self_pairs=5)
    write_asnorm(d / "eval.score", 400, 1, utts, dur)
    write_utt2dur(d / "utt2dur", utts, dur)
    return d


@pytest.fixture(scope="module")
def wespeaker_compat(qmf_files):
    d = qmf_files
    code, out = run(
        "calibrate", "--method", "qmf", "--compat", "wespeaker", "--utt2dur", d / "utt2dur",
        "--train", d / "cal.score", "--apply", d / "eval.score", "--out", d / "wespeaker", "--json",
    )  # fmt: skip
    assert code == 0, out
    return json.loads(out)


@pytest.mark.slow
def test_qmf_compat_wespeaker_reproduces_its_file_line_by_line(qmf_files, wespeaker_compat):
    import wespeaker_qmf  # (torch: imported by the slow tests only, not when the module is collected)

    d = qmf_files
    for name in ("cal", "eval"):
        wespeaker_qmf.gather(d / "utt2dur", 20, d / f"{name}.score", d / f"{name}.calibration")
    wespeaker_qmf.train(d / "cal.calibration", d / "model.pt")
    wespeaker_qmf.infer(d / "eval.calibration", d / "model.pt", d / "wespeaker_cali.score")
    cal = read_score_file(d / "cal.score")
    assert wespeaker_compat["model"]["training"]["n_self_pairs"] == int((cal.enroll == cal.test).sum()) >= 5
    expected = (d / "wespeaker_cali.score").read_text()
    assert (d / "wespeaker" / "cali_eval.score").read_text() == expected


@pytest.mark.slow
def test_qmf_default_fits_at_least_as_well_as_wespeaker(qmf_files, wespeaker_compat):
    d = qmf_files
    results = {"wespeaker": wespeaker_compat}
    code, out = run(
        "calibrate", "--method", "qmf", "--utt2dur", d / "utt2dur",
        "--train", d / "cal.score", "--apply", d / "eval.score", "--out", d / "none", "--json",
    )  # fmt: skip
    assert code == 0, out
    results["none"] = json.loads(out)
    model = results["none"]["model"]
    assert model["features"][:5] == ["score", "dur_min", "dur_max", "dur_diff", "dur_ratio"]
    assert len(model["features"]) == 13
    assert model["training"]["cllr_after"] <= results["wespeaker"]["model"]["training"]["cllr_after"] + 1e-9
    # the durations matter here: QMF beats a plain linear calibration on held-out data
    code, out = run("calibrate", "--train", d / "cal.score", "--apply", d / "eval.score", "--out", d / "lin",
                    "--prior", "0.5", "--json")  # fmt: skip
    linear = json.loads(out)["files"][0]["after"]["cllr"]
    assert results["none"]["files"][0]["after"]["cllr"] < linear


def test_calibrate_writes_model_results_and_reuses_the_model(qmf_files):
    d = qmf_files
    code, out = run("calibrate", "--train", d / "cal.score", "--apply", d / "eval.score", "--out", d / "a")
    assert code == 0, out
    assert "cali_eval.score" in out and "repeated pair(s)" in out
    calibrated = read_score_file(d / "a" / "cali_eval.score")
    original = read_score_file(d / "eval.score")
    np.testing.assert_array_equal(calibrated.enroll, original.enroll)
    np.testing.assert_array_equal(calibrated.extra, original.extra)  # the input's columns are kept
    result = (d / "a" / "cali_eval.result").read_text().splitlines()
    assert result[0] == "---- cali_eval.score -----"
    assert result[3].startswith("actDCF (p_target:0.01 c_miss:1 c_fa:1) = ")
    assert result[-1].startswith("signature: cal:linear|prior:0.01|fit:scipy|train:cal.score@")
    code, out = run("calibrate", "--model", d / "a" / "calibration_model.json", "--apply", d / "eval.score",
                    "--out", d / "b")  # fmt: skip
    assert code == 0, out
    assert (d / "b" / "cali_eval.score").read_bytes() == (d / "a" / "cali_eval.score").read_bytes()
    code, out = run("metrics", "--llr", d / "a" / "cali_eval.score")
    assert out.splitlines()[:5] == result[:5]


def failed_checks(folder):
    code, out = run("validate", folder, "--json", "--quiet")
    checks = json.loads(out)["checks"]
    return code, [c for c in checks if c["status"] == "fail"], checks


@pytest.mark.slow
def test_calibrated_folders_validate_with_every_figure_checked(qmf_files, wespeaker_compat):
    d = qmf_files
    code, out = run("calibrate", "--train", d / "cal.score", "--apply", d / "eval.score", "--out", d / "two",
                    "--dcf", "0.01", "--dcf", "0.05")  # fmt: skip
    assert code == 0, out
    for folder in (d / "two", d / "wespeaker"):  # two operating points; WeSpeaker's repr-valued lines
        code, failed, checks = failed_checks(folder)
        assert code == 0 and not failed, failed
        metrics = [c for c in checks if c["name"] == "metrics" and c["status"] == "pass"]
        assert len(metrics) == (2 if folder.name == "two" else 1) and "minCllr" in metrics[0]["message"]
    result = d / "two" / "cali_eval.result"
    lines = result.read_text().splitlines(keepends=True)
    k = [i for i, line in enumerate(lines) if line.startswith("actDCF")][1]  # the p_target 0.05 block's
    value = lines[k].rsplit("= ", 1)[1]
    lines[k] = lines[k].replace(value, f"{float(value) + 0.001:.3f}\n")
    result.write_text("".join(lines))
    code, failed, _ = failed_checks(d / "two")  # the record's SHA-256 of the result file no longer matches
    assert code == 1 and [c["file"] for c in failed if "changed" in c["message"]] == ["cali_eval.result"]
    (d / "two" / "calibration.json").unlink()  # a folder without sveval's record: each figure recomputed
    code, failed, _ = failed_checks(d / "two")
    assert code == 1 and len(failed) == 1 and "actDCF printed" in failed[0]["message"]
    result.write_text("".join(lines[:-1]))  # the signature line cut off: a malformed result file
    code, failed, _ = failed_checks(d / "two")
    unreadable = next(c for c in failed if c["name"] == "result-file")
    assert code == 1 and "signature" in unreadable["message"] and "cali_eval.result:" in unreadable["message"]


def test_calibrate_errors(qmf_files, tmp_path):
    d = qmf_files
    code, out = run("calibrate", "--apply", d / "eval.score", "--out", d / "x")
    assert code == 2 and "exactly one of --train" in out
    bare = tmp_path / "bare.score"
    bare.write_text("a b 0.5\nc d 0.1\n")
    code, out = run("calibrate", "--train", bare, "--out", d / "x")
    assert code == 2 and "needs a label column" in out
    four = tmp_path / "four.score"
    four.write_text("a b 0.5 target\nc d 0.1 nontarget\n")
    code, out = run("calibrate", "--method", "qmf", "--train", four, "--out", d / "x")
    assert code == 2 and "8-column" in out
    partial = tmp_path / "partial_utt2dur"
    partial.write_text("nobody 3.0\n")
    code, out = run(
        "calibrate", "--method", "qmf", "--utt2dur", partial, "--train", d / "cal.score", "--out", d / "x"
    )
    assert code == 2 and "no duration for" in out and "cal.score:1:" in out


def test_fuse_end_to_end_and_key_mismatch(tmp_path):
    rng = np.random.default_rng(3)
    n = 4000
    lab = rng.random(n) < 0.5
    enroll = np.array([f"e{i % 40}" for i in range(n)], dtype=object)
    test = np.array([f"t{i}" for i in range(n)], dtype=object)
    for name, sd in (("a", 1.0), ("b", 1.1)):
        values = np.where(lab, 1.0, -1.0) + rng.normal(0, sd, n)
        (tmp_path / f"{name}.score").write_text(format_score_lines(enroll, test, values, lab))
    (tmp_path / "short.score").write_text(format_score_lines(enroll[1:], test[1:], np.zeros(n - 1), lab[1:]))
    a, b = tmp_path / "a.score", tmp_path / "b.score"
    code, out = run(
        "fuse", "--train", a, "--train", b, "--apply", f"{a},{b}", "--out", tmp_path / "f", "--json"
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["model"]["features"] == ["a.score", "b.score"]
    assert all(w > 0 for w in report["model"]["weights"])
    assert report["model"]["decreasing_in"] == []  # and no warning: stdout alone parsed as JSON above
    assert (tmp_path / "f" / "fused_a.score").is_file()
    code, failed, checks = failed_checks(tmp_path / "f")
    assert code == 0 and not failed, failed
    assert any(c["name"] == "result" and c["message"] == "block in fused_a.result" for c in checks)
    code, out = run("fuse", "--train", a, "--train", tmp_path / "short.score", "--out", tmp_path / "g")
    assert code == 2 and "keys do not match" in out and "short.score" in out


def distance_like(tmp_path, n=3000, seed=5):
    """A distance: targets N(0.6, 0.2) below nontargets N(1.0, 0.2), labelled; and the same trials scored by
    a similarity system. Read as LLRs the distance ranks backwards (EER ~84 %)."""
    rng = np.random.default_rng(seed)
    lab = rng.random(n) < 0.5
    enroll = np.array([f"e{i % 40}" for i in range(n)], dtype=object)
    test = np.array([f"t{i}" for i in range(n)], dtype=object)
    dist = np.where(lab, rng.normal(0.6, 0.2, n), rng.normal(1.0, 0.2, n))
    sim = np.where(lab, 1.0, -1.0) + rng.normal(0, 1.0, n)
    (tmp_path / "dist.score").write_text(format_score_lines(enroll, test, dist, lab))
    (tmp_path / "sim.score").write_text(format_score_lines(enroll, test, sim, lab))
    return tmp_path / "dist.score", tmp_path / "sim.score"


def test_an_inverted_system_is_named_and_measured_before_and_after(tmp_path):
    dist, _ = distance_like(tmp_path)
    code, out = run("calibrate", "--train", dist, "--apply", dist, "--out", tmp_path / "c")
    assert code == 0, out
    lines = out.splitlines()
    warnings = [line for line in lines if line.startswith("sveval: warning:")]
    (warning,) = [line for line in warnings if "is also a training file" not in line]  # (applied on purpose)
    assert warning.startswith(
        f"sveval: warning: {dist}: the fitted calibration map is decreasing in its score"
    )
    assert "looks inverted (distance-like" in warning
    record = json.loads((tmp_path / "c" / "calibration.json").read_text())
    assert record["model"]["decreasing_in"] == ["dist.score"] and record["model"]["weights"][0] < 0
    before, after = record["files"][0]["before"], record["files"][0]["after"]
    # the decreasing map reverses the ranking: the EER is mirrored around 50 % (no ties), not kept
    assert before["eer"] > 50 > after["eer"]
    assert after["eer"] == pytest.approx(100 - before["eer"], abs=0.1)
    # the table: after, then EER, minDCF, actDCF and Cllr of the input read as LLRs
    header = next(line for line in lines if line.startswith("output"))
    names = ["EER %", "minDCF", "actDCF", "Cllr", "minCllr"]
    assert re.split(r"\s{2,}", header)[1:] == names + [f"{n} before" for n in names[:4]]
    row = next(line for line in lines if line.startswith("cali_dist.score")).split()[1:]
    dcf_before, dcf_after = before["dcf"][0], after["dcf"][0]
    figures = [after["eer"], dcf_after["min_dcf"], dcf_after["act_dcf"], after["cllr"], after["min_cllr"]]
    figures += [before["eer"], dcf_before["min_dcf"], dcf_before["act_dcf"], before["cllr"]]
    assert row == [f"{x:.3f}" for x in figures]


def test_an_increasing_calibration_warns_nothing(tmp_path):
    _, sim = distance_like(tmp_path)
    held_out = tmp_path / "held_out.score"  # (the same trials: a training file applied to is warned about)
    held_out.write_bytes(sim.read_bytes())
    code, out = run("calibrate", "--train", sim, "--apply", held_out, "--out", tmp_path / "c")
    assert code == 0 and "warning" not in out, out
    record = json.loads((tmp_path / "c" / "calibration.json").read_text())
    assert record["model"]["decreasing_in"] == []
    before, after = record["files"][0]["before"], record["files"][0]["after"]
    assert after["eer"] == before["eer"]  # an increasing map keeps the ranking


def test_fusion_names_the_system_with_a_negative_weight(tmp_path):
    dist, sim = distance_like(tmp_path)
    code, out = run(
        "fuse", "--train", sim, "--train", dist, "--apply", f"{sim},{dist}", "--out", tmp_path / "f"
    )
    assert code == 0, out
    warnings = [line for line in out.splitlines() if line.startswith("sveval: warning:")]
    (warning,) = [line for line in warnings if "is also a training file" not in line]  # (applied on purpose)
    assert warning.startswith(f"sveval: warning: {dist}: its fusion weight is negative (")
    assert "looks inverted (distance-like" in warning
    record = json.loads((tmp_path / "f" / "calibration.json").read_text())
    assert record["model"]["decreasing_in"] == ["dist.score"]
    row = next(line for line in out.splitlines() if line.startswith("fused_sim.score")).split()[1:]
    assert row[5:] == ["-"] * 4  # fusion: no single input to show "before" for
