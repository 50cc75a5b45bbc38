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
  against the earlier 16 (measured on real photos, docs/speed.md);
* a layer computes acc = sum(a_int * w_int) + b_int exactly and returns
  floor(acc / 2**S_o + 1/2), clamped;
* the context model g_cm first rounds its input to 2**-4 (``CONTEXT_INPUT_SHIFT``): a
  difference far below the quantization step of y, and it fits two int8 digits; the
  layers of g_ep round theirs to 2**-4 too (``EP_INPUT_SHIFT``), below what 8-bit weights
  resolve: activations under 8 then fit one digit (measured on real photos: no change in
  rate or PSNR beyond noise, docs/speed.md).

Products are int8 x int8 with exact integer accumulation (``torch._int_mm``, or float32
GEMM on blocks whose sums stay below 2**24 where that is faster: :func:`int_mm`), exact by
construction, VNNI on x86): an activation is split into as few balanced base-256 digits
as its values need (one to three, chosen per call from the actual range, so the count
never changes the result), each digit row is multiplied by the int8 weights, and the
digit products are recombined in float64, where every partial sum is an integer below
2**53 and hence exact (:func:`digit_rows`, :func:`combine`; convolutions go through
im2col, transposed ones through a sub-pixel form, :meth:`FixedLayer.conv`). Activations travel between layers as
integer-valued float64 tensors: adding, scaling by powers of two and floor are exact on
them, and faster than int64 here. BLAS, threads and vector width change nothing.
Nonlinearities are integer maps (ReLU; LeakyReLU as floor(a * round(0.01 * 2**16) / 2**16)
for a < 0). :meth:`FixedLayer.__call__` evaluates the same arithmetic as float64
convolutions on integer values (every partial sum is an integer below 2**53, checked
when a layer is built): an independent implementation that the tests compare against.

The integer weights are an exact function of the float32 weights (scaling by a power of
two and rounding are exact in IEEE arithmetic), so they are derived at load time from
the weights in the model file; the shifts are stored with the coding tables.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import MaskedConv2d

__all__ = ["ACT_BITS", "ACT_LIMIT", "CONTEXT_INPUT_SHIFT", "EP_INPUT_SHIFT", "FixedLayer", "FixedNet", "IntMatrix", "channel_shifts", "digit_rows", "combine", "int_mm", "int_mm_path"]

