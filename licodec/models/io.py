"""Saving and loading models as safetensors (never pickle) with their config in the metadata.

A model file holds the model's ``state_dict`` under ``model.*`` plus, once built, the
integer coding state under ``coding.*`` (see licodec.codec.coding_state); its metadata holds
``licodec_config`` (what :func:`licodec.models.create` needs) and ``licodec_card``
(the model card as JSON).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from ..errors import FormatError
from ..files import read_metadata
from .compression_model import CompressionModel
from .registry import create

__all__ = ["save_model", "load_model", "read_card", "weights_hash", "stored_weights_hash"]


def weights_hash(model: CompressionModel) -> str:
    """SHA-256 over the model's parameters and buffers (names, shapes, dtypes, bytes), hex."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}\n".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    return h.hexdigest()


def save_model(model: CompressionModel, path: str | os.PathLike, card: dict | None = None, extra: dict[str, torch.Tensor] | None = None, half: bool = False) -> None:
    """Write ``model`` (and ``extra`` tensors, e.g. coding tables) atomically to ``path``.

    ``half``: float32 weights are stored as float16 (exact only for a model already
    rounded to float16, as ``licodec train --export-fp16`` does; loading widens them back).
    """
    from safetensors.torch import save

    from ..files import atomic_write

    tensors = {f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    if half:
        tensors = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
    for k, v in (extra or {}).items():
        tensors[k] = v.detach().cpu().contiguous()
    meta = {"licodec_config": json.dumps(model.config), "licodec_card": json.dumps(card or {}), "licodec_weights_sha256": weights_hash(model)}
    atomic_write(path, save(tensors, metadata=meta))


def read_card(path: str | os.PathLike) -> dict:
    return json.loads(read_metadata(path, "licodec model file").get("licodec_card", "{}"))


def stored_weights_hash(path: str | os.PathLike) -> str | None:
    """The weights' SHA-256 a model file records (``save_model`` writes it), read from its
    metadata alone; None for a file without one."""
    return read_metadata(path, "licodec model file").get("licodec_weights_sha256")


def load_model(path: str | os.PathLike) -> tuple[CompressionModel, dict[str, torch.Tensor], dict]:
    """Load a model file -> (model in eval mode, extra tensors by key, card)."""
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_metadata(path, "licodec model file")
    tensors = load_file(str(path))
    if "licodec_config" not in meta:
        raise FormatError(f"{path}: not a licodec model file (no licodec_config)")
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:  # what a damaged or foreign config or state raises
        cfg = json.loads(meta["licodec_config"])
        model = create(cfg.pop("name"), **cfg)
        model.load_state_dict(state)
    except (ValueError, TypeError, KeyError, AttributeError, RuntimeError) as exc:
        raise FormatError(f"{path}: not a usable licodec model file ({exc})") from None
    extra = {k: v for k, v in tensors.items() if not k.startswith("model.")}
    return model.eval(), extra, json.loads(meta.get("licodec_card", "{}"))
