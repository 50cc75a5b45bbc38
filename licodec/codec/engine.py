"""Coding the latents of a model to streams of bytes and back.

One function per stage, shared by the encoder and the decoder:

* :func:`code_factorized` - values coded with per-channel tables (z, or y of the
  factorized-prior model);
* :func:`code_gaussian` - y coded with the Gaussian scale table given (mu, sigma) for
  every element at once (hyperprior models without a context model);
* :func:`code_autoregressive` - y coded position by position with the context model,
  on a wavefront schedule (below).

Each takes a ``symbols`` callback: the encoder's rounds its real latents and writes the
symbols, the decoder's reads them; everything else - the entropy parameters, the table
indices, the order of the symbols - is the same code on both sides, computed in exact
integer arithmetic (see fixed.py); the per-step glue of the wavefront loop runs in C
kernels where they are built (steps.py), with the same values.

Wavefront schedule. With a causal k x k mask (k = 2c + 1), position (i, j) reads
y_hat at (i', j') with i' in [i - c, i - 1] and |j' - j| <= c, or i' = i and
j' in [j - c, j - 1]. Give (i, j) the step t(i, j) = (c + 1) i + j. For a tap in an
earlier row, t(i', j') <= (c + 1)(i - 1) + j + c = t(i, j) - 1; for a tap on the same
row, t(i, j') <= t(i, j) - 1. So every input of a position is decoded at an earlier
step, and all positions of one step are independent: they are computed together
(one gather of their taps, one matrix product for g_cm, the 1x1 layers of g_ep as
matrix products, one vectorised range-coder call). No smaller factor than c + 1
works: (i - 1, j + c) must come before (i, j). An h x w latent takes
(c + 1)(h - 1) + w steps instead of h * w serial positions (141 instead of 1536 for
a 768 x 512 image).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..errors import FormatError
from ..layers.masked_conv import causal_mask
from .fixed import ACT_BITS, ACT_LIMIT, ONE, FixedLayer, IntMatrix, combine, digit_rows
from .rangecoder import Decoder, Encoder, TableCoder
from .steps import fast_steps
from .coding_state import CodingState

__all__ = ["Stages", "code_factorized", "code_gaussian", "code_autoregressive", "ContextTaps", "wavefront_steps", "SymbolIO", "EncoderIO", "DecoderIO"]



class Stages:
    """Accumulates wall time per named stage: ``with stages("g_s"): ...``; ``Stages(None)`` times nothing."""

    def __init__(self, times: dict | None = None) -> None:
        self.times = times

    def __call__(self, name: str):
        return _Timed(self.times, name) if self.times is not None else _NULL


class _Timed:
    __slots__ = ("times", "name", "t0")

    def __init__(self, times: dict, name: str) -> None:
        self.times, self.name = times, name

    def __enter__(self):
        import time

        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        import time

        self.times[self.name] = self.times.get(self.name, 0.0) + time.perf_counter() - self.t0


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_NULL = _Null()


class TablePlan:
    """Elements coded with fixed tables: element e uses distribution ``index[e]`` of ``coder``."""

    def __init__(self, coder: TableCoder, index: np.ndarray) -> None:
        self.coder, self.index = coder, np.asarray(index).ravel()

    def encode(self, enc: Encoder, values: np.ndarray) -> None:
        self.coder.encode(enc, self.index, values)

    def decode(self, dec: Decoder) -> np.ndarray:
        return self.coder.decode(dec, self.index)

    def cost_bits(self, values: np.ndarray) -> float:
        return self.coder.tables.cost_bits(self.index, values)


class SymbolIO:
    """Either side of the coder: ``symbols(plan, mu_int, where)`` returns integer symbols shaped like mu."""

    def symbols(self, plan, mu_int: Tensor, where) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class EncoderIO(SymbolIO):
    """Rounds the real latent ``y`` around mu and writes the symbols."""

    def __init__(self, enc: Encoder, values: Tensor, measure: bool = False) -> None:
        self.enc = enc
        self.values = values.double()  # real latents, indexed by ``where``
        self.measure = measure
        self.bits = 0.0  # ideal code length of what was written (when measuring)

    def symbols(self, plan, mu_int: Tensor, where) -> np.ndarray:
        v = self.values[where]
        sym = torch.round(v - mu_int.to(torch.float64) / ONE).to(torch.int64).numpy()
        plan.encode(self.enc, sym.ravel())
        if self.measure:
            self.bits += plan.cost_bits(sym.ravel())
        return sym.reshape(tuple(mu_int.shape))


class DecoderIO(SymbolIO):
    def __init__(self, dec: Decoder) -> None:
        self.dec = dec

    def symbols(self, plan, mu_int: Tensor, where) -> np.ndarray:
        return plan.decode(self.dec).reshape(tuple(mu_int.shape))


def _dequantize(sym: np.ndarray, mu_int: Tensor) -> Tensor:
    """Symbols around mu -> fixed-point values sym * 2**A + mu (mu's dtype: int64 or integer-valued float64)."""
    if sym.size and np.abs(sym).max() >= 2**30:
        raise FormatError("corrupt stream: latent out of range")
    return torch.from_numpy(np.ascontiguousarray(sym)).to(mu_int.dtype).mul_(2**ACT_BITS).add_(mu_int)


def code_factorized(coder: TableCoder, medians_int: np.ndarray, shape: tuple[int, int, int], io: SymbolIO) -> Tensor:
    """Per-channel tables (channel c uses distribution c); values (C, h, w) in channel-major order.

    Returns the fixed-point values (C, h, w): symbol * 2**A + median_int.
    """
    c, h, w = shape
    mu = torch.from_numpy(medians_int.astype(np.int64)).reshape(c, 1, 1).expand(c, h, w).contiguous()
    index = np.repeat(np.arange(c), h * w)
    sym = io.symbols(TablePlan(coder, index), mu, (slice(None), slice(None), slice(None)))
    return _dequantize(sym, mu)


def entropy_plan(state: CodingState, coder, params: Tensor, channel_dim: int) -> tuple[object, Tensor]:
    """Fixed-point entropy parameters -> (coding plan, mu_int to subtract before rounding).

    Gaussian: the scale-table index of sigma, mu from the params. Mixture (only with a
    context model, rows on dim 1): a MixturePlan, mu = 0 (values are round(y)).
    """
    if state.mixture is not None:
        plan = coder.plan(params.to(torch.int64).numpy())
        return plan, torch.zeros(params.shape[0], params.shape[1] // (3 * state.mixture_components), dtype=params.dtype)
    _, mu, index = split_params(state, params, channel_dim)
    return TablePlan(coder, index.ravel()), mu


def split_params(state: CodingState, params: Tensor, channel_dim: int) -> tuple[Tensor, Tensor, np.ndarray]:
    """Fixed-point Gaussian params -> (sigma_int lower-bounded, mu_int, scale-table index as numpy)."""
    if state.use_means:
        m = params.shape[channel_dim] // 2
        sigma, mu = params.narrow(channel_dim, 0, m), params.narrow(channel_dim, m, m)
    else:
        sigma, mu = params, torch.zeros_like(params)
    sigma = torch.clamp(sigma, min=state.sigma_min)
    index = state.scale_index(sigma).numpy()
    return sigma, mu, index


def code_gaussian(state: CodingState, coder: TableCoder, params: Tensor, io: SymbolIO) -> Tensor:
    """y (M, h, w) with per-element Gaussian parameters ``params`` (P, h, w), all at once."""
    plan, mu = entropy_plan(state, coder, params, 0)
    sym = io.symbols(plan, mu, (slice(None), slice(None), slice(None)))
    return _dequantize(sym, mu).to(torch.int64)


def wavefront_steps(h: int, w: int, c: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(rows, cols)] of each non-empty step t = (c + 1) i + j, rows ascending.

    Steps are empty only when w < c + 1 (then some t have no j in range).
    """
    a = c + 1
    steps = []
    for t in range(a * (h - 1) + w):
        i = np.arange(max(0, -(-(t - w + 1) // a)), min(h - 1, t // a) + 1)
        if i.size:
            steps.append((i, t - a * i))
    return steps


class ContextTaps:
    """The context model's causal taps as one int8 matrix: rows (tap, channel), columns 2M.

    The context input of every decoded position (y_hat on the 2**-4 grid, at most
    ACT_LIMIT >> 8 < 2**15 in magnitude) is kept as two balanced int8 digit planes, zero
    outside the latent. A step gathers the digits of its positions' taps and multiplies
    them by the int8 weights; when no tap needs the high digit (all |y_hat| < 8), that
    half of the product is skipped: its digits are zero, so the sum is the same.
    """

    def __init__(self, layer: FixedLayer) -> None:
        kernel_size = layer.weight.shape[-1]
        mask = causal_mask(kernel_size)
        taps = [(int(a), int(b)) for a, b in torch.nonzero(mask).tolist()]
        c = kernel_size // 2
        self.di = np.array([a - c for a, _ in taps])
        self.dj = np.array([b - c for _, b in taps])
        w = layer.weight  # (2M, M, k, k) integer-valued
        matrix = torch.stack([w[:, :, a, b] for a, b in taps]).permute(0, 2, 1).reshape(len(taps) * w.shape[1], w.shape[0])
        self.matrix = IntMatrix(matrix)
        self.layer, self.c = layer, c
        if (ACT_LIMIT >> layer.input_shift) > 127 * 257:
            raise ValueError("context input does not fit two digits")

    def planes(self, h: int, w: int, m: int) -> tuple[Tensor, Tensor]:
        """Digit planes (2, (h + c) * (w + 2c), M) int8 of an all-zero padded latent, and
        per position whether its high digits are nonzero (bool)."""
        size = (h + self.c) * (w + 2 * self.c)
        return torch.zeros(2, size, m, dtype=torch.int8), torch.zeros(size, dtype=torch.bool)

    def store(self, planes: tuple[Tensor, Tensor], flat: Tensor, y_hat: Tensor) -> None:
        """Write the context input of decoded rows y_hat (n, M) at padded positions ``flat``
        (each position once: the planes start at zero)."""
        digits, d = digit_rows(self.layer.quantize_input(y_hat))
        if d == 1:
            planes[0][0].index_copy_(0, flat, digits)
        else:
            digits = digits.view(2, len(flat), -1)
            planes[0].index_copy_(1, flat, digits)
            planes[1][flat] = digits[1].any(dim=1)

    def __call__(self, planes: tuple[Tensor, Tensor], taps: Tensor) -> Tensor:
        """Context features (n, 2M) float64 of the positions whose tap indices are ``taps`` (n, T)."""
        n, taps = taps.shape[0], taps.reshape(-1)
        if bool(planes[1][taps].any()):
            d, rows = 2, planes[0].index_select(1, taps).view(2 * n, -1)  # (2n, T*M): low, high digits
        else:
            d, rows = 1, planes[0][0].index_select(0, taps).view(n, -1)
        p = self.matrix.product(rows)
        return self.layer.finish(combine(p, d, self.layer.bias_half, 1 << self.layer.input_shift))


def code_autoregressive(state: CodingState, context: "ContextTaps", coder, psi: Tensor | None, shape: tuple[int, int, int], io: SymbolIO,
                        stages: Stages = Stages()) -> Tensor:
    """y (M, h, w) with the context model on the wavefront schedule (module docstring).

    ``context``: the state's context model as taps (:class:`ContextTaps`, built once per model).
    ``psi`` (h, w, P): fixed-point hyperprior features, or None (context-only model).
    ``coder``: the Gaussian TableCoder, or the MixtureCoder of a mixture model.
    ``io.symbols`` receives ``where`` = (rows, cols) and mu of shape (n, M).
    Returns y_hat (M, h, w) in fixed point.
    """
    m, h, w = shape
    c = context.c
    ep = state.ep
    wp = w + 2 * c
    planes = context.planes(h, w, m)
    y_hat = torch.empty(h * w, m, dtype=torch.float64)
    extra = None
    first_rows = None
    if psi is not None:
        p = psi.shape[-1]
        with stages("h_s"):  # the hyperprior's share of g_ep's first layer, for every position at once
            first = ep.layers[0]
            extra = first.matrix(slice(0, p)).mm(first.quantize_input(psi.reshape(h * w, p)), scale=1 << first.input_shift)
        first_rows = slice(p, None)
    tap_offsets = context.di * wp + context.dj
    steps = []  # per step: (rows, cols), padded positions, their taps, positions in y_hat
    for rows, cols in wavefront_steps(h, w, c):
        flat = (rows + c) * wp + cols + c
        steps.append(((torch.from_numpy(rows), torch.from_numpy(cols)), torch.from_numpy(flat), torch.from_numpy(flat[:, None] + tap_offsets[None, :]), torch.from_numpy(rows * w + cols)))
    # the same per-step arithmetic, fused in C where the kernels are built (steps.py)
    fast = fast_steps(state, context, extra, first_rows, planes, y_hat, max(len(s[2]) for s in steps)) if steps else None
    for where, flat, taps, here in steps:
        with stages("context steps"):
            if fast is not None:
                index, mu = fast.params(taps, here)
                plan = TablePlan(coder, index)
            else:
                feats = context(planes, taps)
                params = ep.linear(feats, extra.index_select(0, here) if extra is not None else None, first_rows)
                plan, mu = entropy_plan(state, coder, params, 1)
        with stages("y coding"):
            sym = io.symbols(plan, mu, where)
            if fast is not None:
                fast.store(sym, mu, here, flat)
            else:
                values = _dequantize(sym, mu)
                y_hat.index_copy_(0, here, values)
                context.store(planes, flat, values)
    return y_hat.view(h, w, m).permute(2, 0, 1).to(torch.int64).contiguous()


def hyper_features(state: CodingState, z_hat_int: Tensor, size: tuple[int, int]) -> Tensor:
    """psi = h_s(z_hat) in fixed point (int8 products), cropped to the latent size: (h, w, P)
    integer-valued float64."""
    return state.h_s.conv(z_hat_int.permute(1, 2, 0))[: size[0], : size[1]].contiguous()

