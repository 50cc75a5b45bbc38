"""The coding state of a model: integer tables and fixed-point settings, built once.

:func:`build_coding_state` turns a trained model into tensors saved in its model file
(``coding.*`` keys): the per-channel tables of the factorized density (z, or y for the
factorized-prior model) with its medians on the fixed-point grid, the Gaussian scale
table with its integer thresholds, and the per-channel shifts of every fixed-point layer.
:class:`CodingState` reads them back; the encoder and the decoder use the same object,
so neither regenerates a table.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..entropy import CodingTables, FactorizedDensity, gaussian_tables, scale_table
from ..entropy.gaussian import DEFAULT_SCALE_BOUND, GaussianConditional, GaussianMixtureConditional
from ..models import CompressionModel
from ..models.priors import ConditionalPrior, FactorizedPrior
from .fixed import ACT_BITS, CONTEXT_INPUT_SHIFT, EP_INPUT_SHIFT, FixedNet

__all__ = ["build_coding_state", "CodingState", "CODING_VERSION"]

CODING_VERSION = 2  # 2: int8 weights with per-channel shifts
# Input rounding of each fixed-point net's layers (see fixed.py), by layer count.
INPUT_SHIFTS = {
    "hs": lambda n: [0] * n,
    "ctx": lambda n: [CONTEXT_INPUT_SHIFT] + [0] * (n - 1),
    "ep": lambda n: [EP_INPUT_SHIFT] * n,
}
SCALE_LEVELS = 64
SCALE_MAX = 256.0


def _density_tables(d: FactorizedDensity) -> tuple[CodingTables, np.ndarray]:
    medians, offsets, pmfs, tails = d.pmf_table()
    tables = CodingTables.from_pmfs(offsets, pmfs, tails)
    med_int = np.round(medians * 2**ACT_BITS).astype(np.int64)
    return tables, med_int


def _tensors(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Tensor]:
    return {f"{prefix}.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


def _convs(seq) -> list:
    from torch import nn

    mods = list(seq) if isinstance(seq, nn.Sequential) else [seq]
    return [m for m in mods if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def build_coding_state(model: CompressionModel) -> dict[str, Tensor]:
    """All coding tables and fixed-point settings of ``model`` as ``coding.*`` tensors."""
    out: dict[str, Tensor] = {"coding.version": torch.tensor([CODING_VERSION], dtype=torch.int32)}
    prior = model.prior
    if isinstance(prior, FactorizedPrior):  # y's own density: one table per channel
        tables, med = _density_tables(prior.density)
        out.update(_tensors("coding.y", tables.state("t") | {"medians": med}))
        return out
    if not isinstance(prior, ConditionalPrior):
        raise TypeError(f"no coding state for a prior of type {type(prior).__name__}")
    if prior.hyper is not None:  # z's density
        tables, med = _density_tables(prior.hyper.z_density)
        out.update(_tensors("coding.z", tables.state("t") | {"medians": med}))
    cond = prior.conditional
    if isinstance(cond, GaussianMixtureConditional):
        if prior.context is None:
            raise NotImplementedError("mixture coding is implemented for models with a context model")
        from .mixture import build_mixture_tables

        out.update(_tensors("coding.mix", build_mixture_tables()))
        out["coding.mix.components"] = torch.tensor([cond.components], dtype=torch.int32)
    else:
        scales = scale_table(DEFAULT_SCALE_BOUND, SCALE_MAX, SCALE_LEVELS)
        g = gaussian_tables(scales)
        # Index of sigma: the table scale nearest in log domain; thresholds at geometric midpoints.
        mids = [math.sqrt(a * b) for a, b in zip(scales[:-1], scales[1:])]
        thresholds = np.array([math.ceil(m * 2**ACT_BITS) for m in mids], dtype=np.int64)
        out.update(_tensors("coding.y", g.state("t") | {"thresholds": thresholds, "scales": np.array(scales)}))
    for key, net in _fixed_nets(prior).items():
        if net is not None:
            for i, shifts in enumerate(FixedNet(net).shifts):
                out[f"coding.{key}.shifts.{i}"] = shifts.to(torch.int8)
            out[f"coding.{key}.input_shifts"] = torch.tensor(INPUT_SHIFTS[key](len(_convs(net))), dtype=torch.int8)
    return out


def _fixed_nets(prior) -> dict:
    """The networks of a conditional prior that run in fixed point, by coding key (None: absent)."""
    if not isinstance(prior, ConditionalPrior):
        return {}
    return {"hs": prior.hyper.h_s if prior.hyper is not None else None, "ctx": prior.context, "ep": prior.entropy_parameters}


class CodingState:
    """Tables and fixed-point networks of one model, read from ``coding.*`` tensors."""

    def __init__(self, model: CompressionModel, tensors: dict[str, Tensor]) -> None:
        if "coding.version" not in tensors:
            raise ValueError("model has no coding tables (build them with build_coding_state)")
        if int(tensors["coding.version"][0]) != CODING_VERSION:
            raise ValueError(f"coding tables of version {int(tensors['coding.version'][0])}, expected {CODING_VERSION}")
        arrays = {k: v.numpy() for k, v in tensors.items() if k.startswith("coding.")}
        self.model = model
        self.z = self._density(arrays, "z")
        self.y_factorized = self._density(arrays, "y") if "coding.y.medians" in arrays else None
        self.gaussian: CodingTables | None = None
        if "coding.y.thresholds" in arrays:
            self.gaussian = CodingTables.from_state({k[len("coding.y."):]: v for k, v in arrays.items() if k.startswith("coding.y.")}, "t")
            self.thresholds = torch.from_numpy(arrays["coding.y.thresholds"].astype(np.int64))
            self._thresholds_f = self.thresholds.to(torch.float64)  # exact: integers below 2**53
        cond = model.prior.conditional if isinstance(model.prior, ConditionalPrior) else None
        self.use_means = isinstance(cond, GaussianConditional) and cond.use_means
        self.sigma_min = round(cond.scale_bound * 2**ACT_BITS) if cond is not None else 0  # fixed-point lower bound of sigma
        self.mixture = None
        self.mixture_components = 0
        if "coding.mix.phi" in arrays:
            self.mixture = {"exp": arrays["coding.mix.exp"], "phi": arrays["coding.mix.phi"]}
            self.mixture_components = int(arrays["coding.mix.components"][0])
        self.h_s = self.context = self.ep = None
        for key, net in _fixed_nets(model.prior).items():
            if f"coding.{key}.shifts.0" in arrays:
                fixed = FixedNet(net, self._shifts(arrays, key), arrays[f"coding.{key}.input_shifts"].tolist())
                setattr(self, {"hs": "h_s", "ctx": "context", "ep": "ep"}[key], fixed)

    @staticmethod
    def _shifts(arrays: dict[str, np.ndarray], key: str) -> list[Tensor]:
        """Per-channel shifts of each layer of a fixed-point net, in layer order."""
        out = []
        while f"coding.{key}.shifts.{len(out)}" in arrays:
            out.append(torch.from_numpy(arrays[f"coding.{key}.shifts.{len(out)}"].astype(np.int64)))
        return out

    @staticmethod
    def _density(arrays: dict[str, np.ndarray], key: str) -> tuple[CodingTables, np.ndarray] | None:
        p = f"coding.{key}."
        if p + "medians" not in arrays:
            return None
        sub = {k[len(p):]: v for k, v in arrays.items() if k.startswith(p)}
        return CodingTables.from_state(sub, "t"), sub["medians"].astype(np.int64)

    def scale_index(self, sigma_int: Tensor) -> Tensor:
        """Fixed-point sigma (already lower-bounded; int64 or integer-valued float64) -> scale-table index, int64."""
        thresholds = self.thresholds if sigma_int.dtype == torch.int64 else self._thresholds_f
        return torch.searchsorted(thresholds, sigma_int.contiguous(), right=True)
