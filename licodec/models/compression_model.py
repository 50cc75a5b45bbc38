"""The learned image codec: analysis/synthesis transforms around an entropy model of y.

::

    x --g_a--> y --(x gain[q])--> y --Q--> y_hat --(x 1/gain[q])--> g_s --> x_hat
                                    |        ^
                                    v        |  entropy model of y (see priors.py):
                             [h_a -> z -> Q -> z_hat -> h_s -> psi]  hyperprior
                             [masked conv over y_hat]                 context model
                             g_ep(psi, ctx) -> (mu, sigma) or mixture

Variable rate (beyond the paper): with ``lambdas`` given, the model learns one gain
vector per lambda on y and its inverse before g_s (Cui et al., "Asymmetric gained deep
image compression with continuous rate adaptation", CVPR 2021). A fractional quality
q in [0, L-1] interpolates the gains geometrically between neighbouring levels.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..entropy import FactorizedDensity

__all__ = ["CompressionModel", "RateGains"]


class RateGains(nn.Module):
    """Per-level channel gains on y and inverse gains before g_s.

    ``lambdas`` (L,), increasing. Gains start at sqrt(lambda / lambda_mid) (step size of
    the quantizer ~ lambda^-1/2), inverse gains at the reciprocal. Fractional levels
    interpolate the log gains between neighbours. Below level 0 the log gains extrapolate
    the line through levels 0 and 1, down to λ_min / ``EXTRAPOLATE`` (:attr:`lowest`):
    rates below the trained range, untrained but continuous with it (training samples
    levels 0 .. L-1 only).
    """

    EXTRAPOLATE = 8.0
    """How far below the smallest trained λ the gains may extrapolate (a ratio of λ)."""

    def __init__(self, lambdas: list[float], M: int) -> None:
        super().__init__()
        lam = torch.tensor([float(v) for v in lambdas], dtype=torch.float64)
        if lam.numel() < 2 or bool((lam[1:] <= lam[:-1]).any()):
            raise ValueError("lambdas must be at least two increasing values")
        self.register_buffer("lambdas", lam.float())
        init = 0.5 * torch.log(lam / lam[len(lam) // 2]).float()
        self.log_gain = nn.Parameter(init[:, None].repeat(1, M))
        self.log_inv_gain = nn.Parameter(-init[:, None].repeat(1, M))

    @property
    def levels(self) -> int:
        return int(self.lambdas.numel())

    @property
    def lowest(self) -> float:
        """The lowest level (<= 0): whole levels below 0 within λ_min / EXTRAPOLATE."""
        return float(self._lowest())

    def _lowest(self) -> Tensor:
        # On the buffer's device, in float64: no host synchronisation inside a training step.
        lam = self.lambdas.double()
        return -torch.floor(math.log(self.EXTRAPOLATE) / torch.log(lam[1] / lam[0]) + 1e-9)

    def _interp(self, table: Tensor, q: Tensor) -> Tensor:
        q = torch.maximum(q.to(table.dtype), self._lowest().to(table.dtype)).clamp(max=self.levels - 1)
        i = torch.clamp(torch.floor(q).long(), min=0, max=self.levels - 2)
        t = (q - i.to(q.dtype))[:, None]
        return torch.exp(table[i] * (1 - t) + table[i + 1] * t)

    def gains(self, q: Tensor) -> tuple[Tensor, Tensor]:
        """q (B,) levels (fractional allowed) -> (gain, inverse gain), each (B, M, 1, 1)."""
        return self._interp(self.log_gain, q)[..., None, None], self._interp(self.log_inv_gain, q)[..., None, None]

    def lmbda(self, q: Tensor) -> Tensor:
        """The lambda of (fractional) level q, interpolated geometrically."""
        return self._interp(torch.log(self.lambdas)[:, None], q)[:, 0]


class CompressionModel(nn.Module):
    """The float model of a learned image codec (what trains): g_a, g_s and an entropy model
    of y. :class:`licodec.codec.model_codec.ModelCodec` is its coding counterpart (integer
    tables, fixed point, the range coder).

    ``forward(x, q=None)`` with x (B, 3, H, W) in [0, 1], H and W multiples of 16,
    returns ``{"x_hat": (B, 3, H, W), "likelihoods": {"y": (B, M, H/16, W/16)[, "z": (B, N, ceil(H/64), ceil(W/64))]}}``;
    the rate in bits is -sum(log2(likelihoods)).
    """

    def __init__(self, g_a: nn.Module, g_s: nn.Module, prior: nn.Module, *, name: str, N: int, M: int, lambdas: list[float] | None = None,
                 options: dict | None = None) -> None:
        super().__init__()
        self.g_a = g_a
        self.g_s = g_s
        self.prior = prior
        self.name = name
        self.N, self.M = int(N), int(M)
        self.options = dict(options or {})  # the builder's other arguments (e.g. mbt2018-gmm's components)
        self.gain = RateGains(lambdas, M) if lambdas else None
        self.decoder_rounding = "noise"

    @property
    def config(self) -> dict:
        """What :func:`licodec.models.create` needs to rebuild this architecture."""
        cfg = {"name": self.name, "N": self.N, "M": self.M, **self.options}
        if self.gain is not None:
            cfg["lambdas"] = [float(v) for v in self.gain.lambdas.tolist()]
        return cfg

    downsampling = 16
    """Input sides must be multiples of this (the hyperprior crops h_s's output to y)."""

    def _levels(self, x: Tensor, q: float | Tensor | None) -> Tensor | None:
        if self.gain is None:
            return None
        if q is None:
            q = self.gain.levels - 1
        q = torch.as_tensor(q, dtype=torch.float32, device=x.device)
        return q.expand(x.shape[0]) if q.dim() == 0 else q

    def forward(self, x: Tensor, q: float | Tensor | None = None) -> dict:
        y = self.g_a(x)
        levels = self._levels(x, q)
        if levels is not None:
            gain, inv_gain = self.gain.gains(levels)
            y = y * gain
        _, y_dec, lik = self.prior(y, self.decoder_rounding)
        if levels is not None:
            y_dec = y_dec * inv_gain
        return {"x_hat": self.g_s(y_dec), "likelihoods": lik}

    def densities(self) -> list[FactorizedDensity]:
        return [m for m in self.modules() if isinstance(m, FactorizedDensity)]

    def aux_loss(self) -> Tensor:
        """Sum of the factorized densities' quantile losses (see FactorizedDensity.aux_loss)."""
        return sum((d.aux_loss() for d in self.densities()), torch.zeros(()))

    def aux_parameters(self) -> list[nn.Parameter]:
        return [d.quantiles for d in self.densities()]

    def main_parameters(self) -> list[nn.Parameter]:
        aux = {id(p) for p in self.aux_parameters()}
        return [p for p in self.parameters() if id(p) not in aux]

    def lmbda(self, q: Tensor) -> Tensor:
        """λ for the levels q (variable-rate models only)."""
        if self.gain is None:
            raise ValueError("fixed-rate model: λ is a training setting, not part of the model")
        return self.gain.lmbda(q)


def bits(likelihoods: dict[str, Tensor]) -> Tensor:
    """Total rate in bits, -sum(log2 p), over every likelihood tensor."""
    return sum((-torch.log(v).sum() / math.log(2) for v in likelihoods.values()), torch.zeros(()))
