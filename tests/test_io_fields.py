"""sveval.io.fields: the block reader (pyarrow, or its slow path) gives what the whole-text reader
(tests/whole_text_reader.py) gives, line numbers too."""

import random

import numpy as np
import pytest
from conftest import write
from whole_text_reader import score_file as whole_score_text
from whole_text_reader import trial_list as whole_trial_text

import sveval.io.fields as fields
import sveval.io.vocabulary as vocabulary
from sveval.errors import InputError
from sveval.io.scores import parse_score_file, read_score_file
from sveval.io.trials import parse_trials, read_trials
from sveval.io.vocabulary import NotCompact, Vocabulary, lookup_rows, padded_rows
from sveval.pair_join import join

IDS = ["id10270/x6uYqmx31kE/00001.wav", "b/2.wav", "c", "é/1.wav", "x" * 40]


def _outcome(parse, text):
    try:
        out = parse(text, "f.txt")
    except InputError as exc:
        return "error", str(exc)
    labels = getattr(out, "is_target", getattr(out, "labels", None))
    values = getattr(out, "values", None)
    return (
        out.enroll.tolist(),
        out.test.tolist(),
        None if labels is None else labels.tolist(),
        None if values is None else values.tobytes(),
        getattr(out, "fingerprint", None),
    )


def _trial_line(rng, fmt):
    e, t, target = rng.choice(IDS), rng.choice(IDS), rng.random() < 0.5
    fields_ = {
        "kaldi": [e, t, "target" if target else "nontarget"],
        "voxceleb": ["1" if target else "0", e, t],
        "unlabelled": [e, t],
    }[fmt]
    if rng.random() < 0.03:
        fields_ = fields_[:-1]
    if rng.random() < 0.03:
        fields_[-1] = "maybe"
    line = rng.choice([" "] * 20 + ["\t", "  "]).join(fields_)
    return rng.choice([line] * 40 + ["", " ", " " + line, line + "\r"])


def _number(rng):
    v = rng.uniform(-3, 3)
    return rng.choice(
        [f"{v:.5f}", f"{v:.17g}", str(rng.randint(-(10**16), 10**16)), f"{v * 1e4:.12f}"]
        + ["1e-3", "nan", "-0.00000", ".5", "5.", "+1.25", "1_0", "zero", "-", "007.50", "1.2.3"]
    )


def _score_line(rng, width):
    parts = [rng.choice(IDS), rng.choice(IDS), _number(rng)]
    if width >= 4:
        parts.append(rng.choice(["target", "nontarget"] * 20 + ["yes", "targets"]))
    parts += [_number(rng) for _ in range(width - 4)]
    if rng.random() < 0.02:
        parts = parts[:-1]
    return rng.choice([" "] * 30 + ["  "]).join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_chunked_reader_equals_whole_text_reader(monkeypatch, seed):
    """Random lists and score files (odd spacing, CR, blank lines, bad fields, any chunk size): the same
    columns, values to the bit, fingerprint, or the same error with the same file:line."""
    rng = random.Random(seed)
    for _ in range(120):
        monkeypatch.setattr(fields, "CHUNK_BYTES", rng.choice([8, 40, 200, 1 << 20]))
        ending = rng.choice(["", "\n", "\n\n", " \n"])
        fmt = rng.choice(["kaldi", "voxceleb", "unlabelled"])
        text = "\n".join(_trial_line(rng, fmt) for _ in range(rng.randint(1, 25))) + ending
        assert _outcome(parse_trials, text) == _outcome(whole_trial_text, text), text
        width = rng.choice([3, 4, 8])
        text = "\n".join(_score_line(rng, width) for _ in range(rng.randint(1, 25))) + ending
        assert _outcome(parse_score_file, text) == _outcome(whole_score_text, text), text


def test_byte_order_mark_is_read_as_if_absent(tmp_path):
    text = "1 a/1.wav b/1.wav\n0 a/1.wav c/1.wav\n"
    plain = read_trials(write(tmp_path / "plain.txt", text))
    marked_path = tmp_path / "bom.txt"
    marked_path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    marked = read_trials(marked_path)
    assert marked.fingerprint == plain.fingerprint and marked.enroll.tolist() == plain.enroll.tolist()
    score_path = tmp_path / "bom.score"
    score_path.write_bytes(b"\xef\xbb\xbfa/1.wav b/1.wav 0.50000 target\n")
    scores = read_score_file(score_path)
    assert scores.enroll.tolist() == ["a/1.wav"] and scores.values.tolist() == [0.5]


