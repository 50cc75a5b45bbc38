"""Rate-distortion evaluation of a licodec model by real coding.

Every image is compressed to a complete ``.lic`` file (``licodec.codec.api.compress``) and decoded
back from those bytes alone (``licodec.codec.api.decompress``); the rate is the whole file,
``bpp = 8 * len(file) / (H * W)``. Quality is measured on the 8-bit RGB output: PSNR (peak 255),
MS-SSIM (data range 255) and MS-SSIM in dB, ``-10 log10(1 - MS-SSIM)``; encode and decode
wall times are measured around the two calls.

The result is a CompressAI-compatible JSON document::

    {"name": ..., "description": ..., "model": ..., "dataset": ..., "weights_sha256": ...,
     "results": {"quality": [...], "bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...],
                 "ms-ssim-rgb-db": [...], "encoding_time": [...], "decoding_time": [...]},
     "per_image": {"kodim01.png": [{"quality", "bytes", "bpp", "psnr", "ms_ssim", ...}, ...], ...}}

``results`` holds the means over images at each quality (``ms-ssim-rgb-db`` is the dB value of
the mean MS-SSIM, the same convention as the published reference curves), so the file plots
next to CompressAI's own result files.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..codec.image import load_rgb
from ..files import atomic_write

__all__ = ["evaluate", "evaluate_family", "aggregate", "write_json", "default_codec_fns", "default_qualities"]

CompressFn = Callable[..., bytes]
DecompressFn = Callable[[bytes], np.ndarray]


def default_codec_fns(model: Any = None) -> tuple[CompressFn, DecompressFn]:
    """licodec's own codec API (imported here, on first use, to keep ``import licodec`` light).

    The decoder is given the same ``model`` (so a model given by path is found) and returns an
    RGB array.
    """
    from licodec.codec import api  # noqa: PLC0415

    def decompress(data: bytes) -> np.ndarray:
        return api.decompress(data, model=model, as_array=True)

    return api.compress, decompress


def default_qualities(model: Any = None) -> list:
    """Every trained integer quality of a variable-rate model (1..L); ``[None]`` for a fixed-rate one."""
    from licodec.codec import api  # noqa: PLC0415

    rng = api.resolve_model(model).trained_quality_range
    if rng is None:
        return [None]
    import math

    return list(range(math.ceil(rng[0]), math.floor(rng[1]) + 1))


def measure(rgb: np.ndarray, quality: Any, model: Any, compress: CompressFn, decompress: DecompressFn) -> dict:
    """One image at one quality: code it, decode it, measure it."""
    from ..metrics import rgb_metrics

    t0 = time.perf_counter()
    data = compress(rgb, quality=quality, model=model)
    t1 = time.perf_counter()
    rec = decompress(data)
    t2 = time.perf_counter()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"compress returned {type(data).__name__}, expected bytes")
    rec = np.asarray(rec)
    if rec.shape != rgb.shape or rec.dtype != np.uint8:
        raise RuntimeError(f"decompress returned {rec.shape} {rec.dtype}, expected {rgb.shape} uint8")
    h, w = rgb.shape[:2]
    nbytes = len(bytes(data))
    return {"quality": quality, "bytes": nbytes, "bpp": 8.0 * nbytes / (h * w), **rgb_metrics(rgb, rec),
            "encoding_time": t1 - t0, "decoding_time": t2 - t1}


CURVE_KEYS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "ms-ssim-rgb-db", "encoding_time", "decoding_time")
_MEASURED = (("bpp", "bpp"), ("psnr-rgb", "psnr"), ("ms-ssim-rgb", "ms_ssim"), ("encoding_time", "encoding_time"), ("decoding_time", "decoding_time"))


def mean_point(points: Sequence[dict]) -> dict[str, float]:
    """One point of a curve from the measurements of several images at one setting (see
    :func:`measure`): the means, in CompressAI's result keys (``CURVE_KEYS``), with
    ``ms-ssim-rgb-db`` the dB value of the mean MS-SSIM (as CompressAI and the reference
    curves do). Used for licodec's curves and the classical codecs' alike."""
    from ..metrics import ms_ssim_db

    out = {key: float(np.mean([p[src] for p in points])) for key, src in _MEASURED}
    out["ms-ssim-rgb-db"] = float(ms_ssim_db(out["ms-ssim-rgb"]))
    return out


def aggregate(per_image: dict[str, list[dict]], qualities: Sequence) -> dict:
    """Means over images at each quality, in CompressAI's keys (plus ``quality`` and
    ``ms-ssim-rgb-db``). Images missing a quality make that quality's mean over fewer images."""
    cols: dict[str, list] = {k: [] for k in ("quality", *CURVE_KEYS, "n_images")}
    for q in qualities:
        pts = [p for recs in per_image.values() for p in recs if p["quality"] == q]
        if not pts:
            continue
        cols["quality"].append(q)
        cols["n_images"].append(len(pts))
        for key, value in mean_point(pts).items():
            cols[key].append(value)
    return cols


