"""Neural-network layers: GDN/IGDN, masked convolution, convolution helpers."""
from .conv import conv, deconv
from .gdn import GDN, IGDN, NonNegativeParametrizer
from .masked_conv import MaskedConv2d, causal_mask

__all__ = ["GDN", "IGDN", "NonNegativeParametrizer", "MaskedConv2d", "causal_mask", "conv", "deconv"]
