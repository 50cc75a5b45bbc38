"""The encoder's latent search (behind ``--effort``, effort.py): better latents for one image,
the decoder left as it is.

g_a's y is one amortised guess. With the decoder (g_s, h_s, the entropy model) fixed, the
encoder may instead optimise the latents of the one image it codes for the training
objective, R + λ·D, and code those (Campos, Meierhans, Djelouah & Schroers, "Content
adaptive optimization for neural image compression", CVPR-W 2019; Yang, Bamler & Mandt,
"Improving inference for neural image compression", NeurIPS 2020: stochastic Gumbel
annealing, SGA; Perugachi-Diaz, Gansekoele & Bhulai, "Robustly overfitting latents for flexible
neural image compression", NeurIPS 2024: SGA+). The file is an ordinary .lic file: only the
encoder changes.

::

    x --g_a--> y0 (x gain[q]) --h_a--> z0                  effort 0 codes these
    Adam on (y, z), T iterations:
        z~  = m + SGA(z - m, tau)                          m: z's medians (the coder's offsets)
        psi = h_s(z~)
        mu, sigma = g_ep(psi, g_cm(y_prev))                context in its parallel form, on the
        y~  = mu + SGA(y - mu, tau)                          last iterate's quantised y (its
                                                             gradient passed on to y)
        L   = (-log2 p(y~ | mu, sigma) - log2 p(z~)) / pixels + λ(q) · 255² · MSE(g_s(y~ / gain), x)
          + w · relu(s0 - MS-SSIM(x^, x)) / (1 - s0) · L0     the MS-SSIM guard (s0, L0: g_a's)
        tau: 1.2 -> 0.15 geometrically over 0.9 T,         annealed towards hard rounding
             then -> 0.05 over the last 0.1 T
    then the exact coder quantises the best (y, z) seen as at effort 0: round(y - mu) + mu.

SGA: each value becomes a Gumbel-softmax blend of its floor and its ceiling on the coder's
grid, with logits log(1 - r) and log(r) (r its distance to the floor; SGA+'s "linear"
probabilities; Yang et al.'s -atanh(r), -atanh(1 - r) on request) divided by tau; as tau
falls the blend becomes the rounding. Models without means round y itself (mu = 0): the scale
hyperprior, the mixture. The distortion counts the image's own pixels, not the padding.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
from torch import Tensor

from ..models import CompressionModel
from ..metrics import ms_ssim
from .precision import resolve as resolve_precision, run_transform

__all__ = ["search_latents"]

LEARNING_RATE = 0.01
"""Adam's step on the latents, in units of the quantisation step (y is gained: one step is 1)."""
TAU_START = 1.2
"""SGA's first temperature; it falls geometrically to ``TAU_END`` over the first 1 − ``COOL``
of the search, then to ``TAU_COLD``."""
TAU_END = 0.15
"""With the linear probabilities the search gains most when it ends warm (0.1-0.15, where atanh
wanted 0.05), but the last iterate's hard rounding then sometimes loses to g_a's latents: hence
the short cold tail (docs/effort.md, session 18)."""
MS_SSIM_GUARD = 1.0
"""Weight w of the MS-SSIM guard: the loss gains ``w · relu(s0 − s) / (1 − s0) · L0``, where s is
the decode's MS-SSIM and s0, L0 g_a's latents' MS-SSIM and loss under hard rounding, so that
the search does not buy PSNR with MS-SSIM (0: off; images with a side <= 160 px have none).
On training crops at 20 iterations (docs/effort.md): w = 0, 1, 4 gave BD-rate −4.22%, −4.01%,
−3.82% in PSNR and −0.09%, −0.76%, −1.25% in MS-SSIM (session 13's model and settings); with
session 18's, 40 iterations, w = 0, 1, 2, 4: R + λ·D −4.36%, −4.00%, −3.91%, −3.79%. 1 since
session 18 (4 before)."""
GUARD_FROM_STEPS = 20
"""The guard applies to searches of this many iterations or more (efforts 5-8). A short search
has no time to win MS-SSIM back, so the guard rejects its result and g_a's latents are coded:
on the Kodak subset of docs/effort.md (six images, qualities 1, 3, 5, 7; session 23), 10
iterations gave BD-rate −0.37% (PSNR) / −0.14% (MS-SSIM) with the guard and −3.34% / −0.87%
without, better in both; at 40 iterations it trades (without: −7.35% / +0.69%; with: −6.00% /
−4.70%). 20 lies between the measured points."""


