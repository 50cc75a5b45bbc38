"""Shared pieces of the training tests: tiny synthetic PNG folders and tiny run settings."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from licodec.train.config import TrainConfig
from tests.conftest import smooth_image


def write_images(folder: Path, count: int = 6, h: int = 96, w: int = 128, seed: int = 0) -> Path:
    """``count`` smooth synthetic RGB PNGs of h x w in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        x = smooth_image(h, w, seed=seed + i)[0].permute(1, 2, 0).numpy()
        Image.fromarray((x * 255).round().astype(np.uint8)).save(folder / f"img{i:02d}.png")
    return folder


def tiny_config(data: Path, out: Path, **kw) -> TrainConfig:
    """A run that takes a few ms per step: N=M=16, 64 px crops, batch 2, one thread, no progress bar."""
    settings = dict(
        data=str(data), out=str(out), N=16, M=16, crop=64, batch=2, steps=10, lr=1e-3, warmup=0,
        holdout=2, val_every=0, val_images=2, ckpt_minutes=60.0, log_every=1, device="cpu", threads=1, progress=False,
    )
    settings.update(kw)
    return TrainConfig(**settings)


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    return write_images(tmp_path / "images")
