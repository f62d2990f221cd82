"""sveval.io.fields_arrow: score files read without ids through pyarrow give what the whole-text reader
gives (values to the bit, labels, the same error at the same file:line), whichever chunks pyarrow takes."""

import random

import numpy as np
import pytest
from conftest import write
from whole_text_reader import score_file as whole_score_text

import sveval.io.fields as fields
import sveval.io.fields_arrow as fields_arrow
from sveval.errors import InputError
from sveval.io.scores import read_score_file

# Number forms Python's float() and numpy read in some way or refuse; pyarrow must agree or step aside.
ODD_NUMBERS = [
    ".5", "5.", "+1.25", "-0", "-0.00000", "007.50", "1e5", "1E+05", "1e-400", "1e400", "2.5e", "e5",
    "1_0", "_1", "1__0", "nan", "NaN", "-nan", "+nan", "inf", "-Inf", "Infinity", "-infinity", "infinit",
    "nan(1)", "0x10", "0b1", "1d5", "1.2.3", "--1", "+-1", "1+", "-", "+", ".", "zero", "1,5", "١", "0.1f",
    "123456789012345678901234567890", "0.30000000000000004", "2.2250738585072011e-308", "4.9e-324",
]  # fmt: skip


def _lean_outcome(path):
    try:
        out = read_score_file(path, ids="none")
    except InputError as exc:
        return "error", str(exc)
    return out.values.tobytes(), None if out.labels is None else out.labels.tolist()


def _whole_outcome(path, text):
    try:
        out = whole_score_text(text, str(path))
    except InputError as exc:
        return "error", str(exc)
    return out.values.tobytes(), None if out.labels is None else out.labels.tolist()


@pytest.fixture
def arrow_calls(monkeypatch):
    """Counts the chunks pyarrow parsed (not handed back)."""
    taken = []
    original = fields_arrow.arrow_chunk

    def spy(chunk, columns, vocab):
        got = original(chunk, columns, vocab)
        taken.append(got is not None)
        return got

    monkeypatch.setattr(fields, "arrow_chunk", spy)
    return taken


@pytest.mark.parametrize("token", ODD_NUMBERS)
def test_every_number_form_reads_as_python_reads_it(tmp_path, token, arrow_calls):
    text = f"a b 0.25 nontarget\nc d {token} target\ne f 0.75000 target\n"
    path = write(tmp_path / "s.score", text)
    assert _lean_outcome(path) == _whole_outcome(path, text)


