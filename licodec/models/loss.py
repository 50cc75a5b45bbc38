"""The rate–distortion loss a model trains on, per image (Ballé, Minnen, Singh, Hwang &
Johnston, ICLR 2018; Minnen, Ballé & Toderici, NeurIPS 2018; CompressAI's scaling):

    L = bpp + λ · 255² · MSE           (metric "mse", x in [0, 1])
    L = bpp + λ · (1 − MS-SSIM)        (metric "ms-ssim")

    x --model--> {x_hat, likelihoods} --> bpp = −Σ log2 p / pixels  --\\
                  x_hat, x ------------> distortion D ------------------+--> bpp + λ·D

with the likelihoods of y (and z) under the entropy model. The same object serves training
(the mean over a batch) and an encoder that searches per image (the per-image terms).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..metrics import ms_ssim

__all__ = ["RateDistortionLoss", "RDTerms", "METRICS"]

METRICS = ("mse", "ms-ssim")


@dataclass
class RDTerms:
    """Per-image terms, each (B,): the loss, its rate in bits per pixel, and the MSE."""

    loss: Tensor
    bpp: Tensor
    mse: Tensor


class RateDistortionLoss:
    """``loss(out, x, lam) -> RDTerms``: ``out`` a model's forward output, x (B, 3, H, W) in
    [0, 1], lam (B,) the λ of each image."""

    def __init__(self, metric: str = "mse") -> None:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}")
        self.metric = metric

    def __call__(self, out: dict, x: Tensor, lam: Tensor) -> RDTerms:
        x_hat = out["x_hat"].float()
        npix = x.shape[-1] * x.shape[-2]
        bpp = sum(-torch.log2(v).flatten(1).sum(1) for v in out["likelihoods"].values()) / npix
        mse = torch.mean((x_hat - x) ** 2, dim=(1, 2, 3))
        if self.metric == "mse":
            weighted = lam * 255**2 * mse
        else:
            weighted = lam * (1 - ms_ssim(x_hat.clamp(0, 1), x))
        return RDTerms(bpp + weighted, bpp, mse)
