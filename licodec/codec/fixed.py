"""Integer-exact evaluation of the networks that feed the entropy coder.

The entropy parameters (mu, sigma) must be bit-identical in the encoder and the
decoder, whatever the machine, BLAS library or thread count. Floating-point
convolutions do not guarantee that (summation order varies), so h_s, the context
model g_cm and the entropy-parameter network g_ep are evaluated in fixed point:

* activations are integers a_int standing for a_int / 2**A (A = ``ACT_BITS``),
* each layer's weights are integers w_int = round(w * 2**S) with a per-layer shift S
  chosen so that |w_int| < 2**15, biases b_int = round(b * 2**(A + S)),
* a layer computes acc = sum(a_int * w_int) + b_int exactly and returns
  floor(acc / 2**S + 1/2), clamped to |a_int| <= ``ACT_LIMIT``;
* the context model g_cm first rounds its input to 2**-4 (``CONTEXT_INPUT_SHIFT``): a
  difference far below the quantization step of y, and half the work in its product.

Convolutions (h_s, once per image) are carried out in float64 on integer values: every
partial sum is bounded by K * 2**(A+12) * 2**15 < 2**53 (checked when a layer is
built), so each one is an exact integer and the result cannot depend on the order of
summation. The per-step matrix products of the autoregressive loop use int8 matrix
multiplication with int32 accumulation (``torch._int_mm``, exact by construction): weights
are split into two balanced base-256 digits and activations into four, and the digit
products are recombined in int64 (:class:`IntMatrix`). Either way BLAS, threads and
vector width change nothing. Nonlinearities are integer maps (ReLU; LeakyReLU as
floor(a * round(0.01 * 2**16) / 2**16) for a < 0).

The integer weights are an exact function of the float32 weights (scaling by a power of
two and rounding are exact in IEEE arithmetic), so they are derived at load time from
the weights in the model file; the shifts are stored with the coding tables.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import MaskedConv2d

__all__ = ["ACT_BITS", "ACT_LIMIT", "FixedLayer", "FixedNet", "IntMatrix", "choose_shift"]

ACT_BITS = 12
ACT_LIMIT = 2**23 - 2**16  # |activation| < 2032 in real units; fits three balanced int8 digits
CONTEXT_INPUT_SHIFT = 8  # the context model reads y_hat on a 2**-4 grid: two int8 digits
WEIGHT_LIMIT = 2**15 - 128  # two balanced int8 digits hold |w| < 2**15 - 128
LEAKY_BITS = 16
LEAKY_INT = round(0.01 * 2**LEAKY_BITS)


def choose_shift(weight: Tensor) -> int:
    """Largest shift S <= 24 with max|w| * 2**S < WEIGHT_LIMIT."""
    m = float(weight.detach().abs().max()) if weight.numel() else 0.0
    if m == 0.0:
        return 24
    s = int(min(24, math.floor(math.log2((WEIGHT_LIMIT - 1) / m))))
    if s < 0:
        raise ValueError(f"weights too large for fixed point (max |w| = {m:g})")
    return s


def _digits(x: Tensor, count: int) -> Tensor:
    """int64 (..., K) -> int8 (count, ..., K) balanced base-256 digits: x = sum_j d_j * 256**j."""
    out = torch.empty((count,) + tuple(x.shape), dtype=torch.int8)
    for j in range(count):
        d = ((x + 128) & 255) - 128
        out[j] = d
        x = (x - d) >> 8  # exact: x - d is a multiple of 256
    if bool((x != 0).any()):
        raise ValueError("fixed-point value out of range")
    return out


def _offset_digits(x: Tensor, count: int) -> Tensor:
    """int (n, K) -> int8 (count * n, K) digits s_j with x = sum_j s_j * 256**j + offset_constant(count).

    The little-endian bytes of x + 2**(8 count - 1) (non-negative), each minus 128 (an xor
    with 0x80 read as int8). The caller guarantees -2**(8 count - 1) <= x < 2**(8 count - 1)
    (activations are clamped by every layer, the context input by quantize_input).
    """
    n, k = x.shape
    v = (x.to(torch.int32) + (1 << (8 * count - 1))).contiguous()
    b = v.view(torch.uint8).view(n, k, 4)[:, :, :count].permute(2, 0, 1)
    return (b ^ 0x80).view(torch.int8).reshape(count * n, k)


def offset_constant(count: int) -> int:
    """sum_j 128 * 256**j - 2**(8 count - 1): what the digits of _offset_digits leave out."""
    return 128 * (256**count - 1) // 255 - (1 << (8 * count - 1))


class IntMatrix:
    """An exact int64 matrix product a @ W for integer W (K, O), |W| < 2**15 - 128.

    ``mm(a, digits)`` takes a (n, K) whose values fit ``digits`` balanced int8 digits and
    returns the exact (n, O) int64 result: two int8 digits of W times the digits of a, each
    product accumulated in int32 (|sum| <= K * 128 * 128 < 2**31 for K < 2**17),
    recombined in int64.
    """

    def __init__(self, w: Tensor) -> None:
        w = w.to(torch.int64)
        if w.shape[0] >= 2**17:
            raise ValueError("too many inputs for int32 accumulation")
        lo_hi = _digits(w, 2)
        self.weights = torch.cat([lo_hi[0], lo_hi[1]], dim=1).contiguous()  # (K, 2 O): low digits | high digits
        self.shape = tuple(w.shape)
        self.offsets = {d: w.sum(dim=0) * offset_constant(d) for d in (1, 2, 3)}  # what the digits leave out
        self.powers = {d: torch.tensor([256**j for j in range(d)], dtype=torch.int64).reshape(d, 1, 1) for d in (1, 2, 3)}

    def mm(self, a: Tensor, digits: int = 3) -> Tensor:
        n, k = a.shape
        if n == 0:
            return torch.zeros(0, self.shape[1], dtype=torch.int64)
        if digits not in self.powers:
            raise ValueError("one to three activation digits")
        both = torch._int_mm(_offset_digits(a, digits), self.weights).view(digits, n, 2, self.shape[1]).to(torch.int64)
        part = both[:, :, 0] + both[:, :, 1] * 256  # (digits, n, O): low and high weight digits
        return (part * self.powers[digits]).sum(0) + self.offsets[digits]


def digits_for(limit: int) -> int:
    """Balanced int8 digits needed for |values| <= limit."""
    d = 1
    while 127 * (256**d - 1) // 255 < limit:
        d += 1
    return d


class FixedLayer:
    """One conv / transposed conv / 1x1 conv in fixed point (see module docstring)."""

    def __init__(self, module: nn.Conv2d | nn.ConvTranspose2d, shift: int, input_shift: int = 0) -> None:
        w = module.masked_weight() if isinstance(module, MaskedConv2d) else module.weight
        self.input_shift = int(input_shift)
        self.input_digits = digits_for(ACT_LIMIT >> self.input_shift)
        self.transposed = isinstance(module, nn.ConvTranspose2d)
        self.stride, self.padding = module.stride, module.padding
        self.output_padding = getattr(module, "output_padding", (0, 0))
        self.shift = int(shift)
        self.weight = torch.round(w.detach().double().cpu() * 2.0**self.shift)
        if self.weight.abs().max() >= 2**16:
            raise ValueError("fixed-point weight out of range: wrong shift for these weights")
        b = module.bias.detach().double().cpu() if module.bias is not None else torch.zeros(self.weight.shape[1 if self.transposed else 0], dtype=torch.float64)
        self.bias = torch.round(b * 2.0 ** (ACT_BITS + self.shift))
        fan_in = self.weight[0].numel() if not self.transposed else self.weight[:, 0].numel()
        bound = fan_in * ACT_LIMIT * float(self.weight.abs().max()) + (float(self.bias.abs().max()) if self.bias.numel() else 0.0)
        if bound >= 2**53:
            raise ValueError(f"fixed-point accumulator could exceed 2**53 ({bound:.3g})")
        self.bias_int = self.bias.to(torch.int64)
        self._matrix: Tensor | None = None
        self._int: dict = {}

    def _finish(self, acc: Tensor) -> Tensor:
        """Accumulator (scale 2**(A+S)) -> activation (scale 2**A): round half up, clamp; float64 or int64."""
        if acc.dtype == torch.int64:
            return ((acc + ((1 << self.shift) >> 1)) >> self.shift).clamp_(-ACT_LIMIT, ACT_LIMIT)
        return torch.floor(acc * 2.0**-self.shift + 0.5).clamp_(-ACT_LIMIT, ACT_LIMIT)

    def quantize_input(self, a: Tensor) -> Tensor:
        """Round the input to this layer's grid (2**input_shift coarser than activations), clamped."""
        if not self.input_shift:
            return a
        lim = ACT_LIMIT >> self.input_shift
        if a.dtype == torch.int64:
            return ((a + (1 << (self.input_shift - 1))) >> self.input_shift).clamp_(-lim, lim)
        return torch.floor((a + 2.0 ** (self.input_shift - 1)) * 2.0**-self.input_shift).clamp_(-lim, lim)

    def __call__(self, a: Tensor) -> Tensor:
        """a (B, C, H, W) integer-valued float64 -> (B, C', H', W')."""
        a = self.quantize_input(a)
        if self.transposed:
            acc = F.conv_transpose2d(a, self.weight, None, self.stride, self.padding, self.output_padding)
        else:
            acc = F.conv2d(a, self.weight, None, self.stride, self.padding)
        acc = acc * 2.0**self.input_shift + self.bias[None, :, None, None]
        return self._finish(acc)

    def matrix(self) -> Tensor:
        """1x1 (or gathered-tap) form: weight as (in_features, out_features)."""
        if self._matrix is None:
            w = self.weight
            self._matrix = w.reshape(w.shape[0], -1).t().contiguous()
        return self._matrix

    def int_matrix(self, rows: slice | None = None) -> IntMatrix:
        """The (rows of the) weight matrix as an :class:`IntMatrix`, built once per block."""
        key = None if rows is None else (rows.start, rows.stop)
        if key not in self._int:
            w = self.matrix() if rows is None else self.matrix()[rows]
            self._int[key] = IntMatrix(w)
        return self._int[key]

    def linear(self, a: Tensor, extra: Tensor | None = None, rows: slice | None = None) -> Tensor:
        """a (n, in_features) integers -> (n, out) int64; ``extra`` (n, out) joins the accumulator.

        ``rows`` selects the block of input features that ``a`` holds (the rest of the
        sum arrives in ``extra``, e.g. a precomputed hyperprior part).
        """
        acc = self.int_matrix(rows).mm(self.quantize_input(a), self.input_digits) * (1 << self.input_shift) + self.bias_int
        if extra is not None:
            acc = acc + extra
        return self._finish(acc)


