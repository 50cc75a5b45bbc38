"""The Python API: ``compress(image) -> bytes`` and ``decompress(bytes) -> image``.

Any width and height: the image is padded on the right and bottom to a multiple of 16 by
repeating its edge pixels (a flat continuation costs the fewest bits) and cropped back
on decoding.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import CodecError, FormatError, InputError
from ..files import atomic_write, read_bytes
from ..models import CompressionModel
from . import container
from .container import Header
from .image import from_rgb, image_metadata, read_image, to_rgb
from .model_codec import ModelCodec, ProgressSteps, band_count

__all__ = ["compress", "decompress", "compress_file", "decompress_file", "info", "resolve_model", "CodecError"]

MULTIPLE = CompressionModel.downsampling  # image sides are padded to a multiple of this


_FROM_OBJECTS: "OrderedDict[str, ModelCodec]" = OrderedDict()  # weights' SHA-256 -> codec of a copy
_FROM_OBJECTS_KEPT = 4
_FROM_OBJECTS_LOCK = threading.Lock()


def resolve_model(model: str | os.PathLike | CompressionModel | ModelCodec | None) -> ModelCodec:
    """A ModelCodec from a name, a path, a model object or None (the default model).

    A model object is left as it is: the codec works on a copy of its current weights,
    cached by their SHA-256 (the last few), so a model trained further gets new coding
    tables, and hashing (~0.1 s for the default model) is all a repeated call costs. For
    many calls with one model object, resolve it once and pass the ModelCodec.
    """
    if isinstance(model, ModelCodec):
        return model
    if isinstance(model, CompressionModel):
        from ..models.io import weights_hash

        key = weights_hash(model)
        with _FROM_OBJECTS_LOCK:  # built once when threads pass the same model at once
            codec = _FROM_OBJECTS.get(key)
            if codec is None:
                codec = _FROM_OBJECTS[key] = ModelCodec.from_model(model)
                while len(_FROM_OBJECTS) > _FROM_OBJECTS_KEPT:
                    _FROM_OBJECTS.popitem(last=False)
            _FROM_OBJECTS.move_to_end(key)
            return codec
    from . import zoo

    return zoo.load(model)


def _quality(codec: ModelCodec, quality: float | None) -> float | None:
    rng = codec.quality_range
    if rng is None:
        if quality is not None:
            raise CodecError(f"model {codec.name} has a fixed rate; it takes no quality setting")
        return None
    if quality is None:
        lo, hi = codec.trained_quality_range
        return float(round((lo + hi) / 2))
    q = float(quality)
    if not rng[0] <= q <= rng[1]:
        raise CodecError(f"quality {q:g} outside {rng[0]:g}..{rng[1]:g} for model {codec.name}")
    return round(q * 1000) / 1000  # the precision the file stores


def _pad(arr: np.ndarray) -> torch.Tensor:
    h, w = arr.shape[:2]
    ph, pw = -h % MULTIPLE, -w % MULTIPLE
    if ph or pw:
        arr = np.pad(arr, ((0, ph), (0, pw), (0, 0)), mode="edge")
    return torch.from_numpy(np.array(arr, dtype=np.float32)).permute(2, 0, 1)[None].div_(255)


def to_uint8(x_hat: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8, round half to even (in bands of rows:
    no full-size float temporaries)."""
    _, _, h, w = x_hat.shape
    out = np.empty((h, w, 3), np.uint8)
    rows = max(1, (1 << 20) // max(1, w))
    for a in range(0, h, rows):
        band = torch.round(x_hat[0, :, a : a + rows].clamp(0, 1) * 255).to(torch.uint8)
        out[a : a + rows] = band.permute(1, 2, 0).numpy()
    return out


def compress(image, quality: float | None = None, model=None, *, drop_alpha: bool = False, metadata: str = "all", effort: int = 0,
             progress: Callable[[int, int], None] | None = None, max_pixels: int = container.MAX_PIXELS, device: str = "cpu") -> bytes:
    """Encode a PIL image or a uint8 array ((H, W), (H, W, 3) or (H, W, 4)) to .lic bytes.

    ``quality``: 1 (smallest) .. L (best) for variable-rate models (fractional values
    interpolate), None for fixed-rate ones; ``model``: name, path, model object or None;
    ``metadata``: which of a PIL image's ICC profile, EXIF and XMP blocks the file carries
    ("all", "icc", "exif", "none"; decoding gives them back in the image's ``info``);
    ``effort``: 0 (g_a's latents, the fastest) .. 8 (the longest search for smaller files at the
    same quality, see :mod:`licodec.codec.effort`); ``device``: where that search runs ("cpu",
    or "cuda" where torch sees a GPU; the coding itself always runs on the CPU);
    ``progress(i, n)``: i of n steps done (g_a's bands on large images, the search's
    iterations, the coding); ``max_pixels``: larger images are refused (an image file's from
    its header, before decoding).
    """
    return _compress_array(*_image_input(image, drop_alpha, metadata, max_pixels), quality, model, effort, progress, device)


def _image_input(source, drop_alpha: bool, metadata: str, max_pixels: int = container.MAX_PIXELS) -> tuple[np.ndarray, str, dict[str, bytes]]:
    """(uint8 (H, W, 3), colour, kept metadata) of a PIL image, a uint8 array, an image
    file's bytes or an image file's path: the one way every compress function reads its input."""
    if isinstance(source, (str, os.PathLike, bytes, bytearray)):
        meta: dict[str, bytes] = {}
        arr, colour = read_image(bytes(source) if isinstance(source, bytearray) else source, drop_alpha=drop_alpha, metadata=meta, keep=metadata,
                                 max_pixels=max_pixels)
        return arr, colour, meta
    w, h = (source.shape[1], source.shape[0]) if isinstance(source, np.ndarray) and source.ndim >= 2 else getattr(source, "size", (0, 0))
    if w * h > max_pixels:
        raise InputError(f"image of {w}x{h} pixels is larger than the limit ({max_pixels:,} pixels)")
    arr, colour = to_rgb(source, drop_alpha=drop_alpha)
    return arr, colour, image_metadata(source, metadata)


def compress_to_target(image, target, model=None, *, drop_alpha: bool = False, metadata: str = "all", effort: int = 0,
                       max_pixels: int = container.MAX_PIXELS, device: str = "cpu"):
    """Encode at the quality that meets ``target`` (a :class:`~licodec.codec.rate_control.Target`:
    a file size, a bpp or a PSNR) -> :class:`~licodec.codec.rate_control.RateResult` (the file's
    bytes, the quality, bytes, bpp, PSNR reached, and whether the target was met). ``image``:
    a PIL image, a uint8 array, or the bytes of an image file. ``effort``, ``device``: each
    probe's (see :func:`compress`)."""
    from .rate_control import search_quality

    codec = resolve_model(model)
    if codec.quality_range is None:
        raise CodecError(f"model {codec.name} has a fixed rate: no quality to search")
    arr, colour, meta = _image_input(image, drop_alpha, metadata, max_pixels)

    def encode(q: float):
        # the decoded image is g_s of the encoder's own y_hat: what the decoder computes, without range-decoding
        data, y_hat, q = _encode(arr, colour, q, codec, meta, effort, device=device)
        return data, to_uint8(codec.synthesize(y_hat, q))[: arr.shape[0], : arr.shape[1]]

    return search_quality(encode, arr, codec.quality_range, target)


def _encode(arr: np.ndarray, colour: str, quality, model, metadata: dict[str, bytes], effort: int = 0,
            progress: Callable[[int, int], None] | None = None, device: str = "cpu") -> tuple[bytes, torch.Tensor, float | None]:
    """(.lic bytes, y_hat, the quality the file stores)."""
    from .effort import check_device, check_size, iterations

    iterations(effort)  # an effort out of range, or a device not here, fails before any work
    check_device(device)
    codec = resolve_model(model)
    q = _quality(codec, quality)
    h, w = arr.shape[:2]
    if h > 65535 or w > 65535:
        raise InputError(f"image of {w}x{h} pixels is larger than the format allows (sides <= 65535)")
    check_size(effort, (h + -h % MULTIPLE) * (w + -w % MULTIPLE))
    streams, y_hat = codec.encode(_pad(arr), q, effort=effort, size=(h, w), progress=progress, device=device)
    return container.pack(Header(codec.name, codec.weights_id, w, h, colour, q, streams, dict(metadata))), y_hat, q


def _compress_array(arr: np.ndarray, colour: str, metadata: dict[str, bytes], quality, model, effort: int = 0, progress=None,
                    device: str = "cpu") -> bytes:
    return _encode(arr, colour, quality, model, metadata, effort, progress, device)[0]


def decode_latents(data: bytes, model=None, max_pixels: int = container.MAX_PIXELS) -> tuple[torch.Tensor, Header, ModelCodec]:
    """The exact part of decoding: .lic bytes -> (y_hat (1, M, H/16, W/16), header, codec).

    y_hat is an integer function of the bytes (fixed-point entropy parameters), the same on
    every machine; the pixels are g_s(y_hat) in floating point (``decompress``).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("decompress expects bytes")
    data = bytes(data)
    first = container.unpack(data, None, max_pixels)  # the model's name and weights id; streams need the model
    codec = _model_for(first.model, first.weights_id, model)
    header = container.unpack(data, lambda name: codec.stream_count, max_pixels)
    if header.weights_id != codec.weights_id:
        raise CodecError(f"file was encoded with other weights of model {header.model} (weights id {header.weights_id.hex()}, have {codec.weights_id.hex()})")
    rng = codec.quality_range
    if (header.quality is None) != (rng is None) or (rng and not rng[0] <= header.quality <= rng[1]):
        raise FormatError("corrupt file: quality does not fit the model")
    hp, wp = -(-header.height // MULTIPLE), -(-header.width // MULTIPLE)
    y_hat = codec.decode_latents(header.streams, hp, wp)  # corrupt data raises FormatError where it is found
    return y_hat, header, codec


def _decode(data: bytes, model=None, max_pixels: int = container.MAX_PIXELS,
            progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, Header, ModelCodec]:
    y_hat, header, codec = decode_latents(data, model, max_pixels)
    steps = ProgressSteps(progress, 1 + band_count(16 * y_hat.shape[1], 16 * y_hat.shape[2]))
    steps.one()
    x_hat = codec.synthesize(y_hat, header.quality, progress=steps.one)
    arr = to_uint8(x_hat)[: header.height, : header.width]
    return arr, header, codec


def _model_for(name: str, weights_id: bytes, model) -> ModelCodec:
    """The model to decode a file with: the one given (its weights must be the file's,
    whatever its name), else the installed one the file names or with the file's weights."""
    if model is not None:
        return resolve_model(model)
    from . import zoo

    try:
        return zoo.load_for(name, weights_id)
    except zoo.ModelNotFound as exc:
        raise CodecError(str(exc)) from None


def decompress(data: bytes, model=None, as_array: bool = False, max_pixels: int = container.MAX_PIXELS,
               progress: Callable[[int, int], None] | None = None):
    """Decode .lic bytes -> PIL image (RGB or L; the file's ICC profile, EXIF and XMP in its
    ``info`` as "icc_profile", "exif", "xmp"), or a uint8 (H, W, 3) array with ``as_array``.
    A file of more than ``max_pixels`` pixels (default 2**26, 67 Mpixel) is refused from its
    header, before anything is allocated. ``progress(i, n)``: i of n steps done (the entropy
    decoding, then g_s's bands on large images)."""
    arr, header, _ = _decode(data, model, max_pixels, progress)
    if as_array:
        return arr
    image = from_rgb(arr, header.colour)
    for name, key in (("icc", "icc_profile"), ("exif", "exif"), ("xmp", "xmp")):
        if name in header.metadata:
            image.info[key] = header.metadata[name]
    return image


info = container.info


LOSSY_OUTPUTS = (".jpg", ".jpeg", ".webp")


def image_file_bytes(image, suffix: str = ".png", out_quality: int = 95) -> bytes:
    """A decoded PIL image as the bytes of an image file of the format ``suffix`` names
    (PNG unless it names JPEG, WebP, BMP, TIFF or PPM; JPEG and WebP re-encode the pixels
    lossily, at ``out_quality``)."""
    import io

    buf = io.BytesIO()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".ppm": "PPM"}.get(suffix.lower(), "PNG")
    kw = {"quality": int(out_quality)} if fmt in ("JPEG", "WEBP") else {}
    if fmt in ("PNG", "JPEG", "WEBP", "TIFF"):  # the metadata a decoded image carries, written back
        kw.update({k: image.info[k] for k in ("icc_profile", "exif") if image.info.get(k)})
        xmp = image.info.get("xmp")
        if xmp and fmt == "PNG":  # Pillow writes PNG's XMP as the iTXt chunk Adobe defines
            from PIL import PngImagePlugin

            kw["pnginfo"] = PngImagePlugin.PngInfo()
            kw["pnginfo"].add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp)
        elif xmp and fmt in ("JPEG", "WEBP"):
            kw["xmp"] = xmp
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _atomic_write(path: Path, data: bytes | None = None, image=None, out_quality: int = 95) -> None:
    atomic_write(path, image_file_bytes(image, path.suffix, out_quality) if image is not None else data)


