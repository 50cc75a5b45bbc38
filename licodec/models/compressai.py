"""Models trained with CompressAI (Bégaint et al., "CompressAI: a PyTorch library and
evaluation platform for end-to-end compression research", arXiv 2011.03029) as licodec models.

CompressAI's four image models of these papers have licodec's architectures layer for layer;
only the names of their parameters differ::

    CompressAI class (zoo name)                               licodec architecture
    FactorizedPrior (bmshj2018-factorized)                    bmshj2018-factorized
    ScaleHyperprior (bmshj2018-hyperprior)                    bmshj2018-hyperprior
    MeanScaleHyperprior (mbt2018-mean)                        mbt2018-mean
    JointAutoregressiveHierarchicalPriors (mbt2018)           mbt2018

    CompressAI state dict                      licodec state dict
    g_a.*, g_s.*                          ->   g_a.*, g_s.*   (GDN's beta/gamma: the same
                                                              reparametrization, offset 2^-18)
    h_a.*, h_s.*                          ->   prior.hyper.h_a.*, prior.hyper.h_s.*
    entropy_bottleneck.{quantiles, matrices.i, biases.i, factors.i}
                                          ->   prior.hyper.z_density.*  (prior.density.* for
                                                              the factorized model); older
                                                              files' _matrices.i / _matrix{i} too
    context_prediction.{weight, bias}     ->   prior.context.*
    entropy_parameters.*                  ->   prior.entropy_parameters.*
    (dropped: the coding tables and bounds CompressAI keeps as buffers, GDN's reparametrization
    constants, the context model's mask: licodec derives its own from the weights)

The result is an ordinary fixed-rate :class:`CompressionModel`; ``licodec import`` writes it
as a model file with licodec's exact integer coding tables, so it codes real files with
licodec's coder, container and decoder (not CompressAI's, whose bitstreams are not licodec's).
"""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import torch
from torch import Tensor

from ..errors import FormatError
from .compression_model import CompressionModel
from .registry import create

__all__ = ["ARCHITECTURES", "COMPRESSAI_LAMBDAS", "architecture_of", "from_compressai", "read_checkpoint", "zoo_file_facts"]

#: The most channels (N or M) an imported model may have (CompressAI's largest: 320), so that
#: a damaged file cannot make licodec build an absurdly large model before its shapes are checked.
MAX_CHANNELS = 4096

#: CompressAI's zoo name -> licodec's architecture.
ARCHITECTURES = {
    "bmshj2018-factorized": "bmshj2018-factorized",
    "bmshj2018-hyperprior": "bmshj2018-hyperprior",
    "mbt2018-mean": "mbt2018-mean",
    "mbt2018": "mbt2018",
}

#: The λ of CompressAI's pretrained qualities 1..8, per distortion metric (its docs, "Zoo").
COMPRESSAI_LAMBDAS = {
    "mse": [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800],
    "ms-ssim": [2.40, 4.58, 8.73, 16.64, 31.73, 60.50, 115.37, 220.00],
}