def _act(module: nn.Module):
    if isinstance(module, nn.ReLU):
        return lambda a: torch.clamp(a, min=0)
    if isinstance(module, nn.LeakyReLU):
        if abs(module.negative_slope - 0.01) > 1e-12:
            raise ValueError("only LeakyReLU(0.01) has a fixed-point form")
        # floor(a * LEAKY_INT / 2**16): exact in int64, and in float64 (a dyadic factor of 10 bits).
        return lambda a: torch.where(a >= 0, a, (a * LEAKY_INT) >> LEAKY_BITS if a.dtype == torch.int64 else torch.floor(a * (LEAKY_INT * 2.0**-LEAKY_BITS)))
    if isinstance(module, nn.Identity):
        return lambda a: a
    raise TypeError(f"no fixed-point form for {type(module).__name__}")


class FixedNet:
    """A Sequential of convs and (Leaky)ReLUs in fixed point; ``shifts`` one per conv."""

    def __init__(self, seq: nn.Module, shifts: list[int] | None = None, input_shift: int = 0) -> None:
        mods = list(seq) if isinstance(seq, nn.Sequential) else [seq]
        convs = [m for m in mods if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        if shifts is None:
            shifts = [choose_shift(m.masked_weight() if isinstance(m, MaskedConv2d) else m.weight) for m in convs]
        if len(shifts) != len(convs):
            raise ValueError("one shift per conv layer expected")
        self.shifts = [int(s) for s in shifts]
        self.ops: list = []
        it = iter(self.shifts)
        for m in mods:
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                self.ops.append(FixedLayer(m, next(it), input_shift if not self.ops else 0))
            else:
                self.ops.append(_act(m))
        self.layers = [op for op in self.ops if isinstance(op, FixedLayer)]

    def __call__(self, a: Tensor) -> Tensor:
        for op in self.ops:
            a = op(a)
        return a

    def linear(self, a: Tensor, first_extra: Tensor | None = None, first_rows: slice | None = None) -> Tensor:
        """Apply as a stack of 1x1 layers to rows a (n, C); ``first_extra`` joins the first
        accumulator and ``first_rows`` picks the first layer's input block (see FixedLayer.linear)."""
        first = True
        for op in self.ops:
            if isinstance(op, FixedLayer):
                a = op.linear(a, first_extra, first_rows) if first else op.linear(a)
                first = False
            else:
                a = op(a)
        return a
