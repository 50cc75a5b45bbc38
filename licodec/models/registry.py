"""Model registry: ``create(name, N=..., M=...)`` and ``names()``.

| name                    | paper                                  | entropy model of y                          |
|-------------------------|----------------------------------------|---------------------------------------------|
| bmshj2018-factorized    | Ballé et al. ICLR 2018 (baseline)      | factorized density                          |
| bmshj2018-hyperprior    | Ballé et al. ICLR 2018                 | zero-mean Gaussian, sigma = h_s(z)          |
| mbt2018-mean            | Minnen et al. NeurIPS 2018             | Gaussian, (mu, sigma) = h_s(z)              |
| mbt2018-context         | Minnen et al. NeurIPS 2018 (ablation)  | Gaussian, (mu, sigma) = g_ep(g_cm(y_hat))   |
| mbt2018                 | Minnen et al. NeurIPS 2018             | Gaussian, g_ep(h_s(z), g_cm(y_hat))         |
| mbt2018-gmm             | Minnen et al. NeurIPS 2018 (variant)   | 3-component Gaussian mixture, same inputs   |
"""
from __future__ import annotations

from typing import Callable

from ..entropy import GaussianConditional, GaussianMixtureConditional
from . import transforms as T
from .compression_model import CompressionModel
from .priors import ConditionalPrior, FactorizedPrior, Hyperprior

__all__ = ["create", "names", "register"]

_REGISTRY: dict[str, Callable[..., CompressionModel]] = {}


def register(name: str) -> Callable[[Callable[..., CompressionModel]], Callable[..., CompressionModel]]:
    def deco(fn: Callable[..., CompressionModel]) -> Callable[..., CompressionModel]:
        _REGISTRY[name] = fn
        return fn

    return deco


def names() -> list[str]:
    """Names of the registered architectures."""
    return list(_REGISTRY)


def citation(name: str) -> str:
    """The paper behind an architecture: the first paragraph of its builder's docstring, one line."""
    doc = (_REGISTRY[name].__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def create(name: str, N: int = 192, M: int = 192, lambdas: list[float] | None = None, **kwargs) -> CompressionModel:
    """Build an untrained model. ``lambdas`` (increasing) makes it variable-rate."""
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(names())}") from None
    if N < 1 or M < 1:
        raise ValueError("N and M must be positive")
    return builder(N=int(N), M=int(M), lambdas=lambdas, **kwargs)


@register("bmshj2018-factorized")
def factorized(N: int, M: int, lambdas=None) -> CompressionModel:
    """Ballé, Minnen, Singh, Hwang & Johnston, ICLR 2018: factorized-prior baseline.

    x -g_a-> y -Q-> y_hat ~ factorized density -g_s-> x_hat
    """
    return CompressionModel(T.g_a(N, M), T.g_s(N, M), FactorizedPrior(M), name="bmshj2018-factorized", N=N, M=M, lambdas=lambdas)


@register("bmshj2018-hyperprior")
def scale_hyperprior(N: int, M: int, lambdas=None) -> CompressionModel:
    """Ballé et al., "Variational image compression with a scale hyperprior", ICLR 2018.

    x -g_a-> y -Q-> y_hat ~ N(0, sigma) -g_s-> x_hat
             |y| -h_a-> z -Q-> z_hat -h_s-> sigma
    """
    hyper = Hyperprior(T.h_a_relu(N, M), T.h_s_relu(N, M), N, abs_input=True)
    prior = ConditionalPrior(GaussianConditional(use_means=False), hyper=hyper)
    return CompressionModel(T.g_a(N, M), T.g_s(N, M), prior, name="bmshj2018-hyperprior", N=N, M=M, lambdas=lambdas)


@register("mbt2018-mean")
def mean_scale_hyperprior(N: int, M: int, lambdas=None) -> CompressionModel:
    """Minnen, Ballé & Toderici, NeurIPS 2018: mean-scale hyperprior (no context model).

    x -g_a-> y -Q-> y_hat ~ N(mu, sigma) -g_s-> x_hat
             y -h_a-> z -Q-> z_hat -h_s-> (mu, sigma)
    """
    hyper = Hyperprior(T.h_a_leaky(N, M), T.h_s_leaky(N, M), N)
    prior = ConditionalPrior(GaussianConditional(), hyper=hyper)
    return CompressionModel(T.g_a(N, M), T.g_s(N, M), prior, name="mbt2018-mean", N=N, M=M, lambdas=lambdas)


@register("mbt2018-context")
def context_only(N: int, M: int, lambdas=None) -> CompressionModel:
    """Minnen, Ballé & Toderici, NeurIPS 2018: context-only ablation (no hyperprior).

    x -g_a-> y -Q-> y_hat ~ N(mu, sigma) -g_s-> x_hat
                    y_hat -g_cm (masked 5x5)-> g_ep -> (mu, sigma)
    """
    prior = ConditionalPrior(GaussianConditional(), context=T.context_model(M), entropy_parameters=T.entropy_parameters(2 * M, 2 * M))
    return CompressionModel(T.g_a(N, M), T.g_s(N, M), prior, name="mbt2018-context", N=N, M=M, lambdas=lambdas)


@register("mbt2018")
def joint(N: int, M: int, lambdas=None) -> CompressionModel:
    """Minnen, Ballé & Toderici, "Joint autoregressive and hierarchical priors for learned
    image compression", NeurIPS 2018 (arXiv 1809.02736): the paper's model.

    x -g_a-> y ----Q----> y_hat ~ N(mu, sigma) ------------------> g_s -> x_hat
             |              |                      ^
             h_a            g_cm (masked 5x5, M->2M)|
             v              v                      |
             z -Q-> z_hat -h_s-> psi (2M) --cat--> g_ep (1x1: 4M->10M/3->8M/3->2M) -> (mu, sigma)
    """
    hyper = Hyperprior(T.h_a_leaky(N, M), T.h_s_leaky(N, M), N)
    prior = ConditionalPrior(GaussianConditional(), hyper=hyper, context=T.context_model(M), entropy_parameters=T.entropy_parameters(4 * M, 2 * M))
    return CompressionModel(T.g_a(N, M), T.g_s(N, M), prior, name="mbt2018", N=N, M=M, lambdas=lambdas)


@register("mbt2018-gmm")
def joint_mixture(N: int, M: int, lambdas=None, components: int = 3) -> CompressionModel:
    """Minnen, Ballé & Toderici, NeurIPS 2018: the joint model with a Gaussian mixture
    (K components; weights, means and scales per element) in place of the single Gaussian.

    Same data flow as ``mbt2018``; g_ep ends in 3KM channels.
    """
    cond = GaussianMixtureConditional(components)
    hyper = Hyperprior(T.h_a_leaky(N, M), T.h_s_leaky(N, M), N)
    prior = ConditionalPrior(cond, hyper=hyper, context=T.context_model(M), entropy_parameters=T.entropy_parameters(4 * M, cond.param_channels(M)))
    return CompressionModel(T.g_a(N, M), T.g_s(N, M), prior, name="mbt2018-gmm", N=N, M=M, lambdas=lambdas, options={"components": components})
