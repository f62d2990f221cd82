"""Scoring: formulas on hand-made cases, and the whole engine against straightforward per-trial oracles.

The oracles below are deliberately naive: dicts, loops, one trial at a time, a full np.sort of each cohort
score row, text written with str.format and re-read with float() — the way WeSpeaker's score.py,
tools/vector_mean.py and score_norm.py work. They share no code with sveval.scoring.cosine.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sveval.errors import InputError
from sveval.io.trials import parse_trials
from sveval.scoring import cosine as scoring
from sveval.scoring.run import Cohort, ScoreOptions, score_lists
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


# ---------------------------------------------------------------- AS-norm selection against whole products


def full_exact_statistics(queries, cohort, n):
    """The oracle of the default AS-norm statistics, from the whole product matrix: rows rounded to multiples
    of 2**-26, their integer products (exact in float64, whatever the order of the sums), each row sorted,
    its n largest in ascending order, numpy's mean and the mean of the squared deviations, times 2**-52."""
    products = np.rint(queries * 2.0**26) @ np.rint(cohort * 2.0**26).T
    top = np.sort(products, axis=1)[:, -n:].copy()
    mean = top.mean(axis=1)
    std = np.sqrt(np.mean((top - mean[:, None]) ** 2, axis=1))
    return mean * 2.0**-52, std * 2.0**-52


def near_ties(seed=0, d=32):
    """Unit rows in fixed point with many ties: 40 directions repeated 12 times each, the same directions
    one fixed-point unit (2**-26) off in one component, 10 times each, and 150 random rows (1,030 cohort
    rows); 300 queries, a fifth of them equal to a repeated direction."""
    rng = np.random.default_rng(seed)

    def unit_fixed(k):  # rows of norm <= 1 whose fixed-point rounding is themselves
        rows = rng.standard_normal((k, d)) + 0.8
        return np.trunc(rows / np.linalg.norm(rows, axis=1, keepdims=True) * 2.0**26) * 2.0**-26

    base = unit_fixed(40)
    nudged = np.repeat(base, 10, axis=0)
    at = np.arange(len(nudged)), rng.integers(0, d, len(nudged))
    nudged[at] -= np.sign(nudged[at]) * 2.0**-26  # one unit, towards 0 (the norm stays <= 1)
    cohort = np.vstack([np.repeat(base, 12, axis=0), nudged, unit_fixed(150)])[rng.permutation(1030)]
    queries = np.vstack([unit_fixed(240), base[rng.integers(0, 40, 60)]])
    return queries, cohort


@pytest.mark.parametrize("chunk_rows", [2048, 64, 7])
def test_selected_statistics_equal_the_whole_products_bit_for_bit_on_ties(chunk_rows):
    queries, cohort = near_ties()
    exact = np.rint(queries * 2.0**26) @ np.rint(cohort * 2.0**26).T
    ranked = np.sort(exact, axis=1)
    assert (ranked[:, -300] == ranked[:, -301]).sum() > 100  # the 300th value tied with the 301st
    gaps = np.diff(ranked[:, -320:-280], axis=1)  # around the 300th: equal, or one unit (x 2**26) apart
    assert (gaps == 0).mean() > 0.4 and (gaps <= 2.0**26).mean() > 0.6
    top_ns = (2, 10, 300, 1000, 1030)
    stats = scoring.cohort_statistics(queries, cohort, (scoring.SNORM, *top_ns), chunk_rows=chunk_rows)
    for n in top_ns:
        mean, std = full_exact_statistics(queries, cohort, n)
        assert np.array_equal(stats[n].mean, mean) and np.array_equal(stats[n].std, std), n
    # the statistics are those of the row's values, wherever they stand in the cohort
    order = np.random.default_rng(1).permutation(len(cohort))
    again = scoring.cohort_statistics(queries, cohort[order], (300,), chunk_rows=chunk_rows)[300]
    assert np.array_equal(again.mean, stats[300].mean) and np.array_equal(again.std, stats[300].std)


