"""licodec: a learned image codec (Minnen, Ballé & Toderici, NeurIPS 2018) as real software.

    import licodec
    data = licodec.compress(pil_image, quality=4)      # bytes of a .lic file
    image = licodec.decompress(data)                   # PIL image

Importing ``licodec`` is light: torch and the models load on first use.
"""
from __future__ import annotations

from .errors import CodecError, FormatError, InputError, LicodecError, ModelNotFound

__version__ = "0.1.0"

_API = ("compress", "decompress", "compress_file", "decompress_file", "info")

__all__ = ["__version__", *_API, "use_precision", "LicodecError", "InputError", "FormatError", "CodecError", "ModelNotFound"]


def __getattr__(name: str):
    if name == "use_precision":  # with licodec.use_precision("fp32"): ... (codec/precision.py)
        from .codec.precision import use_precision

        return use_precision
    if name in _API:
        from .codec import api

        return getattr(api, name)
    raise AttributeError(f"module 'licodec' has no attribute {name!r}")
