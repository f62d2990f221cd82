"""Gemini DF-ResNet: parameter counts and state-dict keys/shapes against the reference list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from sveval.models.dfresnet import ARCHS, build, count_parameters, depths_from_keys, fold_batchnorm  # noqa: E402

REFERENCE = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "gemini_state_dict_keys.json"
)


@pytest.fixture(scope="module")
def reference():
    if not REFERENCE.is_file():
        pytest.skip(f"reference key list not found at {REFERENCE}")
    return json.loads(REFERENCE.read_text())["models"]


# Published counts (Golden Gemini paper / DESIGN.md), feat_dim 80, embed_dim 256.
@pytest.mark.parametrize(
    "arch, expected",
    [
        ("Gemini_DF_ResNet60", 4_047_840),
        ("Gemini_DF_ResNet114", 6_531_552),
        ("Gemini_DF_ResNet183", 9_196_384),
    ],
)
def test_parameter_counts_are_exact(arch, expected):
    model = build(arch)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert count_parameters(arch) == expected
    assert ARCHS[arch].parameters == expected


def test_237_count_constant_matches_its_module():
    assert count_parameters("Gemini_DF_ResNet237") == ARCHS["Gemini_DF_ResNet237"].parameters


@pytest.mark.parametrize("arch", ["Gemini_DF_ResNet60", "Gemini_DF_ResNet114", "Gemini_DF_ResNet183"])
def test_state_dict_keys_and_shapes_equal_reference(reference, arch):
    with torch.device("meta"):
        model = build(arch)
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == reference[arch]["wespeaker"]
    assert reference[arch]["parameters"] == ARCHS[arch].parameters
    assert reference[arch]["release_folder_name"] == ARCHS[arch].release_name


def test_release_layout_differs_only_in_final_layer(reference):
    assert sorted(reference["Gemini_DF_ResNet60"]["golden_gemini_release_only_differs_in"]) == [
        "embedding.bias",
        "embedding.weight",
        "seg_1.bias",
        "seg_1.weight",
    ]


def test_depths_from_keys():
    with torch.device("meta"):
        model = build("Gemini_DF_ResNet183")
    assert depths_from_keys(model.state_dict()) == (3, 8, 45, 3)


def test_forward_shape_and_time_downsampling():
    model = build("Gemini_DF_ResNet60").eval()
    with torch.inference_mode():
        feats = torch.randn(2, 50, 80)
        assert model.frame_map(feats)[0].shape == (2, 256, 5, 25)  # F 80 -> 5, T halved once
        assert model(feats).shape == (2, 256)


def test_pooling_is_mean_and_unbiased_std_over_time():
    model = build("Gemini_DF_ResNet60").eval()
    with torch.inference_mode():
        feats = torch.randn(1, 40, 80)
        fmap, _ = model.frame_map(feats)
        stats = torch.cat(
            [fmap.mean(-1).flatten(1), (fmap.var(-1, unbiased=True) + 1e-7).sqrt().flatten(1)], 1
        )
        expected = stats @ model.seg_1.weight.T + model.seg_1.bias
        assert torch.allclose(model(feats), expected, atol=1e-5)


def test_padded_rows_with_lengths_equal_each_row_alone():
    """Masking: zeros past each row's end before every 3x3 conv, pooling over valid columns only."""
    model = build("Gemini_DF_ResNet60").eval()
    for module in model.modules():  # BN that maps zeros to non-zeros, so unmasked padding would leak
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
    torch.manual_seed(3)
    lengths = [37, 36, 30, 9, 4, 3]  # odd and even, down to the 3-frame minimum
    feats = torch.randn(len(lengths), max(lengths), 80)  # whatever lies past a row's end is ignored
    with torch.inference_mode():
        alone = [model(feats[row : row + 1, :n])[0] for row, n in enumerate(lengths)]
        batched = model(feats, torch.tensor(lengths))
        unmasked = model(feats)
    for row in range(len(lengths)):
        assert torch.allclose(batched[row], alone[row], atol=1e-5, rtol=0)
    assert (unmasked[3] - alone[3]).abs().max() > 1e-3  # without lengths the padding does leak in


def test_folded_batchnorm_is_the_same_function():
    model = build("Gemini_DF_ResNet60").eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    feats = torch.randn(2, 60, 80)
    with torch.inference_mode():
        assert torch.allclose(folded(feats), model(feats), atol=1e-5, rtol=0)
        lengths = torch.tensor([60, 31])
        assert torch.allclose(folded(feats, lengths)[1], model(feats[1:, :31])[0], atol=1e-5, rtol=0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # original untouched
