"""Neural-network layers: GDN/IGDN, masked convolution, convolution helpers."""
from .conv import Deconv, conv, deconv, subpixel_offsets
from .gdn import GDN, IGDN, LowerBound, NonNegativeParametrizer, lower_bound
from .masked_conv import MaskedConv2d, causal_mask

__all__ = ["Deconv", "subpixel_offsets", "GDN", "IGDN", "LowerBound", "NonNegativeParametrizer", "lower_bound", "MaskedConv2d", "causal_mask", "conv", "deconv"]
