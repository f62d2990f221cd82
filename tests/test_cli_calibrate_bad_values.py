"""Values at the edge of float64 and inconsistent inputs in `calibrate`, `fuse`, `ape`/`det` and `--dcf`:
every one an input error (exit 2, one line naming the file and line) that leaves no output, or, where the
value is legal, text that stays exact (Python's own `%.5f`) and readable (`%g` costs, no 300-digit numbers).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

from sveval.io.results import format_param
from sveval.io.score_text import decimal_table
from sveval.io.scores import format_score_lines
from sveval.scoring.cosine import round_half_even_decimal


def run(*args):
    result = CliRunner().invoke(cli, list(map(str, args)))
    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError)
    return result.exit_code, result.output


def write_scores(path, seed, n=300, labelled=True, values=None, extra=False):
    rng = np.random.default_rng(seed)
    lab = np.random.default_rng(7).random(n) < 0.3  # the same trials carry the same labels in every file
    enroll = np.array([f"e{i % 17}" for i in range(n)], dtype=object)
    test = np.array([f"t{i}" for i in range(n)], dtype=object)
    if values is None:
        values = np.where(lab, 2.0, -1.0) + rng.normal(0, 1, n)
    stats = rng.uniform(0.5, 2.0, (n, 4)) if extra else None
    path.write_text(format_score_lines(enroll, test, values, lab if labelled else None, stats))
    return path


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else None


def refused(args, out, *needles):
    """Run a command that must fail on its input: exit 2, one error line with each needle, `out` untouched."""
    before = snapshot(out)
    code, text = run(*args)
    assert code == 2, text
    errors = [line for line in text.splitlines() if "rror" in line]
    assert len(errors) == 1, text
    for needle in needles:
        assert needle in errors[0], text
    assert snapshot(out) == before, "a refused run changed its output folder"
    return errors[0]


@pytest.fixture
def files(tmp_path):
    write_scores(tmp_path / "cal_a.score", 0)
    write_scores(tmp_path / "cal_b.score", 1)
    write_scores(tmp_path / "eval.score", 2)
    out = tmp_path / "existing"
    assert run("calibrate", "--train", tmp_path / "cal_a.score", "--out", out)[0] == 0
    return tmp_path


@pytest.mark.parametrize("spec", ["0.01:inf:1", "0.01:1:nan", "nan", "0.01:1:-inf"])
@pytest.mark.parametrize("command", ["metrics", "calibrate", "fuse"])
def test_a_non_finite_dcf_is_a_usage_error_in_every_command(files, command, spec):
    code, text = run(command, "--dcf", spec)  # refused at option parsing, before any other check
    assert code == 2 and "--dcf" in text and "finite" in text, text


def test_costs_and_cllr_print_readably(files, tmp_path):
    assert [format_param(x) for x in (1, 10.0, 0.01, 0.5, 1e308, 1e-300, 1e7)] == [
        "1", "10", "0.01", "0.5", "1e+308", "1e-300", "1e+07"
    ]  # fmt: skip
    assert format_param(0.001234567) == "0.001234567"  # %g would drop digits: the exact repr
    code, text = run("metrics", files / "eval.score", "--dcf", "0.01:1e308:1", "--dcf", "0.01")
    assert code == 0 and "minDCF (p_target:0.01 c_miss:1e+308 c_fa:1) = " in text, text
    assert "minDCF (p_target:0.01 c_miss:1 c_fa:1) = " in text  # WeSpeaker's text for ordinary values
    extreme = tmp_path / "extreme.score"
    extreme.write_text("a b -1e308 target\nc d 1 nontarget\n")
    code, text = run("metrics", "--llr", extreme)
    assert code == 0 and max(len(line) for line in text.splitlines()) < 100, text
    assert "Cllr = 7.213e+307 bits" in text  # -1e308 nats as a target LLR: 1e308 / ln 2 bits


def test_huge_values_format_as_pythons_percent():
    rng = np.random.default_rng(0)
    edge = 2.0**62 / 1e5
    values = np.concatenate(
        [
            [1e13, -1e13, 4.7e13, 9.2e13, 2e14, 1e20, -1e300, 1e308, -1.7976931348623157e308],
            [np.nextafter(edge, 0), edge, np.nextafter(edge, np.inf), 2.0**52 / 1e5, 0.0, -0.0, 2.5e-6],
            rng.normal(0, 5, 50),
        ]
    )
    for digits in (4, 5):
        table = decimal_table(values, digits)
        got = [row[row != 0].tobytes().decode() for row in table]
        assert got == ["%.*f" % (digits, v) for v in values]  # noqa: UP031 (the oracle is Python's %)
        read_back = round_half_even_decimal(values, digits)
        np.testing.assert_array_equal(read_back, [float("%.*f" % (digits, v)) for v in values])  # noqa: UP031


def test_huge_apply_scores_are_written_exactly(files):
    huge = files / "huge.score"
    huge.write_text("e1 t1 1e13 target\ne2 t2 -2e14 nontarget\ne3 t3 1.5 nontarget\ne4 t4 1e300 target\n")
    out = files / "cal"
    code, text = run("calibrate", "--train", files / "cal_a.score", "--apply", huge, "--out", out, "--json")
    assert code == 0, text
    a, b = json.loads(text)["model"]["weights"][0], json.loads(text)["model"]["offset"]
    written = [line.split()[2] for line in (out / "cali_huge.score").read_text().splitlines()]
    assert written == ["%.5f" % (a * v + b) for v in (1e13, -2e14, 1.5, 1e300)]  # noqa: UP031


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["existing", "new"])
def test_non_finite_llrs_are_an_input_error_naming_the_line(files, folder):
    model = json.loads((files / "existing" / "calibration_model.json").read_text())
    model["weights"] = [1e300]
    big = files / "big_model.json"
    big.write_text(json.dumps(model))
    scores = files / "wide.score"
    scores.write_text("a b 1.5 target\nc d 1e10 nontarget\n")
    out = files / folder
    refused(("calibrate", "--model", big, "--apply", scores, "--out", out), out, "wide.score:2", "non-finite")
    train = ("--train", files / "cal_a.score", "--train", files / "cal_b.score")
    far = files / "far.score"
    far.write_text("a b 1.5 target\nc d 1e308 nontarget\n")
    refused(("fuse", *train, "--apply", f"{far},{far}", "--out", out), out, "far.score:2", "non-finite")


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_qmf_statistics_must_be_finite(files, bad):
    good = write_scores(files / "qmf_train.score", 3, extra=True)
    lines = good.read_text().splitlines()
    fields = lines[4].split()
    fields[6] = bad
    lines[4] = " ".join(fields)
    broken = files / "broken.score"
    broken.write_text("\n".join(lines) + "\n")
    out = files / "existing"
    qmf = ("calibrate", "--method", "qmf", "--out", out)
    refused((*qmf, "--train", broken), out, "broken.score:5", "statistic")
    refused((*qmf, "--train", good, "--apply", broken), out, "broken.score:5", "statistic")


@pytest.mark.slow
@pytest.mark.parametrize(
    "change",
    [
        {"weights": [float("nan")]},
        {"offset": 1e309},  # json writes Infinity
        {"offset": float("nan")},
        {"weights": [1.0, 2.0], "features": ["score", "other"]},  # a linear model has one weight
        {"prior": 0.0},
    ],
)
def test_model_json_is_validated_on_load(files, change):
    model = json.loads((files / "existing" / "calibration_model.json").read_text())
    bad = files / "bad_model.json"
    bad.write_text(json.dumps({**model, **change}))
    out = files / "existing"
    args = ("calibrate", "--model", bad, "--apply", files / "eval.score", "--out", out)
    refused(args, out, "bad_model.json")


@pytest.mark.slow
def test_output_name_collisions_are_refused_before_any_work(files):
    (files / "x").mkdir()
    (files / "y").mkdir()
    first, second = write_scores(files / "x" / "a0.score", 4), write_scores(files / "y" / "a0.score", 5)
    out = files / "existing"
    refused(
        ("calibrate", "--train", files / "cal_a.score", "--apply", first, "--apply", second, "--out", out),
        out,
        str(first),
        str(second),
        "cali_a0.score",
    )
    train = ("--train", files / "cal_a.score", "--train", files / "cal_b.score")
    refused(
        ("fuse", *train, "--apply", f"{first},{second}", "--apply", f"{second},{first}", "--out", out),
        out,
        "fused_a0.score",
    )
    no_suffix = files / "x" / "a0"
    no_suffix.write_bytes(first.read_bytes())  # cali_a0 and cali_a0.score: both results are cali_a0.result
    refused(
        ("calibrate", "--train", files / "cal_a.score", "--apply", first, "--apply", no_suffix, "--out", out),
        out,
        "cali_a0.result",
    )
    for command in ("ape", "det"):
        plots = files / f"{command}_plots"
        refused((command, first, second, "--out", plots), plots, f"a0.{command}.png")


@pytest.mark.slow
def test_fuse_checks_the_labels_of_every_training_file(files):
    out = files / "existing"
    a = files / "cal_a.score"
    lines = (files / "cal_b.score").read_text().splitlines()
    flipped_at = next(i for i, line in enumerate(lines) if line.endswith(" target"))
    lines[flipped_at] = lines[flipped_at].replace(" target", " nontarget")
    flipped = files / "flipped.score"
    flipped.write_text("\n".join(lines) + "\n")
    for order in ((a, flipped), (flipped, a)):  # either order: refused, never a result depending on it
        train = ("--train", order[0], "--train", order[1])
        refused(("fuse", *train, "--out", out), out, f"{order[1].name}:{flipped_at + 1}", "disagree")
    bare = write_scores(files / "bare.score", 1, labelled=False)
    refused(("fuse", "--train", a, "--train", bare, "--out", out), out, "bare.score:1", "label")

    trial_list = files / "cal.kaldi"
    trial_list.write_text("".join(" ".join(line.split()[:2] + line.split()[3:4]) + "\n" for line in
                                  (files / "cal_b.score").read_text().splitlines()))  # fmt: skip
    listed = ("--train-trials", trial_list, "--out", files / "listed")
    assert run("fuse", "--train", a, "--train", bare, *listed)[0] == 0  # the list labels the bare file
    refused(("fuse", "--train", a, "--train", flipped, *listed), files / "listed", "flipped.score:")
