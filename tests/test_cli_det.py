"""`sveval det` end to end: file names, --out, --overlay, labels from --trials, errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write
from sveval.cli.main import cli


def run(*args):
    result = CliRunner().invoke(cli, ["det", *map(str, args)])
    return result.exit_code, result.output  # stdout and stderr, as a terminal shows them


def score_text(seed: int, n: int = 400, labels: bool = True) -> str:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        target = i % 2 == 0
        score = rng.normal() + 2.5 * target
        tail = (" target" if target else " nontarget") if labels else ""
        lines.append(f"e{i} t{i} {score:.5f}{tail}\n")
    return "".join(lines)


def trial_text(n: int = 400) -> str:
    return "".join(f"e{i} t{i} {'target' if i % 2 == 0 else 'nontarget'}\n" for i in range(n))


def test_one_png_per_file_beside_it(tmp_path):
    a = write(tmp_path / "vox1_O_cleaned.kaldi.score", score_text(0))
    b = write(tmp_path / "sub" / "vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score", score_text(1))
    code, out = run(a, b)
    assert code == 0, out
    made = [
        tmp_path / "vox1_O_cleaned.kaldi.det.png",
        tmp_path / "sub/vox2_dev_asnorm300_vox1_O_cleaned.kaldi.det.png",
    ]
    assert out.split() == [str(p) for p in made]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in made)


def test_standard_input_and_gzip_files_name_their_plots_sensibly(tmp_path, monkeypatch):
    # `-` is drawn as stdin.det.png in the current folder (was `-.det.png`, read by rm as options);
    # x.score.gz as x.det.png beside it, like the x.score it holds
    import gzip

    monkeypatch.chdir(tmp_path)
    piped = CliRunner().invoke(cli, ["det", "-"], input=score_text(0))
    assert piped.exit_code == 0, piped.output
    assert (tmp_path / "stdin.det.png").read_bytes().startswith(b"\x89PNG")
    (tmp_path / "x.score.gz").write_bytes(gzip.compress(score_text(1).encode()))
    code, out = run(tmp_path / "x.score.gz")
    assert code == 0, out
    assert out.split() == [str(tmp_path / "x.det.png")]


@pytest.mark.slow
def test_out_folder_and_overlay_file_with_format_by_extension(tmp_path):
    a = write(tmp_path / "a.score", score_text(0))
    b = write(tmp_path / "b.score", score_text(1))
    code, _ = run(a, b, "--out", tmp_path / "plots")
    assert code == 0 and sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["a.det.png", "b.det.png"]
    code, _ = run(a, b, "--overlay", "--out", tmp_path / "both.svg", "--title", "Vox1-O")
    svg = (tmp_path / "both.svg").read_text()
    assert code == 0 and svg.startswith("<?xml") and "Vox1-O" in svg
    code, _ = run(a, b, "--overlay")
    assert code == 0 and (tmp_path / "overlay.det.png").is_file()


def test_three_column_files_take_labels_from_trials(tmp_path):
    bare = write(tmp_path / "bare.score", score_text(2, labels=False))
    code, out = run(bare)
    assert code == 2 and "pass --trials" in out
    trials = write(tmp_path / "list.txt", trial_text())
    code, out = run(bare, "--trials", trials, "--out", tmp_path / "bare.pdf")
    assert code == 0 and (tmp_path / "bare.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--out", "one.png"], "--out is one file but 2 plots are drawn"),
        (["--out", "plot.jpg", "--overlay"], "--out must end in .png, .svg or .pdf"),
    ],
)
def test_usage_errors_before_any_work(tmp_path, args, message):
    a = write(tmp_path / "a.score", score_text(0))
    b = write(tmp_path / "b.score", score_text(1))
    code, out = run(a, b, *args)
    assert code == 2 and message in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.score", "b.score"]


def _user_file(path):
    path.write_text("my precious figure\n")


def _user_link(path):
    (path.parent / "elsewhere.png").write_text("my precious figure\n")
    path.symlink_to("elsewhere.png")


def _user_folder(path):
    path.mkdir()


def _user_fifo(path):
    os.mkfifo(path)


@pytest.mark.parametrize(
    "args,taken,why",
    [
        ([], "b.det.png", "the plot is a file sveval did not write"),
        (["--overlay"], "overlay.det.png", "the plot is a file sveval did not write"),
        (["--overlay", "--out", "sub/x.svg"], "sub/x.svg", "--out is a file sveval did not write"),
        (["--overlay", "--out", "x.pdf"], "x.pdf", "--out is a file sveval did not write"),
        (["--overlay", "--out", "x.png"], "x.png", "--out is a link"),
        (["--overlay", "--out", "d.png"], "d.png", "--out is not a regular file"),
        (["--overlay", "--out", "f.svg"], "f.svg", "--out is not a regular file"),
    ],
)
def test_a_user_s_file_under_an_image_s_name_is_refused_before_any_work(
    tmp_path, monkeypatch, args, taken, why
):
    """A user's file, a link, a folder or a FIFO under an image's name: exit 2, one line naming it, nothing
    written or read (the malformed second file is never reached), the user's entry as it was."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.score", score_text(0))
    write(tmp_path / "b.score", "e1 t1 0.5 target\ne2 t2 zero nontarget\n")
    (tmp_path / "sub").mkdir()
    make = {"x.png": _user_link, "d.png": _user_folder, "f.svg": _user_fifo}.get(taken, _user_file)
    make(tmp_path / taken)
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    code, out = run("a.score", "b.score", *args)
    assert code == 2 and out.splitlines() == [
        f"sveval: error: {taken}: {why}; sveval replaces only its own outputs: write elsewhere"
    ]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before  # a.det.png neither
    if make in (_user_file, _user_link):
        assert (tmp_path / taken).read_text() == "my precious figure\n"


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_an_image_sveval_drew_is_redrawn_and_carries_its_mark(tmp_path, suffix):
    """Each format holds sveval's mark where `refuse_replacing_foreign` looks (a PDF's at its end), so det
    and ape redraw their own images, and each other's, as before."""
    from sveval.io.figures import SIGNATURES

    a = write(tmp_path / "a.score", score_text(0))
    image = tmp_path / f"a{suffix}"
    assert run(a, "--out", image)[0] == 0
    signature, at_end = SIGNATURES[suffix[1:]]
    data = image.read_bytes()
    assert signature in (data[-65536:] if at_end else data[:4096])
    assert run(a, "--out", image, "--title", "again")[0] == 0 and image.read_bytes() != data
    result = CliRunner().invoke(cli, ["ape", str(a), "--out", str(image)])
    assert result.exit_code == 0, result.output


