"""sveval.validation.release on small hand-made folders: every check's pass, fail and not-checkable paths.

The tiny list's numbers are worked out by hand (NIST/WeSpeaker EER and minDCF at p_target 0.01):
scores ascending 0.1 N, 0.4 T, 0.5 N, 0.9 T give P_miss 0, .5, .5, 1 and P_fa .5, .5, 0, 0; the first point
with P_miss >= P_fa has P_miss = P_fa = .5, so EER = 50 %; DCF/0.01 = 49.5, 50, 0.5, 1, so minDCF = 0.5.
"""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np
import pytest
from conftest import write

from sveval.io.release import discover_release
from sveval.validation.release import FAIL, NOT_CHECKABLE, PASS, validate_release

TINY_LIST = "a b target\na c nontarget\nb c target\nb d nontarget\n"
TINY_SCORES = "a b 0.90000 target\na c 0.50000 nontarget\nb c 0.40000 target\nb d 0.10000 nontarget\n"
DCF = "minDCF (p_target:0.01 c_miss:1 c_fa:1)"
GEMINI_114 = {"O": ("0.686", "0.067"), "E": ("0.863", "0.097"), "H": ("1.490", "0.144")}


def block(score_file: str, eer: str, min_dcf: str) -> str:
    return f"---- {score_file} -----\nEER = {eer}\n{DCF} = {min_dcf}\n"


def validate(folder, trials_dir=None, published=None):
    return validate_release(discover_release(folder), trials_dir=trials_dir, published=published)


def only(report, name, file=None):
    found = [c for c in report.checks if c.name == name and (file is None or c.file == file)]
    assert len(found) == 1, report.checks
    return found[0]


@pytest.fixture
def tiny(tmp_path):
    """A scores folder with one cosine score file of the hand-checkable tiny list and its result file."""
    trials = write(tmp_path / "lists" / "tiny.kaldi", TINY_LIST)
    write(tmp_path / "rel" / "scores" / "tiny.kaldi.score", TINY_SCORES)
    write(tmp_path / "rel" / "scores" / "vox1_cos_result", block("tiny.kaldi.score", "50.000", "0.500"))
    return tmp_path / "rel", trials.parent


def test_hand_computed_numbers_pass(tiny):
    folder, lists = tiny
    report = validate(folder, lists)
    assert report.passed and not report.count(NOT_CHECKABLE) and not report.count(FAIL)
    metrics = only(report, "metrics")
    assert metrics.status == PASS and "EER 50.000, minDCF 0.500" in metrics.message
    assert [c.name for c in report.checks] == [
        "parse", "finite", "trials", "coverage", "labels", "result", "result-file", "metrics"
    ]  # fmt: skip


@pytest.mark.parametrize("eer, dcf, needle", [("25.000", "0.500", "EER printed 25.000, recomputed 50.000"),
                                               ("50.000", "0.499", "minDCF printed 0.499, recomputed 0.500"),
                                               ("50.0", "0.500", None)])  # fmt: skip
def test_numbers_compared_to_the_printed_decimals(tiny, eer, dcf, needle):
    folder, lists = tiny
    write(folder / "scores" / "vox1_cos_result", block("tiny.kaldi.score", eer, dcf))
    metrics = only(validate(folder, lists), "metrics")
    if needle is None:  # one decimal printed: 50.0 is what 50 % looks like with one decimal
        assert metrics.status == PASS
    else:
        assert metrics.status == FAIL and needle in metrics.message and metrics.file == "vox1_cos_result"


def test_three_column_file_takes_labels_from_the_list(tiny):
    folder, lists = tiny
    text = "".join(" ".join(line.split()[:3]) + "\n" for line in TINY_SCORES.splitlines())
    write(folder / "scores" / "tiny.kaldi.score", text)
    report = validate(folder, lists)
    assert only(report, "labels").status == NOT_CHECKABLE
    assert only(report, "metrics").status == PASS


def test_non_finite_scores_make_metrics_not_checkable(tiny):
    folder, lists = tiny
    write(folder / "scores" / "tiny.kaldi.score", TINY_SCORES.replace("0.40000", "inf"))
    report = validate(folder, lists)
    finite = only(report, "finite")
    assert finite.status == FAIL and "line 3: inf" in finite.message and finite.file == "tiny.kaldi.score"
    assert only(report, "metrics").status == NOT_CHECKABLE


