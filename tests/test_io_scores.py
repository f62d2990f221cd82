import numpy as np
import pytest
from conftest import write

from sveval.errors import InputError
from sveval.io.results import format_block, parse_result_file, read_result_file, write_result_file
from sveval.io.scores import (
    format_score_lines,
    parse_score_file,
    read_score_file,
    require_finite,
    write_score_file,
)
from sveval.types import ResultBlock


def test_four_eight_and_three_columns():
    four = parse_score_file("a b 0.50000 target\na c -0.10000 nontarget\n", "s4")
    assert (
        four.values.tolist() == [0.5, -0.1] and four.labels.tolist() == [True, False] and four.extra is None
    )
    eight = parse_score_file("a b 1.25000 target 0.5000 0.6000 0.1000 0.2000\n", "s8")
    assert eight.extra.tolist() == [[0.5, 0.6, 0.1, 0.2]]
    three = parse_score_file("a b 0.5\n", "s3")
    assert three.labels is None


@pytest.mark.parametrize(
    "text, line, needle",
    [
        ("a b 0.5 target\na c 0.1\n", 2, "4 fields"),
        ("a b 0.5 target\na c zero nontarget\n", 2, "'zero'"),
        ("a b 0.5 yes\n", 1, "'yes'"),
        ("a b\n", 1, "3, 4 or 8 fields"),
        ("a b 0.5 target 1 2 3 x\n", 1, "'x'"),
    ],
)
def test_malformed_score_lines(text, line, needle):
    with pytest.raises(InputError) as err:
        parse_score_file(text, "bad.score")
    assert f"bad.score:{line}:" in str(err.value) and needle in str(err.value)


def test_non_finite_scores_are_named():
    scores = parse_score_file("a b 0.5 target\na c nan nontarget\nb c inf nontarget\n", "n.score")
    with pytest.raises(InputError, match=r"n.score:2: score is nan \(2 non-finite"):
        require_finite(scores)


def test_written_text_equals_python_format_of_each_value(tmp_path):
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(size=2000), [0.123455, -0.0000049, 2.5e-6, -1.0, 0.0]])
    n = len(values)
    enroll = np.array([f"e{i}" for i in range(n)], dtype=object)
    test = np.array([f"t{i}" for i in range(n)], dtype=object)
    labels = rng.random(n) < 0.5
    extra = rng.normal(size=(n, 4))
    path = tmp_path / "x.score"
    write_score_file(path, enroll, test, values, labels, extra)
    lines = path.read_text().splitlines()
    for i in (0, 1, n - 5, n - 4, n - 3, n - 1):  # WeSpeaker's format string, line by line
        expected = "{} {} {:.5f} {} {:.4f} {:.4f} {:.4f} {:.4f}".format(
            enroll[i], test[i], values[i], "target" if labels[i] else "nontarget", *extra[i]
        )
        assert lines[i] == expected
    back = read_score_file(path)
    assert np.allclose(back.values, values, atol=5e-6) and back.labels.tolist() == labels.tolist()
    assert format_score_lines(enroll[:1], test[:1], values[:1], None) == f"e0 t0 {values[0]:.5f}\n"


@pytest.mark.slow
def test_vectorised_formatting_equals_per_line_python_format_everywhere():
    """Every line, against str.format: random values at several scales, exact binary halfway cases
    (k/64, k/2**20: '%.5f' rounds those half to even), values just beside them, -0.0, tiny negatives that
    print as -0.00000, large values, non-ASCII ids."""
    rng = np.random.default_rng(1)
    halfway = np.concatenate(
        [(2 * rng.integers(-(10**6), 10**6, 3000) + 1) / 64, rng.integers(-(2**24), 2**24, 3000) / 2**20]
    )
    values = np.concatenate([
        rng.normal(size=3000), rng.normal(size=3000) * 40, rng.uniform(-1, 1, 3000).astype(np.float32),
        halfway, np.nextafter(halfway, np.inf), np.nextafter(halfway, -np.inf),
        [0.0, -0.0, -1e-9, 4.9999e-6, -5e-6, 5e-6, 0.000015, 99999.999995, 123456789.123456, -1e12],
    ])  # fmt: skip
    n = len(values)
    enroll = np.array([f"id{i % 97}/é{i % 5}/{i}.wav" for i in range(n)], dtype=object)
    test = np.array([f"t{i % 13}" for i in range(n)], dtype=object)
    labels = rng.random(n) < 0.5
    extra = np.stack([values[::-1], np.abs(values) * 3, rng.normal(size=n), values], axis=1)
    got = format_score_lines(enroll, test, values, labels, extra).splitlines()
    for i in range(n):
        expected = "{} {} {:.5f} {} {:.4f} {:.4f} {:.4f} {:.4f}".format(
            enroll[i], test[i], values[i], "target" if labels[i] else "nontarget", *extra[i]
        )
        assert got[i] == expected, i
    three = format_score_lines(enroll, test, values, None).splitlines()
    assert all(three[i] == f"{enroll[i]} {test[i]} {values[i]:.5f}" for i in range(n))
    with pytest.raises(ValueError, match="non-finite"):
        format_score_lines(enroll[:1], test[:1], np.array([np.nan]), None)


