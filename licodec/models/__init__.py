"""Models: the paper's joint model and its baselines, composed from shared parts."""
from .compression_model import CompressionModel, RateGains, bits
from .priors import ConditionalPrior, FactorizedPrior, Hyperprior
from .registry import create, names, register

__all__ = ["CompressionModel", "RateGains", "bits", "ConditionalPrior", "FactorizedPrior", "Hyperprior", "create", "names", "register"]