ROUNDINGS = ("linear", "atanh")
"""SGA's rounding probabilities: see :func:`_sga`."""
ROUNDING = "linear"
"""The levels' since session 18: SGA+'s linear probabilities. With the temperatures and betas
below, R + λ·D −3.79% on training crops in 40 iterations, against −2.45% with atanh's and the
settings before (docs/effort.md)."""
TAU_COLD = 0.05
"""The temperature the last ``COOL`` of the search falls to from ``TAU_END``."""
COOL = 0.1
"""The fraction of the iterations that cool from ``TAU_END`` to ``TAU_COLD``."""
CONTEXT_GRADIENT = True
"""Whether the soft iterations let the rate's gradient reach y through the context model too
(its input the last iterate's quantised y in value, y in gradient: straight-through), so that
each value also answers for its neighbours' rates, as in training. On since session 19: on
training crops R + λ·D −4.57% against −4.00% in 40 iterations, −5.09% against −4.47% in 80;
the context fed y itself (value and gradient) did less (−4.45% in 40; docs/effort.md)."""
BETAS = (0.8, 0.999)
"""Adam's (β1, β2) on the latents: less momentum than Adam's default 0.9 (a few tenths of a
percent of R + λ·D on training crops)."""


def _sga(v: Tensor, tau: float, gen: torch.Generator, rounding: str = ROUNDING) -> Tensor:
    """Stochastic Gumbel annealing of v towards round(v): each value becomes a Gumbel-softmax
    blend of its floor and its ceiling, with logits from its distance r to the floor, divided by
    tau. ``atanh``: (−atanh r, −atanh(1 − r)) (Yang et al. 2020, ``sga.py``); ``linear``:
    (log(1 − r), log r), so that before the noise floor and ceiling weigh (1 − r)^(1/tau) and
    r^(1/tau) (SGA+, Perugachi-Diaz, Gansekoele & Bhulai, "Robustly overfitting latents for
    flexible neural image compression", NeurIPS 2024: less saturated gradients)."""
    eps = 1e-5
    f = torch.floor(v)
    r = v - f
    if rounding == "linear":
        r = r.clamp(eps, 1 - eps)
        logits = torch.stack((torch.log1p(-r), torch.log(r)), dim=-1) / tau
    elif rounding == "atanh":
        logits = torch.stack((-torch.atanh(r.clamp(-1 + eps, 1 - eps)), -torch.atanh((1 - r).clamp(-1 + eps, 1 - eps))), dim=-1) / tau
    else:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    # the noise is drawn on the CPU (one seeded stream whatever the device), then moved
    u = torch.rand(logits.shape, generator=gen, dtype=logits.dtype).clamp_(1e-10, 1 - 1e-10).to(logits.device)
    p = torch.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)
    return f + p[..., 1]


