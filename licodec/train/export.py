"""Export a trained run: model weights (safetensors), coding tables, JSON model card."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import torch

__all__ = ["export_run", "write_model_file", "model_card", "round_to_half", "halve_model_file"]


def model_card(trainer) -> dict:
    """The card of what ``export_run`` writes: the moving average of the weights when the run
    keeps one (``--ema``; its validations are the card's, the raw weights' are kept beside
    them as ``validation_raw``), else the weights themselves."""
    from ..models.registry import citation

    cfg = trainer.cfg
    n_params = sum(p.numel() for p in trainer.model.parameters())
    ema = trainer.ema_model is not None
    card = {
        "architecture": trainer.model.config,
        "parameters": n_params,
        "paper": citation(trainer.model.name),
        "training": {
            "data": cfg.data,
            "metric": cfg.metric,
            "lambdas": None if cfg.lmbda is not None else sorted(cfg.lambdas),
            "lmbda": cfg.lmbda,
            "crop": cfg.crop,
            "batch_per_process": cfg.batch,
            "steps": trainer.step,
            "pixels_seen": trainer.pixels,
            "wall_time_s": round(trainer.wall, 1),
            "sessions": trainer.history,
            "lr": cfg.lr,
            "milestones": cfg.milestones,
            "ema": cfg.ema if ema else None,
            "weights": "moving average (ema)" if ema else "trained",
        },
        "validation": trainer.val_history_ema if ema else trainer.val_history,
    }
    if ema:
        card["validation_raw"] = trainer.val_history
    return card


def export_run(trainer, path: str | os.PathLike, card_extra: dict | None = None, half: bool = False) -> Path:
    """Write the trained model with coding tables to ``path`` and its card to ``path`` + .json.

    ``half``: store the weights as float16. The model is rounded to float16 before its
    identity and coding tables are computed, so the file loads to exactly that model.
    """
    card = model_card(trainer)
    card.update(card_extra or {})
    # A float32 CPU copy: the trainer's model stays as it is (device, precision, mode), and
    # the coding tables come from CPU arithmetic whatever device trained the model (a CUDA
    # run exports the same way as a CPU one).
    model = copy.deepcopy(trainer.ema_model if trainer.ema_model is not None else trainer.model).cpu().float().eval()
    return write_model_file(model, path, card, half=half, fit_tails=True)


def write_model_file(model: torch.nn.Module, path: str | os.PathLike, card: dict, half: bool = False, fit_tails: bool = False) -> Path:
    """Write ``model`` (CPU, float32; changed in place) with its coding tables to ``path`` and
    ``card`` (updated) to ``path`` + .json. ``fit_tails``: fit the factorized densities' tail
    quantiles fully first (they bound the coding tables); ``half``: round to float16 first,
    so the identity and tables are the rounded model's."""
    from ..codec.coding_state import build_coding_state
    from ..files import atomic_write
    from ..models.io import save_model

    if fit_tails:
        model.requires_grad_(True)  # fit_quantiles needs gradients
        card["aux_loss"] = {"before": float(model.aux_loss().detach()), "after": sum(d.fit_quantiles() for d in model.densities())}
    if half:
        round_to_half(model)
        card["storage"] = "float16"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, path, card, build_coding_state(model), half=half)
    atomic_write(path.with_suffix(".json"), json.dumps(card, indent=1))
    return path


def round_to_half(model: torch.nn.Module) -> None:
    """Round every float32 parameter and buffer of ``model`` to the nearest float16, in place."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.dtype == torch.float32:
                t.copy_(t.half().float())


def halve_model_file(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write a float16 copy of the exported model ``src`` to ``dst`` (and its card to .json).

    The weights are rounded to float16 and the coding tables rebuilt from the rounded model,
    so ``dst`` is a model of its own: measure it, don't assume the float32 file's results.
    """
    from ..models.io import load_model

    model, _, card = load_model(src)
    return write_model_file(model, dst, {k: v for k, v in card.items() if k != "kodak"}, half=True)
