"""Entropy models of the latent y, composed from parts.

* :class:`FactorizedPrior` - y coded with a learned factorized density
  (Ballé et al., ICLR 2017/2018).
* :class:`ConditionalPrior` - y coded with a conditional Gaussian (or Gaussian
  mixture) whose parameters come from any combination of

  - a hyperprior (:class:`Hyperprior`: z = h_a(y), z coded with a factorized
    density, psi = h_s(z_hat); Ballé et al., ICLR 2018), and
  - an autoregressive context model (masked conv over y_hat; Minnen et al., NeurIPS 2018),

  merged by an entropy-parameters network g_ep when there is one.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..entropy import FactorizedDensity, GaussianConditional, GaussianMixtureConditional

__all__ = ["FactorizedPrior", "Hyperprior", "ConditionalPrior"]


class FactorizedPrior(nn.Module):
    """y ~ learned per-channel density.

    ``forward(y, decoder_rounding) -> (y_tilde, y_dec, {"y": likelihoods})``: y with noise (or
    rounded, in eval mode), what g_s gets (y_tilde, or y rounded straight-through with
    ``decoder_rounding="ste"`` in training), and the likelihoods of y_tilde.
    """

    def __init__(self, M: int) -> None:
        super().__init__()
        self.density = FactorizedDensity(M)

    def forward(self, y: Tensor, decoder_rounding: str = "noise") -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        y_tilde, lik = self.density(y)
        y_dec = y_tilde
        if self.training and decoder_rounding == "ste":
            y_dec = y + (self.density.quantize(y, "dequantize") - y).detach()
        return y_tilde, y_dec, {"y": lik}


class Hyperprior(nn.Module):
    """z = h_a(y or |y|), z_hat ~ factorized density, features psi = h_s(z_hat).

    ``forward(y) -> (psi, z_likelihoods)``; y (B, M, h, w), z (B, N, ceil(h/4), ceil(w/4)),
    psi (B, P, h, w): h_s's output is cropped to y's size, so y needs no multiple of 4.
    """

    def __init__(self, h_a: nn.Module, h_s: nn.Module, z_channels: int, abs_input: bool = False) -> None:
        super().__init__()
        self.h_a = h_a
        self.h_s = h_s
        self.z_density = FactorizedDensity(z_channels)
        self.abs_input = bool(abs_input)

    def analysis(self, y: Tensor) -> Tensor:
        return self.h_a(torch.abs(y) if self.abs_input else y)

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        z = self.analysis(y)
        z_tilde, z_lik = self.z_density(z)
        return self.synthesis(z_tilde, y.shape[-2:]), z_lik

    def synthesis(self, z_hat: Tensor, size: tuple[int, int]) -> Tensor:
        """h_s(z_hat) cropped to the latent size (h, w)."""
        return self.h_s(z_hat)[..., : size[0], : size[1]]


class ConditionalPrior(nn.Module):
    """Conditional (mixture) Gaussian prior on y with hyperprior and/or context model.

    params = g_ep(cat(psi, g_cm(y_hat)))   (joint model)
           = g_ep(g_cm(y_hat))             (context only)
           = psi                           (scale / mean-scale hyperprior, no g_ep)

    In training, y_hat is y plus uniform noise everywhere (also as the context's input).
    In evaluation mode without a context model, y_hat = round(y - mu) + mu exactly as
    coded; with a context model the forward pass uses y_hat = round(y) for the context
    (a one-pass estimate); the codec's serial coding uses round(y - mu) + mu.
    """

    def __init__(
        self,
        conditional: GaussianConditional | GaussianMixtureConditional,
        hyper: Hyperprior | None = None,
        context: nn.Module | None = None,
        entropy_parameters: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if hyper is None and context is None:
            raise ValueError("a conditional prior needs a hyperprior, a context model, or both")
        if context is not None and entropy_parameters is None:
            raise ValueError("a context model needs an entropy-parameters network")
        self.conditional = conditional
        self.hyper = hyper
        self.context = context
        self.entropy_parameters = entropy_parameters

    def params(self, psi: Tensor | None, y_hat: Tensor | None) -> Tensor:
        """Entropy parameters from hyper features psi and (for the context) y_hat."""
        feats = []
        if psi is not None:
            feats.append(psi)
        if self.context is not None:
            feats.append(self.context(y_hat))
        if self.entropy_parameters is None:
            return feats[0]
        return self.entropy_parameters(torch.cat(feats, dim=1))

    @torch.no_grad()
    def settle_context(self, y: Tensor, psi: Tensor | None, ctx: Tensor, passes: int = 1) -> Tensor:
        """The context model's input moved towards the coder's causal values: from ``ctx``
        (e.g. round(y)), ``passes`` times ctx = mu + round(y - mu), mu from params(psi, ctx);
        round(y) when the means are not coded; ``ctx`` as it is without a context model.
        Position by position the coder's y_hat is the fixed point; one or two passes come
        within a percent of its rate (docs/default-model.md, "Entropy refinement")."""
        cond = self.conditional
        if self.context is None:
            return ctx
        if not getattr(cond, "use_means", False):
            return torch.round(y)
        for _ in range(passes):
            mu = cond.split(self.params(psi, ctx))[1]
            ctx = mu + torch.round(y - mu)
        return ctx

    def coded_likelihoods(self, y: Tensor, passes: int = 2) -> dict[str, Tensor]:
        """Likelihoods of the values the coder codes, differentiable by straight-through
        rounding (the rate that entropy refinement, train/refine.py, minimises)::

            z_hat = m + round(z - m)            m: z's medians (the coder's offsets)
            psi   = h_s(z_hat)
            ctx   = round(y), then mu + round(y - mu) for passes - 1 passes (no gradient:
                                                the coder's causal values, nearly)
            mu, sigma = g_ep(psi, g_cm(ctx))
            y_hat = mu + round(y - mu)          p(y_hat | mu, sigma), p(z_hat)

        Gaussian conditionals with means only (the coder's rounding offsets)."""
        from ..entropy.gaussian import ste_round

        cond = self.conditional
        if not isinstance(cond, GaussianConditional) or not cond.use_means:
            raise ValueError("coded likelihoods need a mean-coded Gaussian conditional")
        lik: dict[str, Tensor] = {}
        psi = None
        if self.hyper is not None:
            zd = self.hyper.z_density
            z = self.hyper.analysis(y)
            m = zd.medians().reshape(1, -1, 1, 1).detach()
            z_hat = m + ste_round(z - m)
            lik["z"] = zd.likelihood(z_hat)
            psi = self.hyper.synthesis(z_hat, y.shape[-2:])
        ctx = self.settle_context(y.detach(), psi, torch.round(y.detach()), passes - 1) if self.context is not None else None
        params = self.params(psi, ctx)
        lik["y"] = cond.likelihood(cond.quantize(y, params, "ste"), params)
        return lik

    def forward(self, y: Tensor, decoder_rounding: str = "noise") -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        lik: dict[str, Tensor] = {}
        psi = None
        if self.hyper is not None:
            psi, lik["z"] = self.hyper(y)
        cond = self.conditional
        if self.training:
            y_tilde = cond.quantize(y, None, "noise")
            params = self.params(psi, y_tilde)
        elif self.context is not None:
            y_tilde = torch.round(y)
            params = self.params(psi, y_tilde)
        else:
            params = self.params(psi, None)
            y_tilde = cond.quantize(y, params, "dequantize")
        lik["y"] = cond.likelihood(y_tilde, params)
        y_dec = y_tilde
        if self.training and decoder_rounding == "ste":
            y_dec = cond.quantize(y, params, "ste")
        return y_tilde, y_dec, lik