def test_per_utterance_statistics_give_the_same_lines_as_per_trial_ones():
    from sveval.io.scores import format_coded_score_bytes, id_byte_table

    rng = np.random.default_rng(2)
    ids = np.array([f"u{i}" for i in range(50)], dtype=object)
    norms, means = rng.uniform(0, 30, 50), rng.normal(size=50) / 5
    e, t = rng.integers(0, 50, 400), rng.integers(0, 50, 400)
    values, labels = rng.normal(size=400), rng.random(400) < 0.5
    per_trial = np.stack([norms[e], norms[t], means[e], means[t]], axis=1)
    table = id_byte_table(ids)
    a = format_coded_score_bytes(table, e, t, values, labels, utterance_extra=(norms, means))
    b = format_coded_score_bytes(table, e, t, values, labels, per_trial, chunk=77)
    assert a == b == format_score_lines(ids[e], ids[t], values, labels, per_trial).encode()


def test_write_is_atomic_on_failure(tmp_path):
    path = write(tmp_path / "keep.score", "old\n")
    bad = np.array([object()], dtype=object)  # formatting fails midway
    with pytest.raises(TypeError):
        write_score_file(path, np.array(["a"], dtype=object), np.array(["b"], dtype=object), bad, None)
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["keep.score"]


def test_result_block_is_wespeaker_text_byte_for_byte():
    block = ResultBlock("vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score", 0.94123, 0.08949)
    # compute_metrics.py: "---- {} -----", "EER = {0:.3f}", "minDCF (p_target:{} c_miss:{} c_fa:{}) = {:.3f}"
    expected = "---- {} -----\nEER = {:.3f}\nminDCF (p_target:{} c_miss:{} c_fa:{}) = {:.3f}\n".format(
        block.score_file, 0.94123, 0.01, 1, 1, 0.08949
    )
    assert format_block(block) == expected
    assert "c_miss:10 c_fa:1" in format_block(ResultBlock("s", 1, 0.5, 0.01, 10.0, 1.0))


def test_result_file_round_trip_and_rewrite(tmp_path):
    blocks = [ResultBlock("a.score", 1.2344, 0.1), ResultBlock("b.score", 3.0, 0.25, 0.05, 1, 1)]
    path = tmp_path / "vox1_cos_result"
    write_result_file(path, blocks)
    write_result_file(path, blocks)  # rewritten, not appended
    back = read_result_file(path)
    assert [(b.score_file, b.eer_percent, b.min_dcf, b.p_target) for b in back] == [
        ("a.score", 1.234, 0.1, 0.01),
        ("b.score", 3.0, 0.25, 0.05),
    ]


@pytest.mark.parametrize(
    "text, line",
    [
        ("---- a.score -----\nEER = x\nminDCF (p_target:0.01 c_miss:1 c_fa:1) = 0.1\n", 2),
        ("---- a.score -----\nEER = 1.0\n", 2),
        ("EER = 1.0\n", 1),
        ("---- a.score -----\nEER = 1.0\nminDCF = 0.1\n", 3),
    ],
)
def test_malformed_result_files(text, line):
    with pytest.raises(InputError) as err:
        parse_result_file(text, "r")
    assert f"r:{line}:" in str(err.value)
