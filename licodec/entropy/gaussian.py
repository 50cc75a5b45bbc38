"""Conditional Gaussian and Gaussian-mixture entropy models for the latent y.

Gaussian: Ballé et al. (ICLR 2018) with zero mean (scale hyperprior) and Minnen,
Ballé & Toderici, "Joint autoregressive and hierarchical priors for learned image
compression" (NeurIPS 2018) with mean and scale:

    P(y_hat) = Phi((y_hat - mu + 1/2) / sigma) - Phi((y_hat - mu - 1/2) / sigma)

with sigma >= ``scale_bound`` and P >= ``likelihood_bound``. At test time symbols are
round(y - mu) and values are decoded as symbols + mu.

Mixture: the same with K components, softmax weights (the paper's Gaussian mixture
variant, section 3/appendix; cf. Cheng et al. CVPR 2020).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..ops import lower_bound

__all__ = ["GaussianConditional", "GaussianMixtureConditional", "standard_cdf", "DEFAULT_SCALE_BOUND"]

DEFAULT_SCALE_BOUND = 0.11


def standard_cdf(x: Tensor) -> Tensor:
    """Phi(x) via erfc, accurate in the lower tail."""
    return 0.5 * torch.erfc(-x * (2**-0.5))


def _interval_mass(v: Tensor, mean: Tensor, scale: Tensor) -> Tensor:
    # Use the lower half (|x| form) for accuracy: P = Phi((1/2 - |v-mu|)/s) - Phi((-1/2 - |v-mu|)/s).
    d = torch.abs(v - mean)
    return standard_cdf((0.5 - d) / scale) - standard_cdf((-0.5 - d) / scale)


def _likelihood_dtype(x: Tensor) -> torch.dtype:
    """Likelihoods are computed in float64 for float64 inputs, else float32 (never under autocast)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def ste_round(x: Tensor) -> Tensor:
    """round(x) forward, identity gradient."""
    return x + (torch.round(x) - x).detach()


class GaussianConditional(nn.Module):
    """Gaussian conditional for y, parameterised per element by (scale[, mean]).

    ``params`` layout: with means, (B, 2M, H, W) = cat(scales, means); without, (B, M, H, W).
    """

    def __init__(self, use_means: bool = True, scale_bound: float = DEFAULT_SCALE_BOUND, likelihood_bound: float = 1e-9) -> None:
        super().__init__()
        self.use_means = bool(use_means)
        self.scale_bound = float(scale_bound)
        self.likelihood_bound = float(likelihood_bound)

    def param_channels(self, m: int) -> int:
        return 2 * m if self.use_means else m

    def split(self, params: Tensor) -> tuple[Tensor, Tensor | None]:
        """params -> (scales, means or None), scales lower-bounded."""
        if self.use_means:
            scales, means = params.chunk(2, dim=1)
        else:
            scales, means = params, None
        return lower_bound(scales, self.scale_bound), means

    def likelihood(self, y_hat: Tensor, params: Tensor) -> Tensor:
        with torch.autocast(y_hat.device.type, enabled=False):
            dtype = _likelihood_dtype(y_hat)
            return self._likelihood(y_hat.to(dtype), params.to(dtype))

    def _likelihood(self, y_hat: Tensor, params: Tensor) -> Tensor:
        scales, means = self.split(params)
        lik = _interval_mass(y_hat, means if means is not None else torch.zeros_like(y_hat), scales)
        return lower_bound(lik, self.likelihood_bound)

    def quantize(self, y: Tensor, params: Tensor, mode: str) -> Tensor:
        """"noise": y + U(-1/2, 1/2); "dequantize": round(y - mu) + mu; "ste": the same, identity gradient."""
        if mode == "noise":
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        _, means = self.split(params)
        means = torch.zeros_like(y) if means is None else means
        if mode == "dequantize":
            return torch.round(y - means) + means
        if mode == "ste":
            return ste_round(y - means) + means
        raise ValueError(f"unknown quantization mode {mode!r}")

    def forward(self, y: Tensor, params: Tensor, training: bool | None = None) -> tuple[Tensor, Tensor]:
        training = self.training if training is None else training
        y_tilde = self.quantize(y, params, "noise" if training else "dequantize")
        return y_tilde, self.likelihood(y_tilde, params)


class GaussianMixtureConditional(nn.Module):
    """K-component Gaussian mixture conditional.

    ``params`` layout (B, 3KM, H, W) = cat(weight logits, means, scales), each (B, KM, H, W)
    arranged as K blocks of M channels.
    """

    def __init__(self, components: int = 3, scale_bound: float = DEFAULT_SCALE_BOUND, likelihood_bound: float = 1e-9) -> None:
        super().__init__()
        self.components = int(components)
        self.scale_bound = float(scale_bound)
        self.likelihood_bound = float(likelihood_bound)

    def param_channels(self, m: int) -> int:
        return 3 * self.components * m

    def split(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """params -> (weights, means, scales), each (B, K, M, H, W); weights sum to 1 over K."""
        b, _, h, w = params.shape
        logits, means, scales = params.reshape(b, 3, self.components, -1, h, w).unbind(1)
        return torch.softmax(logits, dim=1), means, lower_bound(scales, self.scale_bound)

    def likelihood(self, y_hat: Tensor, params: Tensor) -> Tensor:
        with torch.autocast(y_hat.device.type, enabled=False):
            dtype = _likelihood_dtype(y_hat)
            return self._likelihood(y_hat.to(dtype), params.to(dtype))

    def _likelihood(self, y_hat: Tensor, params: Tensor) -> Tensor:
        weights, means, scales = self.split(params)
        lik = (weights * _interval_mass(y_hat.unsqueeze(1), means, scales)).sum(dim=1)
        return lower_bound(lik, self.likelihood_bound)

    def quantize(self, y: Tensor, params: Tensor | None, mode: str) -> Tensor:
        """"noise": y + U(-1/2, 1/2); "dequantize": round(y); "ste": the same, identity gradient."""
        if mode == "noise":
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        if mode == "dequantize":
            return torch.round(y)
        if mode == "ste":
            return ste_round(y)
        raise ValueError(f"unknown quantization mode {mode!r}")

    def forward(self, y: Tensor, params: Tensor, training: bool | None = None) -> tuple[Tensor, Tensor]:
        training = self.training if training is None else training
        y_tilde = self.quantize(y, params, "noise" if training else "dequantize")
        return y_tilde, self.likelihood(y_tilde, params)


def scale_table(lo: float = DEFAULT_SCALE_BOUND, hi: float = 256.0, levels: int = 64) -> list[float]:
    """The fixed log-spaced scale table (CompressAI's defaults: 0.11 .. 256, 64 levels)."""
    return [math.exp(math.log(lo) + i * (math.log(hi) - math.log(lo)) / (levels - 1)) for i in range(levels)]
