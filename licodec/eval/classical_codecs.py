"""Classical codecs through maintained libraries: adapters, the registry, one measurement.

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

The sweep over images and knobs, with its cache and process pool, is ``classical.py``.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np


__all__ = ["ClassicalCodec", "CODECS", "DEFAULT_CODECS", "get_codec", "available_codecs", "encode_decode", "measure_image"]


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
