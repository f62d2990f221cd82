"""Gemini DF-ResNet: parameter counts and state-dict keys/shapes against the reference list."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED, shared

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")

from sveval.models import packing  # noqa: E402
from sveval.models.dfresnet import ARCHS, build, count_parameters, depths_from_keys, fold_batchnorm  # noqa: E402


@pytest.fixture(scope="module")
def reference():
    return json.loads(shared(SHARED / "reference" / "gemini_state_dict_keys.json").read_text())["models"]


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
        assert model.frame_map(feats).shape == (2, 256, 5, 25)  # F 80 -> 5, T halved once
        assert model(feats).shape == (2, 256)


def test_pooling_is_mean_and_unbiased_std_over_time():
    model = build("Gemini_DF_ResNet60").eval()
    with torch.inference_mode():
        feats = torch.randn(1, 40, 80)
        fmap = model.frame_map(feats)
        stats = torch.cat(
            [fmap.mean(-1).flatten(1), (fmap.var(-1, unbiased=True) + 1e-7).sqrt().flatten(1)], 1
        )
        expected = stats @ model.seg_1.weight.T + model.seg_1.bias
        assert torch.allclose(model(feats), expected, atol=1e-5)


def _packed_row(feats: list[torch.Tensor], width: int | None = None):
    """Features of utterances laid out as `packing.Layout` says, and the model's index tensors."""
    frames = [len(f) for f in feats]
    layout = packing.Layout.of(frames, width)
    row = torch.randn(1, layout.width, 80) * 100  # garbage outside the utterances must not leak in
    for f, start in zip(feats, layout.starts):
        row[0, start : start + len(f)] = f
    zero_full, zero_half = layout.zero_columns()
    index = {
        "starts": torch.from_numpy(layout.starts),
        "frames": torch.tensor(frames),
        "zero_full": torch.from_numpy(zero_full),
        "zero_half": torch.from_numpy(zero_half),
    }
    return row, index


@pytest.mark.parametrize("matrix_products", [False, True])
def test_packed_row_equals_each_utterance_alone(matrix_products):
    """Zero columns before every 3x3 conv, pooling over each utterance's own columns: batch-1 results."""
    model = build("Gemini_DF_ResNet60").eval()
    for module in model.modules():  # BN that maps zeros to non-zeros, so unmasked gaps would leak
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
    torch.manual_seed(3)
    lengths = [37, 36, 30, 9, 4, 3]  # odd and even, down to the 3-frame minimum
    feats = [torch.randn(n, 80) for n in lengths]
    row, index = _packed_row(feats, width=200)
    folded = fold_batchnorm(model)
    if matrix_products:
        folded.use_channels_last().use_matrix_products()
    with torch.inference_mode():
        alone = [model(f[None])[0] for f in feats]
        packed = folded.packed(row, index)
        leaky = folded.packed(row, {**index, "zero_full": index["zero_full"][:0]})
    for u in range(len(lengths)):
        assert torch.allclose(packed[u], alone[u], atol=1e-5, rtol=0)
    assert (leaky[3] - alone[3]).abs().max() > 1e-3  # without zeroing the gaps, neighbours leak in


def test_layout_slots_keep_utterances_apart_at_both_resolutions():
    layout = packing.Layout.of([5, 4, 3], width=20)
    assert layout.starts.tolist() == [0, 8, 14]  # even starts; slots 2 * ceil(T / 2) + 2
    assert layout.valid().nonzero()[0].tolist() == [0, 1, 2, 3, 4, 8, 9, 10, 11, 14, 15, 16]
    assert layout.valid(half=True).nonzero()[0].tolist() == [0, 1, 2, 4, 5, 7, 8]  # gaps survive halving
    with pytest.raises(ValueError, match="cannot hold"):
        packing.Layout.of([5, 4, 3], width=18)


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
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # original untouched


def test_fused_bias_relu_pass_is_relu_of_the_sum():
    from sveval.models import kernels

    x, bias, residual = torch.randn(50, 8), torch.randn(8), torch.randn(50, 8)
    want = torch.relu(x + bias + residual)
    assert torch.equal(kernels.bias_relu_(x.clone(), bias, residual), want)
    assert torch.equal(kernels.bias_relu_(x.clone(), bias), torch.relu(x + bias))
    assert not kernels.fused_available(torch.device("cpu"), torch.float32)  # GPU only
