"""Rate control: --size/--bpp never exceed the target and land within 2% of it inside the
model's range; --psnr reaches its target with the smallest file the search finds."""
from __future__ import annotations

import numpy as np
import pytest

import licodec
from licodec.cli import main
from licodec.codec.api import compress_to_target
from licodec.codec.rate_control import Target
from tests.conftest import smooth_image


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    img = (smooth_image(128, 192, seed=5)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    noise = np.random.default_rng(0).normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def test_size_and_bpp_targets(image):
    lo = len(licodec.compress(image, quality=1))
    hi = len(licodec.compress(image, quality=8))
    for size in (int(lo * 1.3), (lo + hi) // 2, int(hi * 0.9)):
        r = compress_to_target(image, Target(size=size))
        assert r.met and 0.98 * size <= r.bytes <= size, (size, r.bytes, r.quality)
        assert licodec.decompress(r.data, as_array=True).shape == image.shape  # an ordinary file
    bpp = 8 * (lo + hi) / 2 / image.shape[0] / image.shape[1]
    r = compress_to_target(image, Target(bpp=bpp))
    assert r.met and 0.98 * bpp <= r.bpp <= bpp


def test_psnr_target_and_out_of_range(image):
    p1 = compress_to_target(image, Target(psnr=30.0))
    assert p1.met and p1.psnr >= 30.0
    lower = compress_to_target(image, Target(psnr=p1.psnr - 1.0))
    assert lower.bytes <= p1.bytes  # a lower target never gives a larger file
    far = compress_to_target(image, Target(psnr=99.0))
    assert not far.met and far.quality == 8.0  # the nearest: the best quality


def test_bad_combinations_are_one_clear_error(tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "a.png")
    for args in (["--size", "0"], ["--psnr", "120"], ["-q", "3", "--size", "500"], ["--size", "10", "--strict"]):
        assert main(["compress", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.lic"), "-f", *args]) == 1, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("licodec: error:"), err
