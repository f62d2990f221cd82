"""What commands print on degenerate input: --json is JSON, numpy warnings are sveval warnings, `--mean`
refuses what is not a vector of numbers, and the bootstrap says what it dropped and refuses too few
replicates.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write
from sveval.cli.main import cli
from test_cli_score import exp  # noqa: F401  (the fixture: a small WeSpeaker exp folder)

from sveval.stats.bootstrap import MIN_REPLICATES


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, which Python writes but no JSON parser must accept."""

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def sveval(*args, timeout=120):
    """A real process: Python's warnings go to its real stderr as a user sees them."""
    code = "from sveval.cli.main import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    return done.returncode, done.stdout, done.stderr


def only_sveval_lines(stderr: str) -> None:
    assert "Traceback" not in stderr and "RuntimeWarning:" not in stderr, stderr
    assert all(line.startswith("sveval: ") for line in stderr.splitlines()), stderr


def wrong_llrs(path, n: int = 200):
    """LLRs of 1e308 on the wrong side: Cllr's sum overflows a float (inf)."""
    lines = [
        f"e{i} t{i} {(-1e308 if i % 3 == 0 else 1e308)!r} {'target' if i % 3 == 0 else 'nontarget'}\n"
        for i in range(n)
    ]
    return write(path, "".join(lines))


@pytest.mark.slow
def test_metrics_llr_json_is_json_with_the_overflow_said(tmp_path):
    path = wrong_llrs(tmp_path / "wrong.score")
    code, out, err = sveval("metrics", path, "--llr", "--json", "--eer", "all")
    assert code == 0, err
    [report] = strict_json(out)
    assert report["cllr"] is None and report["non_finite"] == {"cllr": "inf"}
    assert report["min_cllr"] is not None
    only_sveval_lines(err)
    assert "Cllr is inf: the per-trial costs overflow a float" in err
    code, out, err = sveval("metrics", path, "--llr")
    assert code == 0 and "Cllr = inf bits" in out
    only_sveval_lines(err)


@pytest.mark.slow
def test_a_numpy_warning_becomes_one_sveval_line(tmp_path):
    """ape computes Cllr without sveval's errstate: the main entry point rewrites numpy's warning."""
    path = wrong_llrs(tmp_path / "wrong.score")
    _, _, err = sveval("ape", path, "--out", tmp_path / "ape.png")
    [line] = [x for x in err.splitlines() if "overflow" in x]
    assert line.startswith("sveval: warning: overflow encountered in")
    assert "(RuntimeWarning in sveval." in line and "a number computed there may be inf or nan" in line


@pytest.mark.slow
def test_report_json_is_json_with_an_infinite_cllr(tmp_path):
    folder = tmp_path / "cal"
    wrong_llrs(folder / "cali_x.score")
    code, out, err = sveval("report", folder, "--json", "--quiet")
    assert code == 0, err
    only_sveval_lines(err)
    [row] = strict_json((folder / "report.json").read_text())["systems"][0]["rows"]
    assert row["cllr"] is None and row["non_finite"] == {"cllr": "inf"}


# ---- --mean ------------------------------------------------------------------------------------------


def _npz(path):
    np.savez(path, mean=np.zeros(16))
    os.replace(f"{path}.npz", path)  # an archive under a .npy name


def _pickle(path):
    path.write_bytes(pickle.dumps(np.zeros(16)))


def _fifo(path):
    os.mkfifo(path)


MEANS = {
    "npz": (_npz, "is an .npz archive (arrays: mean), expected a .npy file holding one vector"),
    "strings": (lambda p: np.save(p, np.array(["a"] * 16)), "holds <U1 values, expected real numbers"),
    "objects": (
        lambda p: np.save(p, np.array([None] * 16, dtype=object), allow_pickle=True),
        "holds pickled (object) data, which is never loaded",
    ),
    "pickle": (_pickle, "holds pickled (object) data, which is never loaded"),
    "complex": (lambda p: np.save(p, np.zeros(16, complex)), "holds complex128 values"),
    "bools": (lambda p: np.save(p, np.zeros(16, bool)), "holds bool values"),
    "structured": (lambda p: np.save(p, np.zeros(16, [("a", "f4")])), "expected real numbers"),
    "nan": (lambda p: np.save(p, np.full(16, np.nan)), "16 value(s) that are not finite, e.g. nan"),
    "empty": (lambda p: p.write_bytes(b""), "cannot read the mean vector (expected a .npy file)"),
    "garbage": (lambda p: p.write_bytes(b"PK\x03\x04rest"), "cannot read the mean vector"),
}


