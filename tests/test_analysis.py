"""Gender breakdown, speaker-clustered bootstrap, speaker metadata tables."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import VOXCELEB, shared, write

from sveval.errors import InputError
from sveval.io.meta import parse_speaker_genders, read_speaker_genders
from sveval.metrics import detection as metrics
from sveval.speakers import SpeakersUnknown, speaker_map
from sveval.stats.bootstrap import gender_breakdown, speaker_bootstrap, weighted_eer_min_dcf


def toy_list(n_speakers=12, utts=6, seed=0):
    """Every utterance against every other (both orders skipped): targets within a speaker."""
    rng = np.random.default_rng(seed)
    utt = [f"s{s:02d}/v/{k}.wav" for s in range(n_speakers) for k in range(utts)]
    enroll, test = [], []
    for i in range(len(utt)):
        for j in range(i + 1, len(utt), 5):
            enroll.append(utt[i])
            test.append(utt[j])
    enroll, test = np.array(enroll, dtype=object), np.array(test, dtype=object)
    is_target = speaker_map().of(enroll) == speaker_map().of(test)
    scores = rng.normal(size=len(enroll)) + 2.0 * is_target
    return scores, is_target, enroll, test


def test_speaker_is_the_first_path_component_or_from_utt2spk(tmp_path):
    ids = np.array(["id10270/x6u/00001.wav", "id10271/a/1.wav", "id10270/x6u/00001.wav"], dtype=object)
    assert speaker_map().of(ids).tolist() == ["id10270", "id10271", "id10270"]
    with pytest.raises(SpeakersUnknown, match=r"s.score: cannot tell the speaker of 'id10270-x6u-00001'"):
        speaker_map().of(np.array(["id10270-x6u-00001"], dtype=object), "s.score")
    utt2spk = write(tmp_path / "utt2spk", "id10270-x6u-00001 id10270\nid10271-a-1 id10271\n")
    kaldi = np.array(["id10270-x6u-00001", "id10271-a-1", "id10270-x6u-00001"], dtype=object)
    assert speaker_map(utt2spk).of(kaldi).tolist() == ["id10270", "id10271", "id10270"]
    assert speaker_map(utt2spk).describe() == f"speaker from utt2spk {utt2spk}"
    with pytest.raises(
        SpeakersUnknown, match="1 utterance.s. of s.score are not in this utt2spk file, e.g. x"
    ):
        speaker_map(utt2spk).of(np.array(["x", "id10271-a-1"], dtype=object), "s.score")


def test_unit_weights_give_the_metrics_of_the_list():
    scores, is_target, _, _ = toy_list()
    order = np.argsort(scores, kind="mergesort")
    eer, dcf = weighted_eer_min_dcf(np.ones((1, len(scores))), is_target[order], 0.01, 1.0, 1.0)
    m = metrics.evaluate(scores, is_target)
    assert eer[0] == pytest.approx(m.eer, abs=1e-15) and dcf[0] == pytest.approx(m.min_dcf, abs=1e-15)


def test_integer_weights_equal_physically_repeated_trials():
    scores, is_target, _, _ = toy_list(seed=1)
    rng = np.random.default_rng(5)
    weights = rng.integers(0, 4, size=(3, len(scores)))
    order = np.argsort(scores, kind="mergesort")
    eer, dcf = weighted_eer_min_dcf(weights[:, order].astype(float), is_target[order], 0.05, 1.0, 1.0)
    for k in range(3):
        rep = np.repeat(np.arange(len(scores)), weights[k])  # distinct scores, so order within copies is moot
        m = metrics.evaluate(scores[rep], is_target[rep], p_target=0.05)
        assert eer[k] == pytest.approx(m.eer, abs=1e-12) and dcf[k] == pytest.approx(m.min_dcf, abs=1e-12)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    scores, is_target, enroll, test = toy_list(seed=2)
    a = speaker_bootstrap(scores, is_target, enroll, test, n=300, seed=11)
    b = speaker_bootstrap(scores, is_target, enroll, test, n=300, seed=11)
    c = speaker_bootstrap(scores, is_target, enroll, test, n=300, seed=12)
    assert a == b and a != c and a.n_speakers == 12
    m = metrics.evaluate(scores, is_target)
    assert a.eer_low < m.eer < a.eer_high and a.min_dcf_low <= m.min_dcf <= a.min_dcf_high


def test_bootstrap_resamples_speakers_not_trials():
    # one speaker's trials carry all the errors: with only 3 speakers, replicates that leave it out are
    # error-free, so the interval reaches 0 — a trial-level bootstrap would stay near the pooled value
    enroll = np.array([f"{s}/a.wav" for s in "abc" for _ in range(40)], dtype=object)
    test = np.array([f"{s}/b.wav" for s in "abc" for _ in range(40)], dtype=object)
    is_target = np.tile(np.arange(40) % 2 == 0, 3)
    scores = np.where(is_target, 1.0, 0.0) + np.linspace(0, 0.01, 120)
    bad = np.arange(120) < 40
    scores[bad] = np.where(is_target[bad], -1.0, 2.0) + np.linspace(0, 0.01, 40)
    ci = speaker_bootstrap(scores, is_target, enroll, test, n=200, seed=0)
    assert ci.eer_low == 0.0 and ci.eer_high == pytest.approx(1.0)


def test_gender_breakdown_against_a_hand_count():
    scores, is_target, enroll, test = toy_list(seed=3)
    genders = {f"s{s:02d}": "f" if s < 5 else "m" for s in range(12)}
    groups = {g.group: g for g in gender_breakdown(scores, is_target, enroll, test, genders)}
    spk_e, spk_t = speaker_map().of(enroll), speaker_map().of(test)
    female = np.array([int(a[1:]) < 5 and int(b[1:]) < 5 for a, b in zip(spk_e, spk_t)])
    ff = groups["female-female"]
    assert (ff.n_target, ff.n_nontarget) == (int(is_target[female].sum()), int((~is_target[female]).sum()))
    assert ff.eer == metrics.eer(scores[female], is_target[female]).value
    cross = groups["cross-gender"]
    pooled = metrics.evaluate(scores, is_target)
    mixed = np.array([(int(a[1:]) < 5) != (int(b[1:]) < 5) for a, b in zip(spk_e, spk_t)])
    assert cross.n_target == 0 and cross.eer is None
    assert cross.fa_at_eer_threshold == pytest.approx(np.mean(scores[mixed] > pooled.eer_threshold))
    with pytest.raises(KeyError, match="s11"):
        gender_breakdown(scores, is_target, enroll, test, {k: v for k, v in genders.items() if k != "s11"})


def test_meta_tables_tab_and_padded_comma_with_bom_crlf():
    vox1 = "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\nid10001\tA.J._Buckley\tm\tIreland\tdev\n"
    assert parse_speaker_genders(vox1, "v1") == {"id10001": "m"}
    vox2 = "\ufeffVoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \r\nid00012 ,n000012 ,f ,dev \r\n"
    assert parse_speaker_genders(vox2, "v2") == {"id00012": "f"}


@pytest.mark.parametrize(
    "text,message",
    [
        ("ID\tName\n1\tx\n", "Gender column"),
        ("ID\tGender\nid1\tx\n", "'x' of id1 is not m or f"),
        ("ID\tGender\nid1\tm\nid1\tf\n", "listed twice"),
        ("ID\tGender\nid1\tm\textra\n", "expected 2 fields"),
    ],
)
def test_meta_errors_name_the_line(tmp_path, text, message):
    path = write(tmp_path / "meta.csv", text)
    with pytest.raises(InputError, match=message):
        read_speaker_genders(path)


def test_real_meta_files_read_when_present():
    vox1 = read_speaker_genders(shared(VOXCELEB / "vox1_meta.csv"))
    vox2 = read_speaker_genders(shared(VOXCELEB / "vox2_meta.csv"))
    assert len(vox1) == 1251 and len(vox2) == 6114
    assert sorted(set(vox1.values())) == ["f", "m"] and vox1["id10001"] == "m"


def test_bootstrap_equals_repeating_trials_replicate_by_replicate():
    """Oracle: the same speaker draws, each nontarget trial physically repeated m_e * m_t times and each
    target trial m_e times, then evaluate; then the same generator's pair stage (the pairs of two speakers,
    numbered as pd.factorize numbers them in stable score order, drawn as often as there are such pairs,
    each trial repeated as often as its pair is drawn, target trials once) and the correction written out:
    replicates rescaled about the full list's figure by k = min(1, f·sqrt(max(V_s − 2 V_p, V_s / 3) / V_s)),
    f the few-speakers factor for 9 speakers at 95 %: sqrt(9/8)·t_8(0.975)/z(0.975) =
    1.060660·2.306004/1.959964 = 1.247929 (t table: 2.306)."""
    import pandas as pd

    scores, is_target, enroll, test = toy_list(n_speakers=9, seed=4)
    n = 60  # at least MIN_REPLICATES (41) usable ones
    ci = speaker_bootstrap(scores, is_target, enroll, test, n=n, seed=3, p_target=0.05)
    spk = speaker_map().of(np.concatenate([enroll, test]))
    names = list(dict.fromkeys(spk.tolist()))  # first-appearance order, as pd.factorize numbers them
    code = np.array([names.index(s) for s in spk])
    code_e, code_t = code[: len(scores)], code[len(scores) :]
    rng = np.random.default_rng(3)
    copies = rng.multinomial(len(names), np.full(len(names), 1 / len(names)), size=n)

    def evaluate(repeat):
        rep = np.repeat(np.arange(len(scores)), repeat)
        if is_target[rep].all() or not is_target[rep].any():
            return None
        result = metrics.evaluate(scores[rep], is_target[rep], p_target=0.05)
        return result.eer, result.min_dcf

    speaker = [evaluate(np.where(is_target, m[code_e], m[code_e] * m[code_t])) for m in copies]
    kept = np.array([r for r in speaker if r is not None])
    assert ci.n_dropped == n - len(kept)
    order = np.argsort(scores, kind="mergesort")
    pair_of_sorted, keys = pd.factorize(code_e[order] * len(names) + code_t[order])
    pair_of = np.empty(len(scores), dtype=int)
    pair_of[order] = pair_of_sorted
    cross = np.flatnonzero(keys // len(names) != keys % len(names))
    drawn = rng.multinomial(len(cross), np.full(len(cross), 1 / len(cross)), size=n)
    pair = []
    for row in drawn:
        w = np.ones(len(keys), dtype=int)
        w[cross] = row
        pair.append(evaluate(w[pair_of]))
    pair = np.array(pair)
    full = metrics.evaluate(scores, is_target, p_target=0.05)
    for j, (low, high) in enumerate([(ci.eer_low, ci.eer_high), (ci.min_dcf_low, ci.min_dcf_high)]):
        v_s, v_p = np.var(kept[:, j]), np.var(pair[:, j])
        k = min(1.0, 1.247929 * np.sqrt(max(v_s - 2 * v_p, v_s / 3) / v_s))
        est = (full.eer, full.min_dcf)[j]
        want = np.percentile(est + k * (kept[:, j] - est), [2.5, 97.5])
        assert (low, high) == pytest.approx(tuple(want), abs=1e-6)  # f to 7 digits: 1e-6 relative


def test_bootstrap_refuses_ids_without_speakers():
    enroll = np.array(["u1", "u2", "u3"], dtype=object)
    test = np.array(["u4", "u5", "u6"], dtype=object)
    scores, labels = np.array([0.9, 0.1, 0.2]), np.array([True, False, False])
    with pytest.raises(SpeakersUnknown, match="x.score: cannot tell the speaker of 'u1'"):
        speaker_bootstrap(scores, labels, enroll, test, n=10, where="x.score")
    # a target trial across two speakers: the ids are not what the mapping takes them for
    enroll = np.array(["a/1", "b/2", "c/3"], dtype=object)
    test = np.array(["d/4", "e/5", "f/6"], dtype=object)
    message = (
        "target trial a/1 d/4 is between two different speakers, a and d .speaker = first path component"
    )
    with pytest.raises(ValueError, match=message):
        speaker_bootstrap(scores, labels, enroll, test, n=10)


def test_kaldi_ids_with_utt2spk_give_the_numbers_of_voxceleb_ids(tmp_path):
    scores, is_target, enroll, test = toy_list(n_speakers=9, seed=5)
    kaldi = {u: u.replace("/", "-") for u in np.concatenate([enroll, test])}
    utt2spk = write(tmp_path / "utt2spk", "".join(f"{k} {u.split('/')[0]}\n" for u, k in kaldi.items()))
    speakers = speaker_map(utt2spk)
    k_enroll = np.array([kaldi[u] for u in enroll], dtype=object)
    k_test = np.array([kaldi[u] for u in test], dtype=object)
    genders = {f"s{s:02d}": "mf"[s % 2] for s in range(9)}
    assert speaker_bootstrap(scores, is_target, k_enroll, k_test, 60, 2, speakers=speakers) == (
        speaker_bootstrap(scores, is_target, enroll, test, 60, 2)
    )
    assert gender_breakdown(scores, is_target, k_enroll, k_test, genders, speakers=speakers) == (
        gender_breakdown(scores, is_target, enroll, test, genders)
    )
