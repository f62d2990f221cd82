import hashlib

import numpy as np
import pytest
from conftest import write

from sveval.errors import InputError
from sveval.io.trials import parse_trials, read_trials, write_kaldi_trials

KALDI = "a/1.wav b/1.wav target\na/1.wav c/1.wav nontarget\n"
VOX = "1 a/1.wav b/1.wav\n0 a/1.wav c/1.wav"


def test_kaldi_voxceleb_and_unlabelled_formats():
    kaldi = parse_trials(KALDI, "k.kaldi")
    vox = parse_trials(VOX, "v.txt")
    assert list(kaldi.enroll) == list(vox.enroll) == ["a/1.wav", "a/1.wav"]
    assert list(kaldi.test) == ["b/1.wav", "c/1.wav"]
    assert kaldi.is_target.tolist() == vox.is_target.tolist() == [True, False]
    assert kaldi.fingerprint == vox.fingerprint  # same trials, same print, whatever the format
    bare = parse_trials("a b\nc d\n", "u.txt")
    assert bare.is_target is None and not bare.labelled and len(bare) == 2


def test_fingerprint_is_sha256_of_canonical_kaldi_text():
    expected = hashlib.sha256(KALDI.encode()).hexdigest()
    assert parse_trials(VOX, "v.txt").fingerprint == "sha256:" + expected


def test_fingerprint_depends_on_order_and_labels():
    swapped = parse_trials("a/1.wav c/1.wav nontarget\na/1.wav b/1.wav target\n", "s")
    flipped = parse_trials("a/1.wav b/1.wav nontarget\na/1.wav c/1.wav nontarget\n", "f")
    base = parse_trials(KALDI, "k").fingerprint
    assert swapped.fingerprint != base and flipped.fingerprint != base


@pytest.mark.parametrize(
    "text, line, needle",
    [
        ("a b target\na b c nontarget\n", 2, "3 fields"),
        ("a b target\nc d maybe\n", 2, "'maybe'"),
        ("1 a b\n2 c d\n", 2, "'2'"),
        ("a b target\n\nc d target\n", 2, "blank line"),
        ("a b c d\n", 1, "not a trial list"),
        ("a b target\na b target\n", 1, "duplicate trial 'a b' (lines 1, 2)"),
        ("x y\na b target\n", 2, "2 fields"),
        ("x y\nlonely\n", 2, "(2 fields), found 1 field: 'lonely'"),
    ],
)
def test_malformed_lines_name_file_and_line(text, line, needle):
    with pytest.raises(InputError) as err:
        parse_trials(text, "bad.txt")
    assert f"bad.txt:{line}:" in str(err.value)
    assert needle in str(err.value)


def test_conflicting_labels_are_their_own_error():
    with pytest.raises(InputError, match="both target and nontarget"):
        parse_trials("a b target\nc d target\na b nontarget\n", "c.txt")


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="empty trial list"):
        parse_trials("\n\n", "e.txt")
    with pytest.raises(InputError, match="not found"):
        read_trials(tmp_path / "nope.txt")


def test_trailing_blank_lines_and_crlf_are_fine():
    trials = parse_trials("1 a b\r\n0 a c\r\n\n", "crlf.txt")
    assert trials.is_target.tolist() == [True, False]


def test_write_kaldi_round_trip(tmp_path):
    trials = parse_trials(VOX, "v.txt")
    out = tmp_path / "x.kaldi"
    write_kaldi_trials(out, trials)
    assert out.read_text() == KALDI
    again = read_trials(out)
    assert again.fingerprint == trials.fingerprint and again.name == "x.kaldi"


def test_real_vox1_o_lists(voxceleb_dir):
    cleaned = read_trials(voxceleb_dir / "veri_test2.txt")
    original = read_trials(voxceleb_dir / "veri_test.txt")
    assert (len(cleaned), cleaned.n_target, cleaned.n_nontarget) == (37611, 18802, 18809)
    assert (len(original), original.n_target, original.n_nontarget) == (37720, 18860, 18860)
    # Every trial of the cleaned list is in the original list with the same label.
    key = dict(zip(zip(original.enroll, original.test), original.is_target))
    assert all(key[(e, t)] == y for e, t, y in zip(cleaned.enroll, cleaned.test, cleaned.is_target))
    assert np.unique(np.concatenate([cleaned.enroll, cleaned.test])).size == 4708


def test_file_path_names(tmp_path):
    trials = read_trials(write(tmp_path / "my_list.txt", VOX))
    assert trials.name == "my_list.txt" and trials.basename == "my_list.txt"


def test_canonical_text_is_the_kaldi_form_a_line_at_a_time():
    from sveval.io.trials import canonical_text

    enroll = np.array(["a", "b", "c"], dtype=object)
    test = np.array(["x", "y", "z"], dtype=object)
    labels = np.array([True, False, True])
    assert canonical_text(enroll, test, labels) == "a x target\nb y nontarget\nc z target\n"
    assert canonical_text(enroll, test, None) == "a x\nb y\nc z\n"
    assert canonical_text(enroll[:0], test[:0], None) == ""
