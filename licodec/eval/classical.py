"""Classical codecs through maintained libraries, swept over their quality knob, with a cache.

Every codec here works on 8-bit RGB arrays (H, W, 3) in memory: ``encode(rgb, knob) -> bytes``
and ``decode(bytes) -> rgb``. The bytes are the whole file its decoder needs (headers and
container included), so ``bpp = 8 * len(bytes) / (H * W)``.

| name      | what                         | library (PyPI)                           | knob                     |
|-----------|------------------------------|------------------------------------------|--------------------------|
| jpeg420   | JPEG 4:2:0, optimized Huffman| libjpeg-turbo via Pillow                 | quality 3..90            |
| jpeg444   | JPEG 4:4:4, optimized Huffman| libjpeg-turbo via Pillow                 | quality 3..90            |
| webp      | WebP lossy, method 6         | libwebp via Pillow                       | quality 0..95            |
| jpeg2000  | JPEG 2000 9/7 + ICT, J2K     | OpenJPEG via Pillow                      | target bpp 0.06..2.5     |
| hevc444   | HEVC intra 4:4:4 in HEIF     | x265 + libheif via pillow-heif           | quality 5..65            |
| avif444   | AV1 intra 4:4:4 in AVIF      | libaom + libavif via Pillow (>= 11.2)    | quality 5..90            |
| jpegxl    | JPEG XL, effort 7            | libjxl via imagecodecs                   | butteraugli distance     |
| bpg444    | BPG 4:4:4 (x265, -m 9)       | ``bpgenc``/``bpgdec`` on PATH, if any    | QP 47..19                |

The sweep (:func:`sweep`) runs one job per (codec, image) in a process pool, keeps each
image's per-knob results in a small JSON cache under ``cache_dir`` (keyed by codec, settings,
library versions and the image's pixels), and only computes what the cache lacks.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..codec.image import load_rgb
from ..files import atomic_write

__all__ = [
    "ClassicalCodec",
    "CODECS",
    "get_codec",
    "available_codecs",
    "encode_decode",
    "measure_image",
    "sweep",
    "aggregate",
    "write_results",
    "closest_knob",
]

CACHE_FORMAT = 1


@dataclass(frozen=True)
class ClassicalCodec:
    name: str
    label: str
    knob_name: str
    knobs: tuple
    encode: Callable[[np.ndarray, Any], bytes]
    decode: Callable[[bytes], np.ndarray]
    settings: dict = field(default_factory=dict)
    # returns None when usable, else the reason it is not
    check: Callable[[], str | None] = lambda: None
    versions: Callable[[], dict] = lambda: {}
    # higher knob = higher rate? (False for QP / distance knobs)
    knob_increases_rate: bool = True
    cost: float = 1.0  # relative run time, to schedule heavy jobs first

    def available(self) -> str | None:
        try:
            return self.check()
        except Exception as e:  # noqa: BLE001 - any import/runtime failure means unavailable
            return f"{type(e).__name__}: {e}"

    def describe(self) -> dict:
        return {"label": self.label, "knob": self.knob_name, "settings": self.settings, "versions": self.versions()}


# --------------------------------------------------------------------------- Pillow codecs


def _pil(rgb: np.ndarray):
    from PIL import Image

    # a fresh image: no ICC/EXIF/text from the source file gets written into the output
    return Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")


def _pil_decode(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _pil_save(rgb: np.ndarray, fmt: str, **opts) -> bytes:
    buf = io.BytesIO()
    _pil(rgb).save(buf, format=fmt, **opts)
    return buf.getvalue()


def _pil_feature(feature: str) -> Callable[[], str | None]:
    def check() -> str | None:
        from PIL import features

        return None if features.check(feature) else f"Pillow was built without {feature}"

    return check


def _pil_versions(*feats: str) -> Callable[[], dict]:
    def versions() -> dict:
        import PIL
        from PIL import features

        out = {"Pillow": PIL.__version__}
        for f in feats:
            out[f] = features.version(f)
        return out

    return versions


def _jpeg_encode(subsampling: int) -> Callable[[np.ndarray, Any], bytes]:
    def enc(rgb: np.ndarray, q) -> bytes:
        return _pil_save(rgb, "JPEG", quality=int(q), subsampling=subsampling, optimize=True)

    return enc


_jpeg420_encode = _jpeg_encode(2)
_jpeg444_encode = _jpeg_encode(0)


def _webp_encode(rgb: np.ndarray, q) -> bytes:
    return _pil_save(rgb, "WEBP", quality=int(q), method=6, lossless=False)


def _jpeg2000_encode(rgb: np.ndarray, bpp) -> bytes:
    # OpenJPEG's rate target is a compression ratio against the raw 24 bpp samples.
    # Raw codestream (J2K, no JP2 boxes): all a decoder needs for an RGB image.
    return _pil_save(
        rgb,
        "JPEG2000",
        irreversible=True,
        mct=1,
        quality_mode="rates",
        quality_layers=[24.0 / float(bpp)],
        no_jp2=True,
    )


def _avif_encode(rgb: np.ndarray, q) -> bytes:
    return _pil_save(
        rgb, "AVIF", quality=int(q), subsampling="4:4:4", speed=6, codec="aom", max_threads=1,
        advanced={"tune": "iq"},
    )


def _avif_check() -> str | None:
    from PIL import features

    if not features.check("avif"):
        return "Pillow was built without AVIF (needs Pillow >= 11.2 wheels)"
    from PIL import _avif

    if not _avif.encoder_codec_available("aom"):
        return "Pillow's libavif has no aom encoder"
    return None


def _avif_versions() -> dict:
    out = _pil_versions("avif")()
    try:
        from PIL import _avif

        out["codecs"] = _avif.codec_versions()
    except Exception:  # noqa: BLE001
        pass
    return out


# --------------------------------------------------------------------------- pillow-heif (HEVC)


def _heif_encode(rgb: np.ndarray, q) -> bytes:
    import pillow_heif

    heif = pillow_heif.from_bytes(mode="RGB", size=(rgb.shape[1], rgb.shape[0]), data=np.ascontiguousarray(rgb, np.uint8).tobytes())
    buf = io.BytesIO()
    heif.save(buf, quality=int(q), chroma=444, enc_params={"preset": "slow", "tune": "ssim"})
    return buf.getvalue()


def _heif_decode(data: bytes) -> np.ndarray:
    import pillow_heif

    f = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    return np.asarray(f.to_pillow().convert("RGB"))


def _heif_check() -> str | None:
    import pillow_heif

    info = pillow_heif.libheif_info()
    if "x265" not in str(info.get("encoders", info.get("HEIF", ""))):
        return "pillow-heif has no x265 encoder"
    return None


def _heif_versions() -> dict:
    import pillow_heif

    info = pillow_heif.libheif_info()
    return {"pillow-heif": pillow_heif.__version__, "libheif": info.get("libheif"), "x265": info.get("HEIF")}


# --------------------------------------------------------------------------- imagecodecs (JPEG XL)


def _jxl_encode(rgb: np.ndarray, distance) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.jpegxl_encode(np.ascontiguousarray(rgb, np.uint8), distance=float(distance), effort=7, numthreads=1))


def _jxl_decode(data: bytes) -> np.ndarray:
    import imagecodecs

    out = np.asarray(imagecodecs.jpegxl_decode(data, numthreads=1))
    if out.dtype != np.uint8:
        raise ValueError(f"JPEG XL decoded to {out.dtype}")
    return out[..., :3]


def _jxl_check() -> str | None:
    import imagecodecs

    return None if imagecodecs.JPEGXL.available else "imagecodecs was built without JPEG XL"


def _jxl_versions() -> dict:
    import imagecodecs

    return {"imagecodecs": imagecodecs.__version__, "libjxl": imagecodecs.jpegxl_version()}


# --------------------------------------------------------------------------- bpgenc (optional)


def _bpg_encode(rgb: np.ndarray, qp) -> bytes:
    from PIL import Image

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.png", Path(d) / "out.bpg"
        Image.fromarray(rgb).save(src)
        subprocess.run(["bpgenc", "-q", str(int(qp)), "-f", "444", "-m", "9", "-e", "x265", "-o", str(dst), str(src)],
                       check=True, capture_output=True)
        return dst.read_bytes()


def _bpg_decode(data: bytes) -> np.ndarray:
    from PIL import Image

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.bpg", Path(d) / "out.png"
        src.write_bytes(data)
        subprocess.run(["bpgdec", "-o", str(dst), str(src)], check=True, capture_output=True)
        with Image.open(dst) as im:
            return np.asarray(im.convert("RGB"))


def _bpg_check() -> str | None:
    missing = [t for t in ("bpgenc", "bpgdec") if shutil.which(t) is None]
    return f"{' and '.join(missing)} not on PATH" if missing else None


def _bpg_versions() -> dict:
    try:
        r = subprocess.run(["bpgenc", "-h"], capture_output=True, text=True)
        first = (r.stdout or r.stderr).splitlines()[0]
    except Exception:  # noqa: BLE001
        first = "unknown"
    return {"bpgenc": first}


# --------------------------------------------------------------------------- registry

_JPEG_Q = (3, 5, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90)

CODECS: dict[str, ClassicalCodec] = {
    c.name: c
    for c in [
        ClassicalCodec("jpeg420", "JPEG 4:2:0", "quality", _JPEG_Q, _jpeg420_encode, _pil_decode,
                       {"library": "libjpeg-turbo via Pillow", "subsampling": "4:2:0", "optimize": True},
                       _pil_feature("jpg"), _pil_versions("jpg", "libjpeg_turbo"), cost=0.2),
        ClassicalCodec("jpeg444", "JPEG 4:4:4", "quality", _JPEG_Q, _jpeg444_encode, _pil_decode,
                       {"library": "libjpeg-turbo via Pillow", "subsampling": "4:4:4", "optimize": True},
                       _pil_feature("jpg"), _pil_versions("jpg", "libjpeg_turbo"), cost=0.2),
        ClassicalCodec("webp", "WebP", "quality", (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), _webp_encode, _pil_decode,
                       {"library": "libwebp via Pillow", "method": 6},
                       _pil_feature("webp"), _pil_versions("webp"), cost=0.5),
        ClassicalCodec("jpeg2000", "JPEG 2000", "target bpp",
                       (0.06, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5),
                       _jpeg2000_encode, _pil_decode,
                       {"library": "OpenJPEG via Pillow", "wavelet": "irreversible 9/7", "mct": "ICT",
                        "rate control": "quality_mode=rates, ratio = 24 / bpp", "container": "J2K codestream"},
                       _pil_feature("jpg_2000"), _pil_versions("jpg_2000"), cost=0.6),
        ClassicalCodec("hevc444", "HEVC intra 4:4:4 (HEIF)", "quality", (5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65),
                       _heif_encode, _heif_decode,
                       {"library": "x265 + libheif via pillow-heif", "chroma": "4:4:4", "preset": "slow", "tune": "ssim",
                        "container": "HEIF"},
                       _heif_check, _heif_versions, cost=2.0),
        ClassicalCodec("avif444", "AVIF 4:4:4", "quality", (5, 10, 20, 30, 40, 50, 55, 60, 65, 70, 75, 80, 85, 90),
                       _avif_encode, _pil_decode,
                       {"library": "libaom + libavif via Pillow", "subsampling": "4:4:4", "speed": 6, "tune": "iq"},
                       _avif_check, _avif_versions, cost=3.0),
        ClassicalCodec("jpegxl", "JPEG XL", "distance",
                       (25.0, 18.0, 14.0, 11.0, 9.0, 7.0, 5.5, 4.5, 3.5, 3.0, 2.5, 2.0, 1.5, 1.2, 1.0, 0.8),
                       _jxl_encode, _jxl_decode,
                       {"library": "libjxl via imagecodecs", "effort": 7},
                       _jxl_check, _jxl_versions, knob_increases_rate=False, cost=1.0),
        ClassicalCodec("bpg444", "BPG 4:4:4", "QP", tuple(range(47, 18, -2)), _bpg_encode, _bpg_decode,
                       {"library": "bpgenc/bpgdec", "format": "4:4:4", "encoder": "x265", "level": 9},
                       _bpg_check, _bpg_versions, knob_increases_rate=False, cost=3.0),
    ]
}

DEFAULT_CODECS = ("jpeg420", "jpeg444", "webp", "jpeg2000", "hevc444", "avif444", "jpegxl", "bpg444")


def get_codec(name: str) -> ClassicalCodec:
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown classical codec {name!r}; known: {', '.join(CODECS)}") from None


def available_codecs(names: Iterable[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """(usable names, {name: reason} for the unusable ones)."""
    ok, missing = [], {}
    for n in names or DEFAULT_CODECS:
        reason = get_codec(n).available()
        if reason is None:
            ok.append(n)
        else:
            missing[n] = reason
    return ok, missing


# --------------------------------------------------------------------------- measuring


def encode_decode(codec: str | ClassicalCodec, rgb: np.ndarray, knob) -> tuple[bytes, np.ndarray, float, float]:
    """(file bytes, decoded RGB, encode seconds, decode seconds)."""
    c = get_codec(codec) if isinstance(codec, str) else codec
    t0 = time.perf_counter()
    data = c.encode(rgb, knob)
    t1 = time.perf_counter()
    rec = c.decode(data)
    t2 = time.perf_counter()
    if rec.shape != rgb.shape or rec.dtype != np.uint8:
        raise RuntimeError(f"{c.name} decoded {rec.shape} {rec.dtype}, expected {rgb.shape} uint8")
    return data, rec, t1 - t0, t2 - t1


def measure_image(codec: str | ClassicalCodec, rgb: np.ndarray, knob) -> dict:
    """One operating point on one image: bytes, bpp, PSNR, MS-SSIM (RGB, 8 bit), times."""
    from ..metrics import rgb_metrics

    data, rec, te, td = encode_decode(codec, rgb, knob)
    h, w = rgb.shape[:2]
    m = rgb_metrics(rgb, rec)
    return {"knob": knob, "bytes": len(data), "bpp": 8.0 * len(data) / (h * w), **m,
            "encoding_time": te, "decoding_time": td}


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
    try:
        import torch

        torch.set_num_threads(1)
    except Exception:  # noqa: BLE001
        pass


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
