"""`sveval validate` against a hostile folder: links that leave it, FIFOs, sockets and devices, result blocks
at impossible operating points, score-file names that say nothing or hold a newline.

A run ends with exit 1 (a check failed) or 2 (bad input), one `sveval: ...` line on stderr, never a
traceback, and never prints what lies outside the folder.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

SECRET = "TOPSECRET-outside-the-folder"
LABELLED = "id10001/a/1.wav id10001/b/2.wav 0.9 target\nid10001/a/1.wav id10002/c/3.wav 0.1 nontarget\n"
# an operating point stays in the name of the block's metrics line; 0.000 is as good as any printed number
BLOCK = "---- {name} -----\nEER = 0.000\nminDCF (p_target:{p} c_miss:{cm} c_fa:{cf}) = 0.000\n"


def run(*args):
    """In-process run: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli, ["validate", "--quiet", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def run_process(*args, timeout=60):
    """A real process (a FIFO that is opened blocks: the timeout turns that into a failure, not a hang)."""
    code = "from sveval.cli.main import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "validate", "--quiet", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout, done.stderr


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sveval: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def failed(stdout: str, check: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("FAIL") and line.split()[1] == check]


@pytest.fixture
def outside(tmp_path):
    """A file outside the folder that the folder's links point at, with content that must never be shown."""
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(f"{SECRET} {SECRET} {SECRET}\n")
    return secret


@pytest.fixture
def folder(tmp_path):
    """A release folder with one ordinary score file and its result file."""
    scores = tmp_path / "release" / "scores"
    scores.mkdir(parents=True)
    (scores / "ok.score").write_text(LABELLED)
    (scores / "ok_cos_result").write_text(BLOCK.format(name="ok.score", p=0.01, cm=1, cf=1))
    return tmp_path / "release"


@pytest.mark.slow
def test_links_leaving_the_folder_are_reported_not_followed(folder, outside):
    scores = folder / "scores"
    (scores / "vox1_O_cleaned.kaldi.score").symlink_to(outside)
    (scores / "vox1_cos_result").symlink_to(outside)
    (folder / "config.yaml").symlink_to(outside)
    (folder / "models").mkdir()
    (folder / "models" / "avg_model.pt").symlink_to(outside)
    (scores / "broken.score").symlink_to(folder / "no-such-file")
    (scores / "inside.score").symlink_to(scores / "ok.score")  # stays inside: followed
    for args in ((), ("--json",)):
        code, out, err = run(folder, *args)
        assert code == 1 and SECRET not in out + err
        one_error_line(err)
    code, out, _ = run(folder)
    refused = {line.split()[2] for line in failed(out, "file")}
    assert refused == {
        "vox1_O_cleaned.kaldi.score",
        "vox1_cos_result",
        "config.yaml",
        "models/avg_model.pt",
        "broken.score",
    }
    assert "a symbolic link leading outside the folder: not followed" in out
    assert any(line.startswith("pass") and "inside.score" in line for line in out.splitlines())


def test_a_linked_models_folder_outside_is_not_entered(folder, outside):
    (folder / "models").symlink_to(outside.parent, target_is_directory=True)
    (outside.parent / "config.yaml").write_text(f"{SECRET}: [\n")
    code, out, err = run(folder)
    assert code == 1 and SECRET not in out + err
    assert [line.split()[2] for line in failed(out, "file")] == ["models"]


def test_a_linked_scores_folder_outside_is_an_input_error(tmp_path, outside):
    release = tmp_path / "release"
    release.mkdir()
    (release / "scores").symlink_to(outside.parent, target_is_directory=True)
    (outside.parent / "vox1_O_cleaned.kaldi.score").write_text(f"{SECRET}\n")
    code, out, err = run(release)
    assert code == 2 and SECRET not in out + err
    assert "a symbolic link leading outside the folder: not followed" in one_error_line(err)


@pytest.mark.slow
def test_fifo_socket_and_device_are_refused_never_opened(folder, tmp_path):
    scores = folder / "scores"
    os.mkfifo(scores / "fifo_vox1_O.score")
    os.mkfifo(scores / "vox1_snorm300_result")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(scores / "sock.score"))
    try:
        (scores / "dir.score").mkdir()
        try:
            os.mknod(scores / "null.score", stat.S_IFCHR | 0o600, os.makedev(1, 3))
            device = {"null.score"}
        except (PermissionError, OSError):
            device = set()
        code, out, err = run_process(folder)  # opening the FIFO would block until the timeout
    finally:
        server.close()
    assert code == 1, out + err
    one_error_line(err)
    refused = {line.split()[2]: line for line in failed(out, "file")}
    assert set(refused) == {"fifo_vox1_O.score", "vox1_snorm300_result", "sock.score", "dir.score"} | device
    assert "a FIFO (named pipe), not a regular file: not opened" in refused["fifo_vox1_O.score"]
    assert "a socket" in refused["sock.score"] and "a folder" in refused["dir.score"]
    if device:
        assert "a character device" in refused["null.score"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "p,cm,cf,problem",
    [
        ("2", "1", "1", "p_target must lie strictly between 0 and 1, got 2"),
        ("0", "1", "1", "p_target must lie strictly between 0 and 1, got 0"),
        ("1", "1", "1", "p_target must lie strictly between 0 and 1, got 1"),
        ("nan", "1", "1", "p_target must lie strictly between 0 and 1, got nan"),
        ("-0.5", "1", "1", "p_target must lie strictly between 0 and 1, got -0.5"),
        ("0.01", "0", "1", "c_miss must be a finite positive number, got 0"),
        ("0.01", "nan", "1", "c_miss must be a finite positive number, got nan"),
        ("0.01", "1", "inf", "c_fa must be a finite positive number, got inf"),
        ("0.01", "1", "-1", "c_fa must be a finite positive number, got -1"),
    ],
)
def test_impossible_operating_points_fail_the_result_file(folder, p, cm, cf, problem):
    """A result file that does not parse is a failed check (exit 1), as every other malformed result file."""
    (folder / "scores" / "ok_cos_result").write_text(BLOCK.format(name="ok.score", p=p, cm=cm, cf=cf))
    code, out, err = run(folder)
    assert code == 1 and "Traceback" not in out + err
    one_error_line(err)
    [line] = failed(out, "result-file")
    assert f"ok_cos_result:3: no operating point in 'minDCF (p_target:{p} c_miss:{cm} c_fa:{cf})" in line
    assert problem in line


