"""Bjøntegaard delta rate and delta quality between two rate-distortion curves.

BD-rate (Bjøntegaard, VCEG-M33 2001; piecewise-cubic variant of VCEG-AL22 / JCTVC-E137, as in
the JVET common-test-conditions sheet): write log(rate) as a function of quality for both curves,
interpolate each with a monotone piecewise-cubic Hermite interpolant (PCHIP, Fritsch & Carlson),
integrate both over the quality range where the curves overlap, and report

    BD-rate = exp(mean difference of log rate) - 1       (in percent; negative = fewer bits)

BD-quality (e.g. BD-PSNR) swaps the roles: quality as a function of log rate, averaged over the
overlapping log-rate range (positive = better quality at the same rate).

Pure numpy (no scipy needed); ``method="cubic"`` gives the original VCEG-M33 cubic-polynomial fit.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["bd_rate", "bd_quality", "pchip_integral", "monotone", "bd_table", "format_bd_table", "bd_versus", "format_bd_versus", "NoOverlap"]


class NoOverlap(ValueError):
    """The two curves share no quality (or rate) range."""


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Derivatives at the knots, as scipy.interpolate.PchipInterpolator chooses them."""
    h = np.diff(x)
    m = np.diff(y) / h
    n = len(x)
    if n == 2:
        return np.array([m[0], m[0]])
    d = np.zeros(n)
    # interior: weighted harmonic mean where the secant slopes have the same sign, else 0
    w1 = 2 * h[1:] + h[:-1]
    w2 = h[1:] + 2 * h[:-1]
    same = (np.sign(m[:-1]) * np.sign(m[1:])) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        hm = (w1 + w2) / (w1 / m[:-1] + w2 / m[1:])
    d[1:-1] = np.where(same, hm, 0.0)

    def edge(h0, h1, m0, m1):
        # shape-preserving three-point end derivative
        dd = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(dd) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(dd) > abs(3 * m0):
            return 3 * m0
        return dd

    d[0] = edge(h[0], h[1], m[0], m[1])
    d[-1] = edge(h[-1], h[-2], m[-1], m[-2])
    return d


