"""Checkpoint loading: both key layouts, wrappers, model folders, and clear errors for anything else."""

from __future__ import annotations

import argparse

import pytest

pytestmark = pytest.mark.slow  # models and extraction: torch at import, model runs

torch = pytest.importorskip("torch")

from models_helpers import random_model, save_checkpoint  # noqa: E402

from sveval.errors import InputError  # noqa: E402
from sveval.models.checkpoint import canonical_arch, load_model  # noqa: E402


@pytest.fixture(scope="module")
def model60():
    return random_model("Gemini_DF_ResNet60")


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("layout", ["wespeaker", "golden_gemini_release"])
@pytest.mark.parametrize("wrap", [None, "model", "state_dict"])
def test_loads_both_layouts_bare_or_wrapped(tmp_path, model60, layout, wrap):
    path = save_checkpoint(model60, tmp_path / "m.pt", layout=layout, wrap=wrap)
    loaded = load_model(path)
    assert loaded.arch == "Gemini_DF_ResNet60"
    assert loaded.arch_source == "state-dict keys"
    assert loaded.layout == layout
    assert _same_weights(loaded.model, model60)
    assert not loaded.model.training


def test_training_only_keys_are_ignored_and_listed(tmp_path, model60):
    extra = {"projection.weight": torch.zeros(10, 256), "projection.bias": torch.zeros(10)}
    loaded = load_model(save_checkpoint(model60, tmp_path / "m.pt", extra=extra))
    assert loaded.ignored_keys == ("projection.bias", "projection.weight")


def test_ddp_module_prefix_is_stripped(tmp_path, model60):
    torch.save({"module." + k: v for k, v in model60.state_dict().items()}, tmp_path / "m.pt")
    assert _same_weights(load_model(tmp_path / "m.pt").model, model60)


def test_wespeaker_folder_with_config(tmp_path, model60):
    folder = tmp_path / "exp"
    save_checkpoint(model60, folder / "avg_model.pt")
    (folder / "config.yaml").write_text(
        "model: Gemini_DF_ResNet60\nmodel_args:\n  feat_dim: 80\n  embed_dim: 256\n  pooling_func: TSTP\n"
        "  two_emb_layer: false\ndataset_args:\n  fbank_args:\n    num_mel_bins: 80\n    frame_shift: 10\n"
        "    frame_length: 25\n    dither: 1.0\n"
    )
    loaded = load_model(folder)
    assert (loaded.arch, loaded.arch_source, loaded.checkpoint.name) == (
        "Gemini_DF_ResNet60",
        "config.yaml",
        "avg_model.pt",
    )


def test_golden_gemini_release_folder_uses_release_name_and_last_epoch(tmp_path, model60):
    folder = tmp_path / "0611-Gemini_df_resnet56-emb256"
    extra = {"projection.weight": torch.zeros(5994, 256)}
    save_checkpoint(model60, folder / "models" / "model_165.pt", layout="golden_gemini_release", extra=extra)
    save_checkpoint(random_model(seed=1), folder / "models" / "model_20.pt", layout="golden_gemini_release")
    (folder / "config.yaml").write_text(
        "model: Gemini_df_resnet56\nmodel_args:\n  feat_dim: 80\n  embed_dim: 256\n"
    )
    loaded = load_model(folder)
    assert loaded.arch == "Gemini_DF_ResNet60"
    assert loaded.checkpoint.name == "model_165.pt"
    assert loaded.layout == "golden_gemini_release"
    assert _same_weights(loaded.model, model60)


def test_checkpoint_of_another_depth_is_refused_clearly(tmp_path, model60):
    path = save_checkpoint(model60, tmp_path / "m.pt")
    with pytest.raises(InputError) as info:
        load_model(path, arch="Gemini_DF_ResNet114")
    message = str(info.value)
    assert "Gemini_DF_ResNet60" in message and "Gemini_DF_ResNet114" in message and "--arch" in message
    assert "[3, 3, 9, 3]" in message and "[3, 3, 27, 3]" in message


def test_missing_unexpected_and_misshaped_keys_are_named(tmp_path, model60):
    state = dict(model60.state_dict())
    del state["stages.1.2.bn2.running_var"]
    state["seg_2.weight"] = torch.zeros(3)
    state["seg_1.weight"] = torch.zeros(128, 2560)
    torch.save(state, tmp_path / "m.pt")
    with pytest.raises(InputError) as info:
        load_model(tmp_path / "m.pt", arch="Gemini_DF_ResNet60")
    message = str(info.value)
    assert "missing keys: stages.1.2.bn2.running_var" in message
    assert "unexpected keys: seg_2.weight" in message
    assert "seg_1.weight (checkpoint [128, 2560], model [256, 2560])" in message
    assert "m.pt" in message


def test_arbitrary_pickles_are_refused(tmp_path):
    # Training scripts sometimes pickle their argparse namespace beside the weights.
    torch.save({"args": argparse.Namespace(lr=0.1), "model": {}}, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="weights_only=True"):
        load_model(tmp_path / "evil.pt")


def test_unloadable_files_get_one_line_without_torch_advice(tmp_path):
    (tmp_path / "text.pt").write_text("hi")
    torch.save({"w": torch.zeros(3)}, tmp_path / "whole.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "whole.pt").read_bytes()[:60])
    torch.save({"args": argparse.Namespace(lr=0.1)}, tmp_path / "evil.pt")
    for name, expected in [
        ("text.pt", "not a PyTorch checkpoint that loads with weights_only=True"),
        ("cut.pt", "zip archive is truncated or corrupt"),
        ("evil.pt", "not a plain state dict"),
    ]:
        with pytest.raises(InputError) as info:
            load_model(tmp_path / name)
        message = str(info.value)
        assert expected in message and name in message
        assert "\n" not in message and "weights_only=False" not in message


def test_folder_without_checkpoint_and_unknown_arch(tmp_path):
    (tmp_path / "f").mkdir()
    with pytest.raises(InputError, match="no checkpoint in model folder"):
        load_model(tmp_path / "f")
    with pytest.raises(InputError, match="unknown architecture 'ResNet34'"):
        canonical_arch("ResNet34")
    with pytest.raises(InputError, match="model not found"):
        load_model(tmp_path / "nothing.pt")


@pytest.mark.parametrize(
    "name, canonical",
    [
        ("Gemini_DF_ResNet114", "Gemini_DF_ResNet114"),
        ("Gemini_df_resnet110", "Gemini_DF_ResNet114"),
        ("gemini_dfresnet179", "Gemini_DF_ResNet183"),
        ("DF-ResNet60", "Gemini_DF_ResNet60"),
    ],
)
def test_arch_names_and_release_aliases(name, canonical):
    assert canonical_arch(name) == canonical