_PREFIXES = (  # CompressAI prefix -> licodec prefix (the entropy bottleneck's depends on the model)
    ("g_a.", "g_a."),
    ("g_s.", "g_s."),
    ("h_a.", "prior.hyper.h_a."),
    ("h_s.", "prior.hyper.h_s."),
    ("context_prediction.", "prior.context."),
    ("entropy_parameters.", "prior.entropy_parameters."),
)
_DROPPED = re.compile(
    r"^(gaussian_conditional\..*"
    r"|entropy_bottleneck\.(_offset|_quantized_cdf|_cdf_length|target|likelihood_lower_bound\..*)"
    r"|.*\.(beta|gamma)_reparam\..*"
    r"|context_prediction\.mask)$"
)
_OLD_DENSITY = re.compile(r"^_(matrices|biases|factors)\.(\d+)$|^_(matrix|bias|factor)(\d+)$")
_PLURAL = {"matrix": "matrices", "bias": "biases", "factor": "factors"}
#: CompressAI's zoo file names: <model>[-ms-ssim]-<quality>-<8 hex digits>.pth.tar
_ZOO_FILE = re.compile(r"^(bmshj2018-factorized-prior|bmshj2018-factorized|bmshj2018-hyperprior|mbt2018-mean|mbt2018)"
                       r"(-ms-ssim)?-([1-8])-[0-9a-f]{8}\.pth(\.tar)?$")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Tensor]:
    """The model state dict of a CompressAI file: a zoo file (the state dict itself) or a
    checkpoint of its training example (``{"state_dict": ..., "optimizer": ...}``), read with
    ``torch.load(weights_only=True)`` (tensors and plain containers only: no code runs).
    DataParallel's ``module.`` prefixes are removed."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FormatError(f"{path}: is a folder, not a checkpoint file") from None
    except pickle.UnpicklingError:  # a foreign file, or a pickle of more than tensors (weights_only refuses to run it)
        raise FormatError(f"{path}: not a PyTorch checkpoint of tensors (a foreign file, or one that pickles other objects)") from None
    except (RuntimeError, ValueError, EOFError, OSError) as exc:  # what torch.load raises on a damaged file
        first = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
        raise FormatError(f"{path}: not a readable PyTorch checkpoint ({first})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()):
        raise FormatError(f"{path}: not a model state dict (a CompressAI zoo file or training checkpoint)")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def architecture_of(state: dict[str, Tensor]) -> tuple[str, int, int]:
    """(licodec architecture, N, M) of a CompressAI state dict, from its keys and shapes."""
    if "g_a.0.weight" not in state or "g_a.6.weight" not in state or "g_a.1.beta" not in state:
        raise FormatError("not one of CompressAI's GDN image models (bmshj2018-factorized, bmshj2018-hyperprior, "
                          "mbt2018-mean, mbt2018): no g_a of four convolutions with GDN")
    first, last = state["g_a.0.weight"], state["g_a.6.weight"]
    if first.dim() != 4 or tuple(first.shape[1:]) != (3, 5, 5) or last.dim() != 4:
        raise FormatError(f"g_a.0.weight has shape {tuple(first.shape)}: not the 5x5 RGB layer of CompressAI's GDN models")
    n, m = int(first.shape[0]), int(last.shape[0])
    if not (1 <= n <= MAX_CHANNELS and 1 <= m <= MAX_CHANNELS):
        raise FormatError(f"N={n}, M={m}: outside 1..{MAX_CHANNELS} channels")
    if "h_a.0.weight" not in state:
        return "bmshj2018-factorized", n, m
    if "context_prediction.weight" in state:
        return "mbt2018", n, m
    out = state.get("h_s.4.weight")
    if out is None:
        raise FormatError("a hyperprior model without h_s.4: not a CompressAI model licodec knows")
    return ("mbt2018-mean" if int(out.shape[0]) == 2 * m else "bmshj2018-hyperprior"), n, m


def _rename(key: str, density: str) -> str | None:
    """licodec's name for a CompressAI key; None for what licodec does not keep."""
    if _DROPPED.match(key):
        return None
    if key.startswith("entropy_bottleneck."):
        sub = key[len("entropy_bottleneck."):]
        old = _OLD_DENSITY.match(sub)
        if old:
            sub = f"{old.group(1)}.{old.group(2)}" if old.group(1) else f"{_PLURAL[old.group(3)]}.{old.group(4)}"
        return density + sub
    for theirs, ours in _PREFIXES:
        if key.startswith(theirs):
            return ours + key[len(theirs):]
    return key  # unknown: load_state_dict names it


def from_compressai(state: dict[str, Tensor], architecture: str | None = None) -> CompressionModel:
    """A licodec model (float32, eval mode) with the weights of a CompressAI state dict.
    ``architecture``: licodec's name, else found from the keys (:func:`architecture_of`)."""
    found, n, m = architecture_of(state)
    name = architecture or found
    if name not in ARCHITECTURES.values():
        raise FormatError(f"architecture {name!r} cannot take CompressAI weights; known: {', '.join(ARCHITECTURES.values())}")
    model = create(name, N=n, M=m)
    density = "prior.density." if name == "bmshj2018-factorized" else "prior.hyper.z_density."
    mapped = {}
    for key, value in state.items():
        ours = _rename(key, density)
        if ours is not None:
            mapped[ours] = value.detach().float()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(mapped))
    unknown = sorted(set(mapped) - set(expected))
    if missing or unknown:
        what = "; ".join(f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                         for label, keys in (("missing", missing), ("not in a licodec " + name, unknown)) if keys)
        raise FormatError(f"CompressAI weights do not fit licodec's {name} (N={n}, M={m}): {what}")
    wrong = [k for k, v in mapped.items() if v.shape != expected[k].shape]
    if wrong:
        k = wrong[0]
        raise FormatError(f"CompressAI weights do not fit licodec's {name} (N={n}, M={m}): {k} has shape "
                          f"{tuple(mapped[k].shape)}, licodec's {tuple(expected[k].shape)}")
    model.load_state_dict(mapped)
    return model.eval()


def zoo_file_facts(path: str | os.PathLike) -> dict | None:
    """What the name of a CompressAI zoo file says (e.g. ``mbt2018-6-7052e5ea.pth.tar``):
    {"architecture", "metric", "quality", "lmbda"}; None for another name."""
    m = _ZOO_FILE.match(Path(path).name)
    if m is None:
        return None
    arch = "bmshj2018-factorized" if m.group(1).startswith("bmshj2018-factorized") else m.group(1)
    metric = "ms-ssim" if m.group(2) else "mse"
    quality = int(m.group(3))
    return {"architecture": arch, "metric": metric, "quality": quality, "lmbda": COMPRESSAI_LAMBDAS[metric][quality - 1]}