class _Objective:
    """R + λ·D of latents (y, z) under a model's decoder and entropy model, soft or hard."""

    def __init__(self, model: CompressionModel, x: Tensor, q: Tensor | None, lam: float, size: tuple[int, int],
                 plan: list | None = None, rounding: str = ROUNDING, context_grad: bool = CONTEXT_GRADIENT) -> None:
        self.model, self.x, self.lam, self.plan, self.rounding = model, x, lam, plan, rounding
        self.context_grad = context_grad
        self.h, self.w = size
        self.pixels = x.shape[-1] * x.shape[-2]
        self.guard: tuple[float, float, float] | None = None  # (w, s0, L0): set by search_latents
        # g_s as the decoder runs it (precision.py); on a GPU in bf16 (its tensor cores)
        self.bf16 = x.device.type == "cuda" or resolve_precision() == "bf16"
        # the soft iterations run g_s all in bf16 but its last layer (the decoder keeps its small
        # early layers in float32 too, for the pixels' sake): 0.94× g_s's forward and backward
        n = len(model.g_s) if isinstance(model.g_s, torch.nn.Sequential) else 0
        self.soft_layers = frozenset(range(n - 1)) if n else None
        prior = model.prior
        self.hyper = getattr(prior, "hyper", None)
        self.inv_gain = model.gain.gains(q)[1] if q is not None else None
        if hasattr(prior, "conditional"):
            self.density = None
            self.use_means = bool(getattr(prior.conditional, "use_means", False))
        else:  # a factorized prior on y: offsets are its medians
            self.density = prior.density
            self.use_means = False

    def __call__(self, y: Tensor, z: Tensor | None, y_ctx: Tensor, tau: float | None, gen: torch.Generator | None = None,
                 ms: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """(loss, bits, y quantised as the coder would, the decode's MS-SSIM if ``ms`` or the
        guard is on, else None); tau None: hard rounding (what the coder does, up to the
        context's one-pass estimate), else SGA at temperature tau."""
        q = torch.round if tau is None else (lambda v: _sga(v, tau, gen, self.rounding))
        bits = torch.zeros((), dtype=torch.float32, device=y.device)
        psi = None
        if z is not None:
            z_t, psi = self._z(z, y, q, fast=tau is not None)
            bits = bits - torch.log2(self.hyper.z_density.likelihood(z_t)).sum()
        if self.density is not None:
            m = self.density.medians().reshape(1, -1, 1, 1).detach()
            y_t = m + q(y - m)
            y_hard = m + torch.round(y.detach() - m)
            lik = self.density.likelihood(y_t)
        else:
            cond = self.model.prior.conditional
            if tau is not None and self.context_grad:  # the value of y_ctx, the gradient of y
                y_ctx = y_ctx + (y - y.detach())
            with self._fast(tau is not None):
                params = self.model.prior.params(psi, y_ctx).float()
            mu = cond.split(params)[1].detach() if self.use_means else None
            y_t = q(y) if mu is None else mu + q(y - mu)
            y_hard = torch.round(y.detach()) if mu is None else mu + torch.round(y.detach() - mu)
            lik = cond.likelihood(y_t, params)
        bits = bits - torch.log2(lik).sum()
        y_dec = y_t if self.inv_gain is None else y_t * self.inv_gain
        x_hat = run_transform(self.model.g_s, y_dec.contiguous(memory_format=torch.channels_last), self.bf16, -1, self.plan,
                              self.soft_layers if tau is not None else None)[..., : self.h, : self.w]
        x = self.x[..., : self.h, : self.w]
        loss = bits / self.pixels + self.lam * 255**2 * ((x_hat - x) ** 2).mean()
        s = ms_ssim(x_hat.clamp(0, 1), x)[0] if ms or self.guard is not None else None
        if self.guard is not None:
            w, s0, loss0 = self.guard
            if float(s.detach()) < s0:  # relu(s0 - s) > 0; else the term and its gradient are 0: no backward through MS-SSIM
                loss = loss + w * (s0 - s) / (1 - s0) * loss0
        return loss, bits, y_hard, s

    @torch.no_grad()
    def hard(self, y: Tensor, z: Tensor | None, y_ctx: Tensor) -> tuple[float, Tensor]:
        """(loss, quantised y) under hard rounding, with the context model's input settled by a
        second pass on the first pass's own quantised y (the coder's causal values, nearly):
        the context's input ``y_ctx`` (e.g. round(y)) only starts the first pass."""
        loss, y_hat, _ = self._hard(y, z, y_ctx, False)
        return loss, y_hat

    @torch.no_grad()
    def hard_ms_ssim(self, y: Tensor, z: Tensor | None, y_ctx: Tensor) -> float:
        """The MS-SSIM of the decode :meth:`hard` measures."""
        return float(self._hard(y, z, y_ctx, True)[2])

    def _z(self, z: Tensor, y: Tensor, q: Callable[[Tensor], Tensor], fast: bool = False) -> tuple[Tensor, Tensor]:
        """(z quantised by ``q`` around its medians, the hyper features h_s of it)."""
        m = self.hyper.z_density.medians().reshape(1, -1, 1, 1).detach()
        z_t = m + q(z - m)
        with self._fast(fast):
            return z_t, self.hyper.synthesis(z_t, y.shape[-2:])

    def _fast(self, on: bool) -> contextlib.AbstractContextManager:
        """bf16 autocast for the entropy model's networks (h_s, the context model, g_ep) in the
        soft iterations on the bf16 path: their outputs only steer the search (−40% of their
        time, docs/effort.md); the hard evaluations, which choose what is coded, and every
        density stay float32."""
        return torch.autocast(self.x.device.type, dtype=torch.bfloat16) if on and self.bf16 else contextlib.nullcontext()

    def _hard(self, y: Tensor, z: Tensor | None, y_ctx: Tensor, ms: bool) -> tuple[float, Tensor, Tensor | None]:
        if self.density is None:  # one pass of the entropy model settles the context (g_s runs once, below)
            psi = self._z(z, y, torch.round)[1] if z is not None else None
            y_ctx = self.model.prior.settle_context(y.detach(), psi, y_ctx)
        loss, _, y_hat, s = self(y, z, y_ctx, None, ms=ms)
        return float(loss), y_hat, s


def temperature(f: float, start: float, end: float, cold: float, cool: float) -> float:
    """SGA's temperature at the fraction f in [0, 1) of the search: geometric from ``start`` to
    ``end`` over the first 1 − ``cool`` of it, then geometric from ``end`` to ``cold``."""
    if f < 1 - cool:
        return start * (end / start) ** (f / (1 - cool))
    return end * (cold / end) ** ((f - (1 - cool)) / cool)


def search_latents(model: CompressionModel, x: Tensor, y: Tensor, q: Tensor | None, steps: int, *, size: tuple[int, int] | None = None,
                   lam: float | None = None, progress: Callable[[int, int], None] | None = None, seed: int = 0,
                   lr: float = LEARNING_RATE, tau_start: float = TAU_START, tau_end: float = TAU_END,
                   lr_schedule: Callable[[float], float] | None = None, ms_ssim_guard: float | None = None,
                   rounding: str = ROUNDING, betas: tuple[float, float] = BETAS, tau_cold: float = TAU_COLD, cool: float = COOL,
                   context_grad: bool = CONTEXT_GRADIENT,
                   device: str = "cpu", weights_key: bytes | None = None, plan: list | None = None) -> tuple[Tensor, Tensor | None]:
    """Latents of one image optimised for R + λ·D: x (1, 3, H, W) in [0, 1] (padded), y
    (1, M, H/16, W/16) g_a's gained latents, q (1,) the gain level (None: fixed rate, then
    ``lam`` is required), ``size`` (h, w) the image's own pixels in x. Returns (y, z): z
    (1, N, ceil(H/64), ceil(W/64)) for models with a hyperprior, else None; the best
    iterate under hard rounding, g_a's own when no iterate beats it.

    Deterministic: the Gumbel noise comes from a generator seeded with ``seed``. The
    temperature falls geometrically from ``tau_start`` to ``tau_end`` over the first 1 −
    ``cool`` of the iterations, then to ``tau_cold`` (:func:`temperature`); ``rounding``: SGA's
    probabilities (``ROUNDINGS``, :func:`_sga`); ``betas``: Adam's; ``context_grad``: the rate's
    gradient through the context model too (``CONTEXT_GRADIENT``); ``lr_schedule(t /
    steps)`` scales the learning rate (default: constant; other settings are for
    benchmarks/effort_settings.py). ``ms_ssim_guard``: the guard's weight w (default
    ``MS_SSIM_GUARD`` from ``GUARD_FROM_STEPS`` iterations on, else 0: off). ``device``: where
    the search runs (a copy of the model, cached by ``weights_key`` and device); the latents
    come back on the CPU, as float32. ``plan``: g_s's polyphase plan
    (precision.polyphase_plan; CPU only).
    """
    if device != "cpu":
        model = _on_device(model, device, weights_key)
        x, y, q = x.to(device), y.to(device), (q.to(device) if q is not None else None)
    if lam is None:
        if q is None:
            raise ValueError("a fixed-rate model needs lam")
        lam = float(model.lmbda(q)[0])
    obj = _Objective(model, x, q, lam, size or tuple(x.shape[-2:]), plan if device == "cpu" else None, rounding, context_grad)
    with torch.no_grad():
        z0 = obj.hyper.analysis(y) if obj.hyper is not None else None
    params = [y.detach().clone().requires_grad_(True)]
    if z0 is not None:
        params.append(z0.detach().clone().requires_grad_(True))
    opt = torch.optim.Adam(params, lr=lr, betas=betas)
    gen = torch.Generator().manual_seed(seed)
    zz = (lambda: params[1]) if z0 is not None else (lambda: None)
    with torch.enable_grad():
        w = (MS_SSIM_GUARD if steps >= GUARD_FROM_STEPS else 0.0) if ms_ssim_guard is None else ms_ssim_guard
        guard = w > 0 and min(size or x.shape[-2:]) > 160  # MS-SSIM's five scales need sides > 160 px
        with torch.no_grad():
            best_loss, y_ctx, s0 = obj._hard(params[0], zz(), torch.round(y.detach()), guard)
        if guard:
            obj.guard = (w, float(s0), best_loss)
        best = [p.detach().clone() for p in params]
        for t in range(steps):
            tau = temperature(t / steps, tau_start, tau_end, tau_cold, cool)
            if lr_schedule is not None:
                for group in opt.param_groups:
                    group["lr"] = lr * lr_schedule(t / steps)
            opt.zero_grad(set_to_none=True)
            loss, _, y_ctx, _ = obj(params[0], zz(), y_ctx, tau, gen)
            loss.backward()
            opt.step()
            if progress is not None:
                progress(t + 1, steps)
        final, _ = obj.hard(params[0], zz(), y_ctx)
        if steps and final < best_loss:
            best = [p.detach().clone() for p in params]
    best = [p.to("cpu", torch.float32) for p in best]
    return best[0], (best[1] if z0 is not None else None)


_DEVICE_MODELS: dict[tuple[bytes, str], CompressionModel] = {}


def _on_device(model: CompressionModel, device: str, weights_key: bytes | None) -> CompressionModel:
    """A frozen copy of ``model`` on ``device``, kept per (weights, device) when ``weights_key``
    (the weights' id) is given."""
    import copy

    key = (weights_key, device) if weights_key is not None else None
    if key is not None and key in _DEVICE_MODELS:
        return _DEVICE_MODELS[key]
    moved = copy.deepcopy(model).to(device).eval().requires_grad_(False)
    if key is not None:
        _DEVICE_MODELS.clear()  # one model on the device at a time
        _DEVICE_MODELS[key] = moved
    return moved
