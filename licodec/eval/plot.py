"""Rate-distortion plots (matplotlib, imported on first use) and a visual comparison sheet (Pillow).

* :func:`plot_rd`: bpp against PSNR or MS-SSIM (dB) for any set of normal curves
  (:func:`licodec.eval.results.load_curves`).
* :func:`visual_sheet`: the same crop of one image decoded by several codecs at matched bpp,
  side by side with the original, each tile labelled with codec, bpp and PSNR.
* :func:`sheet_entries`: produces those decoded crops: licodec at the quality nearest a target
  bpp, then every classical codec at the knob nearest licodec's actual bpp on that image.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["plot_rd", "visual_sheet", "sheet_entries", "match_knob", "detail_crop", "METRIC_AXES"]

METRIC_AXES = {
    "psnr": "PSNR (RGB) [dB]",
    "ms_ssim_db": "MS-SSIM (RGB) [dB]  = -10 log10(1 - MS-SSIM)",
    "ms_ssim": "MS-SSIM (RGB)",
}

_STYLE = {  # kind -> line style
    "learned": dict(linestyle="-", linewidth=2.2, marker="o", markersize=4, zorder=5),
    "published": dict(linestyle="-", linewidth=1.2, marker=".", markersize=5, alpha=0.9, zorder=4),
    "classical": dict(linestyle="--", linewidth=1.4, marker="s", markersize=3, zorder=3),
    "reference": dict(linestyle=":", linewidth=1.4, marker="x", markersize=4, alpha=0.85, zorder=2),
}


# one colour per codec, shared by this run's curve and its measured reference twin
_CODEC_COLORS = {
    "jpeg420": "#1f77b4", "jpeg444": "#8fbbd9", "webp": "#ff7f0e", "jpeg2000": "#8c564b",
    "hevc444": "#2ca02c", "hevc444_heif": "#2ca02c", "avif444": "#bcbd22", "jpegxl": "#17becf",
    "bpg444": "#7f7f7f", "vvc420_vvenc": "#9467bd",
    "paper_mbt2018": "#000000", "compressai_mbt2018": "#e377c2",
    "paper_mbt2018_mean": "#555555", "paper_bmshj2018_hyperprior": "#aaaaaa",
}
_SPARE_COLORS = ["#d62728", "#e6550d", "#3182bd", "#31a354", "#756bb1", "#636363", "#fd8d3c", "#6baed6", "#74c476", "#9e9ac8"]


def _color(name: str) -> str | None:
    n = name.split(":")[-1]
    return _CODEC_COLORS.get(n) or _CODEC_COLORS.get(n.removeprefix("measured_"))


def plot_rd(
    curves: Mapping[str, dict],
    out_path: str | os.PathLike,
    metric: str = "psnr",
    title: str | None = None,
    bpp_max: float | None = 2.0,
    labels: Mapping[str, str] | None = None,
    dpi: int = 130,
) -> Path:
    """Write one bpp-quality PNG for every curve that has ``metric``; returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if metric not in METRIC_AXES:
        raise ValueError(f"metric must be one of {', '.join(METRIC_AXES)}")
    labels = labels or {}
    fig, ax = plt.subplots(figsize=(9, 6.5))
    spare = iter(_SPARE_COLORS * 4)
    plotted = 0
    ymin, ymax = math.inf, -math.inf
    for i, (name, c) in enumerate(curves.items()):
        ys = c.get(metric) or []
        if not ys:
            continue
        pts = sorted((b, y) for b, y in zip(c["bpp"], ys) if np.isfinite(y))
        if bpp_max:
            inside = [p for p in pts if p[0] <= bpp_max * 1.05]
            # keep one point past the edge so the line reaches it
            pts = inside + [p for p in pts if p[0] > bpp_max * 1.05][:1]
        if not pts:
            continue
        b, y = zip(*pts)
        style = dict(_STYLE.get(c.get("kind", "learned"), _STYLE["learned"]))
        color = _color(name) or next(spare)
        ax.plot(b, y, label=labels.get(name, c.get("label", name)), color=color, **style)
        vis = [yy for bb, yy in pts if not bpp_max or bb <= bpp_max]
        if vis:
            ymin, ymax = min(ymin, min(vis)), max(ymax, max(vis))
        plotted += 1
    if not plotted:
        plt.close(fig)
        raise ValueError(f"no curve has {metric} values to plot")
    ax.set_xlabel("bits per pixel (whole file)")
    ax.set_ylabel(METRIC_AXES[metric])
    if bpp_max:
        ax.set_xlim(0, bpp_max)
        if math.isfinite(ymin):
            pad = 0.03 * (ymax - ymin)
            ax.set_ylim(ymin - pad, ymax + pad)
    ax.grid(True, alpha=0.3)
    ax.set_title(title or f"Rate-distortion, {METRIC_AXES[metric].split(' [')[0]}")
    ax.legend(fontsize=7.5, loc="lower right", ncol=1 if plotted <= 14 else 2, framealpha=0.9)
    fig.tight_layout()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------- visual sheet


