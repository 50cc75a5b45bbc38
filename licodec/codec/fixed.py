"""Integer-exact evaluation of the networks that feed the entropy coder.

The entropy parameters (mu, sigma) must be bit-identical in the encoder and the
decoder, whatever the machine, BLAS library or thread count. Floating-point
convolutions do not guarantee that (summation order varies), so h_s, the context
model g_cm and the entropy-parameter network g_ep are evaluated in fixed point:

* activations are integers a_int standing for a_int / 2**A (A = ``ACT_BITS``), clamped
  to |a_int| <= ``ACT_LIMIT`` by every layer;
* weights are int8: output channel o of a layer has its own shift S_o, the largest
  (at most ``SHIFT_MAX``) with max|w_o| * 2**S_o <= 127, and w_int = round(w * 2**S_o);
  biases b_int = round(b * 2**(A + S_o)). Eight bits per weight cost no measurable rate
  (benchmarks/bench_codec.py --precision measures it on real photos);
* a layer computes acc = sum(a_int * w_int) + b_int exactly and returns
  floor(acc / 2**S_o + 1/2), clamped;
* the context model g_cm first rounds its input to 2**-4 (``CONTEXT_INPUT_SHIFT``): a
  difference far below the quantization step of y, and it fits two int8 digits.

Products are int8 x int8 with int32 accumulation (``torch._int_mm``, exact by
construction, VNNI on x86): an activation is split into as few base-256 digits as its
values need (one to three, chosen per call from the actual range, so the digits never
change the result), each digit row is multiplied by the int8 weights, and the digit
products are recombined in int64 (:class:`IntMatrix`; convolutions go through im2col /
col2im, :meth:`FixedLayer.conv`). BLAS, threads and vector width change nothing.
Nonlinearities are integer maps (ReLU; LeakyReLU as floor(a * round(0.01 * 2**16) / 2**16)
for a < 0). :meth:`FixedLayer.__call__` evaluates the same arithmetic as float64
convolutions on integer values (every partial sum is an integer below 2**53, checked
when a layer is built): an independent implementation that the tests compare against.

The integer weights are an exact function of the float32 weights (scaling by a power of
two and rounding are exact in IEEE arithmetic), so they are derived at load time from
the weights in the model file; the shifts are stored with the coding tables.
"""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import MaskedConv2d

__all__ = ["ACT_BITS", "ACT_LIMIT", "CONTEXT_INPUT_SHIFT", "FixedLayer", "FixedNet", "IntMatrix", "channel_shifts", "offset_digits", "balanced_digits"]

ACT_BITS = 12
ACT_LIMIT = 2**23 - 2**16  # |activation| < 2032 in real units; fits three int8 digits
CONTEXT_INPUT_SHIFT = 8  # the context model reads y_hat on a 2**-4 grid: two int8 digits
WEIGHT_MAX = 127
SHIFT_MAX = 20
LEAKY_BITS = 16
LEAKY_INT = round(0.01 * 2**LEAKY_BITS)
_FLIP = {2: 0x80, 3: 0x8080}  # flips bit 7 of the bytes below the top digit
_LITTLE = sys.byteorder == "little"


def channel_shifts(weight: Tensor, out_dim: int = 0) -> Tensor:
    """Per output channel, the largest S <= SHIFT_MAX with max|w_o| * 2**S <= 127 (int64)."""
    w = weight.detach().double().abs().transpose(0, out_dim)
    m = w.reshape(w.shape[0], -1).amax(1) if w.numel() else torch.zeros(w.shape[0], dtype=torch.float64)
    s = torch.full(m.shape, SHIFT_MAX, dtype=torch.int64)
    nz = m > 0
    s[nz] = torch.floor(torch.log2(WEIGHT_MAX / m[nz])).clamp(max=SHIFT_MAX).to(torch.int64)
    # log2 may be off by one ulp at powers of two: settle the exact inequality
    s = s - (m * torch.pow(2.0, s.double()) > WEIGHT_MAX).to(torch.int64)
    s = s + ((s < SHIFT_MAX) & (m * torch.pow(2.0, s.double() + 1) <= WEIGHT_MAX)).to(torch.int64)
    if bool((s < 0).any()):
        raise ValueError(f"weights too large for fixed point (max |w| = {float(m.max()):g})")
    return s