def test_unknown_list_is_not_checkable(tiny):
    folder, _ = tiny
    report = validate(folder)  # no trials dir: tiny.kaldi is no built-in list
    trials = only(report, "trials")
    assert trials.status == NOT_CHECKABLE and "not a built-in trial list" in trials.message
    assert only(report, "coverage").status == NOT_CHECKABLE
    assert only(report, "metrics").status == PASS  # the file's own labels suffice, as for WeSpeaker


def test_tee_appended_blocks(tiny):
    folder, lists = tiny
    same = block("tiny.kaldi.score", "50.000", "0.500")
    write(folder / "scores" / "vox1_cos_result", same + same)
    report = validate(folder, lists)
    duplicates = only(report, "duplicates")
    assert duplicates.status == PASS and "appears 2 times (lines 1, 4)" in duplicates.message
    write(folder / "scores" / "vox1_cos_result", same + block("tiny.kaldi.score", "49.000", "0.500"))
    report = validate(folder, lists)
    duplicates = only(report, "duplicates")
    assert duplicates.status == FAIL and "line 4: EER 49.000" in duplicates.message


def test_blocks_of_unreleased_files_and_misplaced_blocks(tiny):
    folder, lists = tiny
    text = block("tiny.kaldi.score", "50.000", "0.500") + block("vox1_H_cleaned.kaldi.score", "2.000", "0.2")
    write(folder / "scores" / "vox1_cos_result", text)
    write(folder / "scores" / "vox1_asnorm300_result", block("vox2_dev_snorm_x.score", "1.000", "0.1"))
    report = validate(folder, lists)
    unreleased = [c for c in report.checks if c.status == NOT_CHECKABLE]
    assert {c.message.split(" (")[0] for c in unreleased} == {
        "vox1_H_cleaned.kaldi.score",
        "vox2_dev_snorm_x.score",
    }
    misplaced = only(report, "result", "vox1_asnorm300_result")
    assert (
        misplaced.status == FAIL and "snorm score file's block in a asnorm result file" in misplaced.message
    )


def test_malformed_result_file_and_unknown_name(tiny):
    folder, lists = tiny
    write(folder / "scores" / "vox1_cos_result", "---- tiny.kaldi.score -----\nEER = x\n")
    write(folder / "scores" / "weird_result", block("tiny.kaldi.score", "50.000", "0.500"))
    report = validate(folder, lists)
    broken = only(report, "result-file", "vox1_cos_result")
    assert broken.status == FAIL and "vox1_cos_result:2:" in broken.message
    assert only(report, "result-file", "weird_result").status == FAIL
    assert only(report, "result", "tiny.kaldi.score").status == FAIL  # its block is in no cos result file


def test_wrong_method_placement(tiny):
    folder, lists = tiny
    (folder / "scores" / "vox1_cos_result").rename(folder / "scores" / "vox1_asnorm300_result")
    result = only(validate(folder, lists), "result", "tiny.kaldi.score")
    assert result.status == FAIL and "not a cos result file (expected vox1_cos_result)" in result.message


def test_calibrated_file_belongs_in_its_own_result_file_and_missing_names_follow_the_folder(tiny):
    folder, lists = tiny
    (folder / "scores" / "vox1_cos_result").rename(folder / "scores" / "syn_cos_result")
    write(folder / "scores" / "vox2_dev_snorm_tiny.kaldi.score", TINY_SCORES)
    write(folder / "scores" / "cali_tiny.kaldi.score", TINY_SCORES)
    report = validate(folder, lists)
    assert only(report, "trials", "cali_tiny.kaldi.score").status == PASS  # its list: the input's
    for file, expected in (("vox2_dev_snorm_tiny.kaldi.score", "syn_snorm_result"),
                           ("cali_tiny.kaldi.score", "cali_tiny.kaldi.result")):  # fmt: skip
        missing = only(report, "result", file)
        assert missing.status == FAIL and f"(expected {expected})" in missing.message, missing
    # a calibrated output's block in a WeSpeaker result file is misplaced, even of the same method
    write(folder / "scores" / "syn_cos_result", block("tiny.kaldi.score", "50.000", "0.500")
          + block("cali_tiny.kaldi.score", "50.000", "0.500"))  # fmt: skip
    misplaced = only(validate(folder, lists), "result", "cali_tiny.kaldi.score")
    assert misplaced.status == FAIL and "not its own result file" in misplaced.message
    # an unlabelled calibrated output: `sveval calibrate` writes no result file for it, nothing to check
    bare = "".join(" ".join(line.split()[:3]) + "\n" for line in TINY_SCORES.splitlines())
    write(folder / "scores" / "cali_tiny.kaldi.score", bare)
    write(folder / "scores" / "syn_cos_result", block("tiny.kaldi.score", "50.000", "0.500"))
    assert only(validate(folder, lists), "result", "cali_tiny.kaldi.score").status == NOT_CHECKABLE


