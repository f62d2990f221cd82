"""Gemini DF-ResNet (Golden Gemini, TASLP 2024), laid out like WeSpeaker's `gemini_dfresnet.py`.

Input: fbank features (B, T, F). The map is (B, C, F, T): frequency is downsampled by 2 at each of the four
downsampling convs, time only at the second one (stride (2, 2)), so 80 mel bins end as 5 rows of 256
channels. Temporal statistics pooling (mean and unbiased std over time, as WeSpeaker's TSTP) gives
2 x 256 x 5 = 2560 values, and the linear layer `seg_1` the embedding.

The state-dict names are WeSpeaker's: `downsample_layers.*`, `stages.*`, `seg_1.*`. The Golden Gemini
release names the final layer `embedding.*`; `sveval.models.checkpoint` renames it on load.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

DIMS = (32, 32, 64, 128, 256)
STRIDE_FREQ = (2, 2, 2, 2)
STRIDE_TIME = (1, 2, 1, 1)
# Added under the square root of the variance, as WeSpeaker's TSTP does.
STD_EPS = 1e-7


@dataclass(frozen=True)
class Arch:
    """One Gemini DF-ResNet depth. `release_name` is how Golden Gemini release folders call it."""

    name: str
    depths: tuple[int, int, int, int]
    release_name: str
    parameters: int  # feat_dim 80, embed_dim 256; checked by the tests against the module


ARCHS = {
    "Gemini_DF_ResNet60": Arch("Gemini_DF_ResNet60", (3, 3, 9, 3), "Gemini_df_resnet56", 4_047_840),
    "Gemini_DF_ResNet114": Arch("Gemini_DF_ResNet114", (3, 3, 27, 3), "Gemini_df_resnet110", 6_531_552),
    "Gemini_DF_ResNet183": Arch("Gemini_DF_ResNet183", (3, 8, 45, 3), "Gemini_df_resnet179", 9_196_384),
    "Gemini_DF_ResNet237": Arch("Gemini_DF_ResNet237", (3, 8, 63, 3), "Gemini_df_resnet233", 11_680_096),
}


def _padding(lengths: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1, T) True where a column of `x` is past its row's length."""
    columns = torch.arange(x.shape[-1], device=x.device)
    return (columns[None, :] >= lengths[:, None])[:, None, None, :]