def test_the_selection_guess_changes_the_speed_never_a_bit(monkeypatch):
    """Whatever threshold the guess gives a row (too high: fewer than N values reach it; too low: all of
    them do), the statistics are those of the whole products."""
    rng = np.random.default_rng(2)
    queries = scoring.normalise_rows(rng.standard_normal((500, 64)) + 0.3)
    cohort = scoring.normalise_rows(rng.standard_normal((900, 64)) + 0.2)
    guess = scoring._selection_guess
    honest = guess(queries, cohort.mean(axis=0), cohort.T @ cohort / 900, 50, 900)
    reach = ((queries @ cohort.T) >= honest[:, None]).sum(axis=1)
    assert 50 < reach.min() and reach.max() < 2 * 50 + 64  # the normal guess: no row corrected

    def wrong(block, *args):  # by the row's first components, whatever its chunk
        bad = np.where(block[:, 0] > 0, np.inf, np.where(block[:, 1] > 0, -np.inf, guess(block, *args)))
        return np.where(block[:, 2] > block[:, 3], block[:, 4] * 2.0**26, bad)  # or anything in between

    monkeypatch.setattr(scoring, "_selection_guess", wrong)
    stats = scoring.cohort_statistics(queries, cohort, (50, 3), chunk_rows=128)
    for n in (50, 3):
        want = full_exact_statistics(queries, cohort, n)
        assert np.array_equal(stats[n].mean, want[0]) and np.array_equal(stats[n].std, want[1])


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
        mean, std = np.mean(top, axis=1), np.std(top, axis=1)
        return mean, std, blas_bounds(x, c, top, mean, std)

    enroll = sorted(set(trials.enroll))
    test = sorted(set(trials.test))
    e_idx = {u: i for i, u in enumerate(enroll)}
    t_idx = {u: i for i, u in enumerate(test)}
    e_emb = np.array([emb[u] for u in enroll])
    t_emb = np.array([emb[u] for u in test])
    out = {"cos": cos_lines}
    for method, n in (("snorm", len(cohort_emb)), ("asnorm", top_n)):
        em, es, (e_dmu, e_dsd) = mean_std(e_emb, n)
        tm, ts, (t_dmu, t_dsd) = mean_std(t_emb, n)
        lines = []
        for line in cos_lines:
            f = line.split()
            i, j, s = e_idx[f[0]], t_idx[f[1]], float(f[2])
            # numpy 1.x (pinned by WeSpeaker): python float op float32 scalar -> float64
            normed = 0.5 * ((s - float(em[i])) / float(es[i]) + (s - float(tm[j])) / float(ts[j]))
            text = "{} {} {:.5f} {} {:.4f} {:.4f} {:.4f} {:.4f}".format(
                f[0], f[1], normed, f[3], np.linalg.norm(e_emb[i]), np.linalg.norm(t_emb[j]), em[i], tm[j]
            )
            # how far another BLAS blocking of the same float32 products can move each printed number
            bound = 0.5 * sum(
                dmu / (sd - dsd) + abs(s - mu) * dsd / (sd * (sd - dsd))
                for mu, sd, dmu, dsd in (
                    (float(em[i]), float(es[i]), e_dmu[i], e_dsd[i]),
                    (float(tm[j]), float(ts[j]), t_dmu[j], t_dsd[j]),
                )
            )
            # the float64 formula itself, a few roundings of each term on each side
            bound += 2.0**-48 * (1 + abs(s - em[i]) / es[i] + abs(s - tm[j]) / ts[j])
            lines.append(
                (text, {2: (normed, bound), 6: (float(em[i]), e_dmu[i]), 7: (float(tm[j]), t_dmu[j])})
            )
        out[method] = lines
    return out