def test_long_plain_file_is_parsed_by_pyarrow_to_the_bit(tmp_path, monkeypatch, arrow_calls):
    monkeypatch.setattr(fields, "CHUNK_BYTES", 512)  # pyarrow gets blocks of 8 x 512 bytes
    rng = np.random.default_rng(0)
    values = (rng.normal(size=3000) * 10.0 ** rng.integers(-8, 8, 3000)).tolist()
    forms = ["{:.5f}", "{:.17g}", "{!r}", "{:.3e}"]
    lines = [
        f"u{i} v{i} {forms[i % 4].format(v)} {('nontarget', 'target')[i % 3 == 0]}"
        for i, v in enumerate(values)
    ]
    text = "\n".join(lines) + "\n"
    path = write(tmp_path / "s.score", text)
    assert _lean_outcome(path) == _whole_outcome(path, text)
    assert len(arrow_calls) > 10 and all(arrow_calls)
    eight = "\n".join(f"{line} 1.5 {i}.25 -3 4e-3" for i, line in enumerate(lines)) + "\n"
    path = write(tmp_path / "eight.score", eight)
    arrow_calls.clear()
    lean = read_score_file(path, ids="none")
    assert all(arrow_calls) and lean.extra[:, 1].tolist() == [i + 0.25 for i in range(3000)]
    assert lean.values.tobytes() == whole_score_text(eight, "x").values.tobytes()


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_mixed_plain_and_odd_chunks_read_as_the_whole_text_reader(tmp_path, monkeypatch, seed, arrow_calls):
    """Mostly plain lines with now and then a tab, two spaces, CR, a blank line, a bad label or number, a
    missing field: the same values or the same first error at the same line, at any chunk size."""
    rng = random.Random(seed)
    oddities = ["\t", "  ", "\r", "blank", "label", "number", "short", "trailing"]
    for trial in range(40):
        monkeypatch.setattr(fields, "CHUNK_BYTES", rng.choice([64, 300, 2000, 1 << 20]))
        width = rng.choice([3, 4, 8])
        lines = []
        for i in range(rng.randint(1, 200)):
            parts = [f"e{i}", f"t{i}", f"{rng.uniform(-2, 2):.5f}"]
            if width >= 4:
                parts.append(rng.choice(["target", "nontarget"]))
            parts += [f"{rng.uniform(0, 9):.4f}" for _ in range(width - 4)]
            line = " ".join(parts)
            if rng.random() < 0.01:
                odd = rng.choice(oddities)
                line = {
                    "\t": line.replace(" ", "\t", 1),
                    "  ": line.replace(" ", "  ", 1),
                    "\r": line + "\r",
                    "blank": "",
                    "label": line.replace("target", "tgt") if width >= 4 else line,
                    "number": line.replace(".", ",", 1),
                    "short": " ".join(parts[:-1]),
                    "trailing": line + " ",
                }[odd]
            lines.append(line)
        text = "\n".join(lines) + rng.choice(["", "\n", "\n\n"])
        path = write(tmp_path / f"s{trial}.score", text)
        assert _lean_outcome(path) == _whole_outcome(path, text), text
    assert any(arrow_calls) and not all(arrow_calls)


def test_a_bad_label_in_a_plain_chunk_is_named_with_its_line(tmp_path, arrow_calls):
    lines = [f"u{i} v{i} 0.{i:05d} {('target', 'nontarget')[i % 2]}" for i in range(500)]
    lines[417] = "u417 v417 0.5 Target"
    with pytest.raises(InputError, match=r"s.score:418: label 'Target' is not target or nontarget"):
        read_score_file(write(tmp_path / "s.score", "\n".join(lines) + "\n"), ids="none")
    assert arrow_calls == [False]  # pyarrow stepped aside; the slow path named the line


@pytest.mark.parametrize(
    "odd",
    [
        "u7\xa0x v7 0.5 target",  # a no-break space inside an id that is never read: str.split() cuts there
        "u7\u00e9 v7 0.5 target",  # non-ASCII (valid: the slow path reads it the same)
        "u7 v7 0.5 target\rx y 0.25 nontarget",  # a lone CR: two lines of the right width to pyarrow
        "u7 v7 0.5 target\x0cx",  # a form feed
        "u7 v7\t0.5 target",  # a tab in a space-separated block
        "u7  v7 0.5 target",  # two spaces: an empty field to pyarrow, among ids it does not keep
        " u7 v7 0.5 target",  # a leading space
        "u7 v7 0.5 target ",  # a trailing space
    ],
)
def test_bytes_that_break_lines_or_fields_elsewhere_go_to_the_slow_path(tmp_path, odd, arrow_calls):
    """Every byte outside printable ASCII, and every separator next to another or at a line's end, makes
    pyarrow step aside (the count of such bytes no longer matches its fields, or two of them touch), also
    in the id columns that metrics never reads: the slow path then reads or refuses the line as the
    whole-text reader does."""
    lines = [f"u{i} v{i} 0.{i:05d} {('target', 'nontarget')[i % 2]}" for i in range(50)]
    lines[7] = odd
    text = "\n".join(lines) + "\n"
    path = write(tmp_path / "s.score", text)
    assert _lean_outcome(path) == _whole_outcome(path, text)
    assert arrow_calls == [False]