def _check_output(src: Path, dst: Path, force: bool) -> None:
    if dst.exists() and dst.resolve() == src.resolve():
        raise InputError(f"{dst}: output would overwrite its own input")
    if dst.exists() and not force:
        raise InputError(f"{dst}: exists (use --force to overwrite)")
    if dst.is_dir():
        raise InputError(f"{dst}: is a directory")


def compress_image_file_bytes(data: bytes, quality: float | None = None, model=None, *, drop_alpha: bool = False, metadata: str = "all",
                              effort: int = 0, progress: Callable[[int, int], None] | None = None, max_pixels: int = container.MAX_PIXELS,
                              device: str = "cpu") -> bytes:
    """The bytes of an image file (PNG, JPEG, ...; e.g. standard input) -> .lic bytes."""
    return _compress_array(*_image_input(bytes(data), drop_alpha, metadata, max_pixels), quality, model, effort, progress, device)


def compress_file(src: str | os.PathLike, dst: str | os.PathLike | None = None, quality: float | None = None, model=None, *, force: bool = False, drop_alpha: bool = False,
                  metadata: str = "all", effort: int = 0, progress: Callable[[int, int], None] | None = None,
                  max_pixels: int = container.MAX_PIXELS, device: str = "cpu") -> Path:
    """Image file -> .lic file (written atomically). Default output: ``src`` with suffix .lic."""
    src = Path(src)
    dst = Path(dst) if dst is not None else src.with_suffix(".lic")
    _check_output(src, dst, force)
    _atomic_write(dst, _compress_array(*_image_input(src, drop_alpha, metadata, max_pixels), quality, model, effort, progress, device))
    return dst


read_file = read_bytes


def decompress_file(src: str | os.PathLike, dst: str | os.PathLike | None = None, model=None, *, force: bool = False, out_quality: int = 95,
                    max_pixels: int = container.MAX_PIXELS, progress: Callable[[int, int], None] | None = None) -> Path:
    """.lic file -> image file (PNG unless the suffix says otherwise; JPEG or WebP re-encode
    lossily at ``out_quality``), written atomically."""
    src = Path(src)
    dst = Path(dst) if dst is not None else src.with_suffix(".png")
    _check_output(src, dst, force)
    data = read_file(src)
    try:
        image = decompress(data, model, max_pixels=max_pixels, progress=progress)
    except (FormatError, CodecError) as exc:
        raise type(exc)(f"{src}: {exc}") from None
    _atomic_write(dst, image=image, out_quality=out_quality)
    return dst