def digits_needed(a: Tensor) -> int:
    """Offset digits for the values of ``a``: the least d with -2**(8d-1) <= a < 2**(8d-1)."""
    if a.numel() == 0:
        return 1
    lo, hi = (int(v) for v in torch.aminmax(a))
    for d in (1, 2, 3):
        if lo >= -(1 << (8 * d - 1)) and hi < (1 << (8 * d - 1)):
            return d
    raise ValueError("fixed-point value out of range")


def offset_digits(a: Tensor, d: int) -> Tensor:
    """int (n, K), -2**(8d-1) <= a < 2**(8d-1) -> int8 (d * n, K) digits s_j (row block j).

    a = sum_j s_j * 256**j + offset_constant(d), where s_j is the j-th byte of
    a + 2**(8d-1), minus 128. Adding 2**(8d-1) changes only byte d-1, so for j < d-1
    s_j is byte j of a with its top bit flipped, and s_(d-1) is byte d-1 of a read as
    signed: one xor on the two's complement bytes of a.
    """
    n, k = a.shape
    if d == 1:
        return a.to(torch.int8)
    v = a.to(torch.int32, memory_format=torch.contiguous_format, copy=True).bitwise_xor_(_FLIP[d])
    if _LITTLE:
        return v.view(torch.int8).view(n, k, 4)[:, :, :d].permute(2, 0, 1).reshape(d * n, k)
    return torch.cat([((v >> (8 * j)) & 255).to(torch.int8) for j in range(d)])


def offset_constant(d: int) -> int:
    """sum_j 128 * 256**j - 2**(8d - 1): what the digits of offset_digits leave out."""
    return 128 * (256**d - 1) // 255 - (1 << (8 * d - 1))


def balanced_digits(a: Tensor, d: int) -> Tensor:
    """int64 (...) with |a| <= 127 * (256**d - 1) / 255 -> int8 (d, ...), a = sum_j s_j * 256**j.

    Zero has zero digits, so zero padding of the digit planes pads with zeros."""
    out = torch.empty((d,) + tuple(a.shape), dtype=torch.int8)
    for j in range(d):
        s = ((a + 128) & 255) - 128
        out[j] = s
        a = (a - s) >> 8  # exact: a - s is a multiple of 256
    if bool((a != 0).any()):
        raise ValueError("fixed-point value out of range")
    return out


def balanced_count(a: Tensor) -> int:
    """Balanced digits needed for the values of ``a`` (1 to 3)."""
    m = int(a.abs().max()) if a.numel() else 0
    for d in (1, 2, 3):
        if m <= 127 * (256**d - 1) // 255:
            return d
    raise ValueError("fixed-point value out of range")


def combine(p: Tensor, d: int) -> Tensor:
    """Digit products (d * n, ...) int32, row block j for digit j -> sum_j 256**j * block_j, int64."""
    n = p.shape[0] // d
    acc = p[:n].to(torch.int64)
    for j in range(1, d):
        acc.add_(p[j * n : (j + 1) * n], alpha=256**j)
    return acc


