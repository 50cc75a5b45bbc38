"""Convolutions with the 'same'-style padding used by the paper's transforms."""
from __future__ import annotations

from torch import nn


def conv(in_ch: int, out_ch: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    """k x k convolution; with stride s an H x W input gives H/s x W/s."""
    return nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(in_ch: int, out_ch: int, kernel_size: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """k x k transposed convolution; with stride s an H x W input gives sH x sW."""
    return nn.ConvTranspose2d(
        in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2, output_padding=stride - 1
    )
