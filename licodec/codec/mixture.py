"""Exact integer coding of y under a K-component Gaussian mixture (the paper's GMM variant).

A mixture has no single mean to subtract, so the pmf of every element is built on the
fly - in integer arithmetic only, from the fixed-point parameters, so that the encoder
and the decoder build the same table bit for bit on any machine:

* weights: softmax of the logits via an exp table: e_k = EXP[min((l_max - l_k) / 2**-6, 1023)],
  W_k = floor(e_k * 2**16 / sum(e));
* support: [lo, lo + W) with lo = floor(min_k(mu_k - 7 sigma_k)), W the next power of two
  (>= 8) covering max_k(mu_k + 7 sigma_k); values outside are escaped;
* cumulative at the bin edges b = lo - 1/2 + s: C_s = sum_k W_k * PHI[floor((b - mu_k) * 2**10 / sigma_k)]
  with PHI[i] = round(2**16 * Phi(i / 2**10)) for |i| <= 8 * 2**10 (clamped beyond);
* 24-bit frequencies with an escape: G_s = floor(C_s * F / 2**32) with F = 2**24 - (W + 1),
  symbol s gets G_{s+1} - G_s + 1, the escape F - (G_W - G_0) + 1.

The EXP and PHI tables are built once (math.exp / math.erfc at table-build time) and saved
with the model's coding state. Rows of equal width go to constriction in one call as
free weights (see CodingTables.free_weights), which it reproduces exactly.
"""
from __future__ import annotations

import math

import numpy as np

from ..entropy.tables import PRECISION, escape_payload_bits
from .fixed import ACT_BITS
from .rangecoder import Decoder, Encoder, EscapeCoder, _constriction, join_escapes, split_escapes

__all__ = ["build_mixture_tables", "MixtureCoder", "MixturePlan"]

EXP_STEP_BITS = 6
EXP_SIZE = 1024
PHI_BITS = 10
PHI_RANGE = 8
TAIL = 7
MAX_WIDTH = 8192
FREQ_BITS = PRECISION  # the frequencies' bits: constriction's categorical models take 24


def build_mixture_tables() -> dict[str, np.ndarray]:
    exp = np.array([round(2**16 * math.exp(-i / 2**EXP_STEP_BITS)) for i in range(EXP_SIZE)], dtype=np.int64)
    n = PHI_RANGE * 2**PHI_BITS
    phi = np.array([round(2**16 * 0.5 * math.erfc(-(i / 2**PHI_BITS) / math.sqrt(2))) for i in range(-n, n + 1)], dtype=np.int64)
    return {"exp": exp, "phi": phi}


class MixturePlan:
    """The distributions of n elements: (n, K) weights, means, scales in fixed point."""

    def __init__(self, coder: "MixtureCoder", logits: np.ndarray, means: np.ndarray, scales: np.ndarray) -> None:
        self.coder = coder
        c = coder
        d = logits.max(axis=1, keepdims=True) - logits
        e = c.exp[np.minimum(d >> (ACT_BITS - EXP_STEP_BITS), EXP_SIZE - 1)]
        self.weights = (e << 16) // e.sum(axis=1, keepdims=True)
        self.means, self.scales = means, scales
        one = 1 << ACT_BITS
        lo = (means - TAIL * scales).min(axis=1) // one
        hi = -((-(means + TAIL * scales).max(axis=1)) // one)
        need = np.clip(hi - lo + 1, 8, MAX_WIDTH)
        self.width = (1 << np.ceil(np.log2(need)).astype(np.int64)).astype(np.int64)
        self.lo = lo.astype(np.int64)

    def _rows(self, sel: np.ndarray, width: int) -> np.ndarray:
        """Free weights (len(sel), width + 1) of the selected elements, all of this width."""
        c = self.coder
        one = 1 << ACT_BITS
        edges = (self.lo[sel, None] + np.arange(width + 1)[None, :]) * one - one // 2  # (n, W+1)
        t = ((edges[:, :, None] - self.means[sel, None, :]) << PHI_BITS) // self.scales[sel, None, :]
        idx = np.clip(t, -c.phi_half, c.phi_half) + c.phi_half
        cdf = (c.phi[idx] * self.weights[sel, None, :]).sum(axis=2)  # (n, W+1), <= 2**32
        free = (1 << FREQ_BITS) - (width + 1)
        g = (cdf * free) >> 32
        rows = np.empty((len(sel), width + 1), dtype=np.float64)
        rows[:, :width] = np.diff(g, axis=1)
        rows[:, width] = free - (g[:, -1] - g[:, 0])
        return rows

    def _groups(self):
        for w in np.unique(self.width):
            yield int(w), np.flatnonzero(self.width == w)

    def encode(self, enc: Encoder, values: np.ndarray) -> None:
        sym, amount = split_escapes(np.asarray(values, dtype=np.int64).ravel(), self.lo, self.width)
        for w, sel in self._groups():
            enc.encode(sym[sel], self.coder.family, self._rows(sel, w))
        if amount.size:
            self.coder.encode_escapes(enc, amount)

    def decode(self, dec: Decoder) -> np.ndarray:
        sym = np.empty(self.lo.shape[0], dtype=np.int64)
        for w, sel in self._groups():
            sym[sel] = dec.decode(self.coder.family, self._rows(sel, w))
        return join_escapes(sym, self.lo, self.width, self.coder.decode_escapes(dec, int((sym == self.width).sum())))

    def cost_bits(self, values: np.ndarray) -> float:
        sym, amount = split_escapes(np.asarray(values, dtype=np.int64).ravel(), self.lo, self.width)
        bits = 0.0
        for w, sel in self._groups():
            f = self._rows(sel, w)[np.arange(len(sel)), sym[sel]] + 1
            bits += float(np.sum(FREQ_BITS - np.log2(f)))
        return bits + float(np.sum(escape_payload_bits(amount)))


class MixtureCoder(EscapeCoder):
    """Builds :class:`MixturePlan` objects from fixed-point mixture parameters."""

    def __init__(self, tables: dict[str, np.ndarray], components: int, scale_bound: float) -> None:
        super().__init__()
        self.exp = np.asarray(tables["exp"], dtype=np.int64)
        self.phi = np.asarray(tables["phi"], dtype=np.int64)
        self.phi_half = (len(self.phi) - 1) // 2
        self.components = components
        self.bound = round(scale_bound * 2**ACT_BITS)
        self.family = _constriction().stream.model.Categorical(perfect=False)

    def plan(self, params: np.ndarray) -> MixturePlan:
        """params (n, 3 K m) rows of fixed-point [logits; means; scales] -> plan for n * m elements."""
        n = params.shape[0]
        k = self.components
        p = params.reshape(n, 3, k, -1).transpose(0, 3, 1, 2).reshape(-1, 3, k)  # (n*m, 3, K)
        logits, means, scales = p[:, 0], p[:, 1], np.maximum(p[:, 2], self.bound)
        return MixturePlan(self, logits, means, scales)