def test_error_lines_count_across_chunks(monkeypatch, tmp_path):
    monkeypatch.setattr(fields, "CHUNK_BYTES", 64)
    lines = [f"u{i} v{i} 0.{i:05d} target" for i in range(500)]
    lines[377] = "u377 v377 0.5"
    with pytest.raises(InputError, match=r"big.score:378: expected score line like line 1 \(4 fields\)"):
        read_score_file(write(tmp_path / "big.score", "\n".join(lines) + "\n"))
    lines[377] = "u377 v377 0.5 yes"
    lines[420] = "u420 v420 0.5 maybe"
    with pytest.raises(InputError, match=r"big.trials:378: label 'yes' is not target or nontarget"):
        parse_trials("\n".join(" ".join(x.split()[:2] + x.split()[3:]) for x in lines), "big.trials")
    with pytest.raises(InputError, match=r"2 such line\(s\)"):
        parse_trials("\n".join(" ".join(x.split()[:2] + x.split()[3:]) for x in lines), "big.trials")


def test_codes_name_ids_exactly_and_ids_are_interned(monkeypatch):
    monkeypatch.setattr(fields, "CHUNK_BYTES", 50)
    text = "".join(f"{IDS[i % 5]} {IDS[i // 5 % 5]} {('target', 'nontarget')[i % 2]}\n" for i in range(25))
    trials = parse_trials(text, "t")
    pairs = trials.pairs
    assert sorted(pairs.ids.tolist()) == sorted(IDS) and pairs.enroll.dtype == np.int32
    assert (pairs.ids[pairs.enroll] == trials.enroll).all() and (pairs.ids[pairs.test] == trials.test).all()
    assert len({id(s) for s in trials.enroll}) == len(set(trials.enroll))  # one str per distinct id


def test_vocabulary_refuses_to_merge_different_ids_whatever_the_row_width():
    vocab = Vocabulary()
    first = vocab.encode(padded_rows([b"a", b"bb", b"a"]))
    second = vocab.encode(np.pad(padded_rows([b"bb", b"ccc"]), ((0, 0), (0, 16))))
    assert first.tolist() == [0, 1, 0] and second.tolist() == [1, 2]
    assert vocab.strings().tolist() == ["a", "bb", "ccc"]


def test_lookup_rows_agrees_with_a_dictionary_of_the_ids():
    rng = random.Random(5)
    alphabet = "abcé0/-_."
    table_ids = sorted({"".join(rng.choices(alphabet, k=rng.randint(1, 20))) for _ in range(400)})
    queries = [rng.choice(table_ids) for _ in range(300)] + ["absent", "a" * 40, table_ids[0] + "x"]
    rng.shuffle(queries)
    where = {name: row for row, name in enumerate(table_ids)}
    table = padded_rows([i.encode() for i in table_ids])
    for pad in (0, 8, 24):  # the two sides' rows may have different widths
        rows = np.pad(padded_rows([q.encode() for q in queries]), ((0, 0), (0, pad)))
        assert lookup_rows(table, rows).tolist() == [where.get(q, -1) for q in queries]
    none = np.zeros((0, 8), dtype=np.uint8)
    assert lookup_rows(table, none).tolist() == []
    assert lookup_rows(none, padded_rows([b"a"])).tolist() == [-1]
    with pytest.raises(NotCompact):  # one id twice: a table no Vocabulary makes
        lookup_rows(padded_rows([b"a", b"b", b"a"]), padded_rows([b"a"]))


def test_join_with_codes_equals_join_with_strings():
    trials = parse_trials("a b target\na c nontarget\nb c nontarget\nc d target\n", "list")
    text = "b c 0.1 nontarget\na b 0.9 target\nz c 0.2 nontarget\nb c 0.3 target\n"
    coded = join(parse_score_file(text, "s"), trials)
    plain = join(
        whole_score_text(text, "s"),
        whole_trial_text("a b target\na c nontarget\nb c nontarget\nc d target\n", "list"),
    )
    for name in ("index", "extra_lines", "missing", "duplicated", "duplicate_lines", "label_lines"):
        assert getattr(coded, name).tolist() == getattr(plain, name).tolist(), name