@pytest.mark.parametrize("kind", sorted(MEANS))
def test_mean_that_is_no_vector_is_one_line(exp, tmp_path, kind):  # noqa: F811
    make, message = MEANS[kind]
    mean = tmp_path / "mean.npy"
    make(mean)
    emb, trials = exp / "exp" / "embeddings" / "vox1", exp / "mine.kaldi"
    args = ["score", "--quiet", "--embeddings", emb, "--trials", trials, "--mean", mean]
    args += ["--out", tmp_path / "o"]
    result = CliRunner().invoke(cli, list(map(str, args)))
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"sveval: error: {mean}: ") and message in line, line


def test_mean_fifo_is_refused_before_it_is_opened(tmp_path):
    """In a process of its own: np.load on a FIFO blocks for ever, the timeout makes that a failure."""
    _fifo(tmp_path / "mean.npy")
    code = (
        "import sys\nfrom sveval.errors import InputError\n"
        "from sveval.io.embeddings import read_mean_vector\n"
        "try:\n    read_mean_vector(sys.argv[1], 16)\nexcept InputError as exc:\n    print(exc)\n"
    )
    argv = [sys.executable, "-c", code, str(tmp_path / "mean.npy")]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the FIFO was opened (np.load blocked)")
    assert "the mean vector is not a regular file" in done.stdout, done.stdout + done.stderr


# ---- report --bootstrap --------------------------------------------------------------------------------


def few_target_speakers(path):
    """30 speakers with two utterances each, only id10000 with a target trial: about a third of the
    replicates never draw it and have no target trial."""
    rng = np.random.default_rng(1)
    utts = [f"id1{s:04d}/yt{k}/0000{k}.wav" for s in range(30) for k in range(2)]
    lines = []
    for i, e in enumerate(utts):
        for t in utts[i + 1 :]:
            target = e[:7] == t[:7]
            if not target or e.startswith("id10000"):
                label = "target" if target else "nontarget"
                lines.append(f"{e} {t} {rng.normal() + 2 * target:.5f} {label}\n")
    return write(path / "vox1_O_cleaned.kaldi.score", "".join(lines))


@pytest.mark.parametrize("n", [1, 2, 10, MIN_REPLICATES - 1])
def test_bootstrap_refuses_too_few_replicates(tmp_path, n):
    few_target_speakers(tmp_path / "sys")
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "sys"), "--bootstrap", str(n), "--quiet"])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert f"--bootstrap {n} is too few replicates for a 95 % percentile interval" in line
    assert f"at least {MIN_REPLICATES}" in line
    assert not (tmp_path / "sys" / "report.md").exists()


def test_bootstrap_says_how_many_replicates_it_dropped(tmp_path):
    few_target_speakers(tmp_path / "sys")
    args = ["report", str(tmp_path / "sys"), "--bootstrap", "400", "--json", "--quiet"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    boot = strict_json((tmp_path / "sys" / "report.json").read_text())["systems"][0]["rows"][0]["bootstrap"]
    assert 50 < boot["n_dropped"] < 250 and boot["n"] == 400
    text = (tmp_path / "sys" / "report.md").read_text()
    assert "| Speakers | Dropped |" in text and f"| 30 | {boot['n_dropped']} |" in text
    assert "it is dropped, and the intervals are percentiles of the others" in text


def test_bootstrap_refuses_when_dropping_leaves_too_few(tmp_path):
    few_target_speakers(tmp_path / "sys")
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "sys"), "--bootstrap", "50", "--quiet"])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert "only " in line and "of 50 replicates usable" in line and "were dropped" in line
    assert f"needs at least {MIN_REPLICATES} usable replicates; use more replicates" in line