ACT_BITS = 12
ACT_LIMIT = 2**23 - 2**16  # |activation| < 2032 in real units; fits three int8 digits
CONTEXT_INPUT_SHIFT = 8  # the context model reads y_hat on a 2**-4 grid: two int8 digits
EP_INPUT_SHIFT = 8  # g_ep's layers read their inputs on a 2**-4 grid
WEIGHT_MAX = 127
SHIFT_MAX = 20
LEAKY_BITS = 16
LEAKY_INT = round(0.01 * 2**LEAKY_BITS)
ONE = float(2**ACT_BITS)  # 1.0 on the activation grid
BALANCED = {d: 127 * (256**d - 1) // 255 for d in (1, 2, 3)}  # largest |a| with d balanced digits


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


def int_mm(a: Tensor, w: Tensor) -> Tensor:
    """int8 (n, K) @ int8 (K, O) -> int32 (n, O), exact, by the fastest of three exact paths
    on this CPU (:func:`int_mm_path`): ``torch._int_mm`` (int32 accumulation; fast where
    oneDNN has int8 instructions, AVX512-VNNI/AMX), float32 GEMM on blocks of at most
    ``FLOAT_BLOCK`` columns of K, whose sums of int8 products are integers below 2**24,
    hence exact in any order (``_int_mm`` without VNNI was 4-50x slower than it on an AVX2
    EPYC), or the compiled kernel (steps.c_mm: int16 products summed in int32 with AVX2,
    2.5-5x faster than the float blocks on that EPYC for a wavefront step's few rows). All
    give the same integers: files decode identically whichever path each machine takes.

    ``_int_mm`` trusts the strides of a "contiguous" operand, and PyTorch calls a tensor
    contiguous whatever the strides of its size-1 dimensions: such views (from reshape or
    a dtype conversion) are copied to plain row-major layout first.
    """
    return IntMatrix(w).product(a)


FLOAT_BLOCK = 1024
"""128 * 127 * 1024 < 2**24: a float32 sum of this many int8 products is an exact integer."""


def _float_mm(a: Tensor, w: Tensor) -> Tensor:
    """int8 a (n, K) @ w (K, O), int8 or float32 holding int8 values -> int32, exact."""
    k = a.shape[1]
    out = None
    for j in range(0, max(k, 1), FLOAT_BLOCK):
        p = torch.mm(a[:, j : j + FLOAT_BLOCK].float(), w[j : j + FLOAT_BLOCK].float()).to(torch.int32)
        out = p if out is None else out.add_(p)
    return out


_PATH: list[str] = []
_PATH_LOCK = threading.Lock()


def int_mm_path() -> str:
    """"int" (``torch._int_mm``), "float" (exact float32 blocks) or "c" (the compiled
    kernel ``lc_mm``: int16 products summed in int32, AVX2 where the CPU has it; only where
    the kernels are built): ``LICODEC_INT_MM`` if set (and available), else the fastest on
    typical products of the coding loop, timed once per process."""
    if _PATH:
        return _PATH[0]
    with _PATH_LOCK:  # timed once, by one thread
        if not _PATH:
            _PATH.append(_choose_path())
    return _PATH[0]


def _choose_path() -> str:
    import os
    import time

    from .steps import c_mm, c_weights, kernels

    lib = kernels()
    forced = os.environ.get("LICODEC_INT_MM")
    if forced in ("int", "float") or (forced == "c" and lib is not None):
        return forced
    g = torch.Generator().manual_seed(0)
    # a wavefront step's context product (two digits of ~11 positions) and an h_s band's
    a_w = [(torch.randint(-128, 128, (n, k), dtype=torch.int8, generator=g), torch.randint(-127, 128, (k, o), dtype=torch.int8, generator=g))
           for n, k, o in ((22, 2304, 384), (256, 1152, 384))]
    paths = {}
    if lib is not None:
        paths["c"] = lambda a, w, wf, wc: c_mm(lib, a, wc)
    paths["float"] = lambda a, w, wf, wc: _float_mm(a, wf)
    paths["int"] = lambda a, w, wf, wc: torch._int_mm(a, w)
    best: dict[str, float] = {}
    fastest = [float("inf")] * len(a_w)  # each product's best time so far
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the coding loop runs them (model_codec._coding_threads)
    try:
        for name, fn in paths.items():
            total = 0.0
            for i, (a, w) in enumerate(a_w):
                args = (a, w, w.float(), c_weights(w))  # the weights as IntMatrix keeps them
                fn(*args)

                def timed() -> float:
                    t0 = time.perf_counter()
                    fn(*args)
                    return time.perf_counter() - t0

                times = [timed()]
                if times[0] > 3 * fastest[i]:  # clearly slower (torch._int_mm without VNNI or AMX: ~60x
                    total = float("inf")  # the C kernel); timing it fully cost ~0.8 s a process
                    break
                times += [timed() for _ in range(4)]
                fastest[i] = min(fastest[i], min(times))
                total += min(times)
            best[name] = total
    finally:
        torch.set_num_threads(threads)
    return min(best, key=best.get)


_BANDS = threading.local()
_POOL: tuple[ThreadPoolExecutor, int] | None = None  # (pool, its threads)
_POOL_LOCK = threading.Lock()


@contextmanager
def band_threads(n: int) -> Iterator[None]:
    """Within the block (this thread), :meth:`FixedLayer.conv` (h_s) computes its bands of
    output rows on up to ``n`` threads: independent integer products written to disjoint
    rows, so the values are the same with any ``n``."""
    before = getattr(_BANDS, "n", 1)
    _BANDS.n = max(1, n)
    try:
        yield
    finally:
        _BANDS.n = before


def band_thread_count() -> int:
    """The threads :func:`band_threads` allows in this thread (1 outside it)."""
    return getattr(_BANDS, "n", 1)


def in_threads(fn: Callable[[int], None], items: range) -> None:
    """``fn(i)`` for each item, on the threads :func:`band_threads` allows (the C product
    and PyTorch's operations release the GIL), in the caller's grad and inference modes."""
    global _POOL
    n = min(band_thread_count(), len(items))
    if n <= 1:
        for i in items:
            fn(i)
        return
    inference = torch.is_inference_mode_enabled()

    def run(i: int) -> None:
        with torch.inference_mode(inference), torch.no_grad():
            fn(i)

    with _POOL_LOCK:
        if _POOL is None or _POOL[1] < n:
            _POOL = (ThreadPoolExecutor(max_workers=n, thread_name_prefix="licodec-bands"), n)
        pool = _POOL[0]
    for f in [pool.submit(run, i) for i in items]:
        f.result()


def combine(p: Tensor, d: int, base: Tensor | None = None, scale: int = 1) -> Tensor:
    """Digit products (d * n, ...) int32, row block j for digit j ->
    base + scale * sum_j 256**j * block_j as float64 (exact below 2**53; an (n, ...) base is updated in place)."""
    n = p.shape[0] // d
    p = p.to(torch.float64)
    if base is None:
        acc = p[:n].mul_(scale) if scale != 1 else p[:n]
    elif base.dim() == p.dim():
        acc = base.add_(p[:n], alpha=scale)
    else:
        acc = torch.add(base, p[:n], alpha=scale)
    for j in range(1, d):
        acc.add_(p[j * n : (j + 1) * n], alpha=scale * 256**j)
    return acc


def digit_rows(a: Tensor) -> tuple[Tensor, int]:
    """Integer-valued a (n, K), float64 or int64, |a| < 2**23 -> (int8 (d * n, K), d).

    Row block j holds the balanced base-256 digit j of a (a = sum_j 256**j * digit_j), with
    as few digits d as the values of a need (so the count never changes a product).
    """
    n = a.shape[0]
    m = 0.0
    if a.numel():
        lo, hi = torch.aminmax(a)
        m = max(-float(lo), float(hi))
    d = next((d for d in (1, 2, 3) if m <= BALANCED[d]), 0)
    if not d:
        raise ValueError("fixed-point value out of range")
    if d == 1:
        return a.to(torch.int8), 1
    out = torch.empty((d * n,) + tuple(a.shape[1:]), dtype=torch.int8)
    rest = a.to(torch.float64)
    for j in range(d - 1):
        hi = torch.add(rest, 128).mul_(1 / 256).floor_()  # exact: dyadic scaling of integers (faster than a floor division)
        out[j * n : (j + 1) * n].copy_(torch.add(rest, hi, alpha=-256))  # in [-128, 127]
        rest = hi
    out[(d - 1) * n :].copy_(rest)
    return out, d


class IntMatrix:
    """An exact matrix product a @ W for int8 W (K, O), K < 2**15.

    ``mm(a)`` takes integer-valued a (n, K), |a| < 2**23, and returns the exact (n, O)
    result as integer-valued float64: one int8 product per digit of a (:func:`digit_rows`),
    accumulated in int32 (|sum| <= K * 128 * 127 < 2**31), recombined in float64, where
    every partial sum is an integer below K * 2**38 < 2**53 and hence exact.
    """

    def __init__(self, w: Tensor) -> None:
        w = w.to(torch.int64)
        if w.shape[0] >= 2**15:
            raise ValueError("too many inputs for exact int32 / float64 accumulation")
        if w.numel() and int(w.abs().max()) > WEIGHT_MAX:
            raise ValueError("int8 weights expected")
        self.weights = w.to(torch.int8).contiguous()
        self.shape = tuple(w.shape)
        self._float: Tensor | None = None  # the weights as float32, made once for the float path
        self._c: Tensor | None = None  # transposed int16, made once for the c path

    def product(self, rows: Tensor) -> Tensor:
        """int8 rows (n, K) @ W -> int32 (n, O), exact (:func:`int_mm`); on the float and c
        paths the weights are converted once (float32; transposed int16), not at every product."""
        path = int_mm_path()
        if path == "int":
            if rows.stride() != (rows.shape[1], 1):  # see int_mm
                rows = torch.empty(rows.shape, dtype=rows.dtype).copy_(rows)
            return torch._int_mm(rows, self.weights)
        if path == "c":
            from .steps import c_mm, c_weights, kernels

            lib = kernels()
            if lib is not None:  # else (LICODEC_KERNELS=0 since the choice) the float path: the same integers
                if self._c is None:
                    self._c = c_weights(self.weights)
                return c_mm(lib, rows, self._c)
        if self._float is None:
            self._float = self.weights.float()
        return _float_mm(rows, self._float)

    def mm(self, a: Tensor, base: Tensor | None = None, scale: int = 1) -> Tensor:
        """base + scale * (a @ W), float64 (n, O); ``base`` (O,) or (n, O) float64 (an (n, O)
        one is updated in place)."""
        if a.shape[0] == 0:
            return torch.zeros(0, self.shape[1], dtype=torch.float64)
        rows, d = digit_rows(a)
        return combine(self.product(rows), d, base, scale)


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
        self.scale = torch.pow(2.0, -self.shifts.double())  # 2**-S_o
        self.bias_half = bias + ((1 << self.shifts) >> 1).double()  # bias plus the rounding half
        fan = self.weight.shape[0] if self.transposed else self.weight[0].numel()
        if fan * 9 * 128 * WEIGHT_MAX >= 2**31:  # im2col rows: at most fan_in * (window / kernel) <= 9 fan_in terms
            raise ValueError("too many inputs for int32 accumulation")
        self._ints: dict = {}

    # -- shared steps -------------------------------------------------------------------
    def finish(self, acc: Tensor) -> Tensor:
        """Accumulator (..., O) with bias and rounding half added -> activation: floor(acc / 2**S_o), clamped.

        float64 holding integers: scaling by 2**-S_o and floor are exact."""
        return acc.mul_(self.scale).floor_().clamp_(-ACT_LIMIT, ACT_LIMIT)

    def quantize_input(self, a: Tensor) -> Tensor:
        """Clamp the input to the activation range and round it to this layer's grid
        (2**input_shift coarser): integer-valued float64."""
        a = a.to(torch.float64).clamp(-ACT_LIMIT, ACT_LIMIT)
        if not self.input_shift:
            return a
        return a.add_(2.0 ** (self.input_shift - 1)).mul_(2.0**-self.input_shift).floor_()

    # -- reference: float64 convolution on integers ----------------------------------------
    def __call__(self, a: Tensor) -> Tensor:
        """a (B, C, H, W) integer-valued float64 -> (B, C', H', W') float64 (the reference path)."""
        a = self.quantize_input(a)
        if self.transposed:
            acc = F.conv_transpose2d(a, self.weight, None, self.stride, self.padding, self.output_padding)
        else:
            acc = F.conv2d(a, self.weight, None, self.stride, self.padding)
        acc = acc * 2.0**self.input_shift + self.bias[None, :, None, None]
        return torch.floor(acc * self.scale[None, :, None, None] + 0.5).clamp_(-ACT_LIMIT, ACT_LIMIT)

    # -- int8 products -------------------------------------------------------------------
    def matrix(self, rows: slice | None = None) -> IntMatrix:
        """1x1 form (or a block of its input rows) as an :class:`IntMatrix` (in_features, out)."""
        key = ("linear", None if rows is None else (rows.start, rows.stop))
        if key not in self._ints:
            w = self.weight.reshape(self.weight.shape[0], -1).t()
            self._ints[key] = IntMatrix(w if rows is None else w[rows])
        return self._ints[key]

    def linear(self, a: Tensor, extra: Tensor | None = None, rows: slice | None = None) -> Tensor:
        """a (n, in_features) integers -> (n, out) integer-valued float64; ``extra`` (n, out)
        float64 joins the accumulator (and is consumed: updated in place).

        ``rows`` selects the block of input features that ``a`` holds (the rest of the
        sum arrives in ``extra``, e.g. a precomputed hyperprior part).
        """
        base = self.bias_half if extra is None else extra.add_(self.bias_half)
        return self.finish(self.matrix(rows).mm(self.quantize_input(a), base, 1 << self.input_shift))

    BAND_BYTES = 1 << 21  # im2col bytes per band of output rows (stays in cache)

    def conv(self, a: Tensor) -> Tensor:
        """a (H, W, C) integers -> (H', W', C') integer-valued float64: the same values as
        ``__call__``, with int8 products.

        The digit count is chosen once for the whole input; the products then run over
        bands of output rows (im2col of ~``BAND_BYTES``), so that the im2col matrix, the
        int32 products and their float64 sums stay in cache: exact integer arithmetic,
        so the bands change no value, and the cost stays linear in the image area.
        """
        a = self.quantize_input(a)
        digits, d = digit_rows(a)
        digits = digits.view((d,) + tuple(a.shape))
        cols, (ho, wo), (sh, sw), matrix = self._columns(digits)
        window, o = matrix.shape
        rows, cols_per_row = cols.shape[1], cols.shape[2]
        rows_per_band = max(1, self.BAND_BYTES // max(1, d * cols_per_row * window))
        rows_per_band = min(rows_per_band, -(-rows // band_thread_count()))  # a band for each thread at least
        out = torch.empty(ho, wo, o // (sh * sw), dtype=torch.float64)

        def band(r0: int) -> None:
            b = cols[:, r0 : r0 + rows_per_band]
            r = b.shape[1]
            p = matrix.product(b.reshape(d * r * cols_per_row, window)).view(d * r * cols_per_row, sh * sw, -1)
            acc = self.finish(combine(p, d, self.bias_half, 1 << self.input_shift))
            # sub-pixel phases -> output pixels: band row u gives output rows (r0 + u) * sh + ry
            acc = acc.view(r, cols_per_row, sh, sw, -1).permute(0, 2, 1, 3, 4).reshape(r * sh, cols_per_row * sw, -1)
            y0, y1 = r0 * sh, min(ho, (r0 + r) * sh)
            out[y0:y1] = acc[: y1 - y0, :wo]

        in_threads(band, range(0, rows, rows_per_band))
        return out

    def _columns(self, dig: Tensor) -> tuple[Tensor, tuple[int, int], tuple[int, int], IntMatrix]:
        """Digit planes (d, H, W, C) int8 -> im2col view (d, rows, cols, ky, kx, C) int8 (no
        copy), the output size (H', W'), the phases (sh, sw) and the weight matrix: each
        im2col row gives sh x sw output pixels (the sub-pixel phases of a transposed conv;
        1 x 1 for a conv), the matrix's columns are (phase, output channel)."""
        (kh, kw), (sh, sw), (ph, pw) = self.weight.shape[2:], self.stride, self.padding
        d, h, w, c = dig.shape
        if not self.transposed:
            if "conv" not in self._ints:
                self._ints["conv"] = IntMatrix(self.weight.permute(2, 3, 1, 0).reshape(kh * kw * c, -1))  # rows (ky, kx, C)
            padded = F.pad(dig, (0, 0, pw, pw, ph, ph)) if ph or pw else dig  # zero digits: value 0
            cols = padded.unfold(1, kh, sh).unfold(2, kw, sw)  # (d, H', W', C, ky, kx)
            cols = cols.permute(0, 1, 2, 4, 5, 3)  # a view; bands are copied as (ky, kx, C) rows
            return cols, (cols.shape[1], cols.shape[2]), (1, 1), self._ints["conv"]
        # Sub-pixel form: output (s Y + r) only sees taps ky = r + p - s u, i.e. inputs
        # Y + u for a few offsets u. One im2col over a window of those offsets and one
        # product with a weight matrix holding, for each of the s x s output phases, its
        # taps (zeros elsewhere) give every phase at once.
        ho, wo = (h - 1) * sh - 2 * ph + kh + self.output_padding[0], (w - 1) * sw - 2 * pw + kw + self.output_padding[1]
        if "convT" not in self._ints:
            self._ints["convT"] = _subpixel(self.weight, (sh, sw), (ph, pw))
        matrix, (u0h, u1h), (u0w, u1w) = self._ints["convT"]
        yh, yw = -(-ho // sh), -(-wo // sw)  # sub-pixel rows / columns per phase
        pad = (0, 0, max(0, -u0w), max(0, yw - 1 + u1w - (w - 1)), max(0, -u0h), max(0, yh - 1 + u1h - (h - 1)))
        padded = F.pad(dig, pad)
        top, left = max(0, -u0h) + u0h, max(0, -u0w) + u0w  # first window row / column in the padded planes
        padded = padded[:, top : top + yh + u1h - u0h, left : left + yw + u1w - u0w]
        cols = padded.unfold(1, u1h - u0h + 1, 1).unfold(2, u1w - u0w + 1, 1)  # (d, yh, yw, C, uy, ux)
        cols = cols.permute(0, 1, 2, 4, 5, 3)
        return cols, (ho, wo), (sh, sw), matrix


def _subpixel(weight: Tensor, stride: tuple[int, int], padding: tuple[int, int]) -> tuple[IntMatrix, tuple[int, int], tuple[int, int]]:
    """A transposed conv's weight (C, C', kh, kw) as one matrix over an input window:
    rows (uy, ux, C), columns (ry, rx, C'); and the window's offset ranges (u0, u1) per axis."""
    c, o, kh, kw = weight.shape

    def offsets(k: int, s: int, p: int) -> dict:
        return {(r, kk): (r + p - kk) // s for r in range(s) for kk in range(k) if (r + p - kk) % s == 0}

    oh, ow = offsets(kh, stride[0], padding[0]), offsets(kw, stride[1], padding[1])
    u0h, u1h = min(oh.values()), max(oh.values())
    u0w, u1w = min(ow.values()), max(ow.values())
    m = torch.zeros(u1h - u0h + 1, u1w - u0w + 1, c, stride[0], stride[1], o, dtype=torch.int64)
    for (ry, ky), uy in oh.items():
        for (rx, kx), ux in ow.items():
            m[uy - u0h, ux - u0w, :, ry, rx, :] = weight[:, :, ky, kx].to(torch.int64)
    return IntMatrix(m.reshape(-1, stride[0] * stride[1] * o)), (u0h, u1h), (u0w, u1w)


def _act(module: nn.Module):
    if isinstance(module, nn.ReLU):
        return lambda a: torch.clamp(a, min=0)
    if isinstance(module, nn.LeakyReLU):
        if abs(module.negative_slope - 0.01) > 1e-12:
            raise ValueError("only LeakyReLU(0.01) has a fixed-point form")
        return _leaky
    if isinstance(module, nn.Identity):
        return lambda a: a
    raise TypeError(f"no fixed-point form for {type(module).__name__}")


def _leaky(a: Tensor) -> Tensor:
    """floor(a * LEAKY_INT / 2**16) for a < 0, a otherwise, on integer-valued float64 (exact:
    a dyadic factor of 10 bits)."""
    # for a < 0, floor(a * LEAKY_INT / 2**16) > a; for a >= 0 it is <= a
    return torch.maximum(a, torch.mul(a, LEAKY_INT * 2.0**-LEAKY_BITS).floor_())


class FixedNet:
    """A Sequential of convs and (Leaky)ReLUs in fixed point; ``shifts`` one tensor per conv.

    Without ``shifts`` they are chosen from the weights (:func:`channel_shifts`); a model
    file stores them (coding tables), and a coder always uses the stored ones.
    """

    def __init__(self, seq: nn.Module, shifts: list[Tensor] | None = None, input_shifts: list[int] | None = None) -> None:
        """``input_shifts``: per conv layer, how much coarser than 2**-A its input is rounded (default 0)."""
        mods = list(seq) if isinstance(seq, nn.Sequential) else [seq]
        convs = [m for m in mods if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        if shifts is None:
            shifts = [channel_shifts(m.masked_weight() if isinstance(m, MaskedConv2d) else m.weight, 1 if isinstance(m, nn.ConvTranspose2d) else 0) for m in convs]
        if len(shifts) != len(convs):
            raise ValueError("one shift vector per conv layer expected")
        self.shifts = [torch.as_tensor(s, dtype=torch.int64) for s in shifts]
        if input_shifts is None:
            input_shifts = [0] * len(convs)
        if len(input_shifts) != len(convs):
            raise ValueError("one input shift per conv layer expected")
        self.input_shifts = [int(v) for v in input_shifts]
        self.ops: list = []
        # Per conv layer, the activation after it ("none", "relu", "leaky"), for the fused
        # step kernels (steps.py); ``fusable`` is False for other patterns (an activation
        # first, or two in a row), which only the PyTorch path evaluates.
        self.acts: list[str] = []
        self.fusable = True
        it = iter(zip(self.shifts, self.input_shifts))
        for m in mods:
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                self.ops.append(FixedLayer(m, *next(it)))
                self.acts.append("none")
            else:
                self.ops.append(_act(m))
                if not isinstance(m, nn.Identity):
                    if not self.acts or self.acts[-1] != "none":
                        self.fusable = False
                    else:
                        self.acts[-1] = "relu" if isinstance(m, nn.ReLU) else "leaky"
        self.layers = [op for op in self.ops if isinstance(op, FixedLayer)]

    def __call__(self, a: Tensor) -> Tensor:
        """Reference path: a (B, C, H, W) integer-valued float64 -> float64."""
        for op in self.ops:
            a = op(a)
        return a

    def conv(self, a: Tensor) -> Tensor:
        """a (H, W, C) integers -> (H', W', C') float64, int8 products (equal to ``__call__``)."""
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
