"""One fused elementwise pass on the GPU: relu(x + bias[channel] + residual), in place, channels innermost.

PyTorch runs `x.add_(bias)` for a per-channel bias over a (rows, channels) tensor as its generic strided
kernel (the bias operand is broadcast, so the vectorised path is not taken): on an H200 that pass cost as
much as the depthwise convolution itself (14.5 of 47.5 ms for a bf16 row of DF-ResNet114). This Triton
kernel reads x (and the residual) once, adds the bias in float32, applies ReLU and writes once. Where Triton
or CUDA is missing, or the kernel disagrees with PyTorch on a probe, the same arithmetic runs as PyTorch ops.
"""

from __future__ import annotations

import torch

_KERNEL = None
_STATE = {"checked": False, "works": False}


def _build():
    import triton
    import triton.language as tl

    @triton.jit
    def bias_relu_kernel(x_ptr, bias_ptr, res_ptr, n, channels, HAS_RES: tl.constexpr, BLOCK: tl.constexpr):
        offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        inside = offsets < n
        x = tl.load(x_ptr + offsets, mask=inside).to(tl.float32)
        x += tl.load(bias_ptr + offsets % channels, mask=inside).to(tl.float32)
        if HAS_RES:
            x += tl.load(res_ptr + offsets, mask=inside).to(tl.float32)
        x = tl.maximum(x, 0.0)
        tl.store(x_ptr + offsets, x.to(x_ptr.dtype.element_ty), mask=inside)

    def launch(x, bias, residual):
        n = x.numel()
        block = 2048
        grid = (triton.cdiv(n, block),)
        res = residual if residual is not None else x
        bias_relu_kernel[grid](x, bias, res, n, bias.numel(), HAS_RES=residual is not None, BLOCK=block)

    return launch


def _reference(x: torch.Tensor, bias: torch.Tensor | None, residual: torch.Tensor | None) -> torch.Tensor:
    if bias is not None:
        x.add_(bias)
    if residual is not None:
        x.add_(residual)
    return x.relu_()


def fused_available(device: torch.device) -> bool:
    """Whether the Triton kernel runs here and agrees with PyTorch (checked once per process)."""
    global _KERNEL
    if device.type != "cuda":
        return False
    if not _STATE["checked"]:
        _STATE["checked"] = True
        try:
            _KERNEL = _build()
            ok = True
            for dtype in (torch.float32, torch.bfloat16):
                x = torch.randn(1000, 24, device=device, dtype=dtype)
                b = torch.randn(24, device=device, dtype=dtype)
                r = torch.randn(1000, 24, device=device, dtype=dtype)
                for residual in (None, r):
                    want = _reference(x.clone(), b, residual).float()
                    got = x.clone()
                    _KERNEL(got, b, residual)
                    ok &= bool(torch.allclose(got.float(), want, atol=0.05, rtol=0.02))
            _STATE["works"] = ok
        except Exception:  # no Triton, no compiler, an unsupported GPU: PyTorch ops instead
            _STATE["works"] = False
    return _STATE["works"]


def bias_relu_(x: torch.Tensor, bias: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
    """x (rows, channels) contiguous, in place: relu(x + bias + residual). Returns x."""
    if x.is_cuda and _STATE["works"] and x.is_contiguous() and (residual is None or residual.is_contiguous()):
        _KERNEL(x, bias, residual)
        return x
    return _reference(x, bias, residual)
