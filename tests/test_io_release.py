"""sveval.io.release: WeSpeaker file names, release folder discovery, trial-list resolution, config.yaml."""

from __future__ import annotations

import pytest
from conftest import write

from sveval.errors import InputError
from sveval.io.release import (
    discover_release,
    expected_result_name,
    guess_eval_name,
    parse_result_name,
    parse_score_name,
    read_model_config,
    read_result_entries,
    resolve_trials,
    result_matches_score,
)


@pytest.mark.parametrize(
    "name, method, top_n, cohort, list_name",
    [
        ("vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score", "asnorm", 300, "vox2_dev", "vox1_O_cleaned"),
        ("vox1_O_cleaned.kaldi.score", "cos", None, None, "vox1_O_cleaned"),
        ("vox2_dev_snorm_vox1_H_cleaned.kaldi.score", "snorm", None, "vox2_dev", "vox1_H_cleaned"),
        ("vox2_dev_asnorm300_list_test_all2.txt.score", "asnorm", 300, "vox2_dev", "vox1_E_cleaned"),
        ("my_trials.score", "cos", None, None, "my_trials"),
    ],
)
def test_score_names(name, method, top_n, cohort, list_name):
    parsed = parse_score_name(name)
    assert (parsed.method, parsed.top_n, parsed.cohort, parsed.list_name) == (
        method,
        top_n,
        cohort,
        list_name,
    )
    assert parse_score_name("vox1_cos_result") is None
    calibrated = parse_score_name("cali_" + name)  # `sveval calibrate` output: the rest is the input's name
    assert (calibrated.method, calibrated.cohort, calibrated.list_name, calibrated.prefix) == (
        method,
        cohort,
        list_name,
        "cali_",
    )
    assert parse_score_name("fused_" + name).prefix == "fused_" and parsed.prefix == ""


def test_calibrated_result_names_and_the_eval_name_guess():
    cali = parse_score_name("cali_vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score")
    own = parse_result_name("cali_vox2_dev_asnorm300_vox1_O_cleaned.kaldi.result")
    assert (own.score_file, own.method, own.top_n, own.eval_name) == (cali.file, "asnorm", 300, None)
    assert expected_result_name(cali, "vox1") == own.file
    asnorm = parse_result_name("vox1_asnorm300_result")
    plain = parse_score_name("vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score")
    assert result_matches_score(own, cali) and not result_matches_score(asnorm, cali)
    assert not result_matches_score(own, plain)
    assert parse_result_name("vox1_O.kaldi.result") is None  # no cali_/fused_ prefix: not ours
    files = ["cali_x_asnorm300_y.kaldi.result", "fused_z.result", "syn_cos_result", "syn_asnorm300_result"]
    assert guess_eval_name(files) == "syn" and guess_eval_name(files[:2]) == "vox1"


def test_result_names_and_matching():
    cos, snorm, asnorm = (parse_result_name(f"vox1_{m}_result") for m in ("cos", "snorm300", "asnorm300"))
    assert (asnorm.eval_name, asnorm.method, asnorm.top_n) == ("vox1", "asnorm", 300)
    assert (
        parse_result_name("vox1_result") is None
        and parse_result_name("my_eval_cos_result").eval_name == "my_eval"
    )
    as300 = parse_score_name("vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score")
    sn = parse_score_name("vox2_dev_snorm_vox1_O_cleaned.kaldi.score")
    assert result_matches_score(asnorm, as300) and not result_matches_score(cos, as300)
    assert not result_matches_score(parse_result_name("vox1_asnorm100_result"), as300)
    assert result_matches_score(snorm, sn)  # score_norm.sh appends top_n to s-norm result names too
    assert (
        expected_result_name(as300) == "vox1_asnorm300_result"
        and expected_result_name(sn) == "vox1_snorm_result"
    )


def test_result_entries_keep_lines_and_printed_text(tmp_path):
    text = "---- a.score -----\nEER = 1.2300\nminDCF (p_target:0.01 c_miss:1 c_fa:1) = 0.100\n\n" * 2
    entries = read_result_entries(write(tmp_path / "vox1_cos_result", text))
    assert [(e.line, e.eer_text, e.min_dcf_text) for e in entries] == [
        (1, "1.2300", "0.100"),
        (5, "1.2300", "0.100"),
    ]


def test_discover_release_and_scores_folder(tmp_path):
    write(tmp_path / "rel" / "scores" / "vox1_O_cleaned.kaldi.score", "a b 0.1 target\n")
    write(tmp_path / "rel" / "scores" / "vox1_cos_result", "x")
    write(tmp_path / "rel" / "scores" / "vox1_O_cleaned.kaldi.det.png", "x")
    write(tmp_path / "rel" / "config.yaml", "model: x\n")
    write(tmp_path / "rel" / "models" / "model_165.pt", "x")
    write(tmp_path / "rel" / "scores" / ".vox1_O_cleaned.kaldi.score.k2j.tmp.score", "")  # interrupted write
    for path in (tmp_path / "rel", tmp_path / "rel" / "scores"):
        release = discover_release(path)
        assert release.root == tmp_path / "rel" and release.config == tmp_path / "rel" / "config.yaml"
        assert [p.name for p in release.score_files] == ["vox1_O_cleaned.kaldi.score"]
        assert [p.name for p in release.result_files] == ["vox1_cos_result"]
        assert [p.name for p in release.checkpoints] == ["model_165.pt"]
        assert [p.name for p in release.det_plots] == ["vox1_O_cleaned.kaldi.det.png"]
    with pytest.raises(InputError, match="no such folder"):
        discover_release(tmp_path / "nope")
    with pytest.raises(InputError, match="no score files"):
        discover_release(tmp_path / "rel" / "models")


def test_resolve_trials_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("SVEVAL_TRIALS_URL", "http://127.0.0.1:9/")  # would fail loudly if tried
    with pytest.raises(InputError, match="sveval trials fetch vox1_O_cleaned"):
        resolve_trials("vox1_O_cleaned")
    write(tmp_path / "veri_test2.txt", "1 a b\n0 a c\n")
    with pytest.raises(InputError, match="this is not vox1_O_cleaned"):
        resolve_trials("vox1_O_cleaned", tmp_path)
    write(tmp_path / "mine.kaldi", "a b target\n")
    assert len(resolve_trials("mine.kaldi", tmp_path)) == 1
    with pytest.raises(InputError, match="not a built-in trial list"):
        resolve_trials("other.kaldi", tmp_path)


def test_resolve_trials_real_list_from_trials_dir(voxceleb_dir):
    trials = resolve_trials("vox1_O_cleaned", voxceleb_dir)
    assert trials.builtin == "vox1_O_cleaned" and len(trials) == 37_611


def test_model_config(tmp_path):
    pytest.importorskip("yaml")
    path = write(
        tmp_path / "config.yaml", "exp_dir: exp/x\nmodel: Gemini_DF_ResNet60\nmodel_args:\n  feat_dim: 80\n"
    )
    config = read_model_config(path)
    assert (config.model, config.feat_dim, config.embed_dim, config.exp_dir) == (
        "Gemini_DF_ResNet60",
        80,
        None,
        "exp/x",
    )
    with pytest.raises(InputError, match=r"config.yaml:2: not valid YAML"):
        read_model_config(write(tmp_path / "config.yaml", "a: 1\nb: c: d\n"))
