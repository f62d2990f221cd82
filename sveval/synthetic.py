"""A synthetic but realistic Vox1-like evaluation setup: embeddings, a Vox1-O-shaped trial list, a cohort.

Pure numpy and seeded: the same arguments give the same random draws everywhere (vectors may differ in the
last bits between BLAS builds; printed scores essentially never). Used by `sveval demo` and
by benchmarks. The generative model, in DIM dimensions:

    x = m + B (s_speaker + g_session + c_channel) + q_utt * n_utt

    m          a global offset shared by every embedding (what mean subtraction removes)
    B          a RANK-dimensional subspace that carries speaker information (embeddings are anisotropic)
    s_speaker  the speaker, N(0, SPEAKER^2 I / RANK)
    g_session  a per-session (per-video) offset: within-speaker session variability
    c_channel  one of CHANNELS channel offsets with Zipf-like popularity, shared across speakers
    q_utt      per-utterance noise level, log-normal with spread NOISE_SPREAD (duration / quality);
               n_utt ~ N(0, I / DIM) is isotropic

Because noise is isotropic while speakers live in a subspace, the spread of an utterance's nontarget
scores depends on its noise level: one threshold does not fit every utterance, which is what s-norm and
AS-norm correct (on the demo list, cosine EER about 4 %, normalised about 2.8 %).

Utterance ids look like VoxCeleb's `speaker/session/00001.wav`; the speaker is the first path component and
the session the second, which is all the generator reads from an id (so the real Vox1-O list can be used).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sveval.io.trials import fingerprint
from sveval.types import Embeddings, TrialList

DIM = 256
SPEAKER, SESSION, CHANNEL, NOISE, OFFSET = 1.0, 0.3, 0.3, 0.75, 1.5
CHANNELS = 24
NOISE_SPREAD = 0.7
RANK = 48
# The shape of Vox1-O cleaned (veri_test2.txt): 40 speakers, 4,874 utterances, 18,802 + 18,809 trials.
VOX1_O = {"speakers": 40, "utterances": 4874, "target": 18802, "nontarget": 18809}
COHORT_SPEAKERS, COHORT_UTTERANCES_PER_SPEAKER = 5994, 3
DEMO_LIST = "synthetic_vox1_O"


@dataclass(frozen=True, eq=False)
class SyntheticSetup:
    """Evaluation embeddings, the trial list scored on them, and a cohort (speaker = first id component)."""

    evaluation: Embeddings
    trials: TrialList
    cohort: Embeddings
    seed: int


def _stream(seed: int, purpose: str) -> np.random.Generator:
    """An independent generator per purpose, so that changing one part never shifts another."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())])


