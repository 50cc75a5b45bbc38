"""Installed models: ``licodec/weights/*.safetensors`` and folders in ``$LICODEC_MODEL_PATH``.

A model is found by name (the file's stem) or by path. The default model is the name in
``licodec/weights/DEFAULT`` (or ``$LICODEC_DEFAULT_MODEL``). Loaded models are cached per
process.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelNotFound
from .model_codec import ModelCodec

__all__ = ["ModelNotFound", "search_path", "installed", "default_name", "load"]

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
_CACHE: dict[str, ModelCodec] = {}


def search_path() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("LICODEC_MODEL_PATH", "").split(os.pathsep) if p]
    return extra + [WEIGHTS_DIR]


def installed() -> dict[str, Path]:
    """name -> file of every installed model (earlier folders of the search path win)."""
    found: dict[str, Path] = {}
    for folder in search_path():
        if folder.is_dir():
            for f in sorted(folder.glob("*.safetensors")):
                found.setdefault(f.stem, f)
    return found


def default_name() -> str | None:
    env = os.environ.get("LICODEC_DEFAULT_MODEL")
    if env:
        return env
    marker = WEIGHTS_DIR / "DEFAULT"
    if marker.is_file():
        return marker.read_text().strip() or None
    return None


def load(spec: str | os.PathLike | None = None) -> ModelCodec:
    """The ModelCodec for a model name, a model file path, or (None) the default model."""
    from ..models.io import load_model, stored_weights_hash

    if spec is None:
        spec = default_name()
        if spec is None:
            names = sorted(installed())
            if names:
                raise ModelNotFound(f"no default model is set (installed, not default: {', '.join(names)}); pass --model NAME or PATH")
            raise ModelNotFound("no trained model is installed; pass --model PATH (a .safetensors model file) or set LICODEC_DEFAULT_MODEL")
    spec = str(spec)
    if spec in _CACHE:
        return _CACHE[spec]
    models = installed()
    if spec in models:
        path, name = models[spec], spec
    elif Path(spec).is_file():
        path, name = Path(spec), Path(spec).stem
    else:
        known = ", ".join(sorted(models)) or "none"
        raise ModelNotFound(f"model {spec!r} is not installed (installed: {known}) and is not a file")
    model, extra, card = load_model(path)
    if "coding.version" not in extra:
        raise ModelNotFound(f"{path}: model file has no coding tables (export it with licodec train --export)")
    from .coding_state import CodingState

    codec = ModelCodec(model, CodingState(model, extra), name=name, card=card, weights_sha256=stored_weights_hash(path))
    _CACHE[spec] = codec
    return codec
