"""Entropy models (factorized density, conditional Gaussian / mixture) and their integer coding tables."""
from .factorized import FactorizedDensity
from .gaussian import GaussianConditional, GaussianMixtureConditional, scale_table, standard_cdf
from .tables import CodingTables, gaussian_tables, quantize_pmf

__all__ = [
    "FactorizedDensity",
    "GaussianConditional",
    "GaussianMixtureConditional",
    "scale_table",
    "standard_cdf",
    "CodingTables",
    "gaussian_tables",
    "quantize_pmf",
]
