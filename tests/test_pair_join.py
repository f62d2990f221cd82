"""The bounded-memory pair join, and `coverage` built on it, against dictionaries (independent oracles)."""

import numpy as np
import pytest

import sveval.io.scores as scores_module
import sveval.pair_join as pair_join
from sveval.io.scores import coverage, parse_score_file, read_score_file
from sveval.io.trials import parse_trials, read_calibration_trials
from sveval.pair_join import join, sort_pairs, sort_with_lines


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
    first = {}
    for line, key in enumerate(list_keys):
        first.setdefault(int(key), line)
    index = [first.get(int(key), -1) for key in file_keys]
    counts = {}
    for line in index:
        if line >= 0:
            counts[line] = counts.get(line, 0) + 1
    missing = [line for line in range(len(list_keys)) if line not in counts]
    twice = sorted(line for line, count in counts.items() if count > 1)
    return index, missing, twice


@pytest.mark.parametrize("seed", range(40))
def test_join_matches_a_dictionary(seed):
    rng = np.random.default_rng(seed)
    n_list, n_file, top = rng.integers(0, 60), rng.integers(0, 80), rng.integers(1, 90)
    list_keys = rng.integers(0, top, n_list, dtype=np.int64)  # repeats allowed (calibration lists)
    file_keys = rng.integers(0, top + 5, n_file, dtype=np.int64)
    chunk = int(rng.integers(1, 20))
    slices = (file_keys[s : s + chunk].copy() for s in range(0, n_file, chunk))
    joined = join(sort_pairs(list_keys.copy()), slices, n_file)
    index, missing, twice = oracle(list_keys, file_keys)
    assert joined.index.tolist() == index
    assert joined.missing.tolist() == missing and joined.twice.tolist() == twice


def test_join_refuses_slices_of_the_wrong_length():
    with pytest.raises(ValueError, match="expected 3"):
        join(sort_pairs(np.arange(3, dtype=np.int64)), [np.arange(2, dtype=np.int64)], 3)


def shuffled_lines(rng, ids, n):
    return [(str(rng.choice(ids)), str(rng.choice(ids))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(25))
def test_coverage_is_the_same_from_codes_and_from_strings(tmp_path, monkeypatch, seed):
    """Files and lists read with id codes (the large-file path), and the same text parsed to strings,
    give the coverage a dictionary gives, slice size of 1 to 7 lines."""
    monkeypatch.setattr(scores_module, "CHUNK", int(np.random.default_rng(seed).integers(1, 8)))
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
    from sveval.io.trials import read_trials

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
        cov = coverage(scores, trials)
        assert {field: getattr(cov, field).tolist() for field in expected} == expected


def test_coverage_of_a_list_with_repeated_pairs_finds_the_first_line(tmp_path):
    path = tmp_path / "cal"
    path.write_text("a b target\nc d nontarget\na b target\n")
    trials, n_repeated, _ = read_calibration_trials(path)
    cov = coverage(parse_score_file("c d 0.1 nontarget\na b 0.2 target\n", "s"), trials)
    assert n_repeated == 1 and cov.index.tolist() == [1, 0] and cov.missing.tolist() == [2]


def test_an_id_the_list_lacks_never_lands_on_another_pair(tmp_path):
    """With codes a=0, c=1, b=2 (order of first appearance), `c <unknown>` must not take the key of `a b`."""
    (tmp_path / "list").write_text("a c target\nb c nontarget\na b target\n")
    (tmp_path / "file").write_text("a c 0.1\nb c 0.2\na b 0.3\nc zzz 0.4\n")
    from sveval.io.trials import read_trials

    cov = coverage(read_score_file(tmp_path / "file", ids="codes"), read_trials(tmp_path / "list"))
    assert cov.index.tolist() == [0, 1, 2, -1] and cov.extra_lines.tolist() == [3]
    assert cov.duplicated.tolist() == [] and cov.missing.tolist() == []