def blas_bounds(x, c, top, mean, std):
    """Per row of float32 unit rows x against cohort rows c: bounds on how much the float32 top-N mean and
    std (np.mean / np.std of the descending top-N products `top`) can change when the products x.c are
    summed in another order, as another BLAS kernel or blocking of the same matrix product does (OpenBLAS's
    Haswell/Zen sgemm kernels give some products of a 50-row and of a 96-row matrix different last bits).

    x and c themselves are the same bits on both sides (elementwise operations and row-wise np.sum, which
    no BLAS computes). u = 2**-24 (float32), gamma(k) = k u / (1 - k u) (Higham, Accuracy and Stability,
    ch. 3):
    - a float32 dot product of d terms, summed in any order, with or without FMA, is within
      gamma(d) sum|x_i c_i| of the exact one: two orders differ by delta <= 2 gamma(d) max_j sum_i|x_i c_ji|;
    - the k-th largest values of two vectors that differ by <= delta differ by <= delta: so do the top-N;
    - float32 mean of N values (sum in any order, one division): within gamma(N) mean|t| = e of the exact
      mean; exact means differ by <= delta: dmu <= delta + 2 gamma(N) (mean|t| + delta);
    - float32 std (deviations from the float32 mean, squares, sum, division, sqrt): the computed variance is
      (sigma^2 + (mu^ - mu)^2)(1 + theta), |theta| <= gamma(N + 3), then sqrt and one rounding: within
      e^2 / (2 sigma) + (sigma + e) gamma(N + 5) of the exact std; exact stds differ by <= delta (the std is
      |P t| / sqrt(N), P the centring projection): dsd <= delta + 2 (e^2 / sigma + (sigma + e) gamma(N + 5)),
      with a 1 % margin on sigma for its own rounding (checked: dsd < 1 % of sigma).
    """
    u = 2.0**-24

    def gamma(k):
        return k * u / (1 - k * u)

    x64, c64, top64 = x.astype(np.float64), c.astype(np.float64), top.astype(np.float64)
    n, d = top.shape[1], x.shape[1]
    delta = 2 * gamma(d) * (np.abs(x64) @ np.abs(c64).T).max(axis=1)
    e = gamma(n) * np.abs(top64).mean(axis=1)
    dmu = delta + 2 * gamma(n) * (np.abs(top64).mean(axis=1) + delta)
    sigma = std.astype(np.float64)
    dsd = delta + 2 * (e**2 / (0.99 * sigma) + (sigma + e) * gamma(n + 5))
    assert (dsd < 0.01 * sigma).all()
    return dmu, dsd


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
    """Every line as the per-trial scripts print it. Cosine lines, ids, labels and |e| |t|: identical (the
    same float32 operations on the same values, through the same numpy and BLAS calls). The cohort mean and
    the normalised score come from float32 cohort products that WeSpeaker computes as one matrix per side
    (enroll, test) and sveval as one per chunk of utterances: a BLAS may sum a product in another order for
    another matrix shape (OpenBLAS's Haswell/Zen sgemm kernels do, its SkylakeX kernels do not), so those
    printed numbers may differ by one unit in the last digit, and only where the oracle's value lies within
    the bound `blas_bounds` derives of the rounding boundary between the two printed values."""
    pytest.importorskip("sklearn")
    from sveval.io.score_folder import write_score_folder

    evaluation, cohort, trials = synthetic(n_trials=1500)
    options = ScoreOptions(methods=("cos", "snorm", "asnorm"), top_n=10, compat="wespeaker")
    run = score_lists(evaluation, [trials], options, cohort=cohort)
    write_score_folder(run, tmp_path)
    expected = wespeaker_oracle(evaluation, cohort, trials, top_n=10)
    assert (tmp_path / "synthetic.kaldi.score").read_text().splitlines() == expected["cos"]
    names = {
        "snorm": "vox2_dev_snorm_synthetic.kaldi.score",
        "asnorm": "vox2_dev_asnorm10_synthetic.kaldi.score",
    }
    total = same = 0
    for method, name in names.items():
        got = (tmp_path / name).read_text().splitlines()
        assert len(got) == len(expected[method])
        for line, (want, blas_dependent) in zip(got, expected[method]):
            total += 1
            same += line == want
            if line == want:
                continue
            a, b = line.split(), want.split()
            for k, (x, y) in enumerate(zip(a, b)):
                if x == y:
                    continue
                assert k in blas_dependent, (line, want)
                value, bound = blas_dependent[k]
                unit = 10.0 ** -len(y.split(".")[1])
                assert round(abs(float(x) - float(y)) / unit) == 1, (line, want)
                assert abs(value - (float(x) + float(y)) / 2) <= bound, (line, want, value, bound)
    # measured (1,500 cosine lines identical everywhere): 3,000 of 3,000 normalised lines identical with
    # OpenBLAS 0.3.31's SkylakeX, Cooperlake and Prescott kernels (numpy 2.4), 2,989 with its Haswell and Zen
    # kernels (OPENBLAS_CORETYPE=Haswell), the other 11 one unit apart in the score's last digit. The bound
    # above is a worst case (1e-5 to 1e-3 on the score): it cannot see a small systematic error (the final
    # formula in float32 changes 0.6 % of the lines, within it); the exactly representable set below checks
    # the arithmetic bit for bit, this count guards against wholesale differences.
    assert same / total > 0.99, f"{same} of {total} lines identical"


