"""`sveval validate` end to end: a clean release passes; each corruption fails naming the file and problem."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import VOXCELEB
from release_helpers import ASNORM, COSINE, RESULTS, build_release, copy_release, edit_lines
from sveval.cli.main import cli

pytestmark = [
    pytest.mark.slow,  # each builds or validates a whole release of the real Vox1-O list
    pytest.mark.skipif(
        not (VOXCELEB / "veri_test2.txt").is_file(), reason=f"shared data not found at {VOXCELEB}"
    ),
]


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return build_release(tmp_path_factory.mktemp("clean"), VOXCELEB)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Only the AS-norm score file and its result file: enough for one corruption at a time."""
    return build_release(tmp_path_factory.mktemp("small"), VOXCELEB, files=(ASNORM,), seed=1)


@pytest.fixture
def trials_env(monkeypatch):
    monkeypatch.setenv("SVEVAL_TRIALS_DIR", str(VOXCELEB))


def run(*args):
    return CliRunner().invoke(cli, ["validate", "--quiet", *map(str, args)])


def failing_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAIL")]


def test_clean_release_passes(clean, trials_env):
    result = run(clean)
    assert result.exit_code == 0, result.output
    assert not failing_lines(result.output)
    for name in (ASNORM, COSINE, *RESULTS.values(), "config.yaml"):
        assert name in result.output
    assert "0 failed" in result.output
    assert result.output.count("\npass") >= 3 * 6 + 3 * 2 + 1  # 6 per score file, 2 per result file, config


def test_clean_release_json(clean, trials_env):
    result = run(clean, "--json")
    assert result.exit_code == 0
    out = json.loads(result.output)
    assert out["passed"] is True and out["counts"]["fail"] == 0
    names = {(c["name"], c["file"]) for c in out["checks"]}
    assert ("coverage", ASNORM) in names and ("metrics", "vox1_asnorm300_result") in names
    assert all(set(c) == {"name", "status", "file", "message"} for c in out["checks"])


def test_scores_folder_and_trials_dir_option(clean):
    result = run(clean / "scores", "--trials-dir", VOXCELEB)
    assert result.exit_code == 0, result.output
    assert "config.yaml" in result.output  # the release root is the scores folder's parent


def _drop(lines):
    return lines[:99] + lines[100:]


def _duplicate(lines):
    return lines + [lines[4]]


def _flip(lines):
    fields = lines[6].split()
    fields[3] = "nontarget" if fields[3] == "target" else "target"
    return lines[:6] + [" ".join(fields) + "\n"] + lines[7:]


def _nan(lines):
    fields = lines[2].split()
    fields[2] = "nan"
    return lines[:2] + [" ".join(fields) + "\n"] + lines[3:]


def _truncate_mid_line(lines):
    return lines[:-1] + [lines[-1][:30]]


def _truncate_at_line(lines):
    return lines[:-500]


@pytest.mark.parametrize(
    "edit, check, needles",
    [
        (_drop, "coverage", ["1 trial(s) of vox1_O_cleaned not scored"]),
        (_duplicate, "coverage", ["1 trial(s) scored more than once", "line 5:", "line 37612:"]),
        (_flip, "labels", ["1 label(s) disagree with vox1_O_cleaned", "line 7:"]),
        (_nan, "finite", ["1 score(s) not finite", "line 3: nan"]),
        (_truncate_mid_line, "parse", [":37611:", "8 fields"]),
        (_truncate_at_line, "coverage", ["500 trial(s) of vox1_O_cleaned not scored"]),
    ],
    ids=["dropped", "duplicated", "flipped-label", "nan", "truncated-mid-line", "truncated-at-line"],
)
def test_corrupted_score_file_fails(small, tmp_path, trials_env, edit, check, needles):
    folder = copy_release(small, tmp_path)
    edit_lines(folder / "scores" / ASNORM, edit)
    result = run(folder)
    assert result.exit_code == 1, result.output
    lines = [line for line in failing_lines(result.output) if f" {check} " in line]
    assert lines, result.output
    assert ASNORM in lines[0] and all(n in lines[0] for n in needles), lines[0]


def test_edited_result_number_fails(small, tmp_path, trials_env):
    folder = copy_release(small, tmp_path)
    path = folder / "scores" / RESULTS[ASNORM]
    printed = path.read_text().splitlines()[1].split(" = ")[1]
    edited = f"{float(printed) + 0.001:.3f}"
    edit_lines(path, lambda lines: [lines[0], f"EER = {edited}\n", *lines[2:]])
    result = run(folder)
    assert result.exit_code == 1
    (line,) = failing_lines(result.output)
    assert RESULTS[ASNORM] in line and ASNORM in line
    assert f"EER printed {edited}, recomputed {printed}" in line