class IntMatrix:
    """An exact int64 matrix product a @ W for int8 W (K, O).

    ``mm(a)`` takes int64 a (n, K) with |a| < 2**23 and returns the exact (n, O) int64
    result: one int8 product per digit of a, accumulated in int32 (|sum| <= K * 128 * 127
    < 2**31 for K < 2**17), recombined in int64.
    """

    def __init__(self, w: Tensor) -> None:
        w = w.to(torch.int64)
        if w.shape[0] >= 2**17:
            raise ValueError("too many inputs for int32 accumulation")
        if w.numel() and int(w.abs().max()) > WEIGHT_MAX:
            raise ValueError("int8 weights expected")
        self.weights = w.to(torch.int8).contiguous()
        self.shape = tuple(w.shape)
        self.colsum = w.sum(dim=0)
        self.offsets = {d: self.colsum * offset_constant(d) for d in (1, 2, 3)}

    def mm(self, a: Tensor, base: Tensor | None = None) -> Tensor:
        """base + a @ W, int64 (n, O); ``base`` (O,) or (n, O) int64 (an (n, O) one is updated in place)."""
        n = a.shape[0]
        if n == 0:
            return torch.zeros(0, self.shape[1], dtype=torch.int64)
        d = digits_needed(a)
        p = torch._int_mm(offset_digits(a, d), self.weights)
        if base is None:
            acc = torch.add(self.offsets[d], p[:n])
        elif base.dim() == 1:
            acc = torch.add(base + self.offsets[d], p[:n])
        else:
            acc = base.add_(p[:n])
            if d > 1:
                acc.add_(self.offsets[d])
        for j in range(1, d):
            acc.add_(p[j * n : (j + 1) * n], alpha=256**j)
        return acc


