"""Every line-oriented file is read from a plain file, a gzip file (by magic bytes or a `.gz` name) and
standard input (`-`), through the one reader: the same columns, and the same file:line messages."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import write
from sveval.cli.main import cli

from sveval.errors import InputError
from sveval.io.audio import read_wav_scp
from sveval.io.durations import read_utt2dur
from sveval.io.embeddings import read_utt2spk
from sveval.io.meta import read_speaker_genders
from sveval.io.results import read_result_file
from sveval.io.scores import read_score_file
from sveval.io.trials import parse_trials, read_trials

TRIALS = "a/1.wav b/1.wav target\na/1.wav c/1.wav nontarget\nb/1.wav c/1.wav nontarget\n"
SCORES = (
    "a/1.wav b/1.wav 0.91000 target\na/1.wav c/1.wav -0.12500 nontarget\nb/1.wav c/1.wav 0.05 nontarget\n"
)
UTT2SPK = "a/1.wav a\nb/1.wav b\nc/1.wav c\n"


def _gz(path, text: str):
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


def _run(args: list[str], stdin: str | bytes) -> subprocess.CompletedProcess:
    """Run a fresh Python with `args` and `stdin` on its standard input."""
    return subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, text=isinstance(stdin, str), timeout=120
    )


def _stdin(code: str, text: str | bytes) -> subprocess.CompletedProcess:
    return _run(["-c", code], text)


def test_gzip_files_read_as_their_plain_twins(tmp_path):
    plain = read_trials(write(tmp_path / "list.kaldi", TRIALS))
    for path in (_gz(tmp_path / "list.kaldi.gz", TRIALS), _gz(tmp_path / "list_gz_by_magic.kaldi", TRIALS)):
        packed = read_trials(path)
        assert packed.fingerprint == plain.fingerprint and packed.enroll.tolist() == plain.enroll.tolist()
    plain = read_score_file(write(tmp_path / "s.score", SCORES))
    packed = read_score_file(_gz(tmp_path / "s.score.gz", SCORES))
    assert packed.values.tobytes() == plain.values.tobytes() and packed.test.tolist() == plain.test.tolist()
    assert packed.labels.tolist() == plain.labels.tolist()
    utts, spks = read_utt2spk(_gz(tmp_path / "utt2spk.gz", UTT2SPK))
    assert utts.tolist() == ["a/1.wav", "b/1.wav", "c/1.wav"] and spks.tolist() == ["a", "b", "c"]
    ids, seconds = read_utt2dur(_gz(tmp_path / "utt2dur.gz", "a 1.5\nb 2.25\n"))
    assert ids.tolist() == ["a", "b"] and seconds.tolist() == [1.5, 2.25]
    assert [u.utt for u in read_wav_scp(_gz(tmp_path / "wav.scp.gz", "a /x/a.wav\nb /x/b.wav\n"))] == [
        "a",
        "b",
    ]
    meta = "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\nid10001\tA\tm\tIreland\tdev\n"
    assert read_speaker_genders(_gz(tmp_path / "meta.csv.gz", meta)) == {"id10001": "m"}
    result = "---- s.score -----\nEER = 1.000\nminDCF (p_target:0.01 c_miss:1 c_fa:1) = 0.100\n"
    assert read_result_file(_gz(tmp_path / "r_result.gz", result))[0].score_file == "s.score"


def test_a_bad_line_in_a_gzip_file_names_the_file_and_line(tmp_path):
    path = _gz(tmp_path / "bad.score.gz", SCORES.replace("0.05 nontarget", "zero nontarget"))
    with pytest.raises(InputError, match=r"bad.score.gz:3: score is not a number: 'zero'"):
        read_score_file(path)
    path = _gz(tmp_path / "ragged.kaldi.gz", TRIALS + "c/1.wav a/1.wav\n")
    with pytest.raises(InputError, match=r"ragged.kaldi.gz:4: expected kaldi trial line"):
        read_trials(path)
    with pytest.raises(InputError, match=r"utt2spk.gz:2: expected `utterance speaker`"):
        read_utt2spk(_gz(tmp_path / "utt2spk.gz", "a x\nb\n"))


def test_broken_gzip_is_an_input_error_naming_the_file(tmp_path):
    fake = write(tmp_path / "fake.score.gz", SCORES)  # a `.gz` name, plain text inside
    with pytest.raises(
        InputError, match=r"fake.score.gz: cannot read score file: not gzip data where a gzip"
    ):
        read_score_file(fake)
    trailing = tmp_path / "trailing.score.gz"  # gzip, then bytes after its end: named as such
    trailing.write_bytes(gzip.compress(SCORES.encode()) + b"trailing")
    with pytest.raises(InputError, match=r"or bytes after the end of the gzip data"):
        read_score_file(trailing)
    cut = tmp_path / "cut.kaldi.gz"
    cut.write_bytes(gzip.compress((TRIALS * 50).encode())[:-12])
    with pytest.raises(InputError, match=r"cut.kaldi.gz: cannot read trial list \(gzip\)"):
        read_trials(cut)


@pytest.mark.slow  # real Python processes reading a pipe
def test_standard_input_is_read_for_trial_lists_score_files_and_utt2spk():
    done = _stdin(
        "from sveval.io.trials import read_trials; t = read_trials('-'); print(t.fingerprint)", TRIALS
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == parse_trials(TRIALS, "t").fingerprint
    code = "from sveval.io.scores import read_score_file; s = read_score_file('-'); print(s.values.tolist())"
    assert _stdin(code, SCORES).stdout.strip() == "[0.91, -0.125, 0.05]"
    code = "from sveval.io.embeddings import read_utt2spk; u, s = read_utt2spk('-'); print(s.tolist())"
    assert _stdin(code, UTT2SPK).stdout.strip() == "['a', 'b', 'c']"
    # gzip on standard input too, and a bad line named `-:line`
    packed = _stdin(
        "from sveval.io.trials import read_trials; print(len(read_trials('-')))",
        gzip.compress(TRIALS.encode()),
    )
    assert packed.stdout.strip() == b"3", packed.stderr
    bad = _stdin("from sveval.io.scores import read_score_file; read_score_file('-')", SCORES + "x y 1\n")
    assert "-:4: expected score line like line 1 (4 fields)" in bad.stderr


@pytest.mark.slow  # real Python processes reading a pipe
def test_metrics_reads_a_score_file_from_standard_input(tmp_path):
    path = write(tmp_path / "s.score", SCORES)
    main = ["-c", "from sveval.cli.main import main; main()", "metrics"]
    from_file, piped = _run([*main, str(path)], ""), _run([*main, "-"], SCORES)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.replace("---- - -----", "---- s.score -----") == from_file.stdout
    unlabelled = "".join(line.rsplit(" ", 1)[0] + "\n" for line in SCORES.splitlines())
    bare = write(tmp_path / "bare.score", unlabelled)
    listed = _run([*main, str(bare), "--trials", "-"], TRIALS)  # the trial list on standard input
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.replace("bare.score", "s.score") == from_file.stdout


def test_a_released_score_gz_is_validated_and_reported(tmp_path):
    scores = tmp_path / "release" / "scores"
    scores.mkdir(parents=True)
    lists = tmp_path / "lists"
    lists.mkdir()
    write(lists / "mine.kaldi", TRIALS)
    plain = write(scores / "mine.kaldi.score", SCORES)
    printed = CliRunner().invoke(cli, ["metrics", str(plain)])
    assert printed.exit_code == 0, printed.output
    write(scores / "vox1_cos_result", printed.output)
    _gz(scores / "mine.kaldi.score.gz", SCORES)
    plain.unlink()
    checked = CliRunner().invoke(cli, ["validate", str(tmp_path / "release"), "--trials-dir", str(lists)])
    assert checked.exit_code == 0, checked.output
    assert "3 lines, 4 columns" in checked.output and "block in vox1_cos_result" in checked.output
    out = tmp_path / "report.md"
    reported = CliRunner().invoke(
        cli, ["report", str(tmp_path / "release"), "--trials", str(lists / "mine.kaldi"), "--out", str(out)]
    )
    assert reported.exit_code == 0, reported.output
    assert "no result block" not in out.read_text()  # its numbers are the result block's


def test_a_score_file_and_its_gzip_twin_together_are_refused(tmp_path):
    # which of the two a check read would depend on listing order: a false pass once (the result block
    # described the plain file, the numbers were recomputed from the .gz)
    scores = tmp_path / "release" / "scores"
    scores.mkdir(parents=True)
    plain = write(scores / "mine.kaldi.score", SCORES)
    write(scores / "vox1_cos_result", CliRunner().invoke(cli, ["metrics", str(plain)]).output)
    _gz(scores / "mine.kaldi.score.gz", SCORES.replace("0.91000", "-0.91000"))
    for command in (["validate", str(tmp_path / "release")], ["report", str(scores), "--out", "r.md"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, result.output
        assert "both mine.kaldi.score and mine.kaldi.score.gz are here" in result.output


@pytest.mark.slow  # real Python processes reading a pipe
def test_standard_input_closed_or_given_twice_is_one_line_naming_it(tmp_path):
    main = ["-c", "from sveval.cli.main import main; main()", "metrics"]
    closed = subprocess.run(
        [sys.executable, *main, "-"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: __import__("os").close(0),
    )
    assert closed.returncode == 2 and "Traceback" not in closed.stderr, closed.stderr
    assert "standard input ('-', the score file) is closed" in closed.stderr
    twice = _run([*main, "-", "-"], SCORES)
    assert twice.returncode == 2 and "standard input ('-') given more than once" in twice.stderr
    listed = _run([*main, "-", "--trials", "-"], SCORES)
    assert listed.returncode == 2 and "given more than once" in listed.stderr


@pytest.mark.slow  # real Python processes reading a pipe
def test_compare_takes_a_system_from_standard_input(tmp_path):
    path = write(tmp_path / "s.score", SCORES)
    main = ["-c", "from sveval.cli.main import main; main()", "compare"]
    piped = _run([*main, "-", str(path), "--bootstrap", "50", "--json"], SCORES)
    assert piped.returncode != 0 or '"difference": 0.0' in piped.stdout
    assert "does not exist" not in piped.stderr and "Traceback" not in piped.stderr


def test_text_that_is_not_utf8_is_named_by_its_line(tmp_path):
    lines = [f"a/{i}.wav b/{i}.wav 0.{i % 9}1234 nontarget" for i in range(3000)]
    lines[899] = "a/caf\xe9.wav b/x.wav 0.5 target"  # latin-1: not UTF-8, on line 900
    path = tmp_path / "latin.score"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    start = sum(len(line) + 1 for line in lines[:899])
    with pytest.raises(
        InputError, match=rf"latin.score:900: score file is not UTF-8 text \(byte {start + 5}\)"
    ):
        read_score_file(path)
