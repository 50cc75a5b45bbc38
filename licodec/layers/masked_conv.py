"""Masked ("causal") convolution for autoregressive context models.

Van den Oord et al., "Conditional image generation with PixelCNN decoders" (2016);
used as the context model g_cm of Minnen, Ballé & Toderici (NeurIPS 2018).

A type-A mask of odd size k keeps the taps strictly before the centre in raster
order: the rows above the centre, and the taps left of the centre on its row.
The output at (i, j) therefore depends only on inputs (i', j') with i' < i, or
i' = i and j' < j, within the k x k window.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MaskedConv2d", "causal_mask"]


def causal_mask(kernel_size: int, mask_type: str = "A") -> Tensor:
    """(k, k) float mask; type "A" excludes the centre, type "B" includes it."""
    if kernel_size % 2 != 1 or kernel_size < 1:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    k, c = kernel_size, kernel_size // 2
    mask = torch.zeros(k, k)
    mask[:c, :] = 1
    mask[c, : c + (mask_type == "B")] = 1
    return mask


class MaskedConv2d(nn.Conv2d):
    """Conv2d (stride 1, 'same' padding) whose kernel is multiplied by a causal mask.

    Input (B, C_in, H, W) -> output (B, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, mask_type: str = "A") -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=kernel_size // 2)
        self.mask_type = mask_type
        self.register_buffer("mask", causal_mask(kernel_size, mask_type).expand_as(self.weight).clone(), persistent=False)

    def masked_weight(self) -> Tensor:
        return self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        # the mask's rows below the centre are zero: convolve with the rows down to the centre
        # only, on an input padded above and at the sides (15 of 25 taps for k = 5; the same sums)
        c = self.kernel_size[0] // 2
        w = self.masked_weight()[:, :, : c + 1]
        return F.conv2d(F.pad(x, (c, c, c, 0)), w, self.bias)
