import numpy as np
import pytest


def synth_rgb(h: int = 192, w: int = 256, seed: int = 0) -> np.ndarray:
    """A smooth, textured synthetic 8-bit RGB image (sides > 160 so MS-SSIM works)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    img = np.stack([0.5 + 0.35 * np.sin(7 * xx + 2 * c + seed) * np.cos(5 * yy - c) for c in range(3)], axis=-1)
    for _ in range(5):
        cy, cx, r = rng.random(3)
        img += (rng.random(3) - 0.5) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (0.01 + 0.03 * r))[..., None]
    img[:, : w // 3] *= 0.7
    img += 0.03 * rng.standard_normal(img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.fixture
def image_dir(tmp_path):
    from PIL import Image

    d = tmp_path / "images"
    d.mkdir()
    for i in range(2):
        Image.fromarray(synth_rgb(seed=i)).save(d / f"img{i}.png")
    return d


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Metrics on small images are fastest on one thread (and immune to a busy machine)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
