"""A trained variable-rate model's estimated rate falls as λ falls, across the whole grid.

The rate is the model's own estimate, -Σ log2 p over y and z in eval mode (rounded
latents), in bits per pixel of a synthetic test image the model was not trained on.
"""
from __future__ import annotations

import pytest
import torch

from licodec.models import bits
from licodec.train.config import COMPRESSAI_MSE_LAMBDAS
from licodec.train.loop import Trainer
from tests.conftest import smooth_image
from tests.train.conftest import tiny_config


def _rates(model, x) -> list[float]:
    model.eval()
    with torch.no_grad():
        r = [bits(model(x, q)["likelihoods"]).item() / (x.shape[-1] * x.shape[-2]) for q in range(model.gain.levels)]
    model.train()
    return r


def test_rate_falls_with_lambda_across_the_default_grid(image_dir, tmp_path):
    """CompressAI's 8 MSE λ, gains at their default initialisation sqrt(λ/λ_mid), 60 steps.

    Untrained, the model spends next to nothing on y at any level (rates within 15% of
    each other: the gains have no rate to scale); trained, it must spend strictly more
    at every higher λ, at least 3x more at the top of the grid than at the bottom.
    """
    x = smooth_image(64, 64, seed=123)
    t = Trainer(tiny_config(image_dir, tmp_path / "run", lr=3e-3, steps=60))
    assert t.model.gain.lambdas.tolist() == pytest.approx(COMPRESSAI_MSE_LAMBDAS)
    before = _rates(t.model, x)
    assert max(before) < 1.15 * min(before), before
    for _ in range(60):
        t.train_step()
    after = _rates(t.model, x)
    assert all(lo < hi for lo, hi in zip(after, after[1:])), after
    assert after[-1] > 3 * after[0], after


@pytest.mark.slow
def test_equal_gains_learn_the_rate_order(image_dir, tmp_path):
    """Gains all set to 1 (no order to inherit): training alone must sort the rates by λ.

    4 levels, λ 1e-4 .. 6.4e-3 (small, so the rate term binds early), 400 steps of batch 8
    (~15 s here). At the start every level gives exactly the same rate.
    """
    x = smooth_image(64, 64, seed=123)
    lambdas = [1e-4, 4e-4, 1.6e-3, 6.4e-3]
    t = Trainer(tiny_config(image_dir, tmp_path / "run", lambdas=lambdas, lr=1e-2, batch=8, steps=400))
    with torch.no_grad():
        t.model.gain.log_gain.zero_()
        t.model.gain.log_inv_gain.zero_()
    before = _rates(t.model, x)
    assert len(set(before)) == 1, before
    for _ in range(400):
        t.train_step()
    after = _rates(t.model, x)
    assert all(lo < hi for lo, hi in zip(after, after[1:])), after
    gain = t.model.gain.log_gain.mean(dim=1).tolist()
    assert all(lo < hi for lo, hi in zip(gain, gain[1:])), gain