def evaluate(
    images: Sequence[str | os.PathLike],
    qualities: Sequence,
    model: Any = None,
    *,
    name: str | None = None,
    compress: CompressFn | None = None,
    decompress: DecompressFn | None = None,
    warmup: bool = True,
    progress: bool = True,
    dataset: str = "",
    log: Callable[[str], None] | None = None,
    effort: int = 0,
    device: str = "cpu",
) -> dict:
    """Code every image at every quality; return the result document (see the module doc).

    ``compress(rgb_uint8_hwc, quality=q, model=model) -> bytes`` and ``decompress(bytes) ->
    rgb_uint8_hwc`` default to :mod:`licodec.codec.api`. ``warmup`` codes the first image once
    before timing, so model loading and first-call set-up stay out of the reported times.
    ``effort`` (0..8) and ``device``: licodec's encoder search (:mod:`licodec.codec.effort`),
    recorded in the document; they apply to licodec's own coding only.
    """
    if not images:
        raise ValueError("no images to evaluate")
    if not qualities:
        raise ValueError("no qualities to evaluate")
    given_decompress = decompress
    if compress is None or decompress is None:
        c, d = default_codec_fns(model)
        compress, decompress = compress or c, decompress or d
    from licodec.codec import api  # noqa: PLC0415

    if (effort or device != "cpu") and compress is not api.compress:
        raise ValueError("effort and device are settings of licodec's own encoder, not of a given compress function")
    weights = precision = None
    model_str = str(model) if model is not None else "default"  # what was asked for, before it is resolved

    if compress is api.compress:  # licodec's own coding: record which weights were measured
        codec = api.resolve_model(model)
        weights = codec.weights_sha256
        from licodec.codec.precision import describe  # noqa: PLC0415

        precision = describe()  # the transforms' arithmetic of this run (fp32, bf16, or each's)
        if model is None:
            model_str = codec.name  # the default model, by its name
        model = codec  # resolved once: every image below codes with this codec
        decompress = given_decompress or default_codec_fns(codec)[1]
        if effort or device != "cpu":
            from licodec.codec.effort import check_device, iterations  # noqa: PLC0415

            iterations(effort)  # an effort out of range, or a device not here, fails before any work
            check_device(device)
            compress = functools.partial(api.compress, effort=effort, device=device)
    paths = [Path(p) for p in images]
    per_image: dict[str, list[dict]] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths) * len(qualities), unit="img", desc=name or "eval", dynamic_ncols=True)
    t_start = time.time()
    try:
        for i, p in enumerate(paths):
            rgb = load_rgb(p)
            if i == 0 and warmup:
                decompress(compress(rgb, quality=qualities[0], model=model))
            recs = []
            for q in qualities:
                r = measure(rgb, q, model, compress, decompress)
                recs.append(r)
                if bar:
                    bar.set_postfix_str(f"{p.stem} q={q} {r['bpp']:.3f} bpp {r['psnr']:.2f} dB")
                    bar.update()
            per_image[p.name] = recs
            if log:
                log(f"{p.name}: " + ", ".join(f"q={r['quality']} {r['bpp']:.3f} bpp {r['psnr']:.2f} dB" for r in recs))
    finally:
        if bar:
            bar.close()
    label = name or Path(model_str).stem
    return {
        "name": label,
        "description": f"licodec {model_str}{f' at effort {effort}' if effort else ''}: real coding (whole .lic file), 8-bit RGB output",
        "model": model_str,
        "dataset": dataset,
        **({"weights_sha256": weights} if weights else {}),
        **({"precision": precision} if precision else {}),
        **({"effort": effort, "device": device} if effort else {}),
        "n_images": len(paths),
        "qualities": list(qualities),
        "host": {"machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "wall_time_s": time.time() - t_start,
        "results": aggregate(per_image, qualities),
        "per_image": per_image,
    }


def evaluate_family(images: Sequence[str | os.PathLike], models: Sequence[Any], *, name: str, **kwargs) -> dict:
    """One curve from several fixed-rate models (e.g. CompressAI's eight files of one
    architecture, imported with ``licodec import``): each model is evaluated as
    :func:`evaluate` does (its one rate), and its points become the curve's "quality" k,
    1..len(models) in the order of their mean bpp. The document is :func:`evaluate`'s, with
    ``models`` (k -> model and weights) in place of ``model``/``weights_sha256``."""
    docs = [evaluate(images, [None], m, name=name, **kwargs) for m in models]
    docs.sort(key=lambda d: d["results"]["bpp"][0])
    per_image: dict[str, list[dict]] = {}
    for k, d in enumerate(docs, 1):
        for image, recs in d["per_image"].items():
            per_image.setdefault(image, []).extend({**r, "quality": k} for r in recs)
    first = docs[0]
    qualities = list(range(1, len(docs) + 1))
    return {
        **{key: first[key] for key in ("dataset", "n_images", "host") if key in first},
        "name": name,
        "description": f"licodec, {len(docs)} fixed-rate models as one curve: real coding (whole .lic file), 8-bit RGB output",
        "model": ",".join(d["model"] for d in docs),
        "models": [{"quality": k, "model": d["model"], **({"weights_sha256": d["weights_sha256"]} if "weights_sha256" in d else {})}
                   for k, d in enumerate(docs, 1)],
        **({"precision": first["precision"]} if "precision" in first else {}),
        **({key: first[key] for key in ("effort", "device")} if "effort" in first else {}),
        "qualities": qualities,
        "wall_time_s": sum(d["wall_time_s"] for d in docs),
        "results": aggregate(per_image, qualities),
        "per_image": per_image,
    }


def write_json(doc: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(doc, indent=1, default=str))
    return path
