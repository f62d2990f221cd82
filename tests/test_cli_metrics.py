"""`sveval metrics` end to end: WeSpeaker's printed block, Kaldi's EER and SRE minDCF on real scores."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REAL_SCORES, VOXCELEB, shared, write
from sveval.cli.main import cli

from sveval.io.trials import read_trials


def run(*args):
    result = CliRunner().invoke(cli, ["metrics", *map(str, args)])
    return result.exit_code, result.stdout


def run_with_stderr(*args):
    result = CliRunner().invoke(cli, ["metrics", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


# Independent transcriptions of the reference tools, written as plainly as the originals.
def wespeaker_block(path, scores, labels, p_target=0.01, c_miss=1, c_fa=1, kind="mergesort", order=None):
    """compute_metrics.py with a stable sort (kind=None: WeSpeaker's own unstable np.argsort; `order`: a
    given ascending order of the trials)."""
    order = np.argsort(scores, kind=kind) if order is None else order
    tgt = labels[order].astype("f8")
    fnr = np.cumsum(tgt) / np.sum(tgt)
    fpr = 1 - np.cumsum(1 - tgt) / np.sum(1 - tgt)
    diff = fnr - fpr
    x1 = np.flatnonzero(diff >= 0)[0]
    x2 = np.flatnonzero(diff < 0)[-1]
    a = (fnr[x1] - fpr[x1]) / (fpr[x2] - fpr[x1] - (fnr[x2] - fnr[x1]))
    eer = fnr[x1] + a * (fnr[x2] - fnr[x1])
    dcf = np.min(c_miss * fnr * p_target + c_fa * fpr * (1 - p_target)) / min(
        c_miss * p_target, c_fa * (1 - p_target)
    )
    return "---- {} -----\nEER = {:.3f}\nminDCF (p_target:{} c_miss:{} c_fa:{}) = {:.3f}\n".format(
        path.name, 100 * eer, p_target, c_miss, c_fa, dcf
    )


def kaldi_compute_eer(target, nontarget):
    target, nontarget = sorted(target), sorted(nontarget)
    p = 0
    while p + 1 < len(target):
        q = max(len(nontarget) - 1 - int(len(nontarget) * p * 1.0 / len(target)), 0)
        if nontarget[q] < target[p]:
            break
        p += 1
    return p / len(target), target[p]


def kaldi_min_dcf(scores, labels, p_target):
    pairs = sorted(enumerate(scores), key=lambda x: x[1])
    fn = fp = 0
    best, n_t = math.inf, sum(labels)
    for index, _ in pairs:
        fn += labels[index]
        fp += 1 - labels[index]
        c = fn / n_t * p_target + (1 - fp / (len(labels) - n_t)) * (1 - p_target)
        best = min(best, c)
    return best / min(p_target, 1 - p_target)


@pytest.fixture(scope="module")
def real_score_files(tmp_path_factory):
    """The six VGG systems on veri_test.txt, written as WeSpeaker score files (%.5f, file order)."""
    trials_path = shared(VOXCELEB / "veri_test.txt")
    trials = read_trials(trials_path)
    labels = np.load(shared(REAL_SCORES / "groundtruth_labels.npy")).astype(bool)
    assert labels.tolist() == trials.is_target.tolist()
    folder = tmp_path_factory.mktemp("real")
    files = []
    for k, npy in enumerate(sorted(REAL_SCORES.glob("scores__*.npy"))):
        values = np.load(npy).astype(np.float64)
        path = folder / f"system{k}.score"
        names = np.where(labels, "target", "nontarget")
        path.write_text(
            "".join(f"{e} {t} {s:.5f} {n}\n" for e, t, s, n in zip(trials.enroll, trials.test, values, names))
        )
        files.append(path)
    return trials_path, files


def reread(path):
    fields = [line.split() for line in path.read_text().splitlines()]
    return np.array([float(f[2]) for f in fields]), np.array([f[3] == "target" for f in fields])


def extreme_tie_orders(scores, labels):
    """The two orders of tied trials that bound WeSpeaker's per-trial numbers: nontargets first within each
    group of equal scores (the lowest curve), and targets first (the highest)."""
    return np.lexsort((labels, scores)), np.lexsort((~labels, scores))


@pytest.mark.slow
def test_default_output_is_wespeaker_byte_for_byte(real_score_files):
    # "Without such ties": files where WeSpeaker's block prints the same whatever the order of tied
    # trials. There the default must be WeSpeaker's block byte for byte; elsewhere WeSpeaker's own number
    # depends on the order (and numpy's argsort), and the default says what the per-trial sweep prints.
    _, files = real_score_files
    code, out, err = run_with_stderr(*files)
    assert code == 0
    order_free = 0
    for path in files:
        scores, labels = reread(path)
        low, high = (
            wespeaker_block(path, scores, labels, order=o) for o in extreme_tie_orders(scores, labels)
        )
        in_file_order = wespeaker_block(path, scores, labels)
        if low == high:
            order_free += 1
            assert low in out and low == in_file_order
            assert path.name not in err
        else:
            eer_line = in_file_order.splitlines()[1].replace("EER = ", "")
            assert f"{path.name}: tied scores: EER" in err and f"prints {eer_line}" in err
    assert order_free >= 5  # five of the six real files; system2 has a tie group at its EER crossing
    eers = [float(line.split()[-1]) for line in out.splitlines() if line.startswith("EER")]
    assert all(2.5 < e < 6 for e in eers)  # Thin-ResNet34 GhostVLAD: ~3-4 % on Vox1-O


@pytest.mark.slow
def test_per_trial_sweep_is_wespeaker_in_file_order(real_score_files):
    _, files = real_score_files
    code, out = run(*files, "--sweep", "per-trial")
    assert code == 0
    assert out == "".join(wespeaker_block(p, *reread(p)) for p in files)


@pytest.mark.slow
def test_sweep_wespeaker_reproduces_its_unstable_argsort(real_score_files):
    _, files = real_score_files
    code, out = run(*files, "--sweep", "wespeaker")
    assert code == 0
    assert out == "".join(wespeaker_block(p, *reread(p), kind=None) for p in files)


def test_kaldi_eer_and_sre_min_dcf_match_the_reference_loops(real_score_files):
    trials_path, files = real_score_files
    code, out = run(
        *files[:2], "--trials", trials_path, "--eer", "all", "--dcf", "0.01", "--dcf", "0.001", "--json"
    )
    assert code == 0
    for report, path in zip(json.loads(out), files[:2]):
        # veri_test.txt is known by its fingerprint: the original Vox1-O list, not a custom "veri_test"
        assert (report["trials"]["name"], report["trials"]["custom"]) == ("vox1_O", False)
        scores, labels = reread(path)
        eer, threshold = kaldi_compute_eer(scores[labels].tolist(), scores[~labels].tolist())
        assert report["eer_kaldi"] == pytest.approx(100 * eer, abs=1e-12)
        assert report["eer_kaldi_threshold"] == threshold
        for dcf, p in zip(report["dcf"], (0.01, 0.001)):
            assert dcf["p_target"] == p and dcf["min_dcf"] == pytest.approx(
                kaldi_min_dcf(scores, labels, p), abs=1e-12
            )
        assert report["eer_rocch"] <= report["eer"] + 1e-9
        assert set(report) == {
            "file",
            "label",
            "n_target",
            "n_nontarget",
            "eer",
            "eer_threshold",
            "eer_kaldi",
            "eer_kaldi_threshold",
            "eer_rocch",
            "dcf",
            "signature",
            "warnings",
            "trials",
        }
        assert (report["n_target"], report["n_nontarget"]) == (18860, 18860)
        assert (
            "trials:vox1_O@9bb741384883" in report["signature"]
            and "eer:nist+kaldi+rocch" in report["signature"]
        )


def test_several_operating_points_print_one_block_each(tmp_path):
    path = write(
        tmp_path / "s.score", "a b 0.9 target\na c 0.1 nontarget\nb c 0.5 nontarget\nc d 0.4 target\n"
    )
    code, out = run(path, "--dcf", "0.01", "--dcf", "0.05:10:1", "--eer", "kaldi")
    assert code == 0
    assert out.count("---- s.score -----") == 1 and "EER = " not in out
    assert "minDCF (p_target:0.05 c_miss:10 c_fa:1) = " in out and "EER (kaldi compute-eer) = " in out
    # EER once per file, then one minDCF line per operating point
    code, out = run(path, "--dcf", "0.01", "--dcf", "0.05", "--dcf", "0.5:10:1")
    lines = out.splitlines()
    assert lines[0] == "---- s.score -----" and lines[1].startswith("EER = ") and len(lines) == 5
    assert [line.split(")")[0] for line in lines[2:]] == [
        "minDCF (p_target:0.01 c_miss:1 c_fa:1",
        "minDCF (p_target:0.05 c_miss:1 c_fa:1",
        "minDCF (p_target:0.5 c_miss:10 c_fa:1",
    ]


def test_hand_checked_numbers(tmp_path):
    # Ascending: 0.1 n, 0.4 t, 0.5 n, 0.9 t. After each: P_miss = 0, .5, .5, 1; P_fa = .5, .5, 0, 0.
    # NIST: x1 = index 1 (0.5 >= 0.5), x2 = index 0; a = 0/(...) = 0 -> EER = 0.5 -> 50.000.
    # Kaldi: p=0: q = 1 - 0 = 1, nontarget[1]=0.5 < target[0]=0.4? no; p=1 stops the loop -> EER = 1/2.
    # minDCF(0.01): min(.005*.. ) -> points .495, .5*.01+.5*.99=.5, .005, .01 -> .005/.01 = 0.5.
    path = write(
        tmp_path / "h.score", "a b 0.9 target\na c 0.1 nontarget\nb c 0.5 nontarget\nc d 0.4 target\n"
    )
    code, out = run(path, "--eer", "all", "--signature")
    assert code == 0
    assert "EER = 50.000\nEER (kaldi compute-eer) = 50.000\n" in out
    assert "minDCF (p_target:0.01 c_miss:1 c_fa:1) = 0.500\n" in out
    assert "signature: eer:nist+kaldi+rocch|dcf:0.01/1/1|sweep:tie-aware|trials:file-labels|v:" in out


@pytest.mark.parametrize(
    "content, extra, needle",
    [
        ("a b 0.9\nc d 0.1\n", [], "3-column score file has no labels; pass --trials"),
        ("a b 0.9 target\nc d nan nontarget\n", [], "s.score:2: score is nan"),
        ("a b 0.9 target\nc d x nontarget\n", [], "s.score:2: score is not a number: 'x'"),
        ("a b 0.9 target\n", ["--dcf", "2"], "p_target must be between 0 and 1"),
        ("a b 0.9 target\n", ["--trials", "nowhere.txt"], "no such trial list"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, content, extra, needle):
    path = write(tmp_path / "s.score", content)
    result = CliRunner().invoke(cli, ["metrics", str(path), *extra])
    assert result.exit_code == 2
    assert needle in result.output


def test_coverage_against_the_trial_list(tmp_path):
    trials = write(tmp_path / "t.kaldi", "a b target\nc d nontarget\ne f nontarget\n")
    path = write(tmp_path / "s.score", "a b 0.9\nc d 0.1\n")
    code, _, err = run_with_stderr(path, "--trials", trials)
    assert code == 2 and "1 trial(s) of t.kaldi not scored, e.g. e f" in err
    full = write(tmp_path / "f.score", "e f 0.2\na b 0.9\nc d 0.1\n")
    code, out = run(full, "--trials", trials)
    assert code == 0 and "EER = 0.000" in out


def constant_system(tmp_path, targets_first):
    lines = [f"e{i} t{i} 0.50000 target\n" for i in range(50)]
    lines += [f"e{i} n{i} 0.50000 nontarget\n" for i in range(50)]
    return write(tmp_path / "const.score", "".join(lines if targets_first else lines[50:] + lines[:50]))


@pytest.mark.parametrize("targets_first", [False, True])
def test_constant_system_is_chance_in_either_order(tmp_path, targets_first):
    path = constant_system(tmp_path, targets_first)
    code, out, err = run_with_stderr(path)
    assert code == 0
    assert out == "---- const.score -----\nEER = 50.000\nminDCF (p_target:0.01 c_miss:1 c_fa:1) = 1.000\n"
    # the per-trial rule of Kaldi/WeSpeaker gives 0 or 100 by line order: said on stderr and in JSON
    per_trial = "100.000" if targets_first else "0.000"
    assert f"EER 50.000 here; the per-trial sweep in file order (--sweep per-trial) prints {per_trial}" in err
    code, out = run(path, "--json")
    warnings = json.loads(out)[0]["warnings"]
    # minDCF: 1.000 both ways with targets first; per-trial 0.000 with nontargets first
    assert len(warnings) == (1 if targets_first else 2) and f"prints {per_trial}" in warnings[0]
    code, out, err = run_with_stderr(path, "--sweep", "per-trial")
    assert f"EER = {per_trial}" in out and err == ""


def test_five_distinct_scores_print_the_same_in_any_order(tmp_path):
    rng = np.random.default_rng(5)
    values = rng.integers(0, 5, size=200)
    labels = rng.random(200) < 0.2 + 0.15 * values
    outputs, per_trial = set(), set()
    for seed in range(6):
        order = np.random.default_rng(seed).permutation(200)
        path = write(
            tmp_path / "five.score",
            "".join(f"e{i} t{i} {values[i]}.00000 {'target' if labels[i] else 'nontarget'}\n" for i in order),
        )
        outputs.add(run(path)[1])
        per_trial.add(run(path, "--sweep", "per-trial")[1])
    assert len(outputs) == 1 and len(per_trial) > 1


@pytest.mark.parametrize("point", ["0.5:10:1", "0.9:1:1"])
def test_min_dcf_is_at_most_one_when_everything_is_wrong(tmp_path, point):
    # five targets below two nontargets; Kaldi's compute_min_dcf.py prints 3.000 and 2.800 here
    lines = [f"e t{i} 0.{i}0000 target\n" for i in range(1, 6)] + ["e n1 0.80000 nontarget\n"]
    path = write(tmp_path / "wrong.score", "".join(lines + ["e n2 0.90000 nontarget\n"]))
    code, out = run(path, "--dcf", point)
    assert code == 0 and out.endswith(") = 1.000\n")
    code, out = run(path, "--dcf", point, "--json")
    assert json.loads(out)[0]["dcf"][0]["threshold"] is None  # accept every trial


@pytest.mark.parametrize("label", ["target", "nontarget"])
def test_one_class_is_an_input_error(tmp_path, label):
    path = write(tmp_path / "one.score", f"a b 0.5 {label}\nc d 0.7 {label}\n")
    result = CliRunner().invoke(cli, ["metrics", str(path)])
    other = "nontarget" if label == "target" else "target"
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip() == (
        f"sveval: error: {path}: no {other} trials among its 2 trial(s); EER and minDCF need both target "
        "and nontarget trials"
    )


def test_invisible_characters_in_ids_are_escaped_in_messages(tmp_path):
    # "a" and "a<zero-width space>" look the same when printed; the message must show the difference
    trials = write(tmp_path / "t.kaldi", "a b target\nc d nontarget\n")
    path = write(tmp_path / "s.score", "a\u200b b 0.9 target\nc d 0.1 nontarget\n")
    code, _, err = run_with_stderr(path, "--trials", trials)
    assert code == 2
    assert "not in t.kaldi, e.g. line 1: a\\u200b b" in err and "not scored, e.g. a b" in err


def test_ctrl_c_exits_130_with_one_line(tmp_path, monkeypatch):
    import sveval.cli.metrics as metrics_cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(metrics_cli, "read_labelled_scores", interrupted)
    path = write(tmp_path / "s.score", "a b 0.9 target\nc d 0.1 nontarget\n")
    code, out, err = run_with_stderr(path)
    assert (code, out, err) == (130, "", "sveval: interrupted\n")


def test_sigterm_exits_143_with_one_line_and_the_handler_is_put_back(tmp_path, monkeypatch):
    import os
    import signal

    import sveval.cli.metrics as metrics_cli

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises at the next bytecode
        raise AssertionError("SIGTERM did not stop the command")

    def not_ours(signum, frame):  # without sveval's handler the signal would end pytest itself
        raise RuntimeError("SIGTERM reached the test's own handler")

    monkeypatch.setattr(metrics_cli, "read_labelled_scores", killed)
    path = write(tmp_path / "s.score", "a b 0.9 target\nc d 0.1 nontarget\n")
    previous = signal.signal(signal.SIGTERM, not_ours)
    try:
        code, out, err = run_with_stderr(path)
        assert signal.getsignal(signal.SIGTERM) is not_ours
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert (code, out, err) == (143, "", "sveval: terminated (SIGTERM)\n")


def test_a_closed_pipe_is_not_a_failed_validation(tmp_path):
    # `sveval metrics ... | head -1`: the reader is gone before we write. Exit 1 means a failed validation
    # here, so a closed pipe must exit as a shell reports SIGPIPE (141), with no traceback.
    import os
    import subprocess
    import sys

    path = write(tmp_path / "s.score", "a b 0.9 target\na c 0.1 nontarget\n")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from sveval.cli.main import main; main()", "metrics", str(path)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["metrics", "--bogus", "x"], "No such option '--bogus'. (see 'sveval metrics --help')"),
        (["metrics"], "Missing argument 'SCORE_FILES...'. (see 'sveval metrics --help')"),
        (["nosuch"], "No such command 'nosuch'. (see 'sveval --help')"),
        (
            ["det", "--p-target", "x", "a.score"],
            "Invalid value for '--p-target': 'x' is not a valid float. (see 'sveval det --help')",
        ),
        (  # found by a second tester: a traceback (numpy refuses negative seeds)
            ["demo", "--seed", "-1"],
            "Invalid value for '--seed': -1 is not in the range x>=0. (see 'sveval demo --help')",
        ),
        (["demo", "--out", ""], "--out is empty: name a file or folder (an unset variable?)"),  # not "."
        (["report", "x", "--out="], "--out is empty: name a file or folder (an unset variable?)"),
    ],
)
def test_usage_errors_are_one_line_like_every_other_error(args, message):
    """Found by a tester: click's own usage errors were three lines (usage, hint, error), not the one
    `sveval: error: ...` line the README promises; exit 2 as before."""
    result = CliRunner().invoke(cli, args, prog_name="sveval")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"sveval: error: {message}"]

