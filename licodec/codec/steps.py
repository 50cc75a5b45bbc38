"""Compiled per-step kernels of the wavefront loop (``_steps.c``, loaded with ctypes).

A wavefront step runs the context model g_cm and the entropy-parameter network g_ep on
a few positions (one to a few dozen rows), so its cost is dominated not by arithmetic
but by the number of small tensor operations between the int8 matrix products: about
120 PyTorch calls per step. The C kernels fuse them: one call gathers the context taps,
one finishes each layer and splits the next layer's input into int8 digits, one turns
the entropy parameters into scale-table indices and means, one stores the decoded
values. The int8 products stay in PyTorch (``IntMatrix.product``: ``torch._int_mm`` or
exact float32 blocks).

The kernels compute exactly what the PyTorch path of fixed.py and engine.py computes
(integer arithmetic, the same formulas); the tests run both and compare. They are an
optional build product: without a C compiler at install time (or with
``LICODEC_KERNELS=0``) the PyTorch path runs, and files are identical either way.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..native import load_extension, ptr as _p
from ..errors import FormatError
from .fixed import ACT_BITS, ACT_LIMIT, BALANCED, LEAKY_BITS, LEAKY_INT, FixedLayer, FixedNet

__all__ = ["kernels", "FastSteps", "c_weights", "c_mm"]

_ACTS = {"none": 0, "relu": 1, "leaky": 2}
_LIB: ctypes.CDLL | None | bool = False  # False: not looked up yet


def kernels() -> ctypes.CDLL | None:
    """The compiled kernels, or None (not built, or disabled by LICODEC_KERNELS=0)."""
    global _LIB
    if os.environ.get("LICODEC_KERNELS", "1") == "0":
        return None
    if _LIB is False:
        here = Path(__file__).parent
        _LIB = load_extension(here, "_steps", ("lc_gather", "lc_layer", "lc_gaussian", "lc_store", "lc_mm"))
        if _LIB is not None:
            _check_constants(_LIB, here / "_steps")
    return _LIB or None


def _check_constants(lib: ctypes.CDLL, path: Path) -> None:
    """The C kernels' arithmetic constants must be fixed.py's: a file built from an older
    _steps.c would compute other values than the PyTorch path (a bug, not a user error)."""
    expected = [ACT_BITS, ACT_LIMIT, LEAKY_INT, LEAKY_BITS, *(BALANCED[d] for d in (1, 2, 3)), KERNEL_ABI]
    if not hasattr(lib, "lc_constants"):
        raise RuntimeError(f"{path} predates licodec/codec/_steps.c (no lc_constants): rebuild it (pip install -e .)")
    got = np.zeros(len(expected), dtype=np.int64)
    lib.lc_constants.restype = None
    lib.lc_constants(_p(got))
    if got.tolist() != expected:
        raise RuntimeError(f"{path}: constants {got.tolist()} differ from fixed.py's {expected}: rebuild it (pip install -e .)")


_I = ctypes.c_int64
#: The C functions' interface version (``KERNEL_ABI`` in _steps.c): a build of another is refused.
KERNEL_ABI = 2


def _integers(t: Tensor) -> Tensor:
    """Integer-valued float64 (biases, the hyperprior's share of g_ep's first layer) as the
    int64 the kernels take: the same integers."""
    out = t.to(torch.int64).contiguous()
    if not torch.equal(out.to(t.dtype), t):
        raise ValueError("fixed-point values must be integers")
    return out


def c_weights(w: Tensor) -> Tensor:
    """int8 W (K, O) -> W transposed as int16 (O, Kp), Kp = K rounded up to 16, zero-padded:
    the layout of :func:`c_mm`."""
    k, o = w.shape
    out = torch.zeros(o, -(-max(k, 1) // 16) * 16, dtype=torch.int16)
    out[:, :k] = w.t()
    return out


def c_mm(lib: ctypes.CDLL, a: Tensor, wt: Tensor, simd: bool = True) -> Tensor:
    """int8 a (n, K) @ W -> int32 (n, O), exact (``lc_mm``; wt from :func:`c_weights`);
    ``simd`` False: its plain C loop even where the CPU has AVX2 (the same integers)."""
    n, k = a.shape
    o, kp = wt.shape
    a = torch.empty(a.shape, dtype=torch.int8).copy_(a) if a.stride() != (k, 1) else a  # plain row-major
    out = torch.empty(n, o, dtype=torch.int32)
    scratch = torch.empty(n, kp, dtype=torch.int16)
    lib.lc_mm(_p(a), _I(n), _I(k), _p(wt), _I(kp), _I(o), _p(scratch), _p(out), _I(int(simd)))
    return out


class _Layer:
    """One 1x1 layer of the step: int8 weights, its constants, and its input digit buffer."""

    def __init__(self, layer: FixedLayer, act: str, rows: slice | None, n_max: int) -> None:
        self.layer = layer
        self.matrix = layer.matrix(rows)  # (K, O) int8
        self.in_shift = layer.input_shift
        self.bias = _integers(layer.bias_half)
        self.shifts = layer.shifts.contiguous()
        self.act = _ACTS[act]
        k = self.matrix.shape[0]
        self.digits = torch.empty(3 * n_max, k, dtype=torch.int8)  # this layer's input digits


class FastSteps:
    """The per-step computations of ``engine.code_autoregressive`` with the C kernels.

    ``params(taps, here)`` -> (scale-table indices (n * M,) int64 numpy, mu (n, M) int64),
    ``store(sym, mu, here, flat)`` writes y_hat and the context planes. Buffers are sized
    for ``n_max`` positions per step.
    """

    def __init__(self, lib: ctypes.CDLL, state, context, extra: Tensor | None, first_rows: slice | None,
                 planes: tuple[Tensor, Tensor], y_hat: Tensor, n_max: int) -> None:
        self.lib = lib
        ctx: FixedLayer = context.layer
        self.ctx = ctx
        self.ctx_matrix = context.matrix
        self.ctx_shift = ctx.input_shift
        self.ctx_bias = _integers(ctx.bias_half)
        self.ctx_shifts = ctx.shifts.contiguous()
        ep: FixedNet = state.ep
        self.layers = [_Layer(layer, act, first_rows if i == 0 else None, n_max) for i, (layer, act) in enumerate(zip(ep.layers, ep.acts))]
        self.extra = _integers(extra) if extra is not None else None
        self.planes, self.flags = planes
        self.P = self.planes.shape[1]
        self.M = self.planes.shape[2]
        self.taps_count = len(context.di)
        self.rows = torch.empty(2 * n_max, self.taps_count * self.M, dtype=torch.int8)
        width = max([self.ctx_matrix.shape[1]] + [lay.matrix.shape[1] for lay in self.layers])
        self.tmp = torch.empty(n_max * width, dtype=torch.int64)
        out = self.layers[-1].matrix.shape[1]
        self.params_buf = torch.empty(n_max, out, dtype=torch.int64)
        self.index = np.empty(n_max * self.M, dtype=np.int64)
        self.mu = torch.empty(n_max, self.M, dtype=torch.int64)
        self.use_means = 1 if state.use_means else 0
        self.sigma_min = int(state.sigma_min)
        self.thresholds = state.thresholds.contiguous()
        self.y_hat = y_hat
        if out != (2 if state.use_means else 1) * self.M:
            raise ValueError("entropy parameters do not match the latent channels")
        self._constant_args()

    def _constant_args(self) -> None:
        """The kernels' arguments that stay the same for every step (the buffers are
        allocated once): made once as ctypes objects, not ~50 times a step."""
        P, M = _I(self.P), _I(self.M)
        self._gather = (_p(self.planes), _p(self.flags), P, M)
        self._gather_out = (_I(self.taps_count), _p(self.rows))
        first = self.layers[0]
        self._ctx_layer = (_I(self.ctx_shift), _p(self.ctx_bias), _p(self.ctx_shifts), _p(None), _p(None), _I(0),
                           _I(first.layer.input_shift), _p(self.tmp), _p(first.digits), _p(None))
        self._layer_args = []
        for i, lay in enumerate(self.layers):
            nxt = self.layers[i + 1] if i + 1 < len(self.layers) else None
            extra = self.extra if i == 0 else None
            self._layer_args.append(((_I(lay.in_shift), _p(lay.bias), _p(lay.shifts), _p(extra)),
                                     extra is not None,
                                     (_I(lay.act), _I(nxt.layer.input_shift if nxt else -1), _p(self.tmp),
                                      _p(nxt.digits if nxt else None), _p(self.params_buf))))
        self._gaussian = (_p(self.params_buf),)
        self._gaussian_rest = (M, _I(self.use_means), _I(self.sigma_min), _p(self.thresholds), _I(self.thresholds.numel()),
                               _p(self.index), _p(self.mu))
        self._store = (_I(self.ctx.input_shift), _p(self.y_hat), _p(self.planes), _p(self.flags), P)

    def params(self, taps: Tensor, here: Tensor) -> tuple[np.ndarray, Tensor]:
        lib, n = self.lib, taps.shape[0]
        count = _I(n)
        d = lib.lc_gather(*self._gather, _p(taps), count, *self._gather_out)
        p = self.ctx_matrix.product(self.rows[: d * n])
        d = lib.lc_layer(_p(p), _I(d), count, _I(p.shape[1]), *self._ctx_layer)
        for lay, (head, with_extra, tail) in zip(self.layers, self._layer_args):
            if d < 0:
                raise ValueError("fixed-point value out of range")
            p = lay.matrix.product(lay.digits[: d * n])
            d = lib.lc_layer(_p(p), _I(d), count, _I(p.shape[1]), *head, _p(here if with_extra else None), *tail)
        lib.lc_gaussian(*self._gaussian, count, *self._gaussian_rest)
        return self.index[: n * self.M], self.mu[:n]

    def store(self, sym: np.ndarray, mu: Tensor, here: Tensor, flat: Tensor) -> None:
        sym = np.ascontiguousarray(sym, dtype=np.int64)
        n = here.shape[0]
        if self.lib.lc_store(_p(sym), _p(mu), _I(n), _I(self.M), _p(here), _p(flat), *self._store) < 0:
            raise FormatError("corrupt stream: latent out of range")  # as engine.SymbolIO finds it without the kernels


def fast_steps(state, context, extra: Tensor | None, first_rows: slice | None, planes, y_hat: Tensor, n_max: int) -> FastSteps | None:
    """A :class:`FastSteps` for this model, or None where the PyTorch path must run
    (kernels not built or disabled, a mixture model, an unusual g_ep)."""
    lib = kernels()
    ep = state.ep
    if lib is None or state.mixture is not None or state.gaussian is None:
        return None
    if not ep.fusable:
        return None
    return FastSteps(lib, state, context, extra, first_rows, planes, y_hat, n_max)
