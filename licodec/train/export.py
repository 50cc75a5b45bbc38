"""Export a trained run: model weights (safetensors), coding tables, JSON model card."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

__all__ = ["export_run", "model_card"]


def model_card(trainer) -> dict:
    cfg = trainer.cfg
    n_params = sum(p.numel() for p in trainer.model.parameters())
    return {
        "architecture": trainer.model.config,
        "parameters": n_params,
        "paper": "Minnen, Ballé & Toderici, Joint Autoregressive and Hierarchical Priors for Learned Image Compression, NeurIPS 2018",
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
        },
        "validation": trainer.val_history,
    }


def export_run(trainer, path: str | os.PathLike, card_extra: dict | None = None, half: bool = False) -> Path:
    """Write the trained model with coding tables to ``path`` and its card to ``path`` + .json.

    ``half``: store the weights as float16. The model is rounded to float16 before its
    identity and coding tables are computed, so the file loads to exactly that model.
    """
    from ..models.io import save_model

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    card = model_card(trainer)
    card.update(card_extra or {})
    from ..codec.tables import build_coding_state

    model = trainer.model.eval()
    # The tails of the factorized densities bound their coding tables: fit them fully now.
    card["aux_loss"] = {"before": float(model.aux_loss().detach()), "after": sum(d.fit_quantiles() for d in model.densities())}
    if half:
        with torch.no_grad():
            for t in list(model.parameters()) + list(model.buffers()):
                if t.dtype == torch.float32:
                    t.copy_(t.half().float())
        card["storage"] = "float16"
    save_model(model, path, card, build_coding_state(model), half=half)
    path.with_suffix(".json").write_text(json.dumps(card, indent=1))
    return path
