"""Neural-network layers: GDN/IGDN, masked convolution, convolution helpers."""
from .conv import conv, deconv
from .gdn import GDN, IGDN, LowerBound, NonNegativeParametrizer, lower_bound
from .masked_conv import MaskedConv2d, causal_mask

__all__ = ["GDN", "IGDN", "LowerBound", "NonNegativeParametrizer", "lower_bound", "MaskedConv2d", "causal_mask", "conv", "deconv"]
