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

from sveval.models import kernels

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


class InvertedBottleneck(nn.Module):
    """1x1 expand x4, 3x3 depthwise, 1x1 project; BN after each conv; residual; ReLU."""

    # How `matrix_products` blocks add the depthwise bias and ReLU: "separate" (conv, then one pass) or
    # "cudnn" (torch.cudnn_convolution_relu: one fused cuDNN call; GPU only).
    depthwise = "separate"

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, 4 * dim, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4 * dim)
        self.conv2 = nn.Conv2d(4 * dim, 4 * dim, kernel_size=3, padding=1, groups=4 * dim, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * dim)
        self.conv3 = nn.Conv2d(4 * dim, dim, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(dim)
        self.matrix_products = False

    def forward(self, x: torch.Tensor, zero_columns: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, F, T); zero_columns: time columns the 3x3 conv must see as zeros (packed rows)."""
        if self.matrix_products:
            return self._forward_matrix_products(x, zero_columns)
        # In-place ReLU and residual add: same values, fewer large allocations (they dominate on CPU).
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        if zero_columns is not None:
            out.index_fill_(3, zero_columns, 0)  # as its own zero padding gives a row alone
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        out += x
        return F.relu(out, inplace=True)

    def _forward_matrix_products(self, x: torch.Tensor, zero_columns: torch.Tensor | None) -> torch.Tensor:
        """Folded block on channels-last tensors, its 1x1 convolutions as matrix products (M, C) x (C, 4C).

        In channels-last memory a 1x1 convolution is a plain matrix product over the channels, and
        cuBLASLt adds the bias and the ReLU in the product's epilogue: no separate elementwise pass over
        broadcast bias, which in channels-last runs as a slow strided kernel (about half of the GPU time of
        the folded model with cuDNN convolutions). The depthwise bias + ReLU, and the projection's bias +
        residual + ReLU, are one pass each (`kernels.bias_relu_`). Needs `fold_batchnorm` first.
        """
        n, c, h, w = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(n * h * w, c)  # a view for channels-last x
        expanded = torch._addmm_activation(self.conv1.bias, rows, self.conv1.weight.reshape(4 * c, c).t())
        out = expanded.view(n, h, w, 4 * c).permute(0, 3, 1, 2)
        if zero_columns is not None:
            out.index_fill_(3, zero_columns, 0)  # only the zero columns are written
        conv = self.conv2
        if self.depthwise == "cudnn":
            out = torch.cudnn_convolution_relu(out, conv.weight, conv.bias, (1, 1), (1, 1), (1, 1), 4 * c)
            flat = out.permute(0, 2, 3, 1).reshape(n * h * w, 4 * c)
        else:
            out = F.conv2d(out, conv.weight, None, 1, 1, 1, 4 * c)
            flat = kernels.bias_relu_(out.permute(0, 2, 3, 1).reshape(n * h * w, 4 * c), conv.bias)
        projected = torch.mm(flat, self.conv3.weight.reshape(c, 4 * c).t())
        kernels.bias_relu_(projected, self.conv3.bias, rows)  # bias, residual and ReLU in one pass
        return projected.view(n, h, w, c).permute(0, 3, 1, 2)


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

    def frame_map(self, feats: torch.Tensor, zero_columns=None) -> torch.Tensor:
        """(B, T, F) features -> (B, 256, F/16, T') map before pooling, in the trunk's dtype.

        zero_columns: None, or for a packed row (`sveval.models.packing`) the time columns outside every
        utterance at full and at half time resolution. They are zeroed before every 3x3 convolution, so
        each sees around each utterance exactly the zeros of its own padding; 1x1 convolutions, BatchNorm
        (eval) and ReLU act per position, so valid columns do not depend on their neighbours.
        """
        stem = self.downsample_layers[0][0].weight
        x = feats.transpose(1, 2).unsqueeze(1).to(stem.dtype)
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        columns = None
        if zero_columns is not None:
            columns = zero_columns[0]
            x = x.index_fill(3, columns, 0)
        x = self.downsample_layers[0](x)
        for i in range(4):
            if columns is not None:
                x.index_fill_(3, columns, 0)  # input of the 3x3 downsampling conv
            x = self.downsample_layers[i + 1](x)
            if STRIDE_TIME[i] == 2 and columns is not None:
                columns = zero_columns[1]
            for block in self.stages[i]:
                x = block(x, columns)
        return x

    _channels_last = False

    def use_channels_last(self) -> GeminiDFResNet:
        """Channels-last weights and inputs: faster convolutions under bf16 on recent GPUs."""
        self._channels_last = True
        return self.to(memory_format=torch.channels_last)

    def use_matrix_products(self, depthwise: str = "separate") -> GeminiDFResNet:
        """Run the (folded, channels-last) blocks' 1x1 convolutions as matrix products with fused bias."""
        for stage in self.stages:
            for block in stage:
                block.matrix_products = True
                block.depthwise = depthwise
        return self

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, F) mean-normalised fbank, all rows T frames -> (B, embed_dim) float32 embeddings."""
        out = self.frame_map(feats)
        # Pooling and the final layer in float32 even when the trunk runs in bf16: the statistics share a
        # large common part, and rounding it to 8 bits of mantissa would swamp the speaker-specific rest.
        with torch.autocast(feats.device.type, enabled=False):
            out = out.float()
            std = torch.sqrt(out.var(dim=-1) + STD_EPS)
            return self.seg_1(torch.cat((out.mean(dim=-1).flatten(1), std.flatten(1)), dim=1))

    def packed(self, row: torch.Tensor, index: dict) -> torch.Tensor:
        """(1, width, F) packed row (`sveval.models.packing.row_index` tensors in `index`) -> (U, embed_dim).

        Each embedding is the one its utterance gets alone, up to float rounding. Statistics are segment
        sums over each utterance's own columns, accumulated in float64 (mean and unbiased variance).
        """
        out = self.frame_map(row, (index["zero_full"], index["zero_half"]))
        with torch.autocast(row.device.type, enabled=False):
            out = out.float().index_fill_(3, index["zero_half"], 0)
            flat = out[0].reshape(-1, out.shape[-1]).double()  # (C * F', width / 2)
            starts, lengths = index["starts"] // 2, (index["frames"] + 1) // 2
            first = F.pad(flat.cumsum(1), (1, 0))
            second = F.pad(flat.square_().cumsum(1), (1, 0))
            total = first[:, starts + lengths] - first[:, starts]
            squares = second[:, starts + lengths] - second[:, starts]
            count = lengths.double()
            mean = total / count
            var = ((squares - total * mean) / (count - 1)).clamp_(min=0)  # unbiased, as torch.var
            std = torch.sqrt(var.float() + STD_EPS)
            return self.seg_1(torch.cat((mean.float().t(), std.t()), dim=1))


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
