"""licodec.metrics against a direct float64 transcription of MS-SSIM (Wang, Simoncelli &
Bovik 2003: 11x11 Gaussian window of sigma 1.5, valid part, 2x2 average pooling between
the five scales, the standard weights)."""
import numpy as np
import torch

from licodec.metrics import MS_SSIM_WEIGHTS, ms_ssim, psnr


def _reference_ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """a, b (C, H, W) float64 in [0, 1] -> MS-SSIM averaged over channels."""
    k = np.arange(11) - 5.0
    g = np.exp(-k**2 / (2 * 1.5**2))
    g /= g.sum()
    w2 = np.outer(g, g)

    def blur(t):  # valid 2-D correlation, one channel
        h, w = t.shape[0] - 10, t.shape[1] - 10
        return sum(w2[i, j] * t[i : i + h, j : j + w] for i in range(11) for j in range(11))

    c1, c2 = 0.01**2, 0.03**2
    per_channel = []
    for x, y in zip(a, b):
        vals = []
        for s in range(5):
            mx, my = blur(x), blur(y)
            sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
            cs = ((2 * sxy + c2) / (sxx + syy + c2)).mean()
            if s < 4:
                vals.append(max(cs, 0.0))
                x = np.pad(x, ((0, x.shape[0] % 2), (0, x.shape[1] % 2)), mode="edge")
                y = np.pad(y, ((0, y.shape[0] % 2), (0, y.shape[1] % 2)), mode="edge")
                x = (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]) / 4
                y = (y[0::2, 0::2] + y[1::2, 0::2] + y[0::2, 1::2] + y[1::2, 1::2]) / 4
            else:
                ssim = ((2 * mx * my + c1) / (mx**2 + my**2 + c1) * (2 * sxy + c2) / (sxx + syy + c2)).mean()
                vals.append(max(ssim, 0.0))
        per_channel.append(np.prod(np.array(vals) ** np.array(MS_SSIM_WEIGHTS)))
    return float(np.mean(per_channel))


def test_ms_ssim_equals_the_definition():
    rng = np.random.default_rng(0)
    yy, xx = np.meshgrid(np.linspace(0, 1, 171), np.linspace(0, 1, 197), indexing="ij")
    a = np.stack([0.5 + 0.3 * np.sin(9 * xx + c) * np.cos(6 * yy) for c in range(3)])  # odd sides: the edge padding counts
    for noise in (0.02, 0.1):
        b = np.clip(a + noise * rng.standard_normal(a.shape), 0, 1)
        got = float(ms_ssim(torch.from_numpy(b)[None].float(), torch.from_numpy(a)[None].float())[0])
        assert abs(got - _reference_ms_ssim(b, a)) < 2e-5
    assert float(ms_ssim(torch.from_numpy(a)[None].float(), torch.from_numpy(a)[None].float())[0]) > 0.99999


def test_psnr():
    a = torch.zeros(1, 3, 4, 4)
    assert abs(float(psnr(a + 0.1, a)) - 20.0) < 1e-4