class InvertedBottleneck(nn.Module):
    """1x1 expand x4, 3x3 depthwise, 1x1 project; BN after each conv; residual; ReLU."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, 4 * dim, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4 * dim)
        self.conv2 = nn.Conv2d(4 * dim, 4 * dim, kernel_size=3, padding=1, groups=4 * dim, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * dim)
        self.conv3 = nn.Conv2d(4 * dim, dim, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        # In-place ReLU and residual add: same values, fewer large allocations (they dominate on CPU).
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        if pad is not None:
            out.masked_fill_(pad, 0)  # the 3x3 conv must see zeros past the end, as batch-1 padding gives
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        out += x
        return F.relu(out, inplace=True)


class GeminiDFResNet(nn.Module):
    def __init__(self, depths: tuple[int, ...], feat_dim: int = 80, embed_dim: int = 256):
        super().__init__()
        if feat_dim % 16:
            raise ValueError(f"feat_dim must be a multiple of 16 (four halvings), got {feat_dim}")
        self.depths = tuple(depths)
        self.feat_dim = feat_dim
        self.embed_dim = embed_dim
        self.downsample_layers = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(1, DIMS[0], kernel_size=3, stride=1, padding=1, bias=False),
                    nn.BatchNorm2d(DIMS[0]),
                    nn.ReLU(),
                )
            ]
        )
        for i in range(4):
            self.downsample_layers.append(
                nn.Sequential(
                    nn.Conv2d(
                        DIMS[i],
                        DIMS[i + 1],
                        kernel_size=3,
                        stride=(STRIDE_FREQ[i], STRIDE_TIME[i]),
                        padding=1,
                        bias=False,
                    ),
                    nn.BatchNorm2d(DIMS[i + 1]),
                )
            )
        self.stages = nn.ModuleList(
            nn.Sequential(*[InvertedBottleneck(DIMS[i + 1]) for _ in range(depths[i])]) for i in range(4)
        )
        stats_dim = (feat_dim // 16) * DIMS[-1]
        self.seg_1 = nn.Linear(2 * stats_dim, embed_dim)

    def frame_map(self, feats: torch.Tensor, lengths: torch.Tensor | None = None):
        """(B, T, F) features -> (B, 256, F/16, T') map before pooling, and valid columns per row (or None).

        With `lengths` (valid frames per row; whatever lies past them is ignored), every 3x3 convolution
        sees zeros past each row's end, exactly what it sees alone with its own zero padding, so valid
        outputs do not depend on the padding: 1x1 convolutions, BatchNorm (eval) and ReLU act per position.
        """
        x = feats.transpose(1, 2).unsqueeze(1)
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if lengths is not None and bool((lengths == feats.shape[1]).all()):
            lengths = None
        pad = None
        if lengths is not None:  # the stem's 3x3 conv too must see zeros past each row's end
            x = x.masked_fill(_padding(lengths, x), 0)
        x = self.downsample_layers[0](x)
        for i in range(4):
            if lengths is not None:
                x.masked_fill_(_padding(lengths, x), 0)  # input of the 3x3 downsampling conv
                x = self.downsample_layers[i + 1](x)
                if STRIDE_TIME[i] == 2:
                    lengths = (lengths + 1) // 2  # ceil(T / 2): kernel 3, padding 1, stride 2
                pad = _padding(lengths, x)
            else:
                x = self.downsample_layers[i + 1](x)
            for block in self.stages[i]:
                x = block(x, pad)
        return x, lengths

    _channels_last = False

    def use_channels_last(self) -> GeminiDFResNet:
        """Channels-last weights and inputs: faster convolutions under bf16 on recent GPUs."""
        self._channels_last = True
        return self.to(memory_format=torch.channels_last)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, F) mean-normalised fbank -> (B, embed_dim) embeddings (float32 even under autocast).

        lengths: valid frames per row when rows are zero-padded to T (None: all T). Each row's embedding
        is then the one it gets alone, up to float rounding.
        """
        out, lengths = self.frame_map(feats, lengths)
        # Pooling and the final layer in float32 even under bf16 autocast: the statistics share a large
        # common part, and rounding it to 8 bits of mantissa would swamp the speaker-specific rest.
        with torch.autocast(feats.device.type, enabled=False):
            out = out.float()
            if lengths is None:
                mean = out.mean(dim=-1)
                var = out.var(dim=-1)
            else:
                valid = torch.arange(out.shape[-1], device=out.device)[None, :] < lengths[:, None]
                valid = valid[:, None, None, :].float()
                count = lengths.float()[:, None, None]
                mean = (out * valid).sum(-1) / count
                var = ((out - mean[..., None]).square() * valid).sum(-1) / (
                    count - 1
                )  # unbiased, as torch.var
            std = torch.sqrt(var + STD_EPS)
            return self.seg_1(torch.cat((mean.flatten(1), std.flatten(1)), dim=1))


def build(arch: str | Arch, feat_dim: int = 80, embed_dim: int = 256) -> GeminiDFResNet:
    spec = ARCHS[arch] if isinstance(arch, str) else arch
    return GeminiDFResNet(spec.depths, feat_dim=feat_dim, embed_dim=embed_dim)


def count_parameters(arch: str, feat_dim: int = 80, embed_dim: int = 256) -> int:
    """Parameter count (weights and biases, not BN running statistics), computed without allocating."""
    with torch.device("meta"):
        model = build(arch, feat_dim, embed_dim)
    return sum(p.numel() for p in model.parameters())


def depths_from_keys(keys) -> tuple[int, ...]:
    """Blocks per stage as seen in state-dict keys `stages.<s>.<b>.*`."""
    blocks: dict[int, set[int]] = {}
    for key in keys:
        parts = key.split(".")
        if len(parts) > 3 and parts[0] == "stages" and parts[1].isdigit() and parts[2].isdigit():
            blocks.setdefault(int(parts[1]), set()).add(int(parts[2]))
    return tuple(len(blocks.get(s, ())) for s in range(max(blocks, default=-1) + 1))


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """conv followed by eval-mode BN as one conv with bias, computed in float64."""
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        groups=conv.groups,
        bias=True,
        device=conv.weight.device,
    )
    with torch.no_grad():
        fused.weight.copy_((conv.weight.double() * scale[:, None, None, None]).float())
        fused.bias.copy_((bn.bias.double() - bn.running_mean.double() * scale).float())
    return fused


def fold_batchnorm(model: GeminiDFResNet) -> GeminiDFResNet:
    """An inference copy with every BatchNorm folded into the convolution before it.

    Same function (eval-mode BN is an affine map per channel), one memory pass fewer per layer; the
    embeddings move by float rounding only (~1e-7 relative). The original model is left untouched.
    """
    folded = copy.deepcopy(model).eval()
    for layer in folded.downsample_layers:
        layer[0] = _folded(layer[0], layer[1])
        layer[1] = nn.Identity()
    for stage in folded.stages:
        for block in stage:
            for i in (1, 2, 3):
                conv, bn = getattr(block, f"conv{i}"), getattr(block, f"bn{i}")
                setattr(block, f"conv{i}", _folded(conv, bn))
                setattr(block, f"bn{i}", nn.Identity())
    return folded