def pchip_integral(x: Sequence[float], y: Sequence[float], lo: float, hi: float) -> float:
    """Exact integral over [lo, hi] of the PCHIP interpolant through (x, y); x strictly increasing,
    lo and hi inside [x[0], x[-1]]."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.any(np.diff(x) <= 0):
        raise ValueError("pchip_integral needs >= 2 points with strictly increasing x")
    if not (x[0] - 1e-12 <= lo <= hi <= x[-1] + 1e-12):
        raise ValueError(f"[{lo}, {hi}] is outside [{x[0]}, {x[-1]}]")
    d = _pchip_slopes(x, y)
    total = 0.0
    for i in range(len(x) - 1):
        a, b = max(lo, x[i]), min(hi, x[i + 1])
        if b <= a:
            continue
        h = x[i + 1] - x[i]
        m = (y[i + 1] - y[i]) / h
        c2 = (3 * m - 2 * d[i] - d[i + 1]) / h
        c3 = (d[i] + d[i + 1] - 2 * m) / h**2

        def prim(t, i=i, c2=c2, c3=c3):
            return y[i] * t + d[i] * t**2 / 2 + c2 * t**3 / 3 + c3 * t**4 / 4

        total += prim(b - x[i]) - prim(a - x[i])
    return float(total)


def _poly_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    deg = min(3, len(x) - 1)
    p = np.polyint(np.polyfit(x, y, deg))
    return float(np.polyval(p, hi) - np.polyval(p, lo))


def monotone(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Sort by rate and keep the points whose quality strictly increases (drops dominated ones)."""
    r = np.asarray(rate, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    ok = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[ok], q[ok]
    order = np.lexsort((q, r))
    keep_r, keep_q = [], []
    for ri, qi in zip(r[order], q[order]):
        if keep_q and qi <= keep_q[-1]:
            continue
        if keep_r and ri <= keep_r[-1]:  # same rate, higher quality: replace
            keep_r.pop()
            keep_q.pop()
        keep_r.append(ri)
        keep_q.append(qi)
    return np.array(keep_r), np.array(keep_q)


def _integral(method: str, x, y, lo, hi) -> float:
    if method == "pchip":
        return pchip_integral(x, y, lo, hi)
    if method == "cubic":
        return _poly_integral(np.asarray(x), np.asarray(y), lo, hi)
    raise ValueError(f"unknown method {method!r} (pchip or cubic)")


def _curves(rate_anchor, quality_anchor, rate_test, quality_test) -> tuple[np.ndarray, ...]:
    """Both curves made monotone: (rate_a, quality_a, rate_t, quality_t)."""
    ra, qa = monotone(rate_anchor, quality_anchor)
    rt, qt = monotone(rate_test, quality_test)
    if len(ra) < 2 or len(rt) < 2:
        raise ValueError("each curve needs at least 2 points of increasing rate and quality")
    return ra, qa, rt, qt


def _mean_gap(method: str, xa, ya, xt, yt, what: str) -> float:
    """Mean of y_test - y_anchor over the overlap of the x ranges (piecewise integrals)."""
    lo, hi = max(xa[0], xt[0]), min(xa[-1], xt[-1])
    if hi <= lo:
        raise NoOverlap(f"{what} ranges do not overlap: [{xa[0]:.3f}, {xa[-1]:.3f}] vs [{xt[0]:.3f}, {xt[-1]:.3f}]")
    return (_integral(method, xt, yt, lo, hi) - _integral(method, xa, ya, lo, hi)) / (hi - lo)


def bd_rate(rate_anchor: Sequence[float], quality_anchor: Sequence[float],
            rate_test: Sequence[float], quality_test: Sequence[float], method: str = "pchip") -> float:
    """BD-rate of the test curve against the anchor, in percent (negative = test saves bits)."""
    ra, qa, rt, qt = _curves(rate_anchor, quality_anchor, rate_test, quality_test)
    return float((math.exp(_mean_gap(method, qa, np.log(ra), qt, np.log(rt), "quality")) - 1) * 100)


def bd_quality(rate_anchor: Sequence[float], quality_anchor: Sequence[float],
               rate_test: Sequence[float], quality_test: Sequence[float], method: str = "pchip") -> float:
    """BD-quality (e.g. BD-PSNR in dB) of the test curve against the anchor (positive = better)."""
    ra, qa, rt, qt = _curves(rate_anchor, quality_anchor, rate_test, quality_test)
    return float(_mean_gap(method, np.log(ra), qa, np.log(rt), qt, "log-rate"))


def _overlap(ra, qa, rt, qt) -> tuple[float, float]:
    """Fraction of the test and anchor quality ranges that the overlap covers (min of the two)."""
    _, qa = monotone(ra, qa)
    _, qt = monotone(rt, qt)
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    return lo, hi


def _bd_row(name: str, anchor: Mapping[str, Sequence[float]], test: Mapping[str, Sequence[float]],
            metrics: list[str], method: str) -> dict:
    """One row: BD-rate, BD-quality and overlap of ``test`` against ``anchor`` for each metric."""
    row: dict = {"name": name}
    for m in metrics:
        row[m] = row[m + "_delta"] = row[m + "_range"] = None
        if not test.get(m) or not anchor.get(m):
            continue
        try:
            row[m] = bd_rate(anchor["bpp"], anchor[m], test["bpp"], test[m], method)
            row[m + "_delta"] = bd_quality(anchor["bpp"], anchor[m], test["bpp"], test[m], method)
            row[m + "_range"] = _overlap(anchor["bpp"], anchor[m], test["bpp"], test[m])
        except ValueError:
            pass
    return row


def bd_table(curves: Mapping[str, Mapping[str, Sequence[float]]], anchor: str,
             metrics: Iterable[str] = ("psnr", "ms_ssim_db"), method: str = "pchip") -> list[dict]:
    """BD-rate (%) and BD-quality of every curve against ``curves[anchor]``.

    Curves are mappings with ``bpp`` and each metric key (see :mod:`licodec.eval.results` for
    loading them in that normal form). Rows: ``{"name", "<metric>": bd-rate or None,
    "<metric>_delta": BD-quality or None, "<metric>_range": (lo, hi) or None}``; a None means no
    overlap or a missing metric.
    """
    if anchor not in curves:
        raise KeyError(f"anchor {anchor!r} is not among the curves: {', '.join(curves)}")
    return [_bd_row(name, curves[anchor], c, list(metrics), method) for name, c in curves.items()]


def bd_versus(test: Mapping[str, Sequence[float]], anchors: Mapping[str, Mapping[str, Sequence[float]]],
              metrics: Iterable[str] = ("psnr", "ms_ssim_db"), method: str = "pchip") -> list[dict]:
    """BD-rate (%) of one test curve against each of several anchors (rows keyed by anchor)."""
    return [_bd_row(name, a, test, list(metrics), method) for name, a in anchors.items()]


_METRIC_TITLES = {"psnr": "PSNR", "ms_ssim_db": "MS-SSIM (dB)"}


def _format_rows(rows: Sequence[dict], first: str, intro: str, metrics: list[str], labels: Mapping[str, str], skip: str | None = None) -> str:
    head = [first]
    for m in metrics:
        t = _METRIC_TITLES.get(m, m)
        head += [f"BD-rate {t}", f"Δ{t}", f"{t} overlap"]
    lines = [intro, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r["name"] == skip:
            continue
        cells = [labels.get(r["name"], r["name"])]
        for m in metrics:
            v, dq, rg = r.get(m), r.get(m + "_delta"), r.get(m + "_range")
            cells.append("n/a" if v is None else f"{v:+.1f}%")
            cells.append("n/a" if dq is None else f"{dq:+.2f} dB")
            cells.append("none" if rg is None else f"{rg[0]:.2f}–{rg[1]:.2f} dB")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_bd_table(rows: Sequence[dict], anchor: str, metrics: Iterable[str] = ("psnr", "ms_ssim_db"),
                    labels: Mapping[str, str] | None = None) -> str:
    """A Markdown table of :func:`bd_table` rows."""
    labels = labels or {}
    intro = f"Anchor: **{labels.get(anchor, anchor)}**. BD-rate < 0: fewer bits than the anchor at equal quality."
    return _format_rows(rows, "curve", intro, list(metrics), labels, skip=anchor)


def format_bd_versus(rows: Sequence[dict], test_label: str, metrics: Iterable[str] = ("psnr", "ms_ssim_db"),
                     labels: Mapping[str, str] | None = None) -> str:
    """A Markdown table of :func:`bd_versus` rows (one row per anchor)."""
    intro = f"Test curve: **{test_label}** against each anchor. BD-rate < 0: {test_label} needs fewer bits at equal quality."
    return _format_rows(rows, "anchor", intro, list(metrics), labels or {})
