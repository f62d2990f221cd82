"""The synthetic Vox1-like setup: shape of the list, determinism, and that normalisation matters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sveval.io.trials import parse_trials
from sveval.metrics import detection as metrics
from sveval.synthetic import VOX1_O, cohort_ids, demo_setup, embed, vox1_like_trials, vox1_like_utterances


@pytest.fixture(scope="module")
def setup():
    return demo_setup(seed=0)


def first(ids):
    return np.array([u.split("/")[0] for u in ids], dtype=object)


def test_shape_is_vox1_o(setup):
    trials = setup.trials
    assert len(setup.evaluation) == VOX1_O["utterances"] == 4874
    assert len(pd.unique(first(setup.evaluation.ids))) == 40
    assert (len(trials), trials.n_target, trials.n_nontarget) == (37611, 18802, 18809)
    assert (first(trials.enroll) == first(trials.test)).tolist() == trials.is_target.tolist()
    # the strict parser refuses duplicate pairs: the list survives a round trip through it
    text = "".join(
        f"{e} {t} {'target' if y else 'nontarget'}\n"
        for e, t, y in zip(trials.enroll, trials.test, trials.is_target)
    )
    assert parse_trials(text, "synthetic").fingerprint == trials.fingerprint
    assert set(trials.enroll) | set(trials.test) <= set(setup.evaluation.ids)
    per_enroll = pd.Series(trials.enroll).value_counts()
    assert per_enroll.max() <= 3 * per_enroll.median()  # spread over utterances, like veri_test2.txt
    session = lambda ids: np.array(["/".join(u.split("/")[:2]) for u in ids])  # noqa: E731
    cross = session(trials.enroll[trials.is_target]) != session(trials.test[trials.is_target])
    assert cross.mean() > 0.95  # target trials come from other sessions where there is one


def test_cohort_has_5994_speakers(setup):
    assert len(pd.unique(first(setup.cohort.ids))) == 5994 and setup.cohort.vectors.dtype == np.float32
    assert not set(first(setup.cohort.ids)) & set(first(setup.evaluation.ids))


def test_deterministic_and_order_independent():
    utts = vox1_like_utterances(n_speakers=5, n_utterances=60, seed=3)
    assert utts.tolist() == vox1_like_utterances(n_speakers=5, n_utterances=60, seed=3).tolist()
    a = vox1_like_trials(utts, n_target=50, n_nontarget=50, seed=3)
    b = vox1_like_trials(utts, n_target=50, n_nontarget=50, seed=3)
    c = vox1_like_trials(utts, n_target=50, n_nontarget=50, seed=4)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    forward, backward = embed(utts, seed=1), embed(utts[::-1], seed=1)
    np.testing.assert_array_equal(forward.vectors, backward.vectors[::-1])
    assert not np.allclose(embed(utts, seed=2).vectors, forward.vectors)


def snorm_oracle(evaluation, cohort, enroll, test):
    """S-norm by DESIGN.md, plainly in float64: mean = cohort utterance mean, cohort = speaker means."""
    m = cohort.vectors.astype(np.float64).mean(axis=0)
    means = pd.DataFrame(cohort.vectors.astype(np.float64)).groupby(first(cohort.ids)).mean().to_numpy() - m
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    e = evaluation.vectors.astype(np.float64) - m
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    index = pd.Index(evaluation.ids)
    i, j = index.get_indexer(enroll), index.get_indexer(test)
    cosine = np.einsum("nd,nd->n", e[i], e[j])
    c = e @ means.T
    mu, sd = c.mean(axis=1), c.std(axis=1)
    return cosine, 0.5 * ((cosine - mu[i]) / sd[i] + (cosine - mu[j]) / sd[j])


def test_eer_of_a_few_percent_and_normalisation_matters(setup):
    cosine, snorm = snorm_oracle(setup.evaluation, setup.cohort, setup.trials.enroll, setup.trials.test)
    eer_cos = metrics.eer(cosine, setup.trials.is_target).value
    eer_snorm = metrics.eer(snorm, setup.trials.is_target).value
    assert 0.02 < eer_cos < 0.07 and eer_snorm < 0.85 * eer_cos


def test_embeddings_for_a_given_list_use_its_ids():
    enroll = np.array(["id10270/x6uYqmx31kE/00001.wav", "id10270/x6uYqmx31kE/00001.wav"], dtype=object)
    test = np.array(["id10270/8jEAjG6SegY/00008.wav", "id10300/ize_eiCFEg0/00003.wav"], dtype=object)
    trials = parse_trials("".join(f"{y} {e} {t}\n" for y, e, t in zip("10", enroll, test)), "list")
    small = demo_setup(seed=0, trials=trials)
    assert small.trials is trials and sorted(small.evaluation.ids) == sorted(set(enroll) | set(test))
    assert len(small.cohort) == len(cohort_ids())
