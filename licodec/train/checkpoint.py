"""Checkpoints without pickle: tensors in safetensors, everything else in JSON.

A nested state (dicts, lists, tuples, numbers, strings, tensors) is split into a flat
``{key: tensor}`` map saved with safetensors and a JSON skeleton whose tensor leaves are
``{"__tensor__": key}``. Writes are atomic (temporary file, fsync, rename), so a run
killed mid-write leaves the previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
from typing import Any

import torch

from ..files import atomic_write, read_metadata

__all__ = ["save_state", "load_state", "load_state_bytes", "load_entry"]


def _encode(obj: Any, tensors: dict[str, torch.Tensor], path: str) -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().cpu().contiguous()
        return {"__tensor__": path}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": {k: _encode(v, tensors, f"{path}/{k}") for k, v in obj.items()}}
        return {"__items__": [[_encode(k, tensors, f"{path}/k{i}"), _encode(v, tensors, f"{path}/{i}")] for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{path}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, f"{path}/{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint a {type(obj).__name__} at {path}")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: _decode(v, tensors) for k, v in obj["__dict__"].items()}
        if "__items__" in obj:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    return obj


def save_state(path: str | os.PathLike, state: Any) -> None:
    """Save a nested state as one safetensors file (JSON skeleton in its metadata)."""
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    skeleton = _encode(state, tensors, "s")
    # safetensors refuses tensors that share memory: give each its own storage.
    tensors = {k: v.clone() for k, v in tensors.items()}
    atomic_write(path, save(tensors, metadata={"licodec_state": json.dumps(skeleton)}))


def load_state(path: str | os.PathLike) -> Any:
    """Inverse of :func:`save_state`."""
    from safetensors.torch import load_file

    meta = read_metadata(path, "licodec checkpoint")
    if "licodec_state" not in meta:
        raise ValueError(f"{path} is not a licodec checkpoint")
    return _decode(json.loads(meta["licodec_state"]), load_file(str(path)))


def load_entry(path: str | os.PathLike, key: str) -> Any:
    """One top-level entry of a checkpoint (e.g. "config"), from its metadata alone: no
    tensor is read. ValueError if ``path`` is no licodec checkpoint."""
    meta = read_metadata(path, "licodec checkpoint")
    try:
        skeleton = json.loads(meta["licodec_state"])
        return _decode(skeleton["__dict__"][key], {})
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: not a licodec checkpoint with {key!r}") from None


def load_state_bytes(data: bytes) -> Any:
    """:func:`load_state` of a checkpoint file's bytes (e.g. sent from another process)."""
    from safetensors.torch import load

    try:
        n = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + n]).get("__metadata__") or {}
    except (ValueError, UnicodeDecodeError):
        meta = {}
    if "licodec_state" not in meta:
        raise ValueError("not a licodec checkpoint")
    return _decode(json.loads(meta["licodec_state"]), load(data))