def vox1_like_utterances(
    n_speakers: int = VOX1_O["speakers"], n_utterances: int = VOX1_O["utterances"], seed: int = 0
) -> np.ndarray:
    """Utterance ids `synNNNNN/<session>/<k>.wav`, uneven counts per speaker and 3-20 sessions each."""
    rng = _stream(seed, "utterances")
    weights = rng.gamma(4.0, size=n_speakers)
    counts = 1 + rng.multinomial(n_utterances - n_speakers, weights / weights.sum())
    ids = []
    for s, count in enumerate(counts):
        n_sessions = int(np.clip(count // 6, 3, 20))
        sessions = np.sort(rng.integers(0, n_sessions, size=count))
        numbers = np.zeros(n_sessions, dtype=int)
        for session in sessions:
            numbers[session] += 1
            ids.append(f"syn{10270 + s:05d}/sess{session:03d}/{numbers[session]:05d}.wav")
    return np.array(ids, dtype=object)


def vox1_like_trials(
    utterances: np.ndarray,
    n_target: int = VOX1_O["target"],
    n_nontarget: int = VOX1_O["nontarget"],
    seed: int = 0,
    name: str = DEMO_LIST,
) -> TrialList:
    """A Vox1-O-shaped list: every utterance enrolls about the same number of trials, target tests come
    from another session of the same speaker where there is one, nontargets from other speakers; no pair
    twice; sorted by enrollment utterance like veri_test2.txt."""
    rng = _stream(seed, "trials")
    utterances = np.asarray(utterances, dtype=object)
    speaker, session = _components(utterances)
    by_speaker = pd.Series(np.arange(len(utterances))).groupby(speaker).apply(np.asarray).to_dict()
    pairs: set[tuple[int, int]] = set()
    enroll_order = rng.permutation(len(utterances))

    def draw(count: int, target: bool) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        k = 0
        while len(out) < count:
            e = int(enroll_order[k % len(enroll_order)])
            k += 1
            if target:
                pool = by_speaker[speaker[e]]
                other = pool[(session[pool] != session[e])]
                pool = other if len(other) else pool[pool != e]
                if not len(pool):
                    continue
                t = int(pool[rng.integers(len(pool))])
            else:
                t = int(rng.integers(len(utterances)))
                if speaker[t] == speaker[e]:
                    continue
            if (e, t) in pairs or (t, e) in pairs:
                continue
            pairs.add((e, t))
            out.append((e, t))
        return out

    chosen = [(e, t, True) for e, t in draw(n_target, True)] + [
        (e, t, False) for e, t in draw(n_nontarget, False)
    ]
    chosen.sort(key=lambda x: (utterances[x[0]], not x[2], utterances[x[1]]))
    enroll = np.array([utterances[e] for e, _, _ in chosen], dtype=object)
    test = np.array([utterances[t] for _, t, _ in chosen], dtype=object)
    is_target = np.array([lab for _, _, lab in chosen], dtype=bool)
    return TrialList(
        name=name,
        basename=f"{name}.kaldi",
        enroll_ids=enroll,
        test_ids=test,
        is_target=is_target,
        fingerprint=fingerprint(enroll, test, is_target),
        source=f"sveval.synthetic (seed {seed})",
    )


def _components(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    parts = [u.split("/") for u in ids.tolist()]
    speaker = np.array([p[0] for p in parts], dtype=object)
    session = np.array(["/".join(p[:2]) for p in parts], dtype=object)
    return speaker, session


def embed(ids: np.ndarray, seed: int = 0, dim: int = DIM) -> Embeddings:
    """Embeddings for utterance ids under the generative model of this module (float32).

    Speakers, sessions and utterances are drawn in sorted order of their names, so an utterance's vector
    depends on the seed and on the set of ids given, never on their order.
    """
    ids = np.asarray(ids, dtype=object)
    speaker, session = _components(ids)
    world = _stream(seed, "world")
    offset = world.normal(size=dim) * OFFSET / np.sqrt(dim)
    basis = world.normal(size=(RANK, dim)) / np.sqrt(dim)  # the speaker subspace (nearly orthonormal rows)
    channels = world.normal(size=(CHANNELS, RANK)) * CHANNEL / np.sqrt(RANK)
    popularity = 1.0 / np.arange(1, CHANNELS + 1) ** 1.1
    spk_codes, spk_names = pd.factorize(speaker, sort=True)
    ses_codes, ses_names = pd.factorize(session, sort=True)
    speakers = _stream(seed, "speakers").normal(size=(len(spk_names), RANK)) * SPEAKER / np.sqrt(RANK)
    rng = _stream(seed, "sessions")
    sessions = rng.normal(size=(len(ses_names), RANK)) * SESSION / np.sqrt(RANK)
    sessions += channels[rng.choice(CHANNELS, size=len(ses_names), p=popularity / popularity.sum())]
    order = np.argsort(ids, kind="stable")
    rng = _stream(seed, "utterances-noise")
    noise = np.empty((len(ids), dim))
    noise[order] = rng.normal(size=(len(ids), dim)) / np.sqrt(dim)
    level = np.empty(len(ids))
    level[order] = NOISE * rng.lognormal(0.0, NOISE_SPREAD, size=len(ids))
    vectors = offset + (speakers[spk_codes] + sessions[ses_codes]) @ basis + level[:, None] * noise
    return Embeddings(ids, (vectors * 10).astype(np.float32))


def cohort_ids(
    n_speakers: int = COHORT_SPEAKERS, per_speaker: int = COHORT_UTTERANCES_PER_SPEAKER
) -> np.ndarray:
    """`cohNNNNN/sessK/00001.wav`: per_speaker utterances per speaker, each from its own session."""
    return np.array(
        [f"coh{s:05d}/sess{k:03d}/00001.wav" for s in range(n_speakers) for k in range(per_speaker)],
        dtype=object,
    )


def demo_setup(seed: int = 0, trials: TrialList | None = None) -> SyntheticSetup:
    """The `sveval demo` setup: 40 speakers / 4,874 utterances / a 37,611-trial Vox1-O-shaped list and a
    5,994-speaker cohort, or, with `trials` (e.g. the real vox1_O_cleaned), embeddings for its utterances."""
    if trials is None:
        utterances = vox1_like_utterances(seed=seed)
        trials = vox1_like_trials(utterances, seed=seed)
    else:
        utterances = pd.unique(np.concatenate([trials.enroll, trials.test]))
    cohort = cohort_ids()
    vectors = embed(np.concatenate([utterances, cohort]), seed=seed)
    n = len(utterances)
    evaluation = Embeddings(vectors.ids[:n], vectors.vectors[:n])
    return SyntheticSetup(evaluation, trials, Embeddings(vectors.ids[n:], vectors.vectors[n:]), seed)


# VoxCeleb-like utterance durations: VoxCeleb1 utterances run from 4 s to over 2 minutes, mean 8.2 s.
MIN_SECONDS, MEAN_SECONDS, CAP_SECONDS, DURATION_SIGMA = 4.0, 8.2, 60.0, 0.75


def voxceleb_like_durations(count: int, seed: int = 0) -> np.ndarray:
    """(count,) seconds: 4 s + a lognormal part of mean 4.2 s (sigma 0.75 in log space), capped at 60 s.

    The shape of real VoxCeleb length lists (a hard 4 s floor, a long right tail); the cap removes under
    0.01 % of the mass, so the mean stays 8.2 s to within a few milliseconds.
    """
    rng = np.random.default_rng(seed)
    mu = np.log(MEAN_SECONDS - MIN_SECONDS) - DURATION_SIGMA**2 / 2
    return np.minimum(MIN_SECONDS + rng.lognormal(mu, DURATION_SIGMA, count), CAP_SECONDS)
