"""Image input/output: what users hand us, turned into 8-bit RGB, and back.

RGB is native. Conversions that keep every pixel value happen quietly (palette,
bilevel); any conversion that changes what the user sees comes with a notice
(16-bit to 8-bit, CMYK/YCbCr/LAB to RGB, opaque alpha dropped, first frame of an
animation), and what cannot be coded faithfully is refused (transparency, unless
``drop_alpha``; floating-point images). Greyscale is coded as RGB and decoded back to
greyscale (the file records it).
"""
from __future__ import annotations

import os
import warnings
from typing import BinaryIO

import numpy as np

from ..errors import InputError
from .container import MAX_PIXELS

__all__ = ["LicodecNotice", "InputError", "to_rgb", "read_image", "from_rgb"]


class LicodecNotice(UserWarning):
    """Something about the input changed on its way in (a conversion users should know of)."""


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".ppm", ".pgm", ".pnm", ".tif", ".tiff", ".gif")
"""File name endings taken as images in folders (the CLI's inputs, training data, evaluation sets)."""


def load_rgb(path: str | os.PathLike | BinaryIO) -> np.ndarray:
    """An image file (a path or a binary file object) as an 8-bit RGB array (H, W, 3); raw
    sample values, no colour management.

    The loader of datasets (training, evaluation); ``read_image`` is the codec's own, which
    keeps alpha, grey and 16-bit inputs apart.
    """
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _notice(msg: str) -> None:
    warnings.warn(msg, LicodecNotice, stacklevel=3)


def _png_bit_depth(head: bytes) -> int | None:
    """The bit depth of a PNG from its first 25 bytes, None for another format."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 25:
        return head[24]
    return None


def _head(path: str | os.PathLike) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(25)
    except OSError:
        return b""


METADATA_CHOICES = {"none": (), "icc": ("icc",), "exif": ("exif",), "all": ("icc", "exif", "xmp")}
"""What ``--metadata`` keeps (cwebp's spelling; "all" is the default, ``--strip`` is "none")."""


def image_metadata(im, keep: str = "all") -> dict[str, bytes]:
    """The ICC profile, EXIF and XMP blocks of a PIL image (as Pillow read them), those
    ``keep`` names. EXIF is stored with its "Exif\\0\\0" header, as JPEG carries it."""
    if keep not in METADATA_CHOICES:
        raise InputError(f"metadata must be one of {', '.join(METADATA_CHOICES)}")
    info = getattr(im, "info", {}) or {}
    found = {"icc": info.get("icc_profile"), "exif": info.get("exif"), "xmp": info.get("xmp") or info.get("XML:com.adobe.xmp")}
    out = {}
    for name in METADATA_CHOICES[keep]:
        block = found[name]
        if isinstance(block, str):
            block = block.encode("utf-8")
        if not block:
            continue
        if name == "exif" and not block.startswith(b"Exif\x00\x00"):
            block = b"Exif\x00\x00" + block  # PNG's eXIf chunk carries the TIFF data alone
        out[name] = bytes(block)
    return out


def read_image(source: str | os.PathLike | bytes, drop_alpha: bool = False, metadata: dict | None = None, keep: str = "all",
               max_pixels: int = MAX_PIXELS):
    """Open an image -> (uint8 (H, W, 3) array, colour "RGB" or "L"). ``source``: a file
    path, or the bytes of an image file (e.g. read from standard input; named "stdin" in
    messages). With a ``metadata`` dict, the blocks ``keep`` names (see :func:`image_metadata`)
    are put in it. An image of more than ``max_pixels`` pixels is refused from its header,
    before its pixels are decoded."""
    import io

    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (bytes, bytearray)):
        path, opened, head = "stdin", io.BytesIO(source), bytes(source[:25])
    else:
        path, opened, head = source, source, None
    try:
        with Image.open(opened) as im:
            w, h = im.size
            if w * h > max_pixels or w > 65535 or h > 65535:
                raise InputError(f"image of {w}x{h} pixels is larger than the limit ({max_pixels:,} pixels, sides <= 65535)")
            if getattr(im, "n_frames", 1) > 1:
                _notice(f"{path}: has {im.n_frames} frames; coding the first")
            im.load()
            if metadata is not None:
                metadata.update(image_metadata(im, keep))
            if _png_bit_depth(head if head is not None else _head(path)) == 16 and im.mode in ("RGB", "RGBA"):
                _notice(f"{path}: 16-bit PNG reduced to 8 bits per channel")
            return to_rgb(im, drop_alpha=drop_alpha)
    except Image.DecompressionBombError as exc:  # Pillow's own limit, met at open, above licodec's default
        raise InputError(f"{path}: {exc}") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image file licodec can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise InputError(f"{path}: {exc}") from None
        if isinstance(exc, FileNotFoundError):
            raise InputError(f"{path}: no such file") from None
        if isinstance(exc, IsADirectoryError):
            raise InputError(f"{path}: is a directory") from None
        raise InputError(f"{path}: cannot read image ({exc})") from None


def to_rgb(image, drop_alpha: bool = False):
    """PIL image or numpy array -> (uint8 (H, W, 3) array, colour "RGB" or "L")."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = _array_to_pil(image)
    if not isinstance(image, Image.Image):
        raise InputError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    mode = image.mode
    if image.width < 1 or image.height < 1:
        raise InputError("image has no pixels")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA") if mode != "LA" else image
        alpha = np.asarray(rgba.getchannel("A"))
        if alpha.min() < 255 and not drop_alpha:
            raise InputError("image has transparency, which licodec does not code; flatten it first or use --drop-alpha")
        if alpha.min() < 255:
            _notice("transparency dropped (--drop-alpha)")
        mode = "L" if mode in ("LA", "La") else "RGB"
        image = rgba.convert(mode) if mode == "RGB" else image.convert("L")
    elif mode == "P":
        image = image.convert("RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(image).astype(np.int64)
        peak = 65535 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255
        _notice(f"{mode} image reduced to 8 bits per channel")
        image = Image.fromarray(np.clip(np.round(arr * 255 / peak), 0, 255).astype(np.uint8), "L")
    elif mode == "F":
        raise InputError("floating-point images are not supported; convert to 8-bit first")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        _notice(f"{mode} image converted to RGB")
        image = image.convert("RGB")
    elif mode not in ("RGB", "L"):
        raise InputError(f"unsupported image mode {mode}")
    if image.mode == "L":
        arr = np.asarray(image)
        return np.repeat(arr[:, :, None], 3, axis=2), "L"
    return np.asarray(image.convert("RGB")), "RGB"


def _array_to_pil(a: np.ndarray):
    from PIL import Image

    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise InputError(f"expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {a.shape}")
    if a.dtype == np.uint16:
        _notice("16-bit array reduced to 8 bits per channel")
        a = np.round(a.astype(np.float64) * 255 / 65535).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise InputError(f"expected a uint8 or uint16 array, got {a.dtype}")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[a.shape[2]]
    return Image.fromarray(np.ascontiguousarray(a if a.shape[2] > 1 else a[:, :, 0]), mode)


def from_rgb(arr: np.ndarray, colour: str):
    """Decoded uint8 (H, W, 3) -> PIL image in the recorded colour format."""
    from PIL import Image

    if colour == "L":
        grey = np.round(arr.astype(np.float32).mean(axis=2)).astype(np.uint8)
        return Image.fromarray(grey, "L")
    return Image.fromarray(arr, "RGB")
