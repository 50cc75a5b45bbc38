"""Small models with spread-out latents (random weights code almost nothing otherwise)."""
from __future__ import annotations

import numpy as np
import torch

from licodec.models import create
from tests.conftest import smooth_image

CODED = ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018-context", "mbt2018", "mbt2018-gmm"]


def make_model(name: str = "mbt2018", N: int = 24, M: int = 32, seed: int = 0, lambdas=(0.0067, 0.025, 0.0932)):
    torch.manual_seed(seed)
    model = create(name, N=N, M=M, lambdas=list(lambdas) if lambdas else None)
    with torch.no_grad():
        model.g_a[-1].weight.mul_(40)  # y spread over tens of quantization steps
        hyper = getattr(model.prior, "hyper", None)
        if hyper is not None:
            hyper.h_a[-1].weight.mul_(3)
            hyper.z_density.quantiles.copy_(torch.tensor([-20.0, 0.0, 20.0]).repeat(N, 1, 1))
        if hasattr(model.prior, "density"):
            model.prior.density.quantiles.copy_(torch.tensor([-60.0, 0.0, 60.0]).repeat(M, 1, 1))
    return model.eval()


def photo(h: int = 64, w: int = 96, seed: int = 0) -> np.ndarray:
    """A synthetic photo-like uint8 (h, w, 3) image."""
    x = smooth_image(h, w, seed)[0].permute(1, 2, 0).numpy()
    return np.round(x * 255).astype(np.uint8)
