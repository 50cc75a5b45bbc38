"""Crops: the host path (CropSampler.batch) and the device path (DeviceCrops) cut the same pixels."""
from __future__ import annotations

import numpy as np
import torch

from licodec.train.data import CropSampler, DeviceCrops, ImageCache, list_images
from tests.train.conftest import write_images


def test_device_crops_equal_host_crops_for_the_same_draws(tmp_path):
    # Images of several shapes, so offsets and widths differ from image to image.
    files = []
    for i, (h, w) in enumerate([(96, 128), (80, 70), (130, 90)]):
        files += list_images(write_images(tmp_path / f"set{i}", count=2, h=h, w=w, seed=10 * i))
    cache = ImageCache(files, tmp_path / "cache", min_side=64, progress=False)
    host = CropSampler(cache, 64, seed=3)
    draws_sampler = CropSampler(cache, 64, seed=3)
    dev = DeviceCrops(cache, 64, "cpu", chunk=1000)  # small chunks: the piecewise copy is exercised
    for _ in range(5):
        draws = draws_sampler.draw(16)
        assert set(draws[:, 3]) == {0, 1} and set(draws[:, 4]) == {0, 1}  # both flips occur
        expected = host.batch(16)
        got = dev.crops(draws)
        assert got.dtype == torch.uint8 and got.shape == (16, 3, 64, 64)
        np.testing.assert_array_equal(got.numpy(), expected)
    # one stream: the device path leaves the sampler where the host path leaves it
    assert draws_sampler.state() == host.state()
