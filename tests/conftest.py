import os

import numpy as np
import pytest
import torch

# The transforms' precision is "auto" by default: bf16 on a CPU with native bf16, float32
# elsewhere. Tests that compare pixels or bytes with float32 references (the fixture files,
# the serial decoder) would then depend on the machine; they run on the float32 path unless
# the caller asks otherwise. Tests of the bf16 path choose it themselves (use_precision).
os.environ.setdefault("LICODEC_PRECISION", "fp32")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


def smooth_image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A synthetic natural-ish image (1, 3, h, w) in [0, 1]: smooth gradients, blobs and an edge."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    img = torch.stack([0.5 + 0.4 * torch.sin(6 * xx + 2 * c) * torch.cos(4 * yy - c) for c in range(3)])
    for _ in range(6):
        cy, cx, r = torch.rand(3, generator=g)
        blob = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (0.02 + 0.05 * r))
        img = img + (torch.rand(3, 1, 1, generator=g) - 0.5) * blob
    img[:, :, : w // 3] *= 0.7
    img = img + 0.02 * torch.randn(img.shape, generator=g)
    return img.clamp(0, 1)[None]