def test_kaldi_eer_printed_as_nist_is_named(tmp_path):
    rng = np.random.default_rng(1)
    labels = np.arange(40) % 3 == 0
    values = np.round(rng.normal(size=40) + labels, 5)
    from sveval.metrics.detection import eer

    nist, kaldi = (100 * eer(values, labels, definition=d).value for d in ("nist", "kaldi"))
    assert f"{nist:.3f}" != f"{kaldi:.3f}"
    pairs = [(f"e{i}", f"t{i}") for i in range(40)]
    names = np.where(labels, "target", "nontarget")
    write(tmp_path / "lists" / "x.kaldi", "".join(f"{e} {t} {y}\n" for (e, t), y in zip(pairs, names)))
    lines = [f"{e} {t} {v:.5f} {y}\n" for (e, t), v, y in zip(pairs, values, names)]
    write(tmp_path / "rel" / "x.kaldi.score", "".join(lines))
    write(tmp_path / "rel" / "vox1_cos_result", block("x.kaldi.score", f"{kaldi:.3f}", "1.000"))
    metrics = only(validate(tmp_path / "rel", tmp_path / "lists"), "metrics")
    assert metrics.status == FAIL and "kaldi EER" in metrics.message


# ---- published numbers and the model files ------------------------------------------------------------


def published_folder(tmp_path, name, numbers=GEMINI_114, config=None):
    text = "".join(block(f"vox2_dev_asnorm300_vox1_{k}_cleaned.kaldi.score", *v) for k, v in numbers.items())
    write(tmp_path / name / "scores" / "vox1_asnorm300_result", text)
    if config is not None:
        write(tmp_path / name / "config.yaml", config)
    return tmp_path / name


def test_published_numbers_by_release_folder_name(tmp_path):
    folder = published_folder(tmp_path, "0615-Gemini_df_resnet110-emb256-fbank80-epoch165")
    report = validate(folder, published="golden-gemini")
    published = [c for c in report.checks if c.name == "published"]
    assert [c.status for c in published] == [PASS] * 3 and "DF-ResNet114" in published[0].message
    assert report.passed  # blocks of unreleased score files are only not checkable


def test_published_mismatch_and_large_margin_variant(tmp_path):
    edited = {**GEMINI_114, "E": ("0.864", "0.097")}
    report = validate(published_folder(tmp_path, "Gemini_df_resnet110", edited), published="golden-gemini")
    failed = [c for c in report.checks if c.status == FAIL]
    assert (
        len(failed) == 1 and "EER 0.864" in failed[0].message and "publishes EER 0.863" in failed[0].message
    )
    lm = validate(published_folder(tmp_path, "Gemini_df_resnet179-LM"), published="golden-gemini")
    assert all(
        c.status == FAIL and "DF-ResNet183 LM" in c.message for c in lm.checks if c.name == "published"
    )


def test_published_model_from_config_or_not_checkable(tmp_path):
    config = "model: Gemini_DF_ResNet114\nmodel_args:\n  feat_dim: 80\n  embed_dim: 256\n"
    report = validate(published_folder(tmp_path, "my_release", config=config), published="golden-gemini")
    assert [c.status for c in report.checks if c.name == "published"] == [PASS] * 3
    unknown = validate(published_folder(tmp_path, "other_release"), published="golden-gemini")
    check = only(unknown, "published")
    assert check.status == NOT_CHECKABLE and "cannot tell which model" in check.message


@pytest.mark.parametrize(
    "config, needle",
    [
        ("model: ResNet34\nmodel_args:\n  feat_dim: 80\n  embed_dim: 256\n", "'ResNet34' is not a known"),
        ("model: Gemini_DF_ResNet114\nmodel_args:\n  feat_dim: 40\n  embed_dim: 256\n", "feat_dim is 40"),
        ("model: Gemini_DF_ResNet114\nmodel_args:\n  feat_dim: 80\n", "embed_dim is None"),
        ("model: Gemini_DF_ResNet60\nmodel_args:\n  feat_dim: 80\n  embed_dim: 256\n", "folder name says"),
        ("model: [unclosed\n", "config.yaml:"),
        ("- a list\n", "expected a YAML mapping"),
    ],
)
def test_config_problems(tmp_path, config, needle):
    pytest.importorskip("yaml")
    folder = published_folder(tmp_path, "Gemini_df_resnet110", config=config)
    check = only(validate(folder), "config")
    assert check.status == FAIL and needle in check.message and check.file == "config.yaml"