def exactly_representable(seed=0, n_spk=12, per_spk=8, n_cohort_spk=40, d=32, n_trials=1500):
    """A set on which WeSpeaker's float32 arithmetic is exact up to the cohort statistics, whatever the
    order of any sum: integer embeddings; eval rows have 16 entries +-1 (norm 4: normalised rows are
    +-0.25, products multiples of 1/16); cohort speakers come in opposite pairs (the mean vector is 0) and
    each has 4 utterances p + q, p - q, p + r, p - r around a +-1 pattern p of 16 entries (the speaker mean
    is p, exactly)."""
    rng = np.random.default_rng(seed)

    def pattern():
        row = np.zeros(d, dtype=np.float32)
        row[rng.choice(d, 16, replace=False)] = rng.choice([-1.0, 1.0], 16)
        return row

    ids, vecs = [], []
    for s in range(n_spk):
        base = pattern()
        for u in range(per_spk):
            row = base.copy()
            flip = rng.choice(np.flatnonzero(row), 3, replace=False)  # same support: still norm 4
            row[flip] *= -1
            ids.append(f"id1{s:04d}/v{u % 3}/{u:05d}.wav")
            vecs.append(row)
    c_ids, c_vecs, c_spk = [], [], []
    for s in range(n_cohort_spk // 2):
        p = pattern()
        for sign, spk in ((1, f"id0{2 * s:04d}"), (-1, f"id0{2 * s + 1:04d}")):
            q, r = rng.integers(-3, 4, (2, d)).astype(np.float32)
            for k, row in enumerate((p + q, p - q, p + r, p - r)):
                c_ids.append(f"{spk}/c/{k:05d}.wav")
                c_vecs.append(sign * row)
                c_spk.append(spk)
    order = rng.permutation(len(c_ids))
    pairs = set()
    while len(pairs) < n_trials:
        a, b = rng.choice(len(ids), 2, replace=False)
        pairs.add((ids[a], ids[b]))
    lines = [f"{a} {b} {'target' if a[:7] == b[:7] else 'nontarget'}" for a, b in sorted(pairs)]
    trials = parse_trials("\n".join(lines) + "\n", "synthetic.kaldi")
    evaluation = Embeddings(np.array(ids, dtype=object), np.array(vecs))
    cohort = Cohort(
        "vox2_dev",
        Embeddings(np.array(c_ids, dtype=object)[order], np.array(c_vecs)[order]),
        np.array(c_spk)[order],
    )
    return evaluation, cohort, trials


def test_wespeaker_mode_is_identical_line_by_line_where_float32_is_exact(tmp_path):
    """On a set whose float32 products are exact in any summation order (`exactly_representable`), every
    step after them (top-N selection, float32 np.mean / np.std, the float64 formula, the %.5f / %.4f text)
    gets the same values in the same order on both sides: every line is identical on any CPU and BLAS."""
    pytest.importorskip("sklearn")
    from sveval.io.score_folder import write_score_folder

    evaluation, cohort, trials = exactly_representable()
    options = ScoreOptions(methods=("cos", "snorm", "asnorm"), top_n=10, compat="wespeaker")
    run = score_lists(evaluation, [trials], options, cohort=cohort)
    write_score_folder(run, tmp_path)
    expected = wespeaker_oracle(evaluation, cohort, trials, top_n=10)
    names = {
        "cos": "synthetic.kaldi.score",
        "snorm": "vox2_dev_snorm_synthetic.kaldi.score",
        "asnorm": "vox2_dev_asnorm10_synthetic.kaldi.score",
    }
    for method, name in names.items():
        want = [line if method == "cos" else line[0] for line in expected[method]]
        assert (tmp_path / name).read_text().splitlines() == want, method


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
    # bit for bit on any CPU: each value depends on its utterances only (exact fixed-point cohort products,
    # float64 reductions row by row); with float32 BLAS products, OpenBLAS's Haswell/Zen kernels gave
    # 29 of these 100 values other last bits (the other rows change the matrix shape, hence the kernel)
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
