"""Installed models: ``licodec/weights/*.safetensors`` and folders in ``$LICODEC_MODEL_PATH``.

A model is found by name (the file's stem) or by path. The default model is the name in
``licodec/weights/DEFAULT`` (or ``$LICODEC_DEFAULT_MODEL``). Loaded models are cached per
process.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from ..errors import FormatError, ModelNotFound
from .model_codec import ModelCodec

__all__ = ["ModelNotFound", "search_path", "installed", "default_name", "load"]

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
_CACHE: dict[str, ModelCodec] = {}
_LOADING = threading.RLock()


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


def stored_weights_id(path: str | os.PathLike) -> bytes | None:
    """The weights id (first 8 bytes of the weights' SHA-256) a model file records, from its
    metadata alone; None for a file without one."""
    from ..models.io import stored_weights_hash

    h = stored_weights_hash(path)
    return bytes.fromhex(h)[:8] if h else None


def find_installed(weights_id: bytes | None) -> str | None:
    """The name of an installed model with these weights, if any (earlier folders first)."""
    if weights_id is None:
        return None
    for name, path in installed().items():
        try:
            if stored_weights_id(path) == weights_id:
                return name
        except FormatError:  # an unreadable file in a model folder is not this model
            continue
    return None


def load_for(name: str, weights_id: bytes) -> ModelCodec:
    """The installed model a file names, or else one with the file's weights (a file written
    with a model loaded from another path, under another name); ModelNotFound if none."""
    if name in installed():
        codec = load(name)
        if codec.weights_id == weights_id:
            return codec
    other = find_installed(weights_id)
    if other is not None:
        return load(other)
    if name in installed():
        return load(name)  # the name matches, the weights do not: the caller says so
    raise ModelNotFound(f"file needs model {name!r} (weights {weights_id.hex()}), which is not installed: "
                        "pass --model PATH or put its file in a folder of LICODEC_MODEL_PATH")


def load(spec: str | os.PathLike | None = None) -> ModelCodec:
    """The ModelCodec for a model name, a model file path, or (None) the default model."""
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
    with _LOADING:  # threads asking for the same model at once build it once
        if spec not in _CACHE:
            _CACHE[spec] = _load(spec)
        return _CACHE[spec]


def _load(spec: str) -> ModelCodec:
    from ..models.io import load_model, stored_weights_hash

    models = installed()
    if spec in models:
        path, name = models[spec], spec
    elif Path(spec).is_file():
        # a model's identity is its weights: a copy of an installed model keeps that model's name
        path = Path(spec)
        name = find_installed(stored_weights_id(path)) or path.stem
    else:
        known = ", ".join(sorted(models)) or "none"
        raise ModelNotFound(f"model {spec!r} is not installed (installed: {known}) and is not a file")
    model, extra, card = load_model(path)
    if "coding.version" not in extra:
        raise ModelNotFound(f"{path}: model file has no coding tables (export it with licodec train --export)")
    from .coding_state import CodingState

    return ModelCodec(model, CodingState(model, extra), name=name, card=card, weights_sha256=stored_weights_hash(path))