def test_release_name_maps_to_paper_architecture(tmp_path):
    pytest.importorskip("yaml")
    config = "model: Gemini_df_resnet110\nmodel_args:\n  feat_dim: 80\n  embed_dim: 256\n"
    check = only(validate(published_folder(tmp_path, "Gemini_df_resnet110", config=config)), "config")
    assert check.status == PASS and "DF-ResNet114" in check.message


@pytest.mark.slow  # validate imports torch to open the checkpoint
def test_checkpoint_not_checkable_without_model_code_else_refused(tmp_path):
    config = "model: Gemini_DF_ResNet114\nmodel_args:\n  feat_dim: 80\n  embed_dim: 256\n"
    folder = published_folder(tmp_path, "Gemini_df_resnet110", config=config)
    write(folder / "models" / "model_165.pt", "not a checkpoint")
    check = only(validate(folder), "checkpoint")
    assert check.file == "models/model_165.pt"
    if importlib.util.find_spec("torch") is None:
        assert check.status == NOT_CHECKABLE and "torch is not installed" in check.message
    elif importlib.util.find_spec("sveval.models.checkpoint") is None:
        assert check.status == NOT_CHECKABLE and "sveval.models not available" in check.message
    else:
        assert check.status == FAIL and "weights_only=True" in check.message


@pytest.fixture
def checkpoint_folder(tmp_path):
    """A Gemini_df_resnet56 release folder whose config names DF-ResNet60 (the smallest network)."""
    if (
        importlib.util.find_spec("torch") is None
        or importlib.util.find_spec("sveval.models.dfresnet") is None
    ):
        pytest.skip("needs torch and sveval.models")
    config = "model: Gemini_DF_ResNet60\nmodel_args:\n  feat_dim: 80\n  embed_dim: 256\n"
    folder = published_folder(tmp_path, "0611-Gemini_df_resnet56-emb256", config=config)
    (folder / "models").mkdir()
    return folder


@pytest.mark.slow
def test_checkpoint_loads_with_the_published_parameter_count(checkpoint_folder):
    torch = importlib.import_module("torch")
    build = importlib.import_module("sveval.models.dfresnet").build  # not imported at the top: needs torch
    state = build("Gemini_DF_ResNet60").state_dict()
    state["projection.weight"] = torch.zeros(3, 256)  # the classifier head of a training checkpoint
    torch.save(state, checkpoint_folder / "models" / "model_165.pt")
    check = only(validate(checkpoint_folder), "checkpoint")
    assert check.status == PASS and check.file == "models/model_165.pt"
    assert (
        "4,047,840 parameters = 4.05 M as published" in check.message and "1 training-only" in check.message
    )


@pytest.mark.slow
def test_checkpoint_that_does_not_fit_or_runs_code_fails(checkpoint_folder):
    torch = importlib.import_module("torch")
    build = importlib.import_module("sveval.models.dfresnet").build  # not imported at the top: needs torch
    state = build("Gemini_DF_ResNet60").state_dict()
    del state["stages.0.0.conv1.weight"]
    torch.save(state, checkpoint_folder / "models" / "model_1.pt")
    torch.save({"x": _RunsCode()}, checkpoint_folder / "models" / "model_2.pt")
    report = validate(checkpoint_folder)
    missing, code = (only(report, "checkpoint", f"models/model_{k}.pt") for k in (1, 2))
    assert missing.status == FAIL and "missing keys: stages.0.0.conv1.weight" in missing.message
    assert code.status == FAIL and "weights_only=True" in code.message and "\n" not in code.message


class _RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def _tied_folder(tmp_path, eer_text, dcf_text, n=4000):
    rng = np.random.default_rng(7)
    labels = rng.random(n) < 0.5
    values = np.round(rng.normal(size=n) + labels, 1)  # one decimal: many ties
    names = np.where(labels, "target", "nontarget")
    pairs = [(f"e{i}", f"t{i}") for i in range(n)]
    write(tmp_path / "lists" / "tie.kaldi", "".join(f"{e} {t} {y}\n" for (e, t), y in zip(pairs, names)))
    lines = [f"{e} {t} {v:.5f} {y}\n" for (e, t), v, y in zip(pairs, values, names)]
    write(tmp_path / "rel" / "tie.kaldi.score", "".join(lines))
    write(tmp_path / "rel" / "vox1_cos_result", block("tie.kaldi.score", eer_text, dcf_text))
    return values, labels