def test_calibrated_result_with_a_word_for_a_number_fails(folder):
    scores = folder / "scores"
    (scores / "cali_ok.score").write_text(LABELLED)
    (scores / "cali_ok.result").write_text(
        BLOCK.format(name="cali_ok.score", p=0.01, cm=1, cf=1)
        + "actDCF (p_target:x c_miss:1 c_fa:1) = 0.000\n"
        + "Cllr = 0.100 bits, minCllr = 0.100 bits\nsignature: s\n"
    )
    code, out, err = run(folder)
    assert code == 1 and "Traceback" not in out + err
    [line] = failed(out, "result-file")
    assert "cali_ok.result:4: expected `actDCF (p_target:0.01 ...) = <value>`" in line


@pytest.mark.parametrize("name", ["cali_.score", "fused_.score"])
def test_a_name_that_says_no_trial_list_fails_its_check(folder, name):
    (folder / "scores" / name).write_text(LABELLED)
    (folder / "scores" / "ok_cos_result").write_text(
        BLOCK.format(name="ok.score", p=0.01, cm=1, cf=1) + BLOCK.format(name=name, p=0.01, cm=1, cf=1)
    )
    code, out, err = run(folder)
    assert code == 1 and "Traceback" not in out + err
    one_error_line(err)
    [line] = failed(out, "name")
    assert name in line and "the name says no trial list" in line
    assert f"{name} (line 4): its score file's name says no trial list" in out


@pytest.mark.parametrize(
    "name,shown",
    [
        ("bad\nname.score", "bad\\nname.score"),
        ("esc\x1b[31mred.score", "esc\\x1b[31mred.score"),
        ("tab\tname.score", "tab\\tname.score"),
        ("vox1_cos_result\n", None),  # no result file: `$` matched before the final newline
        ("line\rfeed_cos_result", "line\\rfeed_cos_result"),
    ],
)
def test_odd_names_are_one_line_each_and_escaped(folder, name, shown):
    (folder / "scores" / name).write_text(LABELLED)
    code, out, err = run(folder)
    assert code in (0, 1) and "Traceback" not in out + err
    labels = ("status", "pass", "FAIL", "not checkable")
    body = [line for line in out.splitlines() if line and "passed," not in line]
    assert all(line.startswith(labels) for line in body), out  # no check spilled over two lines
    assert "\x1b" not in out and "\r" not in out
    if shown is not None:
        assert shown in out
        data = json.loads(run(folder, "--json")[1])
        assert name in {c["file"] for c in data["checks"]}  # JSON keeps the name as it is


def test_a_name_with_bytes_that_are_not_utf8(folder):
    path = os.path.join(os.fsencode(folder / "scores"), b"x\xffy.score")
    Path(os.fsdecode(path)).write_text(LABELLED)
    code, out, err = run(folder)
    assert code == 1 and "Traceback" not in out + err and "x\\udcffy.score" in out
    assert json.loads(run(folder, "--json")[1])["counts"]["fail"] >= 1