class FixedLayer:
    """One conv / transposed conv / 1x1 conv in fixed point (see module docstring)."""

    def __init__(self, module: nn.Conv2d | nn.ConvTranspose2d, shifts: Tensor, input_shift: int = 0) -> None:
        w = module.masked_weight() if isinstance(module, MaskedConv2d) else module.weight
        w = w.detach().double().cpu()
        self.input_shift = int(input_shift)
        self.transposed = isinstance(module, nn.ConvTranspose2d)
        self.stride, self.padding = module.stride, module.padding
        self.output_padding = getattr(module, "output_padding", (0, 0))
        out_dim = 1 if self.transposed else 0
        self.shifts = torch.as_tensor(shifts, dtype=torch.int64).reshape(-1)
        if self.shifts.numel() != w.shape[out_dim] or bool((self.shifts < 0).any()) or bool((self.shifts > SHIFT_MAX).any()):
            raise ValueError("one shift in [0, SHIFT_MAX] per output channel expected")
        view = [1] * w.dim()
        view[out_dim] = -1
        self.weight = torch.round(w * torch.pow(2.0, self.shifts.double()).reshape(view))  # integer-valued float64
        if self.weight.numel() and self.weight.abs().max() > WEIGHT_MAX:
            raise ValueError("fixed-point weight out of range: wrong shifts for these weights")
        b = module.bias.detach().double().cpu() if module.bias is not None else torch.zeros(w.shape[out_dim], dtype=torch.float64)
        bias = torch.round(b * torch.pow(2.0, (ACT_BITS + self.shifts).double()))
        fan_in = self.weight[0].numel() if not self.transposed else self.weight[:, 0].numel()
        bound = fan_in * ACT_LIMIT * WEIGHT_MAX + (float(bias.abs().max()) if bias.numel() else 0.0)
        if bound >= 2**53:
            raise ValueError(f"fixed-point accumulator could exceed 2**53 ({bound:.3g})")
        self.bias = bias
        self.bias_int = bias.to(torch.int64)
        self.bias_half = self.bias_int + ((1 << self.shifts) >> 1)  # bias plus the rounding half
        if self.transposed:  # col2im sums ceil(k / s)**2 int32 products per output
            taps = -(-self.weight.shape[2] // self.stride[0]) * -(-self.weight.shape[3] // self.stride[1])
            if self.weight.shape[0] * 128 * WEIGHT_MAX * taps >= 2**31:
                raise ValueError("too many inputs for int32 accumulation")
        self._ints: dict = {}

    # -- shared steps -------------------------------------------------------------------
    def finish(self, acc: Tensor) -> Tensor:
        """int64 accumulator (..., O) without bias -> activation (..., O): + bias, round, clamp."""
        return acc.add_(self.bias_half).bitwise_right_shift_(self.shifts).clamp_(-ACT_LIMIT, ACT_LIMIT)

    def quantize_input(self, a: Tensor) -> Tensor:
        """Clamp the input to the activation range and round it to this layer's grid (2**input_shift coarser)."""
        if a.dtype != torch.int64:
            a = torch.floor(a.clamp(-ACT_LIMIT, ACT_LIMIT) * 2.0**-self.input_shift + 0.5)
            return a
        a = a.clamp(-ACT_LIMIT, ACT_LIMIT)
        if not self.input_shift:
            return a
        return (a + (1 << (self.input_shift - 1))) >> self.input_shift

    # -- reference: float64 convolution on integers ----------------------------------------
    def __call__(self, a: Tensor) -> Tensor:
        """a (B, C, H, W) integer-valued float64 -> (B, C', H', W') float64 (the reference path)."""
        a = self.quantize_input(a)
        if self.transposed:
            acc = F.conv_transpose2d(a, self.weight, None, self.stride, self.padding, self.output_padding)
        else:
            acc = F.conv2d(a, self.weight, None, self.stride, self.padding)
        acc = acc * 2.0**self.input_shift + self.bias[None, :, None, None]
        scale = torch.pow(2.0, -self.shifts.double())[None, :, None, None]
        return torch.floor(acc * scale + 0.5).clamp_(-ACT_LIMIT, ACT_LIMIT)

    # -- int8 products -------------------------------------------------------------------
    def matrix(self, rows: slice | None = None) -> IntMatrix:
        """1x1 form (or a block of its input rows) as an :class:`IntMatrix` (in_features, out)."""
        key = ("linear", None if rows is None else (rows.start, rows.stop))
        if key not in self._ints:
            w = self.weight.reshape(self.weight.shape[0], -1).t()
            self._ints[key] = IntMatrix(w if rows is None else w[rows])
        return self._ints[key]

    def linear(self, a: Tensor, extra: Tensor | None = None, rows: slice | None = None) -> Tensor:
        """a (n, in_features) int64 -> (n, out) int64; ``extra`` (n, out) joins the accumulator
        (and is consumed: updated in place).

        ``rows`` selects the block of input features that ``a`` holds (the rest of the
        sum arrives in ``extra``, e.g. a precomputed hyperprior part).
        """
        mat, a = self.matrix(rows), self.quantize_input(a)
        if self.input_shift:
            acc = mat.mm(a).mul_(1 << self.input_shift).add_(self.bias_half)
            acc = acc if extra is None else acc.add_(extra)
        else:
            acc = mat.mm(a, self.bias_half if extra is None else extra.add_(self.bias_half))
        return acc.bitwise_right_shift_(self.shifts).clamp_(-ACT_LIMIT, ACT_LIMIT)

    def conv(self, a: Tensor) -> Tensor:
        """a (H, W, C) int64 -> (H', W', C') int64: the same values as ``__call__``, in int8 products."""
        a = self.quantize_input(a)
        d = balanced_count(a)
        dig = balanced_digits(a, d)  # (d, H, W, C)
        if self.transposed:
            acc = self._conv_transposed(dig)
        else:
            acc = self._conv(dig)
        if self.input_shift:
            acc = acc.mul_(1 << self.input_shift)
        return self.finish(acc)

    def _conv(self, dig: Tensor) -> Tensor:
        (kh, kw), (sh, sw), (ph, pw) = self.weight.shape[2:], self.stride, self.padding
        d, h, w, c = dig.shape
        key = "conv"
        if key not in self._ints:
            self._ints[key] = IntMatrix(self.weight.permute(2, 3, 1, 0).reshape(kh * kw * c, -1))  # rows (ky, kx, C)
        mat = self._ints[key]
        padded = F.pad(dig, (0, 0, pw, pw, ph, ph)) if ph or pw else dig  # zero digits: value 0
        cols = padded.unfold(1, kh, sh).unfold(2, kw, sw)  # (d, H', W', C, ky, kx)
        ho, wo = cols.shape[1], cols.shape[2]
        cols = cols.permute(0, 1, 2, 4, 5, 3).reshape(d * ho * wo, kh * kw * c)
        return combine(torch._int_mm(cols, mat.weights), d).view(ho, wo, -1)

    def _conv_transposed(self, dig: Tensor) -> Tensor:
        (kh, kw), (sh, sw), (ph, pw) = self.weight.shape[2:], self.stride, self.padding
        oph, opw = self.output_padding
        d, h, w, c = dig.shape
        key = "convT"
        if key not in self._ints:
            self._ints[key] = IntMatrix(self.weight.permute(0, 2, 3, 1).reshape(c, -1))  # columns (ky, kx, C')
        mat = self._ints[key]
        o = self.weight.shape[1]
        p = torch._int_mm(dig.reshape(d * h * w, c), mat.weights).view(d, h, w, kh, kw, o)
        # col2im in int32 (bounded in __init__)
        full = torch.zeros(d, (h - 1) * sh + kh, (w - 1) * sw + kw, o, dtype=torch.int32)
        for ky in range(kh):
            for kx in range(kw):
                full[:, ky : ky + (h - 1) * sh + 1 : sh, kx : kx + (w - 1) * sw + 1 : sw] += p[:, :, :, ky, kx]
        ho, wo = (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw
        out = full[:, ph : ph + ho, pw : pw + wo]
        if out.shape[1] < ho or out.shape[2] < wo:  # output padding beyond the last tap: zeros
            out = F.pad(out, (0, 0, 0, wo - out.shape[2], 0, ho - out.shape[1]))
        return combine(out.reshape(d * ho, wo, o), d)


def _act(module: nn.Module):
    if isinstance(module, nn.ReLU):
        return lambda a: a.clamp_(min=0) if a.dtype == torch.int64 else torch.clamp(a, min=0)
    if isinstance(module, nn.LeakyReLU):
        if abs(module.negative_slope - 0.01) > 1e-12:
            raise ValueError("only LeakyReLU(0.01) has a fixed-point form")
        return _leaky
    if isinstance(module, nn.Identity):
        return lambda a: a
    raise TypeError(f"no fixed-point form for {type(module).__name__}")


def _leaky(a: Tensor) -> Tensor:
    """floor(a * LEAKY_INT / 2**16) for a < 0, a otherwise: exact in int64, and in float64
    (a dyadic factor of 10 bits)."""
    if a.dtype == torch.int64:
        # for a < 0, floor(a * LEAKY_INT / 2**16) > a; for a >= 0 it is <= a
        return torch.maximum(a, (a * LEAKY_INT).bitwise_right_shift_(LEAKY_BITS), out=a)
    return torch.where(a >= 0, a, torch.floor(a * (LEAKY_INT * 2.0**-LEAKY_BITS)))


class FixedNet:
    """A Sequential of convs and (Leaky)ReLUs in fixed point; ``shifts`` one tensor per conv.

    Without ``shifts`` they are chosen from the weights (:func:`channel_shifts`); a model
    file stores them (coding tables), and a coder always uses the stored ones.
    """

    def __init__(self, seq: nn.Module, shifts: list[Tensor] | None = None, input_shift: int = 0) -> None:
        mods = list(seq) if isinstance(seq, nn.Sequential) else [seq]
        convs = [m for m in mods if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        if shifts is None:
            shifts = [channel_shifts(m.masked_weight() if isinstance(m, MaskedConv2d) else m.weight, 1 if isinstance(m, nn.ConvTranspose2d) else 0) for m in convs]
        if len(shifts) != len(convs):
            raise ValueError("one shift vector per conv layer expected")
        self.shifts = [torch.as_tensor(s, dtype=torch.int64) for s in shifts]
        self.ops: list = []
        it = iter(self.shifts)
        for m in mods:
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                self.ops.append(FixedLayer(m, next(it), input_shift if not self.ops else 0))
            else:
                self.ops.append(_act(m))
        self.layers = [op for op in self.ops if isinstance(op, FixedLayer)]

    def __call__(self, a: Tensor) -> Tensor:
        """Reference path: a (B, C, H, W) integer-valued float64 -> float64."""
        for op in self.ops:
            a = op(a)
        return a

    def conv(self, a: Tensor) -> Tensor:
        """a (H, W, C) int64 -> (H', W', C') int64, int8 products (equal to ``__call__``)."""
        for op in self.ops:
            a = op.conv(a) if isinstance(op, FixedLayer) else op(a)
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
