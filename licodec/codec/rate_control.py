"""Rate control: the quality that meets a target file size, bits per pixel or PSNR.

Every probe is a real encode at a continuous quality (a variable-rate model interpolates its
gain vectors), on the quality grid the file stores (0.001). The file size grows with the
quality and the PSNR with it, so a bisection over the model's quality range finds:

* ``size`` / ``bpp``: the largest quality whose file is no larger than the target (never
  larger; within 2% when the range allows, as 12 bisection steps give);
* ``psnr``: the smallest quality whose decoded image reaches the target PSNR (RGB, 8 bit).

A target outside the range gives the nearest file with ``met = False``.

    image --(quality q)--> real encode --> bytes, and g_s(y_hat) --> PSNR
          <-- bisection on q over [lowest, highest] --/
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CodecError
from ..metrics import psnr_from_mse

__all__ = ["Target", "RateResult", "search_quality"]

STEPS = 12  # bisection steps: the quality range (about 10 wide) down to ~0.003


@dataclass(frozen=True)
class Target:
    """One of: ``size`` (bytes), ``bpp`` (bits per pixel), ``psnr`` (dB)."""

    size: int | None = None
    bpp: float | None = None
    psnr: float | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.size, self.bpp, self.psnr) if v is not None]
        if len(given) != 1:
            raise CodecError("give exactly one target: a size, a bpp or a PSNR")
        if (self.size is not None and self.size <= 0) or (self.bpp is not None and self.bpp <= 0):
            raise CodecError("a target size or bpp must be positive")
        if self.psnr is not None and not 0 < self.psnr < 100:
            raise CodecError(f"target PSNR {self.psnr:g} dB outside 0..100")


@dataclass
class RateResult:
    data: bytes
    quality: float
    bytes: int
    bpp: float
    psnr: float
    met: bool
    probes: int


def search_quality(encode, arr: np.ndarray, quality_range: tuple[float, float], target: Target) -> RateResult:
    """``encode(q) -> (file bytes, decoded uint8 image)`` at quality q; ``arr`` the original
    (H, W, 3) uint8. Bisection as in the module docstring."""
    h, w = arr.shape[:2]
    cache: dict[float, RateResult] = {}

    def probe(q: float) -> RateResult:
        q = round(q * 1000) / 1000
        if q not in cache:
            data, decoded = encode(q)
            mse = float(np.mean((decoded.astype(np.float64) - arr.astype(np.float64)) ** 2))
            cache[q] = RateResult(data, q, len(data), 8 * len(data) / (h * w), psnr_from_mse(mse, 255.0), False, 0)
        return cache[q]

    if target.psnr is not None:
        ok = lambda r: r.psnr >= target.psnr  # noqa: E731  (the PSNR grows with the quality)
        want_high = False
    else:
        limit = target.size if target.size is not None else target.bpp * h * w / 8
        ok = lambda r: r.bytes <= limit  # noqa: E731  (the size grows with the quality)
        want_high = True
    # ``inside``: the end of the range where the target holds if anywhere (the lowest quality
    # for a size, the highest for a PSNR); ``outside``: the end the search moves towards
    lo, hi = probe(quality_range[0]), probe(quality_range[1])
    inside, outside = (lo, hi) if want_high else (hi, lo)
    if ok(outside):  # the whole range meets it: the best file (size) or the smallest (PSNR)
        best = outside
    elif not ok(inside):  # nothing meets it
        best = None
    else:
        best = inside
        q_in, q_out = inside.quality, outside.quality
        for _ in range(STEPS):
            mid = probe((q_in + q_out) / 2)
            if ok(mid):
                best, q_in = mid, mid.quality
            else:
                q_out = mid.quality
    result = best or inside  # out of reach: the nearest file
    result.met = best is not None
    result.probes = len(cache)
    return result
