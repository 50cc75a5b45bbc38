"""Image quality metrics: PSNR and MS-SSIM (Wang, Simoncelli & Bovik 2003), in torch.

Inputs are (B, 3, H, W) tensors on the same scale; ``data_range`` is that scale's peak
(1.0 for [0, 1] tensors, 255 for 8-bit values).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["psnr", "psnr_from_mse", "ms_ssim", "ms_ssim_db", "rgb_metrics", "MS_SSIM_WEIGHTS"]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    """PSNR in dB of a mean squared error (floored at 1e-12: identical images give 120 dB + 20 log10(range))."""
    return 10 * math.log10(data_range**2 / max(mse, 1e-12))


def psnr(a: Tensor, b: Tensor, data_range: float = 1.0) -> Tensor:
    """Per-image PSNR in dB over all channels, (B,)."""
    mse = torch.mean((a.double() - b.double()) ** 2, dim=(1, 2, 3))
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-20))


def _gaussian_window(size: int, sigma: float, device, dtype) -> Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: Tensor, win: Tensor) -> Tensor:
    c = x.shape[1]
    k = win.numel()
    x = F.conv2d(x, win.reshape(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, win.reshape(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def _ssim_terms(x: Tensor, y: Tensor, win: Tensor, data_range: float) -> tuple[Tensor, Tensor]:
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    # the five local means in one pair of depthwise convolutions (2.4x faster than five pairs
    # at 768x512 here; the same values)
    mu_x, mu_y, exx, eyy, exy = _blur(torch.cat((x, y, x * x, y * y, x * y), dim=1), win).chunk(5, dim=1)
    sxx = exx - mu_x**2
    syy = eyy - mu_y**2
    sxy = exy - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * cs
    return ssim.mean(dim=(2, 3)), cs.mean(dim=(2, 3))


def ms_ssim(a: Tensor, b: Tensor, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-image MS-SSIM (5 scales, the standard weights), averaged over channels, (B,).

    Sides must exceed (win_size - 1) * 16 (160 px for the standard window).
    """
    if min(a.shape[-2:]) <= (win_size - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1):
        raise ValueError(f"MS-SSIM needs sides > {(win_size - 1) * 16} px, got {tuple(a.shape[-2:])}")
    x, y = a.float(), b.float()
    win = _gaussian_window(win_size, sigma, x.device, x.dtype)
    weights = torch.tensor(MS_SSIM_WEIGHTS, device=x.device, dtype=x.dtype)
    values = []
    for i in range(len(MS_SSIM_WEIGHTS)):
        ssim, cs = _ssim_terms(x, y, win, data_range)
        if i < len(MS_SSIM_WEIGHTS) - 1:
            values.append(torch.relu(cs))
            pad = [0, x.shape[-1] % 2, 0, x.shape[-2] % 2]
            x = F.avg_pool2d(F.pad(x, pad, mode="replicate"), 2)
            y = F.avg_pool2d(F.pad(y, pad, mode="replicate"), 2)
        else:
            values.append(torch.relu(ssim))
    stack = torch.stack(values, dim=0)  # (5, B, C)
    return torch.prod(stack ** weights[:, None, None], dim=0).mean(dim=1)


def ms_ssim_db(value: float | Tensor) -> float | Tensor:
    """-10 log10(1 - MS-SSIM)."""
    if isinstance(value, Tensor):
        return -10 * torch.log10((1 - value).clamp_min(1e-12))
    return -10 * math.log10(max(1 - float(value), 1e-12))


def rgb_metrics(original, decoded) -> dict[str, float]:
    """PSNR (peak 255) and MS-SSIM (data range 255) of two 8-bit RGB images, (H, W, 3) arrays.

    Returns ``{"psnr": dB, "ms_ssim": value, "ms_ssim_db": dB}``; MS-SSIM is NaN for images too
    small for its five scales (sides <= 160 px).
    """
    import numpy as np

    a = torch.from_numpy(np.array(original, dtype=np.uint8)).permute(2, 0, 1)[None].double()
    b = torch.from_numpy(np.array(decoded, dtype=np.uint8)).permute(2, 0, 1)[None].double()
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {tuple(original.shape)} vs {tuple(decoded.shape)}")
    p = float(psnr(a, b, data_range=255.0)[0])
    try:
        m = float(ms_ssim(a, b, data_range=255.0)[0])
    except ValueError:
        m = float("nan")
    return {"psnr": p, "ms_ssim": m, "ms_ssim_db": float(ms_ssim_db(m)) if m == m else float("nan")}
