"""Learned factorized density for the hyper-latent z (or for y in the factorized-prior model).

Ballé, Minnen, Singh, Hwang & Johnston, "Variational image compression with a scale
hyperprior" (ICLR 2018), appendix 6.1: each channel c has a univariate density whose
cumulative c(x) = f_K(...f_1(x)) is a small monotone network (softplus matrices,
tanh gates with learned factors). Training uses additive uniform noise; at test time
values are rounded around the per-channel median. Three quantiles per channel (the
tails and the median) are learned through :meth:`aux_loss`; they bound the support
of the integer coding tables.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops import lower_bound

__all__ = ["FactorizedDensity"]


class FactorizedDensity(nn.Module):
    """Per-channel learned density ("deep factorized", filters (3, 3, 3, 3)).

    Input (B, C, H, W); ``forward`` returns (x_tilde, likelihoods), both (B, C, H, W).
    """

    def __init__(
        self,
        channels: int,
        filters: tuple[int, ...] = (3, 3, 3, 3),
        init_scale: float = 10.0,
        tail_mass: float = 1e-9,
        likelihood_bound: float = 1e-9,
    ) -> None:
        super().__init__()
        self.channels = int(channels)
        self.filters = tuple(int(f) for f in filters)
        self.tail_mass = float(tail_mass)
        self.likelihood_bound = float(likelihood_bound)

        dims = (1,) + self.filters + (1,)
        scale = init_scale ** (1 / (len(self.filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(self.filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(self.filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        target = math.log(2 / tail_mass - 1)
        self.register_buffer("target", torch.tensor([-target, 0.0, target]), persistent=False)

    # -- the cumulative -------------------------------------------------------------
    def logits_cumulative(self, x: Tensor) -> Tensor:
        """x (C, 1, N) -> logit of the cumulative at x, (C, 1, N)."""
        for i, matrix in enumerate(self.matrices):
            x = torch.matmul(F.softplus(matrix), x) + self.biases[i]
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def cdf(self, x: Tensor) -> Tensor:
        """Cumulative of each channel at x (C, 1, N)."""
        return torch.sigmoid(self.logits_cumulative(x))

    def medians(self) -> Tensor:
        """(C,) per-channel medians (the learned middle quantile)."""
        return self.quantiles[:, 0, 1].detach()

    def aux_loss(self) -> Tensor:
        """Fits the quantiles: logit-cumulative at the quantiles should hit the tail targets."""
        # Only the quantiles learn from this loss; the density does not.
        logits = self._logits_wrt_quantiles_only()
        return torch.abs(logits - self.target).sum()

    @torch.enable_grad()
    def fit_quantiles(self, steps: int = 3000, lr: float = 1.0) -> float:
        """Minimise :meth:`aux_loss` over the quantiles alone (the density stays fixed).

        Training moves the quantiles slowly (they start at +-init_scale); before coding
        tables are built they should sit where the density puts its tails. Adam with the
        learning rate decaying 100x over ``steps``; returns the final aux loss.
        """
        opt = torch.optim.Adam([self.quantiles], lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.01 ** (i / max(steps - 1, 1)))
        loss = self.aux_loss()
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = self.aux_loss()
            loss.backward()
            opt.step()
            sched.step()
        self.quantiles.grad = None
        return float(self.aux_loss().detach())

    def _logits_wrt_quantiles_only(self) -> Tensor:
        x = self.quantiles
        for i, matrix in enumerate(self.matrices):
            x = torch.matmul(F.softplus(matrix.detach()), x) + self.biases[i].detach()
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i].detach()) * torch.tanh(x)
        return x

    # -- likelihoods ----------------------------------------------------------------
    def likelihood(self, x: Tensor) -> Tensor:
        """P(x - 1/2 < X < x + 1/2) for x (B, C, H, W), bounded below (always in float32 or float64)."""
        with torch.autocast(x.device.type, enabled=False):
            return self._likelihood(x if x.dtype == torch.float64 else x.float())

    def _likelihood(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        v = x.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower = self.logits_cumulative(v - 0.5)
        upper = self.logits_cumulative(v + 0.5)
        # Evaluate in the tail where it is more accurate (1 - sigmoid(a) = sigmoid(-a)).
        sign = -torch.sign(lower + upper).detach()
        lik = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        lik = lik.reshape(c, b, h, w).permute(1, 0, 2, 3)
        return lower_bound(lik, self.likelihood_bound)

    def quantize(self, x: Tensor, mode: str) -> Tensor:
        """"noise": x + U(-1/2, 1/2); "dequantize": round around the medians."""
        if mode == "noise":
            return x + torch.empty_like(x).uniform_(-0.5, 0.5)
        if mode == "dequantize":
            m = self.medians().reshape(1, -1, 1, 1)
            return torch.round(x - m) + m
        raise ValueError(f"unknown quantization mode {mode!r}")

    def forward(self, x: Tensor, training: bool | None = None) -> tuple[Tensor, Tensor]:
        training = self.training if training is None else training
        x_tilde = self.quantize(x, "noise" if training else "dequantize")
        return x_tilde, self.likelihood(x_tilde)

    # -- coding tables ----------------------------------------------------------------
    @torch.no_grad()
    def pmf_table(self, max_support: int = 4096) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
        """Per-channel discrete pmfs around the medians, for building integer tables.

        Returns (medians (C,), offsets (C,) int, pmfs [C arrays], tail_mass (C,)):
        symbol s of channel c stands for the value medians[c] + s, s in
        [offsets[c], offsets[c] + len(pmfs[c])).
        """
        med = self.quantiles[:, 0, 1]
        lo = torch.ceil(med - self.quantiles[:, 0, 0]).clamp(0, max_support // 2).long()
        hi = torch.ceil(self.quantiles[:, 0, 2] - med).clamp(0, max_support // 2).long()
        n = int((lo + hi).max().item()) + 1
        samples = torch.arange(n, dtype=torch.float32, device=med.device)[None, None, :] - lo[:, None, None] + med[:, None, None]
        lower = self.logits_cumulative(samples - 0.5)
        upper = self.logits_cumulative(samples + 0.5)
        sign = -torch.sign(lower + upper)
        pmf = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))[:, 0, :].double().cpu().numpy()
        last = (lo + hi)[:, None]
        tails = torch.sigmoid(lower[:, 0, 0]) + torch.sigmoid(-upper[:, 0, :].gather(1, last)[:, 0])
        lengths = (lo + hi + 1).cpu().numpy()
        pmfs = [pmf[c, : lengths[c]] for c in range(self.channels)]
        tails = tails.double().cpu().numpy()
        return med.double().cpu().numpy(), (-lo).cpu().numpy(), pmfs, tails
