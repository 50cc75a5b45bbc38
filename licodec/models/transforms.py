"""The analysis/synthesis transforms and hyper-transforms of the paper's models.

All built from :mod:`licodec.layers`; the shapes follow Minnen, Ballé & Toderici
(NeurIPS 2018), figure 4 and table 1, and Ballé et al. (ICLR 2018), figure 4.
"""
from __future__ import annotations

from torch import nn

from ..layers import GDN, IGDN, MaskedConv2d, conv, deconv

__all__ = ["g_a", "g_s", "h_a_relu", "h_s_relu", "h_a_leaky", "h_s_leaky", "context_model", "entropy_parameters"]


def g_a(N: int, M: int) -> nn.Sequential:
    """Analysis transform: (B, 3, H, W) -> (B, M, H/16, W/16); 4 stride-2 5x5 convs with GDN."""
    return nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))


def g_s(N: int, M: int) -> nn.Sequential:
    """Synthesis transform: (B, M, h, w) -> (B, 3, 16h, 16w); 4 stride-2 5x5 deconvs with IGDN."""
    return nn.Sequential(deconv(M, N), IGDN(N), deconv(N, N), IGDN(N), deconv(N, N), IGDN(N), deconv(N, 3))


def h_a_relu(N: int, M: int) -> nn.Sequential:
    """Ballé 2018 hyper-analysis (applied to |y|): (B, M, h, w) -> (B, N, h/4, w/4)."""
    return nn.Sequential(conv(M, N, 3, 1), nn.ReLU(), conv(N, N), nn.ReLU(), conv(N, N))


def h_s_relu(N: int, M: int) -> nn.Sequential:
    """Ballé 2018 hyper-synthesis: (B, N, h/4, w/4) -> scales (B, M, h, w), non-negative."""
    return nn.Sequential(deconv(N, N), nn.ReLU(), deconv(N, N), nn.ReLU(), conv(N, M, 3, 1), nn.ReLU())


def h_a_leaky(N: int, M: int) -> nn.Sequential:
    """Minnen 2018 hyper-analysis: conv3x3 s1, conv5x5 s2, conv5x5 s2 with LeakyReLU; (B, M, h, w) -> (B, N, h/4, w/4)."""
    return nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(), conv(N, N), nn.LeakyReLU(), conv(N, N))


def h_s_leaky(N: int, M: int, out: int | None = None) -> nn.Sequential:
    """Minnen 2018 hyper-synthesis: deconv5x5 s2 to M, deconv5x5 s2 to 3M/2, conv3x3 to ``out`` (default 2M)."""
    out = 2 * M if out is None else out
    return nn.Sequential(
        deconv(N, M), nn.LeakyReLU(), deconv(M, M * 3 // 2), nn.LeakyReLU(), conv(M * 3 // 2, out, 3, 1)
    )


def context_model(M: int, kernel_size: int = 5) -> MaskedConv2d:
    """Autoregressive context model g_cm: masked k x k conv M -> 2M."""
    return MaskedConv2d(M, 2 * M, kernel_size, mask_type="A")


def entropy_parameters(in_ch: int, out_ch: int) -> nn.Sequential:
    """g_ep: 1x1 convs in -> 5in/6 -> 2in/3 -> out with LeakyReLU (4M -> 10M/3 -> 8M/3 -> 2M in the paper)."""
    a, b = in_ch * 5 // 6, in_ch * 2 // 3
    return nn.Sequential(conv(in_ch, a, 1, 1), nn.LeakyReLU(), conv(a, b, 1, 1), nn.LeakyReLU(), conv(b, out_ch, 1, 1))
