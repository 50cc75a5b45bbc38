"""Loading rate-distortion result files into one normal form.

Understood layouts (all JSON):

* CompressAI's ``eval_model`` output and licodec's own (:mod:`licodec.eval.rd`, the per-codec
  files of :mod:`licodec.eval.classical`): ``{"name", "description", "results": {"bpp": [...],
  "psnr-rgb" | "psnr": [...], "ms-ssim-rgb" | "ms-ssim": [...]}}``: one curve.
* Several curves in one file, ``{curve_name: {"bpp": [...], "psnr": [...], ...}}``, as in
  ``kodak_rd.json``, ``compressai_published_kodak.json`` and ``classical.json``; keys that start
  with ``_`` are ignored.

A normal curve is a dict with ``name``, ``label``, ``bpp``, ``psnr``, ``ms_ssim`` and
``ms_ssim_db`` (lists, possibly empty), plus ``kind`` and whatever descriptive fields the file had.
"""
from __future__ import annotations

import fnmatch
import json
import math
import os
from pathlib import Path
from typing import Iterable, Mapping

__all__ = ["normalize", "load_curves", "select", "default_reference", "REFERENCE_PAIRS", "curve_kind"]

_PSNR_KEYS = ("psnr-rgb", "psnr", "psnr_rgb")
_MSSSIM_KEYS = ("ms-ssim-rgb", "ms-ssim", "ms_ssim", "ms_ssim_rgb")
_MSSSIM_DB_KEYS = ("ms-ssim-rgb-db", "ms-ssim-db", "ms_ssim_db")

# classical codec of this package -> the curve measured the same way in kodak_rd.json
REFERENCE_PAIRS = {
    "jpeg420": "measured_jpeg420",
    "jpeg444": "measured_jpeg444",
    "webp": "measured_webp",
    "jpeg2000": "measured_jpeg2000",
    "hevc444": "measured_hevc444_heif",
    "avif444": "measured_avif444",
    "jpegxl": "measured_jpegxl",
    "bpg444": "measured_bpg444",
}


def _first(d: Mapping, keys: Iterable[str]) -> list:
    for k in keys:
        if k in d and d[k] is not None:
            return [float(v) for v in d[k]]
    return []


def _db(v: float) -> float:
    return -10 * math.log10(max(1 - v, 1e-12)) if v == v else float("nan")


def curve_kind(name: str) -> str:
    n = name.lower()
    if n.startswith("measured_") or n.startswith("ref:"):
        return "reference"
    if n.startswith("paper") or n.startswith("compressai") or n.startswith("tfc-"):
        return "published"
    if n.split(":")[-1] in REFERENCE_PAIRS:
        return "classical"
    return "learned"


def normalize(name: str, d: Mapping, **extra) -> dict:
    """One curve in normal form from any of the understood layouts."""
    src = d.get("results", d)
    if not isinstance(src, Mapping) or "bpp" not in src:
        raise ValueError(f"curve {name!r} has no 'bpp'")
    bpp = [float(v) for v in src["bpp"]]
    psnr = _first(src, _PSNR_KEYS)
    ms = _first(src, _MSSSIM_KEYS)
    msdb = _first(src, _MSSSIM_DB_KEYS) or [_db(v) for v in ms]
    for key, vals in (("psnr", psnr), ("ms_ssim", ms), ("ms_ssim_db", msdb)):
        if vals and len(vals) != len(bpp):
            raise ValueError(f"curve {name!r}: {len(vals)} {key} values for {len(bpp)} bpp values")
    out = {
        "name": name,
        "label": d.get("label") or name,
        "kind": curve_kind(name),
        "bpp": bpp,
        "psnr": psnr,
        "ms_ssim": ms,
        "ms_ssim_db": msdb,
    }
    for k in ("codec", "source", "note", "description", "model", "dataset", "knob", "quality"):
        if k in d:
            out[k] = d[k]
        elif isinstance(src, Mapping) and k in src:
            out[k] = src[k]
    out.update(extra)
    return out


def load_curves(path: str | os.PathLike, prefix: str = "") -> dict[str, dict]:
    """Every curve of a result file, by name (``prefix`` + the file's own names)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no such result file: {path}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(doc, Mapping):
        raise ValueError(f"{path}: expected a JSON object")
    if "results" in doc and isinstance(doc["results"], Mapping):
        name = str(doc.get("name") or path.stem)
        return {prefix + name: normalize(prefix + name, doc, file=str(path))}
    curves = {}
    for k, v in doc.items():
        if k.startswith("_") or not isinstance(v, Mapping):
            continue
        try:
            curves[prefix + k] = normalize(prefix + k, v, file=str(path))
        except ValueError:
            continue
    if not curves:
        raise ValueError(f"{path}: no rate-distortion curves found")
    return curves


def select(curves: Mapping[str, dict], patterns: Iterable[str] | None) -> dict[str, dict]:
    """Curves whose name matches any of the glob patterns (all when none are given)."""
    pats = [p for p in (patterns or []) if p]
    if not pats:
        return dict(curves)
    return {k: v for k, v in curves.items() if any(fnmatch.fnmatchcase(k, p) for p in pats)}


def default_reference() -> Path | None:
    """``kodak_rd.json`` of the project's shared folder, if it is beside the checkout."""
    here = Path(__file__).resolve()
    candidates = [Path.cwd() / "../shared/reference/kodak_rd.json", Path.cwd() / "shared/reference/kodak_rd.json"]
    candidates += [p / "shared/reference/kodak_rd.json" for p in here.parents[:4]]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    return None
