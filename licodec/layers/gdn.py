"""Generalized divisive normalization (Ballé, Laparra & Simoncelli, ICLR 2016/2017).

GDN:   y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)
IGDN:  y_i = x_i * sqrt(beta_i + sum_j gamma_ij x_j^2)

beta and gamma are kept non-negative through the reparametrization of
Ballé, "Efficient nonlinear transforms for lossy image compression" (PCS 2018):
the stored parameter p maps to max(p, bound)^2 - pedestal, with a straight-through
lower bound so that gradients still flow when the bound is active.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops import lower_bound

__all__ = ["NonNegativeParametrizer", "GDN", "IGDN"]


class NonNegativeParametrizer(nn.Module):
    """Stores v >= minimum as p = sqrt(v + pedestal); returns max(p, sqrt(min + pedestal))^2 - pedestal."""

    def __init__(self, minimum: float = 0.0, reparam_offset: float = 2**-18) -> None:
        super().__init__()
        self.pedestal = reparam_offset**2
        self.bound = (minimum + self.pedestal) ** 0.5

    def init(self, x: Tensor) -> Tensor:
        return torch.sqrt(torch.clamp(x + self.pedestal, min=self.pedestal))

    def forward(self, p: Tensor) -> Tensor:
        return lower_bound(p, self.bound) ** 2 - self.pedestal


class GDN(nn.Module):
    """GDN over channels of an (B, C, H, W) tensor; ``inverse=True`` gives IGDN.

    beta >= 1e-6 and gamma >= 0 via :class:`NonNegativeParametrizer`; gamma starts at
    0.1·I and beta at 1, the initialisation of Ballé et al.
    """

    BAND_PIXELS = 8192  # pixels per band in inference (192 channels: 6 MB of float32)

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = bool(inverse)
        self.beta_reparam = NonNegativeParametrizer(minimum=beta_min)
        self.gamma_reparam = NonNegativeParametrizer()
        self.beta = nn.Parameter(self.beta_reparam.init(torch.ones(channels)))
        self.gamma = nn.Parameter(self.gamma_reparam.init(gamma_init * torch.eye(channels)))

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma).reshape(c, c, 1, 1)
        if torch.is_grad_enabled() or x.dim() != 4:
            norm = F.conv2d(x * x, gamma, beta)
            return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)
        return self._bands(x, torch.empty_like(x))

    def inplace_(self, x: Tensor) -> Tensor:
        """Inference only: the same values as ``forward``, written over ``x`` (a temporary
        of the caller's): saves a full-size allocation and its memory traffic."""
        if torch.is_grad_enabled() or x.dim() != 4:
            raise RuntimeError("GDN.inplace_ is for inference on (B, C, H, W) tensors")
        return self._bands(x, x)

    def _bands(self, x: Tensor, out: Tensor) -> Tensor:
        # Inference: the same per-pixel arithmetic in bands of rows, in place, so that the
        # temporaries stay in cache instead of streaming several full-size tensors (4-8x
        # faster on large images here, and the same values). ``out`` may be ``x``: each
        # band is read completely before it is overwritten.
        c = x.shape[1]
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma).reshape(c, c, 1, 1)
        rows = max(1, self.BAND_PIXELS // max(1, x.shape[0] * x.shape[3]))
        for a in range(0, x.shape[2], rows):
            xs = x[:, :, a : a + rows]
            norm = F.conv2d(xs * xs, gamma, beta)
            (norm.sqrt_() if self.inverse else norm.rsqrt_()).mul_(xs)
            out[:, :, a : a + rows] = norm
        return out

    def extra_repr(self) -> str:
        return f"{self.beta.numel()}, inverse={self.inverse}"


def IGDN(channels: int, **kwargs) -> GDN:  # noqa: N802 - reads like a layer
    """Inverse GDN: x * sqrt(beta + gamma x^2)."""
    return GDN(channels, inverse=True, **kwargs)