def detail_crop(rgb: np.ndarray, size: int = 192, step: int = 32) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the ``size`` square with the most gradient energy: where codecs differ."""
    h, w = rgb.shape[:2]
    size = min(size, h, w)
    g = rgb.astype(np.float32).mean(axis=2)
    energy = np.abs(np.diff(g, axis=0))[:, :-1] + np.abs(np.diff(g, axis=1))[:-1, :]
    ii = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, best_xy = -1.0, (0, 0)
    s = size - 1
    for y in range(0, h - size + 1, step):
        for x in range(0, w - size + 1, step):
            e = ii[y + s, x + s] - ii[y, x + s] - ii[y + s, x] + ii[y, x]
            if e > best:
                best, best_xy = e, (x, y)
    return best_xy[0], best_xy[1], size, size


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizing
        return ImageFont.load_default()


def visual_sheet(
    original: np.ndarray,
    entries: Sequence[tuple[str, np.ndarray, float]],
    out_path: str | os.PathLike,
    crop: tuple[int, int, int, int] | None = None,
    zoom: int = 2,
    columns: int | None = None,
    title: str = "",
) -> Path:
    """Tiles of one crop: the original, then each ``(label, decoded_rgb, bpp)``; PNG written."""
    from PIL import Image, ImageDraw

    from ..metrics import rgb_metrics

    x, y, w, h = crop or detail_crop(original)
    tiles = [("original", original, None, None)]
    for label, rec, bpp in entries:
        p = rgb_metrics(original, rec)["psnr"]
        tiles.append((label, rec, bpp, p))
    tw, th = w * zoom, h * zoom
    cap = 34
    head = 30 if title else 0
    cols = min(columns or (4 if len(tiles) <= 8 else 5), len(tiles))
    rows = math.ceil(len(tiles) / cols)
    pad = 6
    sheet = Image.new("RGB", (cols * (tw + pad) + pad, head + rows * (th + cap + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    f1, f2 = _font(15), _font(12)
    if title:
        draw.text((pad, 6), title, fill="black", font=f1)
    for i, (label, img, bpp, p) in enumerate(tiles):
        r, c = divmod(i, cols)
        ox, oy = pad + c * (tw + pad), head + pad + r * (th + cap + pad)
        tile = Image.fromarray(np.ascontiguousarray(img[y:y + h, x:x + w])).resize((tw, th), Image.NEAREST)
        sheet.paste(tile, (ox, oy))
        draw.text((ox, oy + th + 2), label, fill="black", font=f1)
        if bpp is not None:
            draw.text((ox, oy + th + 19), f"{bpp:.3f} bpp, {p:.2f} dB (whole image)", fill=(60, 60, 60), font=f2)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


def match_knob(codec, rgb: np.ndarray, target_bpp: float, known: Sequence[dict] = (), iters: int = 8):
    """The knob of ``codec`` whose bpp on ``rgb`` is nearest ``target_bpp`` (log scale), found by
    bisection between the sweep's extreme knobs (integer knobs stay integers). ``known``:
    already measured ``{"knob", "bpp"}`` points of this image, which are reused."""
    h, w = rgb.shape[:2]
    seen: dict = {p["knob"]: p["bpp"] for p in known}

    def bpp(k):
        if k not in seen:
            seen[k] = 8.0 * len(codec.encode(rgb, k)) / (h * w)
        return seen[k]

    is_int = all(isinstance(k, int) for k in codec.knobs)
    lo, hi = min(codec.knobs), max(codec.knobs)
    up = codec.knob_increases_rate
    if codec.name == "jpeg2000":  # the knob is the rate target itself
        lo, hi = target_bpp / 2, target_bpp * 1.5
    for _ in range(iters):
        if (is_int and hi - lo <= 1) or (not is_int and hi / max(lo, 1e-9) < 1.01):
            break
        mid = (lo + hi) // 2 if is_int else math.sqrt(lo * hi) if lo > 0 else (lo + hi) / 2
        if (bpp(mid) < target_bpp) == up:
            lo = mid
        else:
            hi = mid
    bpp(lo), bpp(hi)
    return min(seen, key=lambda k: abs(math.log(max(seen[k], 1e-9) / target_bpp)))


def sheet_entries(
    image: str | os.PathLike,
    target_bpp: float,
    classical: Sequence[str] = (),
    model: Any = None,
    qualities: Sequence | None = None,
    compress: Callable | None = None,
    decompress: Callable | None = None,
    model_label: str = "licodec",
    per_image_points: Mapping[str, Sequence[dict]] | None = None,
) -> tuple[np.ndarray, list[tuple[str, np.ndarray, float]]]:
    """Decode one image with each codec near a common bpp.

    With a model (or ``compress``/``decompress``), licodec goes first at the quality whose bpp on
    this image is nearest ``target_bpp`` (``per_image_points[model_label]`` may give the bpp of
    each quality, else each quality is coded once); its actual bpp becomes the target for the
    classical codecs, each at the knob nearest that in log-bpp (:func:`match_knob`, which reuses
    ``per_image_points[codec]``, e.g. the sweep's points of this image).
    """
    from ..codec.image import load_rgb
    from .classical_codecs import encode_decode, get_codec

    rgb = load_rgb(image)
    h, w = rgb.shape[:2]
    pts = dict(per_image_points or {})
    entries: list[tuple[str, np.ndarray, float]] = []
    target = float(target_bpp)
    if model is not None or compress is not None:
        if compress is None or decompress is None:
            from .rd import default_codec_fns

            compress, decompress = default_codec_fns(model)
        if not qualities:
            raise ValueError("qualities are needed to pick the licodec operating point")
        known = {p["quality"]: p["bpp"] for p in pts.get(model_label, [])}
        best = None
        for q in qualities:
            if q in known:
                b = known[q]
                cand = (abs(math.log(b / target)), q, b, None)
            else:
                data = compress(rgb, quality=q, model=model)
                b = 8.0 * len(data) / (h * w)
                cand = (abs(math.log(b / target)), q, b, data)
            if best is None or cand[0] < best[0]:
                best = cand
        _, q, b, data = best
        if data is None:
            data = compress(rgb, quality=q, model=model)
            b = 8.0 * len(data) / (h * w)
        rec = np.asarray(decompress(data))
        entries.append((f"{model_label} (q={q})", rec, b))
        target = b
    for name in classical:
        c = get_codec(name)
        if c.available() is not None:
            continue
        cpts = pts.get(name) or []
        k = match_knob(c, rgb, target, cpts)
        data, rec, _, _ = encode_decode(c, rgb, k)
        entries.append((f"{c.label} ({c.knob_name} {k:.3g})", rec, 8.0 * len(data) / (h * w)))
    return rgb, entries