def test_score_file_read_without_ids_checks_every_line_the_same(monkeypatch, tmp_path):
    monkeypatch.setattr(fields, "CHUNK_BYTES", 64)
    lines = [f"u{i} v{i} 0.{i:05d} {('target', 'nontarget')[i % 2]}" for i in range(300)]
    path = write(tmp_path / "s.score", "\n".join(lines) + "\n")
    full, lean, coded = (read_score_file(path, ids=mode) for mode in ("strings", "none", "codes"))
    assert lean.enroll is None and lean.pairs is None and coded.enroll is None
    assert lean.values.tobytes() == full.values.tobytes() and lean.labels.tolist() == full.labels.tolist()
    assert coded.pairs.ids[coded.pairs.test].tolist() == full.test.tolist()
    lines[250] = "u250 0.5 target"
    bad = write(tmp_path / "bad.score", "\n".join(lines) + "\n")
    for mode in ("strings", "none", "codes"):
        with pytest.raises(InputError, match=r"bad.score:251: expected score line like line 1"):
            read_score_file(bad, ids=mode)


def test_runs_of_blank_lines_longer_than_a_block(monkeypatch, tmp_path):
    """Blank lines filling whole blocks: tolerated at the end of the file, reported (first blank line)
    when text follows, at any block size, and a line longer than a block is read whole; also where the
    buffer grows from a first read smaller than a block (`FIRST_BYTES`) while the file fills it."""
    lines = [f"u{i} v{i} 0.{i:05d} {('target', 'nontarget')[i % 2]}" for i in range(40)]
    for size, first_read in ((8, 1 << 16), (16, 7), (64, 16), (64, 1 << 16), (1 << 20, 100)):
        monkeypatch.setattr(fields, "CHUNK_BYTES", size)
        monkeypatch.setattr(fields, "FIRST_BYTES", first_read)
        tail = "\n".join(lines) + "\n" + " \n" * 300 + "\t\n\n"
        assert len(read_score_file(write(tmp_path / "tail.score", tail), ids="none")) == 40
        middle = "\n".join(lines[:20]) + "\n" + "\n" * 300 + "\n".join(lines[20:]) + "\n"
        with pytest.raises(InputError, match=r"middle.score:21: blank line inside the score file"):
            read_score_file(write(tmp_path / "middle.score", middle), ids="none")
        long_id = "x" * (20 * min(size, 64))
        text = f"{long_id} b 0.5 target\na {long_id} 0.25 nontarget\n"
        scores = read_score_file(write(tmp_path / "long.score", text))
        assert scores.enroll.tolist() == [long_id, "a"] and scores.values.tolist() == [0.5, 0.25]


def test_trailing_whitespace_of_the_last_line_before_blocks_of_blank_lines(monkeypatch, tmp_path):
    """Found by a tester: whitespace a line may not hold (\\x0b, \\x0c, CR CR) is tolerated at the end of the
    file also when more than a block of blank lines follows it; with text after, it is still refused."""
    monkeypatch.setattr(fields, "CHUNK_BYTES", 64)
    for ending in ("\x0b", "\x0c", "\x1f", " \x0b", "\r\r", "\r "):
        text = "a b 1.5 target\nc d 0.5 nontarget" + ending + "\n" + "\n" * 5000
        scores = read_score_file(write(tmp_path / "s.score", text), ids="none")
        assert scores.values.tolist() == [1.5, 0.5]
        with pytest.raises(InputError, match=r"s2.score:2: character"):
            read_score_file(write(tmp_path / "s2.score", text + "e f 0.1 nontarget\n"), ids="none")


def test_a_hash_collision_never_merges_two_ids(monkeypatch):
    """Every id hashed alike under the first seed: the vocabulary takes another seed and stays exact."""
    original = vocabulary.row_hashes

    def colliding(rows, seed=0):
        return original(rows, seed) if seed else np.zeros(len(rows), np.uint64)

    monkeypatch.setattr(vocabulary, "row_hashes", colliding)
    text = "a/1.wav b/1.wav target\na/1.wav c/1.wav nontarget\nb/1.wav c/1.wav nontarget\n"
    trials = parse_trials(text, "t")
    assert trials.enroll.tolist() == ["a/1.wav", "a/1.wav", "b/1.wav"]
    assert trials.test.tolist() == ["b/1.wav", "c/1.wav", "c/1.wav"]
    assert len(trials.pairs.id_bytes) == 3


def test_a_nul_byte_is_refused_naming_its_line():
    with pytest.raises(InputError, match=r"t:2: character U\+0000"):
        parse_trials("a b target\na\0x c nontarget\n", "t")


def test_a_huge_line_is_quoted_cut_short_in_the_message(tmp_path):
    """Found by a tester: a 5 MB line without spaces became a 5 MB error message."""
    path = write(tmp_path / "huge.score", "x" * 1_000_000)
    with pytest.raises(InputError) as caught:
        read_score_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:1: expected `enroll test score")
    assert message.endswith("found 1 field: '" + "x" * 120 + "'... (999,880 more characters)")

