"""A short/long calibration trial list, made the way WeSpeaker's `tools/generate_calibration_trial.py` makes
`vox2_cali.kaldi`, but seeded and without self-pairs or repeated pairs.

WeSpeaker's recipe: the speaker is the first path component of the utterance id; short utterances last
2 s < d < 6 s, long ones d > 6 s; only speakers with both kinds are kept. Each round writes six trials:
short-short, short-long and long-long, each once as target (two utterances of a speaker drawn uniformly) and
once as nontarget (the same enrolment utterance against an utterance of another speaker, drawn uniformly).
`each_trial_num // 2` rounds give each kind `each_trial_num` trials.

Differences, on purpose: WeSpeaker draws the two target utterances with replacement (`random.choices(k=2)`,
so an utterance can be tried against itself) and never checks for repeats; here the two are distinct, a
speaker needs two short and two long utterances to take part, and a trial whose pair (in either order) was
already drawn is drawn again, speakers included (WeSpeaker draws the two speakers once per round; drawing
them per trial lets a round continue when one speaker's pairs are used up). The generator is numpy's PCG64
with the given seed.
"""

from __future__ import annotations

import numpy as np

from sveval.errors import InputError
from sveval.io.trials import fingerprint
from sveval.types import TrialList

SHORT = (2.0, 6.0)
MAX_ATTEMPTS = 1000


def _pools(
    ids: np.ndarray, seconds: np.ndarray
) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    short: dict[str, list[str]] = {}
    long: dict[str, list[str]] = {}
    for utt, dur in zip(ids.tolist(), seconds.tolist()):
        spk = utt.split("/")[0]
        if SHORT[0] < dur < SHORT[1]:
            short.setdefault(spk, []).append(utt)
        if dur > SHORT[1]:
            long.setdefault(spk, []).append(utt)
    speakers = sorted(s for s in short if len(short[s]) >= 2 and len(long.get(s, ())) >= 2)
    return speakers, short, long


def calibration_trials(
    ids: np.ndarray,
    seconds: np.ndarray,
    trials_per_kind: int = 10000,
    seed: int = 0,
    name: str = "cali.kaldi",
) -> TrialList:
    """ids (n,) utterance ids `spk/...`, seconds (n,) durations. Returns 3·2·(trials_per_kind // 2) trials in
    rounds of six (module doc). InputError when fewer than two speakers qualify or unique pairs run out."""
    speakers, short, long = _pools(ids, seconds)
    if len(speakers) < 2:
        raise InputError(
            f"{len(speakers)} speaker(s) have two short (2-6 s) and two long (> 6 s) utterances; two must"
        )
    rng = np.random.default_rng(seed)
    seen: set[tuple[str, str]] = set()
    rows: list[tuple[str, str, bool]] = []

    def pick(pool: list[str]) -> str:
        return pool[int(rng.integers(len(pool)))]

    def target(enroll_pool: dict, test_pool: dict) -> tuple[str, str, bool]:
        spk = speakers[int(rng.integers(len(speakers)))]
        if enroll_pool is test_pool:  # two different utterances of one pool
            i, j = rng.choice(len(enroll_pool[spk]), 2, replace=False)
            return enroll_pool[spk][i], enroll_pool[spk][j], True
        return pick(enroll_pool[spk]), pick(test_pool[spk]), True

    def nontarget(enroll: str, test_pool: dict) -> tuple[str, str, bool]:
        spk = enroll.split("/")[0]
        other = speakers[(speakers.index(spk) + 1 + int(rng.integers(len(speakers) - 1))) % len(speakers)]
        return enroll, pick(test_pool[other]), False

    def add(draw, *args) -> None:
        for _ in range(MAX_ATTEMPTS):
            enroll, test, is_target = draw(*args)
            key = (enroll, test) if enroll < test else (test, enroll)
            if key not in seen:
                seen.add(key)
                rows.append((enroll, test, is_target))
                return
        raise InputError(
            f"no new unique trial in {MAX_ATTEMPTS} draws after {len(rows):,} trials: the utterances "
            f"({len(speakers)} qualifying speakers) do not allow that many; ask for fewer --trials-per-kind"
        )

    for _ in range(trials_per_kind // 2):
        for enroll_pool, test_pool in ((short, short), (short, long), (long, long)):
            add(target, enroll_pool, test_pool)
            add(nontarget, rows[-1][0], test_pool)
    enroll, test, is_target = (np.array(c, dtype=object) for c in zip(*rows))
    is_target = is_target.astype(bool)
    return TrialList(
        name, name, enroll, test, is_target, fingerprint(enroll, test, is_target), source="generated"
    )
