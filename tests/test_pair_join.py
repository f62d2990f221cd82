"""The one pair join (`sveval.pair_join.join`), its bounded-memory key join and the messages built on it,
against dictionaries (independent oracles)."""

import numpy as np
import pytest

import sveval.pair_join as pair_join
from sveval.errors import InputError
from sveval.io.scores import parse_score_file, read_score_file
from sveval.io.trials import parse_trials, read_calibration_trials, read_trials
from sveval.pair_join import join, join_keys, match_trials, sort_pairs, sort_with_lines

TRIALS = parse_trials("a b target\na c nontarget\nb c nontarget\n", "list.kaldi")


@pytest.mark.parametrize("top", [5, 10**6, 2**62])  # 2**62 leaves no room to pack: the argsort path
def test_sort_with_lines_is_a_stable_sort(top):
    rng = np.random.default_rng(top % 1000)
    for n in [0, 1, 2, 7, 1000]:
        keys = rng.integers(0, top, n, dtype=np.int64)
        expected_order = np.argsort(keys, kind="stable")
        expected = keys[expected_order]
        sorted_keys, lines = sort_with_lines(keys.copy())
        assert sorted_keys.tolist() == expected.tolist() and lines.tolist() == expected_order.tolist()
        assert lines.dtype == np.int32


def test_sort_with_lines_packs_in_slices(monkeypatch):
    monkeypatch.setattr(pair_join, "CHUNK", 3)
    keys = np.array([9, 2, 9, 0, 2, 2, 7, 1], dtype=np.int64)
    sorted_keys, lines = sort_with_lines(keys.copy())
    assert sorted_keys.tolist() == [0, 1, 2, 2, 2, 7, 9, 9] and lines.tolist() == [3, 7, 1, 4, 5, 6, 0, 2]


def oracle(list_keys, file_keys):
    """The join as a multiset, with dictionaries: the k-th file line with a pair finds the list's k-th line
    with it (the last one after that)."""
    lines_of = {}
    for line, key in enumerate(list_keys):
        lines_of.setdefault(key, []).append(line)
    seen, index = {}, []
    for key in file_keys:
        if key not in lines_of:
            index.append(-1)
            continue
        seen[key] = seen.get(key, 0) + 1
        index.append(lines_of[key][min(seen[key], len(lines_of[key])) - 1])
    missing = sorted(line for key, lines in lines_of.items() for line in lines[seen.get(key, 0) :])
    over = {key for key, lines in lines_of.items() if seen.get(key, 0) > len(lines)}
    duplicated = sorted(lines_of[key][0] for key in over)
    return index, missing, duplicated, [k for k, key in enumerate(file_keys) if key in over]


@pytest.mark.parametrize("seed", range(40))
def test_join_keys_matches_a_dictionary(seed):
    rng = np.random.default_rng(seed)
    n_list, n_file, top = rng.integers(0, 60), rng.integers(0, 80), rng.integers(1, 90)
    list_keys = rng.integers(0, top, n_list, dtype=np.int64)  # repeats allowed (calibration lists)
    if seed % 2:  # every other seed a list without repeats, the path with one bool per list line
        list_keys = np.unique(list_keys)
        rng.shuffle(list_keys)
    file_keys = rng.integers(0, top + 5, n_file, dtype=np.int64)
    chunk = int(rng.integers(1, 20))
    slices = (file_keys[s : s + chunk].copy() for s in range(0, n_file, chunk))
    found = join_keys(sort_pairs(list_keys.copy()), slices, n_file)
    assert [part.tolist() for part in found] == list(oracle(list_keys.tolist(), file_keys.tolist()))


def test_join_keys_refuses_slices_of_the_wrong_length():
    with pytest.raises(ValueError, match="expected 3"):
        join_keys(sort_pairs(np.arange(3, dtype=np.int64)), [np.arange(2, dtype=np.int64)], 3)


