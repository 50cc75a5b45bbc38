"""Integer coding tables: discrete distributions as integer frequencies with an escape.

A :class:`CodingTables` holds D distributions. Distribution d codes the integer
values ``offsets[d] .. offsets[d] + lengths[d] - 1`` with frequencies
``freqs[d, :lengths[d]]``, and an escape symbol (index ``lengths[d]``, frequency
``freqs[d, lengths[d]]``) for every value outside that range. Each row sums to
exactly 2**precision and every frequency is >= 1, so every value can be coded.

Tables are built once from a trained model (:func:`gaussian_tables` for the fixed
scale table of y; :meth:`CodingTables.from_pmfs` of a factorized density's
``pmf_table()`` for z, in ``licodec/codec/coding_state.py``) and saved with it; the encoder and
the decoder read the same integers.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

__all__ = ["CodingTables", "quantize_pmf", "gaussian_tables"]

PRECISION = 24


def quantize_pmf(pmf: np.ndarray, tail: float, precision: int = PRECISION) -> np.ndarray:
    """pmf (n,) plus escape mass -> int64 frequencies (n + 1,), each >= 1, summing to 2**precision.

    Deterministic: numpy float64 arithmetic once, at table-build time.
    """
    total = 1 << precision
    raw = np.append(np.asarray(pmf, dtype=np.float64), max(float(tail), 0.0))
    raw = np.clip(raw, 0.0, None)
    n = raw.size
    if n > total // 2:
        raise ValueError(f"alphabet of {n} symbols is too large for {precision}-bit frequencies")
    s = raw.sum()
    raw = raw / s if s > 0 else np.full(n, 1.0 / n)
    freq = np.maximum(1, np.floor(raw * (total - n)).astype(np.int64) + 1)
    diff = total - int(freq.sum())
    order = np.argsort(-raw, kind="stable")
    i = 0
    while diff != 0:
        j = order[i % n]
        if diff > 0:
            step = diff if i < n else 1
            freq[j] += step
            diff -= step
        elif freq[j] > 1:
            step = min(-diff, int(freq[j]) - 1)
            freq[j] -= step
            diff += step
        i += 1
    return freq


@dataclass
class CodingTables:
    """D integer distributions with escapes (see module docstring)."""

    offsets: np.ndarray  # (D,) int32
    lengths: np.ndarray  # (D,) int32
    freqs: np.ndarray  # (D, max(lengths) + 1) int32; row d uses [:lengths[d] + 1]
    precision: int = PRECISION

    def __post_init__(self) -> None:
        self.offsets = np.asarray(self.offsets, dtype=np.int32)
        self.lengths = np.asarray(self.lengths, dtype=np.int32)
        self.freqs = np.asarray(self.freqs, dtype=np.int32)
        if not (self.offsets.shape == self.lengths.shape and self.freqs.shape[0] == self.offsets.shape[0]):
            raise ValueError("inconsistent coding-table shapes")
        if self.freqs.shape[1] < int(self.lengths.max(initial=0)) + 1:
            raise ValueError("coding-table frequencies shorter than their lengths")

    @classmethod
    def from_pmfs(cls, offsets: list[int] | np.ndarray, pmfs: list[np.ndarray], tails: list[float] | np.ndarray, precision: int = PRECISION) -> "CodingTables":
        rows = [quantize_pmf(p, t, precision) for p, t in zip(pmfs, tails)]
        width = max(len(r) for r in rows)
        freqs = np.zeros((len(rows), width), dtype=np.int32)
        for d, r in enumerate(rows):
            freqs[d, : len(r)] = r
        return cls(np.asarray(offsets), np.array([len(r) - 1 for r in rows]), freqs, precision)

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    def free_weights(self, d: int) -> np.ndarray:
        """Row d minus one per symbol, as float64 integers summing to 2**precision - n.

        Given these, constriction's (fast) quantizer of a categorical model reproduces
        exactly the frequencies of row d: it assigns floor(cumulative * scale) + index as
        left cumulatives with scale = (2**precision - n) / sum = 1, all exact in float64.
        """
        n = int(self.lengths[d]) + 1
        return self.freqs[d, :n].astype(np.float64) - 1.0

    def cost_bits(self, index: np.ndarray, values: np.ndarray) -> float:
        """Ideal code length in bits of integer ``values`` coded with distributions ``index``.

        Escaped values count their escape symbol plus :func:`escape_payload_bits`.
        """
        index = np.asarray(index, dtype=np.int64).ravel()
        values = np.asarray(values, dtype=np.int64).ravel()
        sym = values - self.offsets[index]
        esc = (sym < 0) | (sym >= self.lengths[index])
        sym = np.where(esc, self.lengths[index], sym)
        f = self.freqs[index, sym].astype(np.float64)
        bits = float(np.sum(self.precision - np.log2(f)))
        if esc.any():
            bits += float(np.sum(escape_payload_bits(escape_amount(values[esc], self.offsets[index[esc]], self.lengths[index[esc]]))))
        return bits

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}.offsets": self.offsets,
            f"{prefix}.lengths": self.lengths,
            f"{prefix}.freqs": self.freqs,
            f"{prefix}.precision": np.array([self.precision], dtype=np.int32),
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], prefix: str) -> "CodingTables":
        return cls(
            state[f"{prefix}.offsets"], state[f"{prefix}.lengths"], state[f"{prefix}.freqs"], int(np.asarray(state[f"{prefix}.precision"]).ravel()[0])
        )


def escape_amount(values: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Signed distance of escaped values beyond their table's range: <0 below, >0 above (never 0)."""
    below = values < offsets
    return np.where(below, values - offsets, values - (offsets + lengths - 1)).astype(np.int64)


def escape_payload_bits(amount: np.ndarray) -> np.ndarray:
    """Bits of the escape payload: sign (1) + bit length n (6) + the n - 1 bits below the leading one."""
    mag = np.abs(np.asarray(amount, dtype=np.int64))
    nbits = np.floor(np.log2(np.maximum(mag, 1))).astype(np.int64) + 1
    return 1 + 6 + nbits - 1


def gaussian_tables(scales: list[float] | np.ndarray, tail_mass: float = 1e-9, precision: int = PRECISION) -> CodingTables:
    """One zero-mean discretized Gaussian per scale: P(k) = Phi((k+1/2)/s) - Phi((k-1/2)/s).

    Support k in [-R, R] with R = ceil(s * Phi^{-1}(1 - tail_mass / 2)); the rest is escape mass.
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - tail_mass / 2)
    offsets, pmfs, tails = [], [], []
    for s in scales:
        r = max(1, int(math.ceil(float(s) * z)))
        k = np.arange(-r, r + 1, dtype=np.float64)
        upper = _phi(-(np.abs(k) - 0.5) / s)
        lower = _phi(-(np.abs(k) + 0.5) / s)
        pmf = upper - lower
        offsets.append(-r)
        pmfs.append(pmf)
        tails.append(2 * _phi(np.array([-(r + 0.5) / s]))[0])
    return CodingTables.from_pmfs(offsets, pmfs, tails, precision)


def _phi(x: np.ndarray) -> np.ndarray:
    from math import erfc, sqrt

    return np.array([0.5 * erfc(-v / sqrt(2)) for v in np.ravel(x)]).reshape(np.shape(x))
