"""Small tensor operations shared by the layers and the entropy models."""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["lower_bound", "bf16_ok"]


class _LowerBoundFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, bound: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        x, bound = ctx.saved_tensors
        # Pass the gradient where x is above the bound, or where it pushes x upwards.
        pass_through = (x >= bound) | (grad < 0)
        return pass_through.to(grad.dtype) * grad, None


def lower_bound(x: Tensor, bound: float | Tensor) -> Tensor:
    """max(x, bound) whose gradient still pulls x up from below the bound."""
    b = torch.as_tensor(bound, dtype=x.dtype, device=x.device)
    if not torch.is_grad_enabled() or not x.requires_grad:
        return torch.max(x, b)
    return _LowerBoundFn.apply(x, b)


def bf16_ok(device: torch.device) -> bool:
    """bf16 autocast pays on CUDA and on CPUs with native bf16 (AVX512-BF16/AMX): ~2.2x here."""
    if device.type == "cuda":
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