def shuffled_lines(rng, ids, n):
    return [(str(rng.choice(ids)), str(rng.choice(ids))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(25))
def test_join_is_the_same_from_codes_and_from_strings(tmp_path, monkeypatch, seed):
    """Files and lists read with id codes (the large-file path), and the same text parsed to strings,
    give the join a dictionary gives, slice size of 1 to 7 lines."""
    monkeypatch.setattr(pair_join, "CHUNK", int(np.random.default_rng(seed).integers(1, 8)))
    rng = np.random.default_rng(seed)
    ids = [f"id{k:02d}/v/{k}.wav" for k in range(int(rng.integers(2, 9)))]
    pairs = list(dict.fromkeys(shuffled_lines(rng, ids, int(rng.integers(1, 30)))))
    labels = {pair: bool(rng.random() < 0.5) for pair in pairs}
    list_text = "".join(f"{e} {t} {'target' if labels[(e, t)] else 'nontarget'}\n" for e, t in pairs)
    scored = [pairs[i] for i in rng.permutation(len(pairs))]
    scored = scored[: int(rng.integers(0, len(scored) + 1))]
    scored += shuffled_lines(rng, ids, int(rng.integers(0, 6)))
    scored += [("unknown", "id00/v/0.wav")] * int(rng.integers(0, 2))
    file_labels = [labels.get(pair, True) != (rng.random() < 0.2) for pair in scored]
    score_text = "".join(
        f"{e} {t} 0.5 {'target' if lab else 'nontarget'}\n" for (e, t), lab in zip(scored, file_labels)
    )
    (tmp_path / "list").write_text(list_text)
    (tmp_path / "file.score").write_text(score_text)
    line_of = {pair: k for k, pair in enumerate(pairs)}
    index = [line_of.get(pair, -1) for pair in scored]
    counts = np.bincount([i for i in index if i >= 0], minlength=len(pairs))
    expected = {
        "index": index,
        "extra_lines": [k for k, i in enumerate(index) if i < 0],
        "missing": np.flatnonzero(counts == 0).tolist(),
        "duplicated": np.flatnonzero(counts > 1).tolist(),
        "duplicate_lines": [k for k, i in enumerate(index) if i >= 0 and counts[i] > 1],
        "label_lines": [k for k, i in enumerate(index) if i >= 0 and file_labels[k] != labels[pairs[i]]],
    }
    coded = (read_score_file(tmp_path / "file.score", ids="codes"), read_trials(tmp_path / "list"))
    strings = (parse_score_file(score_text, "s"), parse_trials(list_text, "l"))
    mixed = (coded[0], strings[1])
    for scores, trials in (coded, strings, mixed):
        cov = join(scores, trials)
        assert {field: getattr(cov, field).tolist() for field in expected} == expected


def test_a_list_with_repeated_pairs_is_matched_as_a_multiset(tmp_path):
    path = tmp_path / "cal"
    path.write_text("a b target\nc d nontarget\na b target\n")
    trials, n_repeated, _ = read_calibration_trials(path)
    cov = join(parse_score_file("c d 0.1 nontarget\na b 0.2 target\n", "s"), trials)
    assert n_repeated == 1 and cov.index.tolist() == [1, 0] and cov.missing.tolist() == [2]
    cov = join(parse_score_file("a b 0.3 target\nc d 0.1 nontarget\na b 0.2 target\n", "s"), trials)
    assert cov.complete and cov.index.tolist() == [0, 1, 2]  # in list order: line for line
    shuffled = join(parse_score_file("a b 0.3 target\na b 0.2 target\nc d 0.1 nontarget\n", "s"), trials)
    assert shuffled.complete and shuffled.index.tolist() == [0, 2, 1]  # the same answer in any order
    cov = join(parse_score_file("a b 0.3\na b 0.2\nc d 0.1\na b 0.4\n", "s"), trials)
    assert cov.duplicated.tolist() == [0] and cov.duplicate_lines.tolist() == [0, 1, 3]
    assert cov.index.tolist() == [0, 2, 1, 2] and not cov.missing.size and not cov.extra_lines.size


@pytest.mark.parametrize("seed", range(15))
def test_a_calibration_list_joins_from_codes_and_strings_as_a_dictionary_does(tmp_path, monkeypatch, seed):
    """Lists that repeat pairs (read as calibration lists), files holding them any number of times."""
    monkeypatch.setattr(pair_join, "CHUNK", int(np.random.default_rng(seed).integers(1, 8)))
    rng = np.random.default_rng(seed)
    ids = [f"u{k}" for k in range(int(rng.integers(2, 5)))]
    listed = shuffled_lines(rng, ids, int(rng.integers(1, 25)))
    label = {pair: bool(rng.random() < 0.5) for pair in listed}
    list_text = "".join(f"{e} {t} {'target' if label[(e, t)] else 'nontarget'}\n" for e, t in listed)
    scored = [listed[i] for i in rng.permutation(len(listed))][: int(rng.integers(0, len(listed) + 1))]
    scored += shuffled_lines(rng, ids + ["zz"], int(rng.integers(0, 8)))
    score_text = "".join(f"{e} {t} 0.5\n" for e, t in scored)
    (tmp_path / "list").write_text(list_text)
    (tmp_path / "file").write_text(score_text)
    expected = oracle(listed, scored)
    for scores in (read_score_file(tmp_path / "file", ids="codes"), parse_score_file(score_text, "s")):
        cov = join(scores, read_calibration_trials(tmp_path / "list")[0])
        found = (cov.index, cov.missing, cov.duplicated, cov.duplicate_lines)
        assert [part.tolist() for part in found] == list(expected)
        assert cov.extra_lines.tolist() == [k for k, i in enumerate(expected[0]) if i < 0]


def test_an_id_the_list_lacks_never_lands_on_another_pair(tmp_path):
    """With codes a=0, c=1, b=2 (order of first appearance), `c <unknown>` must not take the key of `a b`."""
    (tmp_path / "list").write_text("a c target\nb c nontarget\na b target\n")
    (tmp_path / "file").write_text("a c 0.1\nb c 0.2\na b 0.3\nc zzz 0.4\n")
    cov = join(read_score_file(tmp_path / "file", ids="codes"), read_trials(tmp_path / "list"))
    assert cov.index.tolist() == [0, 1, 2, -1] and cov.extra_lines.tolist() == [3]
    assert cov.duplicated.tolist() == [] and cov.missing.tolist() == []


def test_match_trials_in_any_order():
    scores = parse_score_file("b c 0.1 nontarget\na b 0.9 target\na c 0.2 nontarget\n", "s")
    joined = match_trials(scores, TRIALS)
    assert joined.index.tolist() == [2, 0, 1]
    assert joined.in_list_order(scores.values).tolist() == [0.9, 0.2, 0.1]


def test_match_trials_reports_missing_extra_duplicate_and_labels():
    with pytest.raises(InputError, match=r"1 trial\(s\) of list.kaldi not scored, e.g. b c"):
        match_trials(parse_score_file("a b 0.9\na c 0.2\n", "s"), TRIALS)
    with pytest.raises(InputError, match=r"1 scored pair\(s\) not in list.kaldi, e.g. line 4: x y"):
        match_trials(parse_score_file("a b 0.9\na c 0.2\nb c 0.1\nx y 0.3\n", "s"), TRIALS)
    with pytest.raises(InputError, match=r"scored more than once, e.g. line 1: a b; line 4: a b"):
        match_trials(parse_score_file("a b 0.9\na c 0.2\nb c 0.1\na b 0.3\n", "s"), TRIALS)
    with pytest.raises(InputError, match=r"s:2: 1 label\(s\) disagree"):
        match_trials(parse_score_file("a b 0.9 target\na c 0.2 target\nb c 0.1 nontarget\n", "s"), TRIALS)


def test_join_reports_everything_without_raising():
    text = "a c 0.2 target\nx y 0.3 nontarget\na c 0.1 target\n"  # a b missing, x y extra, a c twice
    cov = join(parse_score_file(text, "s"), TRIALS)
    assert not cov.complete
    assert cov.index.tolist() == [1, -1, 1] and cov.extra_lines.tolist() == [1]
    assert cov.missing.tolist() == [0, 2] and cov.duplicated.tolist() == [1]
    assert cov.duplicate_lines.tolist() == [0, 2] and cov.label_lines.tolist() == [0, 2]


def test_join_of_a_file_in_list_order():
    cov = join(parse_score_file("a b 0.9 target\na c 0.2 target\nb c 0.1 nontarget\n", "s"), TRIALS)
    assert cov.complete and cov.index.tolist() == [0, 1, 2] and cov.label_lines.tolist() == [1]