def test_tie_order_is_blamed_only_when_some_order_prints_the_number(tmp_path):
    from sveval.metrics.detection import evaluate

    values, labels = _tied_folder(tmp_path, "0", "0")
    # independent bounds: the per-trial sweep with nontargets / targets first inside each tie group
    ends = [
        evaluate(values[o], labels[o], sweep="per-trial")
        for o in (np.lexsort((labels, values)), np.lexsort((~labels, values)))
    ]
    stable = evaluate(values, labels, sweep="per-trial")
    tie_aware = evaluate(values, labels)
    assert 100 * ends[0].eer < 100 * stable.eer - 0.01  # the range is wide enough to hold another number
    inside = f"{(100 * ends[0].eer + 100 * stable.eer) / 2:.3f}"
    assert inside not in (f"{100 * stable.eer:.3f}", f"{100 * tie_aware.eer:.3f}")
    write(tmp_path / "rel" / "vox1_cos_result", block("tie.kaldi.score", inside, f"{stable.min_dcf:.3f}"))
    metrics = only(validate(tmp_path / "rel", tmp_path / "lists"), "metrics")
    assert metrics.status == FAIL and "another order of tied trials" in metrics.message
    # a flipped label moving minDCF by 0.005 (outside every tie order): not blamed on tie order
    outside = f"{ends[1].min_dcf + 0.005:.3f}"
    write(tmp_path / "rel" / "vox1_cos_result", block("tie.kaldi.score", f"{100 * stable.eer:.3f}", outside))
    metrics = only(validate(tmp_path / "rel", tmp_path / "lists"), "metrics")
    assert metrics.status == FAIL and f"minDCF printed {outside}" in metrics.message
    assert "tied" not in metrics.message


def test_sveval_default_tie_aware_folder_is_recognised(tmp_path):
    from sveval.metrics.detection import evaluate

    values, labels = _tied_folder(tmp_path, "0", "0")
    m = evaluate(values, labels)
    per_trial = evaluate(values, labels, sweep="per-trial")
    assert f"{m.eer_percent:.3f}" != f"{per_trial.eer_percent:.3f}"  # recognised as tie-aware, not per-trial
    write(
        tmp_path / "rel" / "vox1_cos_result",
        block("tie.kaldi.score", f"{m.eer_percent:.3f}", f"{m.min_dcf:.3f}"),
    )
    metrics = only(validate(tmp_path / "rel", tmp_path / "lists"), "metrics")
    assert metrics.status == PASS


def test_wespeaker_unstable_tie_order_is_accepted(tmp_path):
    from sveval.metrics.detection import evaluate

    values, labels = _tied_folder(tmp_path, "0", "0")
    stable, unstable = (evaluate(values, labels, sweep=s) for s in ("per-trial", "wespeaker"))
    printed = (f"{100 * unstable.eer:.3f}", f"{unstable.min_dcf:.3f}")
    if printed == (f"{100 * stable.eer:.3f}", f"{stable.min_dcf:.3f}"):
        pytest.skip("numpy's argsort keeps these ties in file order on this machine")
    write(tmp_path / "rel" / "vox1_cos_result", block("tie.kaldi.score", *printed))
    metrics = only(validate(tmp_path / "rel", tmp_path / "lists"), "metrics")
    assert metrics.status == PASS and "unstable order" in metrics.message


def test_on_scores_sees_each_usable_score_file(tiny):
    folder, lists = tiny
    write(folder / "scores" / "vox1_O_cleaned.kaldi.score", "a b nan target\n")
    seen = []
    validate_release(discover_release(folder), lists, on_scores=lambda f, v, y: seen.append((f, v, y)))
    assert [(f, v is None) for f, v, _ in seen] == [
        ("tiny.kaldi.score", False),
        ("vox1_O_cleaned.kaldi.score", True),
    ]
    assert seen[0][1].tolist() == [0.9, 0.5, 0.4, 0.1] and seen[0][2].tolist() == [True, False, True, False]


