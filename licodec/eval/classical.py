"""The classical codecs (classical_codecs.py) swept over their quality knob, with a cache.

:func:`sweep` runs one job per (codec, image) in a process pool, keeps each image's per-knob
results in a small JSON cache under ``cache_dir`` (keyed by codec, settings, library
versions and the image's pixels), and only computes what the cache lacks; :func:`aggregate`
and :func:`write_results` turn the results into curves in CompressAI's format.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..codec.image import load_rgb
from ..files import atomic_write
from .classical_codecs import DEFAULT_CODECS, ClassicalCodec, available_codecs, get_codec, measure_image

__all__ = ["sweep", "aggregate", "write_results", "closest_knob"]

CACHE_FORMAT = 1


def pixel_digest(rgb: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(f"{rgb.shape}".encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()


def _settings_key(c: ClassicalCodec) -> str:
    blob = json.dumps({"fmt": CACHE_FORMAT, "settings": c.settings, "versions": c.versions()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _knob_key(knob) -> str:
    return repr(float(knob)) if isinstance(knob, float) else repr(knob)


def _cache_path(cache_dir: Path, c: ClassicalCodec, image: Path, digest: str) -> Path:
    return cache_dir / f"{c.name}-{_settings_key(c)}" / f"{image.stem}-{digest[:12]}.json"


def _job(codec_name: str, image: str, knobs: Sequence, cache_dir: str | None) -> dict:
    """Measure every knob of one codec on one image, reusing and updating its cache file."""
    c = get_codec(codec_name)
    rgb = load_rgb(image)
    digest = pixel_digest(rgb)
    cached: dict[str, dict] = {}
    path = None
    if cache_dir is not None:
        path = _cache_path(Path(cache_dir), c, Path(image), digest)
        if path.exists():
            try:
                cached = json.loads(path.read_text())["points"]
            except (OSError, ValueError, KeyError):
                cached = {}
    todo = [k for k in knobs if _knob_key(k) not in cached]
    for k in todo:
        cached[_knob_key(k)] = measure_image(c, rgb, k)
    if todo and path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps({"codec": c.name, "image": Path(image).name, "pixels_sha256": digest,
                                       **c.describe(), "points": cached}, indent=1, default=str))
    return {"codec": c.name, "image": Path(image).name, "computed": len(todo),
            "points": [cached[_knob_key(k)] for k in knobs]}


def _worker_init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


class _single_thread_torch:
    """Metrics on one thread (what the pool workers use), restored afterwards."""

    def __enter__(self):
        import torch

        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.n)


def sweep(
    images: Sequence[str | os.PathLike],
    codecs: Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None = "results/classical/cache",
    workers: int | None = None,
    knobs: dict[str, Sequence] | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> dict[str, list[dict]]:
    """Run every codec over every image and knob. Returns ``{codec: [per-image dict]}`` where
    each per-image dict is ``{"image": name, "points": [per-knob record, ...], "computed": n}``
    (``computed``: how many of its points were not in the cache).

    Unavailable codecs are skipped with a note through ``log``. ``workers=None`` uses
    ``os.cpu_count()`` processes; ``workers=1`` runs in this process.
    """
    names = list(codecs) if codecs else list(DEFAULT_CODECS)
    ok, missing = available_codecs(names)
    for n, why in missing.items():
        if log:
            log(f"skipping {n}: {why}")
    knobs = knobs or {}
    images = [str(p) for p in images]
    jobs = [(n, img, tuple(knobs.get(n, get_codec(n).knobs))) for n in ok for img in images]
    jobs.sort(key=lambda j: -get_codec(j[0]).cost)  # heavy first: better packing
    cache = str(cache_dir) if cache_dir is not None else None
    workers = max(1, workers or os.cpu_count() or 1)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), unit="job", desc="classical", dynamic_ncols=True)
    results: list[dict] = []
    try:
        if workers == 1 or len(jobs) <= 1:
            with _single_thread_torch():
                for j in jobs:
                    results.append(_job(*j, cache))
                    if bar:
                        bar.set_postfix_str(f"{j[0]} {Path(j[1]).stem}")
                        bar.update()
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as ex:
                futs = {ex.submit(_job, *j, cache): j for j in jobs}
                for f in as_completed(futs):
                    results.append(f.result())
                    if bar:
                        j = futs[f]
                        bar.set_postfix_str(f"{j[0]} {Path(j[1]).stem}")
                        bar.update()
    finally:
        if bar:
            bar.close()
    out: dict[str, list[dict]] = {n: [] for n in ok}
    order = {Path(p).name: i for i, p in enumerate(images)}
    for r in results:
        out[r["codec"]].append({"image": r["image"], "points": r["points"], "computed": r["computed"]})
    for n in out:
        out[n].sort(key=lambda r: order[r["image"]])
    return out


# --------------------------------------------------------------------------- aggregation


def aggregate(per_image: Sequence[dict], knobs: Sequence | None = None) -> dict:
    """Average per-image points into a curve in CompressAI's result keys.

    ``per_image``: ``[{"image": name, "points": [record per knob]}, ...]`` (all images share the
    knob list). Returns ``{"knob", "bpp", "psnr-rgb", "ms-ssim-rgb", "ms-ssim-rgb-db",
    "encoding_time", "decoding_time"}``, each a list over knobs, sorted by rate. ``psnr-rgb``
    and ``ms-ssim-rgb`` are means of per-image values (as CompressAI and the reference curves do);
    ``ms-ssim-rgb-db`` is the dB value of the mean MS-SSIM.
    """
    from .rd import CURVE_KEYS, mean_point

    if not per_image:
        raise ValueError("no images to aggregate")
    n_knobs = len(per_image[0]["points"])
    cols: dict[str, list] = {k: [] for k in ("knob", *CURVE_KEYS)}
    for i in range(n_knobs):
        pts = [r["points"][i] for r in per_image]
        cols["knob"].append(pts[0]["knob"])
        for key, value in mean_point(pts).items():
            cols[key].append(value)
    order = np.argsort(cols["bpp"], kind="stable")
    return {k: [v[j] for j in order] for k, v in cols.items()}


def write_results(sweep_out: dict[str, list[dict]], out_dir: str | os.PathLike, dataset: str = "") -> dict[str, Path]:
    """Write one CompressAI-style JSON per codec (``{name, description, results, per_image}``) and
    ``classical.json`` with all curves; returns {codec: path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    combined: dict[str, dict] = {}
    for name, per_image in sweep_out.items():
        if not per_image:
            continue
        c = get_codec(name)
        curve = aggregate(per_image)
        doc = {
            "name": name,
            "description": c.label,
            "dataset": dataset,
            "n_images": len(per_image),
            **c.describe(),
            "results": curve,
            "per_image": {r["image"]: r["points"] for r in per_image},
        }
        p = out_dir / f"{name}.json"
        p.write_text(json.dumps(doc, indent=1, default=str))
        paths[name] = p
        combined[name] = {"label": c.label, "codec": f"{c.label}: " + ", ".join(f"{k} {v}" for k, v in c.settings.items()),
                          "versions": c.versions(), "n_images": len(per_image), **curve}
    (out_dir / "classical.json").write_text(json.dumps(combined, indent=1, default=str))
    return paths


def closest_knob(codec: str, points: Sequence[dict], target_bpp: float):
    """The knob whose (per-image) bpp is nearest to ``target_bpp`` in log-rate."""
    best = min(points, key=lambda p: abs(math.log(max(p["bpp"], 1e-9)) - math.log(target_bpp)))
    return best["knob"]