def test_score_file_renamed_to_the_wrong_list_fails(small, tmp_path, trials_env):
    folder = copy_release(small, tmp_path)
    wrong = "vox2_dev_asnorm300_vox1_O.kaldi.score"
    (folder / "scores" / ASNORM).rename(folder / "scores" / wrong)
    result = run(folder)
    assert result.exit_code == 1
    lines = failing_lines(result.output)
    coverage = next(line for line in lines if " coverage " in line)
    assert wrong in coverage and "109 trial(s) of vox1_O not scored" in coverage
    assert any(" result " in line and wrong in line and "no block for it" in line for line in lines)
    assert "score file not released" in result.output  # the block still names the old file


def test_missing_result_file_fails(clean, tmp_path, trials_env):
    """The AS-norm result file removed from a folder that keeps the other result files: a FAIL naming the
    file expected. (This used `small`, whose only result file that was: a folder left with no result file
    at all has no printed figure to check, see the test below.)"""
    folder = copy_release(clean, tmp_path)
    (folder / "scores" / RESULTS[ASNORM]).unlink()
    result = run(folder)
    assert result.exit_code == 1
    (line,) = failing_lines(result.output)
    assert ASNORM in line and "no result file for asnorm scoring" in line and RESULTS[ASNORM] in line


def test_labelled_scores_without_any_result_file_are_not_checkable(small, tmp_path, trials_env):
    """A folder of 4-column score files and no result file at all (another toolkit's labelled scores) is
    checked as a folder of 3-column files is: its score files fully, its printed figures not checkable
    (there are none), exit 0; --strict fails it for that."""
    folder = copy_release(small, tmp_path)
    (folder / "scores" / RESULTS[ASNORM]).unlink()
    result = run(folder)
    assert result.exit_code == 0, result.output
    assert not failing_lines(result.output)
    (line,) = [line for line in result.output.splitlines() if " result " in line]
    assert line.startswith("not checkable") and ASNORM in line
    assert line.endswith("the folder has no result files: no printed figure to check")
    assert run(folder, "--strict").exit_code == 1


def test_unavailable_trial_list_is_not_checkable_never_a_pass(small):
    result = run(small)  # no $SVEVAL_TRIALS_DIR, empty cache: vox1_O_cleaned is nowhere
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if " trials " in line)
    assert line.startswith("not checkable") and "sveval trials fetch vox1_O_cleaned" in line
    assert "1 passed" not in result.output and "not checkable" in result.output.splitlines()[-1]
    strict = run(small, "--strict")
    assert strict.exit_code == 1 and "--strict" in strict.output


@pytest.mark.parametrize(
    "args, needle",
    [
        (["does/not/exist"], "no such folder"),
        (["--published", "nobody", "."], "'nobody' is not"),
        (["--trials-dir", "does/not/exist", "."], "does not exist"),
    ],
)
def test_usage_errors_exit_2(args, needle):
    result = run(*args)
    assert result.exit_code == 2 and needle in result.output


def test_folder_without_scores_exits_2(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    result = run(tmp_path)
    assert result.exit_code == 2 and "no score files" in result.output
    file_result = run(tmp_path / "notes.txt")
    assert file_result.exit_code == 2 and "expected a release folder" in file_result.output


def test_help_has_examples():
    result = CliRunner().invoke(cli, ["validate", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and "--published" in result.output


def test_regenerate_det(small, tmp_path, trials_env):
    import importlib.util

    out = tmp_path / "det"
    result = run(small, "--regenerate-det", out)
    assert result.exit_code == 0, result.output
    det = [line for line in result.output.splitlines() if " det " in line]
    if importlib.util.find_spec("sveval.reporting.det") is None:
        assert len(det) == 1 and det[0].startswith("not checkable") and "sveval.reporting.det" in det[0]
    else:
        png = out / "vox2_dev_asnorm300_vox1_O_cleaned.kaldi.det.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(det) == 1 and det[0].startswith("pass") and str(png) in det[0]


def test_regenerate_det_redraws_its_own_plot_but_never_a_user_s_file(small, tmp_path, trials_env):
    """Before any check: a user's file under a plot's name in the DET folder is exit 2, one line naming
    it, left as it was; a plot sveval drew there is redrawn."""
    pytest.importorskip("sveval.reporting.det")
    out = tmp_path / "det"
    out.mkdir()
    png = out / "vox2_dev_asnorm300_vox1_O_cleaned.kaldi.det.png"
    png.write_text("my precious figure\n")
    result = run(small, "--regenerate-det", out)
    assert result.exit_code == 2 and result.output.splitlines() == [
        f"sveval: error: {png}: --regenerate-det is a file sveval did not write; sveval replaces only its "
        "own outputs: write elsewhere"
    ]
    assert png.read_text() == "my precious figure\n"
    png.unlink()
    for _ in range(2):
        assert run(small, "--regenerate-det", out).exit_code == 0 and png.read_bytes().startswith(b"\x89PNG")


def test_regenerate_det_into_an_unwritable_place_exits_2(small, tmp_path):
    (tmp_path / "file").write_text("x")
    result = run(small, "--regenerate-det", tmp_path / "file" / "det")
    assert result.exit_code == 2 and "not writable" in result.output