def test_block_header_with_a_path_names_the_file_in_the_folder(tiny):
    folder, lists = tiny
    write(folder / "scores" / "vox1_cos_result", block("exp/x/scores/tiny.kaldi.score", "50.000", "0.500"))
    report = validate(folder, lists)
    assert only(report, "metrics").status == PASS and only(report, "result").status == PASS


@pytest.mark.slow
def test_onnx_runtime_model_in_a_release_folder_is_checked(checkpoint_folder):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    graph = importlib.import_module("onnx_helpers").mean_pool_graph  # needs onnx: not imported at the top
    import numpy as np

    graph(checkpoint_folder / "avg_model.onnx", np.ones((80, 256)))
    check = only(validate(checkpoint_folder), "onnx")
    assert check.status == PASS and "output embs (batch, 256)" in check.message
    graph(checkpoint_folder / "avg_model.onnx", np.ones((80, 192)))
    check = only(validate(checkpoint_folder), "onnx")
    assert check.status == FAIL and "config.yaml says embed_dim 256" in check.message
    graph(checkpoint_folder / "avg_model.onnx", np.ones((40, 256)), input_shape=("B", "T", 40))
    check = only(validate(checkpoint_folder), "onnx")
    assert check.status == FAIL and "expected (batch, frames, 80)" in check.message


def test_sveval_s_own_folder_names_a_missing_result_file_as_its_record_does(tmp_path):
    """The eval set's name comes from the run record (results.json), not from the result files left: with
    the only one gone, the name guessed from file names would be `vox1`."""
    from click.testing import CliRunner
    from sveval.cli.main import cli

    rng = np.random.default_rng(0)
    ids = [f"id{s}/v/{u}.wav" for s in range(4) for u in range(3)]
    np.savez(tmp_path / "e.npz", ids=np.array(ids), vectors=rng.normal(size=(12, 8)))
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    write(
        tmp_path / "t.kaldi",
        "".join(f"{a} {b} {'target' if a[:3] == b[:3] else 'nontarget'}\n" for a, b in pairs),
    )
    out = tmp_path / "out"
    args = [
        "score",
        "--embeddings",
        tmp_path / "e.npz",
        "--trials",
        tmp_path / "t.kaldi",
        "--eval-name",
        "mine",
    ]
    result = CliRunner().invoke(cli, [*map(str, args), "--no-plots", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (out / "mine_cos_result").unlink()
    report = validate(out, trials_dir=tmp_path)
    assert "mine_cos_result" in only(report, "result", "t.kaldi.score").message


def _entries(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("locked", ["rel", "rel/scores"])
def test_a_folder_being_written_is_exit_2_naming_the_run_and_no_lock_file_is_made(tiny, locked):
    """`validate` during a run into the folder (or its scores/) says so, exit 2, instead of failing checks
    on half-written files; it only reads the lock, so a folder validated with no run at work, or a
    read-only one, gets no lock file."""
    from click.testing import CliRunner
    from sveval.cli.main import cli
    from test_io_lock import hold, let_go

    folder, lists = tiny
    before = _entries(folder)
    args = ["validate", "--quiet", str(folder), "--trials-dir", str(lists)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert _entries(folder) == before
    holder = hold(folder.parent / locked)
    try:
        result = CliRunner().invoke(cli, args)
    finally:
        let_go(holder)
    assert result.exit_code == 2 and len(result.output.splitlines()) == 1, result.output
    assert f"output folder {folder.parent / locked} is being written by process {holder.pid}" in result.output
    assert _entries(folder) == before


def test_a_run_that_wrote_and_ended_during_validation_is_exit_2(tiny, monkeypatch):
    """A run that starts after the lock was read and ends before validation does has replaced the folder's
    record (renamed in last): exit 2 asking to validate again, not checks of a mix of two runs."""
    from click.testing import CliRunner
    from sveval.cli.main import cli

    from sveval.validation import release

    folder, lists = tiny
    checked = release.validate_release
    args = ["validate", "--quiet", str(folder), "--trials-dir", str(lists)]

    def run_meanwhile(name):
        def validate_release(*args, **kwargs):
            report = checked(*args, **kwargs)
            staged = folder / "scores" / ".stage"
            staged.write_text("{}\n")
            staged.replace(folder / "scores" / name)
            return report

        return validate_release

    for name in ("results.json", "calibration.json"):  # a first run, then a rerun of the other kind
        monkeypatch.setattr(release, "validate_release", run_meanwhile(name))
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and result.output.splitlines() == [
            f"sveval: error: {folder}: a run wrote into the folder while it was being validated (its record "
            "was replaced): validate again"
        ]