def test_malformed_score_file_names_file_and_line(tmp_path):
    bad = write(tmp_path / "bad.score", "a b 0.5 target\na c zero nontarget\n")
    code, out = run(bad)
    assert code == 2 and "bad.score:2" in out


def test_one_class_file_is_an_input_error_and_ties_warn(tmp_path):
    from click.testing import CliRunner
    from sveval.cli.main import cli

    one = tmp_path / "one.score"
    one.write_text("a b 0.5 target\nc d 0.7 target\n")
    result = CliRunner().invoke(cli, ["det", str(one), "--out", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{one}: no nontarget trials" in result.stderr and not (tmp_path / "o.png").exists()
    const = tmp_path / "const.score"
    const.write_text("a b 0.5 target\nc d 0.5 target\ne f 0.5 nontarget\ng h 0.5 nontarget\n")
    result = CliRunner().invoke(cli, ["det", str(const), "--out", str(tmp_path / "c.png")])
    assert result.exit_code == 0
    assert "tied scores: EER 50.000 here; the per-trial sweep in file order" in result.stderr


def test_the_curve_its_numbers_and_the_tie_check_come_from_one_sweep(tmp_path, monkeypatch):
    from sveval.metrics.detection import SortedScores

    sweeps = []
    det_curve = SortedScores.det_curve
    monkeypatch.setattr(SortedScores, "det_curve", lambda self, *a: sweeps.append(a) or det_curve(self, *a))
    path = write(tmp_path / "x.score", score_text(0))
    code, out = run(path, "--out", tmp_path / "x.png")
    assert code == 0, out
    assert sweeps == [()]  # the tie-aware sweep, once (the tie check's per-trial numbers never sweep it)


def curve_ids(svg_path):
    """The curves' labels as drawn: each DET line carries gid `det:<label>` (no pixels compared)."""
    import re

    return re.findall(r'<g id="det:([^"]+)"', svg_path.read_text())


def test_overlay_legend_names_files_by_what_tells_them_apart(tmp_path):
    same = [write(tmp_path / d / "vox1_O.kaldi.score", score_text(k)) for k, d in enumerate(("a", "b"))]
    code, out = run(*same, "--overlay", "--out", tmp_path / "cmp.svg")
    assert code == 0, out
    assert curve_ids(tmp_path / "cmp.svg") == ["a", "b"]
    deep = [
        write(tmp_path / "exp" / m / "scores" / "vox1_O.kaldi.score", score_text(k))
        for k, m in enumerate(("Gemini_df_resnet56", "Gemini_df_resnet110"))
    ]
    code, out = run(*deep, same[0], "--overlay", "--out", tmp_path / "three.svg")
    assert code == 0, out
    assert curve_ids(tmp_path / "three.svg") == [
        "exp/Gemini_df_resnet56/scores",
        "exp/Gemini_df_resnet110/scores",
        "a",
    ]
    code, out = run(
        *same, "--overlay", "--out", tmp_path / "named.svg", "--label", "DF-ResNet60", "--label", "ours"
    )
    assert code == 0, out
    assert curve_ids(tmp_path / "named.svg") == ["DF-ResNet60", "ours"]
    code, out = run(*same, "--overlay", "--out", tmp_path / "bad.svg", "--label", "one")
    assert code == 2 and "--label given 1 time(s) for 2 score file(s)" in out
    assert not (tmp_path / "bad.svg").exists()


def test_a_plot_a_run_recorded_or_a_folder_a_run_holds_is_not_drawn_into(tmp_path):
    """Found by a second tester: `det` (and `validate --regenerate-det`) redrew a DET plot that a score
    run's results.json lists, so the record no longer vouched for it and the next rerun of that score
    refused to replace it; and they drew into a folder a run was writing. Both exit 2, nothing written."""
    from sveval.io.lock import folder_lock
    from sveval.io.output_folder import OutputFolder

    folder = tmp_path / "scores"
    drawn = tmp_path / "drawn"
    assert run(write(drawn / "x.score", score_text(0)))[0] == 0  # an image sveval drew: x.det.png
    with OutputFolder(folder, "results.json") as run_folder:  # a score run's folder, as it publishes one
        for name in ("x.score", "x.det.png"):
            (run_folder.stage / name).write_bytes((drawn / name).read_bytes())
        record = {"schema": "sveval.score/1", "files": ["x.score"], "artifacts": {"det_plots": {}}}
        (run_folder.stage / "results.json").write_text(json.dumps(record))
        run_folder.publish()
    before = (folder / "x.det.png").read_bytes()
    code, out = run(folder / "x.score")
    assert code == 2 and "this file is an output of the run that results.json records here" in out, out
    assert (folder / "x.det.png").read_bytes() == before
    code, out = run(folder / "x.score", "--out", tmp_path / "elsewhere.png")
    assert code == 0, out
    with folder_lock(folder):  # a run writing there now: not even a new file
        code, out = run(folder / "x.score", "--out", folder / "new.png")
        assert code == 2 and "being written by" in out and not (folder / "new.png").exists(), out


def test_curve_labels_shortest_distinguishing_form():
    from sveval.app.plots import curve_labels as _curve_labels

    assert _curve_labels(["x/a.score", "y/b.score"]) == ["a", "b"]  # names differ: the names
    assert _curve_labels(["/r/exp/A/scores/o.score", "/r/exp/B/scores/o.score"]) == ["A", "B"]
    assert _curve_labels(["/r/A/o.score", "/r/B/o.score", "/r/A/h.score"]) == ["A/o", "B/o", "A/h"]
    assert _curve_labels(["/r/A/o.score", "/r/A/o.score"]) == ["o (1)", "o (2)"]  # one file twice
    assert _curve_labels(["/r/A/o.score", "/r/A/sub/o.score"]) == ["o", "sub"]


@pytest.mark.parametrize("then", [None, AttributeError("'Stream' object has no attribute 'pos'")])
def test_a_full_disk_while_saving_is_one_line_exit_2_and_leaves_no_temp_file(tmp_path, monkeypatch, then):
    """then: what the writer raises while cleaning up after the OSError (matplotlib's PDF writer does)."""
    import errno

    import matplotlib.figure

    def full(self, *args, **kwargs):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            if then is None:
                raise
            raise then from None  # (as the PDF writer's: the OSError is still its __context__)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    scores = write(tmp_path / "s.score", score_text(1))
    out = tmp_path / "plots" / "s.png"
    result = CliRunner().invoke(cli, ["det", str(scores), "--out", str(out)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr == f"sveval: error: {out}: cannot write: No space left on device\n"
    assert not out.parent.exists()  # the folder the failed write made is gone again
