"""Scoring: formulas on hand-made cases, and the whole engine against straightforward per-trial oracles.

The oracles below are deliberately naive: dicts, loops, one trial at a time, a full np.sort of each cohort
score row, text written with str.format and re-read with float() — the way WeSpeaker's score.py,
tools/vector_mean.py and score_norm.py work. They share no code with sveval.scoring.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sveval import scoring
from sveval.errors import InputError
from sveval.io.trials import parse_trials
from sveval.score_run import Cohort, ScoreOptions, score_lists
from sveval.types import Embeddings

# ---------------------------------------------------------------- hand-made cases


def test_mean_vector_and_speaker_means_by_hand():
    cohort = np.array([[1, 0], [3, 0], [0, 2], [0, 2]], dtype=np.float32)
    for compat in scoring.COMPAT_MODES:
        assert scoring.mean_vector(cohort, compat).tolist() == [1.0, 1.0]
        means = scoring.speaker_means(cohort, np.array([1, 1, 0, 0]), 2, compat)
        assert means.tolist() == [[0.0, 2.0], [2.0, 0.0]]
    assert scoring.mean_vector(cohort, "wespeaker").dtype == np.float32


def test_wespeaker_mean_is_a_float32_running_sum_in_file_order():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5000, 7)) * 10).astype(np.float32)
    acc = np.zeros(7, dtype=np.float32)
    for row in x:
        acc += row
    assert np.array_equal(scoring.mean_vector(x, "wespeaker", chunk=777), acc / np.float32(len(x)))
    codes = rng.integers(0, 40, len(x))
    sums = {}
    for row, c in zip(x, codes):
        sums[c] = row.copy() if c not in sums else sums[c] + row
    got = scoring.speaker_means(x, codes, 40, "wespeaker")
    for c in range(40):
        assert np.array_equal(got[c], sums[c] / np.float32((codes == c).sum()))


def test_cohort_statistics_by_hand():
    # queries a=(1,0), b=(0,1); cohort speakers (1,0), (0,1), (-1,0)
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    cohort = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    for compat in scoring.COMPAT_MODES:
        stats = scoring.cohort_statistics(queries, cohort, (scoring.SNORM, 2), compat)
        # a: scores [1, 0, -1] -> all: mean 0, std sqrt(2/3); top-2 [1, 0]: mean .5, std .5
        # b: scores [0, 1, 0]  -> all: mean 1/3, std sqrt(2)/3; top-2 [1, 0]: mean .5, std .5
        np.testing.assert_allclose(stats[scoring.SNORM].mean, [0, 1 / 3], atol=1e-7)
        np.testing.assert_allclose(stats[scoring.SNORM].std, [math.sqrt(2 / 3), math.sqrt(2) / 3], rtol=1e-6)
        np.testing.assert_allclose(stats[2].mean, [0.5, 0.5], rtol=1e-7)
        np.testing.assert_allclose(stats[2].std, [0.5, 0.5], rtol=1e-7)
    normed = scoring.normalise_scores(np.array([0.0]), np.array([0]), np.array([1]), stats[2])
    assert normed.tolist() == [-1.0]  # 0.5 * ((0 - .5)/.5 + (0 - .5)/.5)


def test_top_n_larger_than_cohort_is_refused():
    with pytest.raises(ValueError, match="at least 5"):
        scoring.cohort_statistics(np.eye(2), np.eye(2), (5,))


def test_cosine_and_rounding_by_hand():
    x = scoring.normalise_rows(np.array([[3.0, 4.0], [1.0, 0.0], [0.0, -2.0]]))
    for compat in scoring.COMPAT_MODES:
        cos = scoring.pair_dots(x, np.array([0, 0, 1]), np.array([1, 2, 2]), compat)
        np.testing.assert_allclose(cos, [0.6, -0.8, 0.0], atol=1e-15)
    # '%.5f' rounds the exact binary value half to even: 1/64 = 0.015625 -> 0.01562
    assert scoring.round_half_even_decimal(np.array([0.015625, -0.046875, 0.123456]), 5).tolist() == [
        0.01562,
        -0.04688,
        0.12346,
    ]


def test_exact_snorm_from_gram_matches_the_products():
    rng = np.random.default_rng(0)
    q = scoring.normalise_rows(rng.standard_normal((50, 8)))
    c = scoring.normalise_rows(rng.standard_normal((30, 8)))
    stats = scoring.cohort_statistics(q, c, (scoring.SNORM,), "exact")[scoring.SNORM]
    scores = q @ c.T
    np.testing.assert_allclose(stats.mean, scores.mean(axis=1), atol=1e-15)
    np.testing.assert_allclose(stats.std, scores.std(axis=1), rtol=1e-12)


# ---------------------------------------------------------------- synthetic set and oracles


def synthetic(seed=0, n_spk=12, per_spk=8, n_cohort_spk=40, per_cohort=3, d=24, n_trials=2500):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_spk, d)) * 1.2
    ids = [f"id1{s:04d}/v{u % 3}/{u:05d}.wav" for s in range(n_spk) for u in range(per_spk)]
    vecs = (centres.repeat(per_spk, 0) + rng.standard_normal((len(ids), d)) + 0.7).astype(np.float32)
    cohort_centres = rng.standard_normal((n_cohort_spk, d)) * 1.2
    c_ids = [f"id0{s:04d}/c/{u:05d}.wav" for s in range(n_cohort_spk) for u in range(per_cohort)]
    c_vecs = (cohort_centres.repeat(per_cohort, 0) + rng.standard_normal((len(c_ids), d)) + 0.7).astype(
        np.float32
    )
    order = rng.permutation(len(c_ids))  # cohort file order interleaves speakers
    c_ids = [c_ids[i] for i in order]
    c_vecs = c_vecs[order]
    pairs = set()
    while len(pairs) < n_trials:
        a, b = rng.choice(len(ids), 2, replace=False)
        pairs.add((ids[a], ids[b]))
    lines = [f"{a} {b} {'target' if a[:7] == b[:7] else 'nontarget'}" for a, b in sorted(pairs)]
    trials = parse_trials("\n".join(lines) + "\n", "synthetic.kaldi")
    evaluation = Embeddings(np.array(ids, dtype=object), vecs)
    cohort = Cohort(
        "vox2_dev", Embeddings(np.array(c_ids, dtype=object), c_vecs), np.array([c[:7] for c in c_ids])
    )
    return evaluation, cohort, trials


def wespeaker_oracle(evaluation, cohort, trials, top_n):
    """score.py + vector_mean.py + score_norm.py, one trial at a time, float32 like WeSpeaker."""
    from sklearn.metrics.pairwise import cosine_similarity

    mean = None
    for vec in cohort.embeddings.vectors:  # cal_mean over the cohort scp, in file order
        mean = np.zeros_like(vec) if mean is None else mean
        mean += vec
    mean = mean / len(cohort.embeddings)
    emb = {u: v - mean for u, v in zip(evaluation.ids, evaluation.vectors)}
    cos_lines = []
    for e, t, target in zip(trials.enroll, trials.test, trials.is_target):
        score = cosine_similarity(emb[e].reshape(1, -1), emb[t].reshape(1, -1))[0][0]
        cos_lines.append("{} {} {:.5f} {}".format(e, t, score, "target" if target else "nontarget"))
    spk2utt = {}
    for utt, spk in zip(cohort.embeddings.ids, cohort.speakers):
        spk2utt.setdefault(spk, []).append(utt)
    utt2vec = dict(zip(cohort.embeddings.ids, cohort.embeddings.vectors))
    spk_means = []
    for utts in spk2utt.values():
        acc = None
        for u in utts:
            acc = np.zeros_like(utt2vec[u]) if acc is None else acc
            acc += utt2vec[u]
        spk_means.append(acc / len(utts))
    cohort_emb = np.array(spk_means) - mean

    def mean_std(x, n):
        x = x / np.sqrt(np.sum(x**2, axis=1, keepdims=True))
        c = cohort_emb / np.sqrt(np.sum(cohort_emb**2, axis=1, keepdims=True))
        top = np.sort(np.matmul(x, c.T), axis=1)[:, ::-1][:, :n]
        return np.mean(top, axis=1), np.std(top, axis=1)

    enroll = sorted(set(trials.enroll))
    test = sorted(set(trials.test))
    e_idx = {u: i for i, u in enumerate(enroll)}
    t_idx = {u: i for i, u in enumerate(test)}
    e_emb = np.array([emb[u] for u in enroll])
    t_emb = np.array([emb[u] for u in test])
    out = {"cos": cos_lines}
    for method, n in (("snorm", len(cohort_emb)), ("asnorm", top_n)):
        em, es = mean_std(e_emb, n)
        tm, ts = mean_std(t_emb, n)
        lines = []
        for line in cos_lines:
            f = line.split()
            i, j, s = e_idx[f[0]], t_idx[f[1]], float(f[2])
            # numpy 1.x (pinned by WeSpeaker): python float op float32 scalar -> float64
            normed = 0.5 * ((s - float(em[i])) / float(es[i]) + (s - float(tm[j])) / float(ts[j]))
            lines.append(
                "{} {} {:.5f} {} {:.4f} {:.4f} {:.4f} {:.4f}".format(
                    f[0], f[1], normed, f[3], np.linalg.norm(e_emb[i]), np.linalg.norm(t_emb[j]), em[i], tm[j]
                )
            )
        out[method] = lines
    return out


def float64_oracle(evaluation, cohort, trials, top_n):
    """The definitions in float64, per trial, no rounding: {method: [(score, |e|, |t|, mu_e, mu_t)]}."""
    x = evaluation.vectors.astype(np.float64)
    c = cohort.embeddings.vectors.astype(np.float64)
    mean = c.mean(axis=0)
    emb = {u: v - mean for u, v in zip(evaluation.ids, x)}
    groups = {}
    for v, spk in zip(c, cohort.speakers):
        groups.setdefault(spk, []).append(v)
    spk = np.array([np.mean(g, axis=0) for g in groups.values()]) - mean
    spk = spk / np.linalg.norm(spk, axis=1, keepdims=True)
    stats = {}
    for u, v in emb.items():
        row = np.sort(spk @ (v / np.linalg.norm(v)))[::-1]
        stats[u] = {"snorm": (row.mean(), row.std()), "asnorm": (row[:top_n].mean(), row[:top_n].std())}
    out = {m: [] for m in ("cos", "snorm", "asnorm")}
    for e, t in zip(trials.enroll, trials.test):
        s = float(np.dot(emb[e], emb[t]) / (np.linalg.norm(emb[e]) * np.linalg.norm(emb[t])))
        out["cos"].append((s,))
        for m in ("snorm", "asnorm"):
            (me, se), (mt, st) = stats[e][m], stats[t][m]
            out[m].append(
                (
                    0.5 * ((s - me) / se + (s - mt) / st),
                    np.linalg.norm(emb[e]),
                    np.linalg.norm(emb[t]),
                    me,
                    mt,
                )
            )
    return out


def test_wespeaker_mode_reproduces_the_per_trial_scripts_line_by_line(tmp_path):
    pytest.importorskip("sklearn")
    from sveval.io.score_folder import write_score_folder

    evaluation, cohort, trials = synthetic(n_trials=1500)
    options = ScoreOptions(methods=("cos", "snorm", "asnorm"), top_n=10, compat="wespeaker")
    run = score_lists(evaluation, [trials], options, cohort=cohort)
    write_score_folder(run, tmp_path)
    expected = wespeaker_oracle(evaluation, cohort, trials, top_n=10)
    names = {
        "cos": "synthetic.kaldi.score",
        "snorm": "vox2_dev_snorm_synthetic.kaldi.score",
        "asnorm": "vox2_dev_asnorm10_synthetic.kaldi.score",
    }
    total = same = 0
    for method, name in names.items():
        got = (tmp_path / name).read_text().splitlines()
        assert len(got) == len(expected[method])
        total += len(got)
        same += sum(a == b for a, b in zip(got, expected[method]))
    # measured: 4,500 of 4,500 lines identical on the development machine (numpy 2.4, OpenBLAS 0.3.31), and
    # 36,000 of 36,000 over four larger sets (dim 64 and 256, 400 cohort speakers)
    assert same / total > 0.999, f"{same} of {total} lines identical"


@pytest.mark.parametrize("precision, tolerance", [("float64", 1e-9), ("float32", 1e-4)])
def test_exact_mode_matches_a_float64_per_trial_implementation(precision, tolerance):
    """float64 cohort products: equal to the float64 definitions to 1e-9. float32 products (the CLI's
    default, for speed): cosine, s-norm and all |e| |t| still to 1e-9, AS-norm within 1e-4 (errors of about
    1e-8 per cohort score, divided by sigma and times (s - mu)/sigma)."""
    evaluation, cohort, trials = synthetic(seed=1)
    options = ScoreOptions(methods=("cos", "snorm", "asnorm"), top_n=7, cohort_precision=precision)
    run = score_lists(evaluation, [trials], options, cohort=cohort)
    expected = float64_oracle(evaluation, cohort, trials, top_n=7)
    assert run.precision.startswith("float64 throughout")
    for res in run.lists[0].methods:
        want = np.array(expected[res.method])
        atol = tolerance if res.method == "asnorm" else 1e-9
        np.testing.assert_allclose(res.values, want[:, 0], rtol=0, atol=atol)
        extra = run.lists[0].extra(res)
        assert (extra is None) == (res.method == "cos")
        if extra is not None:
            np.testing.assert_allclose(extra[:, :2], want[:, 1:3], rtol=0, atol=1e-9)
            np.testing.assert_allclose(extra[:, 2:], want[:, 3:], rtol=0, atol=atol / 100)


def test_statistics_are_computed_once_per_utterance_across_lists():
    evaluation, cohort, trials = synthetic(seed=2, n_trials=300)
    half = parse_trials(
        "".join(f"{e} {t}\n" for e, t in zip(trials.enroll[:100], trials.test[:100])), "half.txt"
    )
    both = score_lists(evaluation, [trials, half], ScoreOptions(methods=("asnorm",), top_n=5), cohort=cohort)
    alone = score_lists(evaluation, [half], ScoreOptions(methods=("asnorm",), top_n=5), cohort=cohort)
    np.testing.assert_array_equal(both.lists[1].methods[0].values, alone.lists[0].methods[0].values)
    assert both.lists[1].methods[0].metrics is None and "unlabelled" in both.notes[0]
    assert both.n_scored_utterances == len(np.unique(np.concatenate([trials.enroll, trials.test])))


def test_missing_utterances_are_an_error_unless_allowed():
    evaluation, cohort, trials = synthetic(seed=3, n_trials=200)
    keep = evaluation.ids != trials.enroll[0]
    partial = Embeddings(evaluation.ids[keep], evaluation.vectors[keep])
    with pytest.raises(InputError, match=r"trial\(s\) name 1 utterance\(s\) without an embedding, e.g. id1"):
        score_lists(partial, [trials], ScoreOptions())
    run = score_lists(partial, [trials], ScoreOptions(allow_missing=True))
    lst = run.lists[0]
    dropped = (trials.enroll == trials.enroll[0]) | (trials.test == trials.enroll[0])
    assert lst.n_dropped == dropped.sum() > 0 and lst.missing_ids == (trials.enroll[0],)
    assert len(lst.methods[0].values) == len(trials) - dropped.sum()
    assert "dropped" in lst.methods[0].signature.format()


def test_bad_cohorts_are_refused():
    evaluation, cohort, trials = synthetic(seed=4, n_trials=50)
    with pytest.raises(InputError, match="larger than the cohort"):
        score_lists(evaluation, [trials], ScoreOptions(methods=("asnorm",), top_n=41), cohort=cohort)
    short = Cohort("c", Embeddings(cohort.embeddings.ids, cohort.embeddings.vectors[:, :5]), cohort.speakers)
    with pytest.raises(InputError, match="dimension mismatch"):
        score_lists(evaluation, [trials], ScoreOptions(methods=("snorm",)), cohort=short)
    with pytest.raises(InputError, match="need a cohort"):
        score_lists(evaluation, [trials], ScoreOptions(methods=("snorm",)))


def test_an_embedding_equal_to_the_mean_is_refused():
    evaluation, _, trials = synthetic(seed=5, n_trials=40)
    vectors = evaluation.vectors.copy()
    vectors[evaluation.ids == trials.test[0]] = 0.0
    with pytest.raises(InputError, match=f"embedding of {trials.test[0]} equals the mean vector"):
        score_lists(Embeddings(evaluation.ids, vectors), [trials], ScoreOptions(mean="none"))


def test_exact_speaker_means_in_blocks_equal_the_plain_means():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3000, 5)).astype(np.float32)
    codes = rng.integers(0, 70, 3000)
    got = scoring.speaker_means(x, codes, 70, "exact", chunk=257)
    want = np.array([x[codes == k].astype(np.float64).mean(axis=0) for k in range(70)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)