def test_tab_separated_blocks_are_parsed_by_pyarrow_and_mixed_ones_by_the_slow_path(
    tmp_path, monkeypatch, arrow_calls
):
    monkeypatch.setattr(fields, "CHUNK_BYTES", 256)
    lines = [f"u{i}\tv{i}\t0.{i:05d}\t{('target', 'nontarget')[i % 2]}" for i in range(400)]
    text = "\n".join(lines) + "\n"
    path = write(tmp_path / "tabs.score", text)
    assert _lean_outcome(path) == _whole_outcome(path, text)
    assert len(arrow_calls) > 3 and all(arrow_calls)
    lines[300] = lines[300].replace("\t", " ", 1)  # one block with both: read by the slow path, the same
    text = "\n".join(lines) + "\n"
    path = write(tmp_path / "mixed.score", text)
    arrow_calls.clear()
    assert _lean_outcome(path) == _whole_outcome(path, text)
    assert arrow_calls.count(False) == 1


def test_ids_read_by_pyarrow_are_the_same_interned_ids(tmp_path, monkeypatch, arrow_calls):
    """Id columns parsed by pyarrow (a dictionary per block, encoded into the exact vocabulary) give the
    ids, values and fingerprint of the whole-text reader, in score files and trial lists."""
    from whole_text_reader import trial_list as whole_trial_text

    from sveval.io.trials import read_trials

    monkeypatch.setattr(fields, "CHUNK_BYTES", 256)
    rng = np.random.default_rng(3)
    ids = [
        f"id{s:05d}/{v}/{u:05d}.wav" for s, v, u in zip(rng.integers(0, 99, 300), "abcxyz" * 50, range(300))
    ]
    pairs = rng.integers(0, 300, (2000, 2)).tolist()
    text = "".join(
        f"{ids[e]} {ids[t]} {rng.normal():.5f} {('nontarget', 'target')[e % 3 == 0]}\n" for e, t in pairs
    )
    path = write(tmp_path / "s.score", text)
    got, whole = read_score_file(path), whole_score_text(text, str(path))
    assert all(arrow_calls) and len(arrow_calls) > 5
    assert got.enroll.tolist() == whole.enroll.tolist() and got.test.tolist() == whole.test.tolist()
    assert got.values.tobytes() == whole.values.tobytes() and got.labels.tolist() == whole.labels.tolist()
    listed = "".join(
        f"{ids[e]} {ids[t]} {('nontarget', 'target')[e % 3 == 0]}\n" for e, t in set(map(tuple, pairs))
    )
    arrow_calls.clear()
    trials = read_trials(write(tmp_path / "list.txt", listed))
    reference = whole_trial_text(listed, str(tmp_path / "list.txt"))
    assert all(arrow_calls) and trials.fingerprint == reference.fingerprint
    assert (
        trials.enroll.tolist() == reference.enroll.tolist()
        and trials.is_target.tolist() == reference.is_target.tolist()
    )


def test_windows_line_endings_are_read_by_pyarrow_and_stray_crs_are_not(tmp_path, monkeypatch, arrow_calls):
    """CR LF files go through pyarrow (same values as the whole-text reader); a CR inside a line, a space
    before CR LF or CR CR LF still go to the reference readers, which name the line."""
    monkeypatch.setattr(fields, "CHUNK_BYTES", 512)
    lines = [f"u{i} v{i} 0.{i:05d} {('target', 'nontarget')[i % 3 == 0]}" for i in range(400)]
    text = "\r\n".join(lines) + "\r\n"
    path = write(tmp_path / "crlf.score", text)
    assert _lean_outcome(path) == _whole_outcome(path, text)
    assert arrow_calls and all(arrow_calls)
    for bad in ("u7 v7 0.5\rtarget", "u7 v7 0.5 target \r", "u7 v7 0.5 target\r\r"):
        odd = lines.copy()
        odd[250] = bad
        text = "\r\n".join(odd) + "\r\n"
        path = write(tmp_path / "odd.score", text)
        arrow_calls.clear()
        assert _lean_outcome(path) == _whole_outcome(path, text)
        assert not all(arrow_calls)
