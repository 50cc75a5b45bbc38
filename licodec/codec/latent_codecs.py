"""The coding counterpart of each part of a prior, composed the way the model composes them.

    the model's part (licodec.models.priors)     its coding counterpart (here)
    FactorizedPrior, a hyperprior's z density    FactorizedLatentCodec   per-channel integer tables
    ConditionalPrior without context             GaussianLatentCodec     all positions at once
    ConditionalPrior with a context model        ContextLatentCodec      the wavefront loop
    Hyperprior (h_a, z, h_s) + a conditional     HyperpriorLatentCodec   z first, then y | h_s(z_hat)

    y --HyperpriorLatentCodec----------------------------------------------------------+
    |   h_a -> z --FactorizedLatentCodec--> z stream, z_hat -> h_s (fixed point) -> psi |
    |   y | psi --GaussianLatentCodec or ContextLatentCodec--> y stream, y_hat          |
    +-----------------------------------------------------------------------------------+

Every latent codec has ``streams`` (how many it writes) and
``encode(y, stages, measure) -> (streams, y_hat, bits)``, ``decode(streams, shape, stages) ->
y_hat``: y (C, h, w) real, y_hat fixed point (int64, see fixed.py), ``bits`` the ideal code
length of each stream when ``measure`` (else empty). The conditional codecs take the
hyperprior's features as ``psi`` (h, w, P), or None (a context-only model). The
Gaussian-or-mixture choice is the ``coder``'s (a TableCoder or a MixtureCoder); the
engine (engine.py) holds the arithmetic all of them share.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from torch import Tensor

from .coding_state import CodingState
from .engine import ContextTaps, DecoderIO, EncoderIO, Stages, code_autoregressive, code_factorized, code_gaussian, hyper_features
from .rangecoder import Decoder, Encoder, TableCoder

__all__ = ["FactorizedLatentCodec", "GaussianLatentCodec", "ContextLatentCodec", "HyperpriorLatentCodec"]


def _bits(io: EncoderIO, measure: bool) -> list[float]:
    return [io.bits] if measure else []


class FactorizedLatentCodec:
    """Values (C, h, w) with channel c's table: the factorized density of y or of z."""

    streams = 1

    def __init__(self, coder: TableCoder, medians_int: np.ndarray) -> None:
        self.coder, self.medians = coder, medians_int

    def encode(self, y: Tensor, stages: Stages = Stages(), measure: bool = False) -> tuple[list[bytes], Tensor, list[float]]:
        enc = Encoder()
        io = EncoderIO(enc, y, measure)
        y_hat = code_factorized(self.coder, self.medians, tuple(y.shape), io)
        return [enc.bytes()], y_hat, _bits(io, measure)

    def decode(self, streams: list[bytes], shape: tuple[int, int, int], stages: Stages = Stages()) -> Tensor:
        return code_factorized(self.coder, self.medians, shape, DecoderIO(Decoder(streams[0])))


class GaussianLatentCodec:
    """y | psi with per-element parameters from g_ep(psi), every position at once (no context)."""

    streams = 1

    def __init__(self, state: CodingState, coder) -> None:
        self.state, self.coder = state, coder

    def encode(self, y: Tensor, stages: Stages = Stages(), measure: bool = False, psi: Tensor | None = None) -> tuple[list[bytes], Tensor, list[float]]:
        enc = Encoder()
        io = EncoderIO(enc, y, measure)
        with stages("y coding"):
            y_hat = code_gaussian(self.state, self.coder, psi.permute(2, 0, 1), io)
            data = enc.bytes()
        return [data], y_hat, _bits(io, measure)

    def decode(self, streams: list[bytes], shape: tuple[int, int, int], stages: Stages = Stages(), psi: Tensor | None = None) -> Tensor:
        with stages("y coding"):
            return code_gaussian(self.state, self.coder, psi.permute(2, 0, 1), DecoderIO(Decoder(streams[0])))


class ContextLatentCodec:
    """y | (psi, the decoded causal neighbourhood): the masked 5x5 context model on the
    wavefront schedule (engine.code_autoregressive), one loop for encoder and decoder."""

    streams = 1

    def __init__(self, state: CodingState, coder) -> None:
        self.state, self.coder = state, coder
        self.context = ContextTaps(state.context.layers[0])

    def encode(self, y: Tensor, stages: Stages = Stages(), measure: bool = False, psi: Tensor | None = None) -> tuple[list[bytes], Tensor, list[float]]:
        enc = Encoder()
        io = EncoderIO(enc, y.permute(1, 2, 0), measure)
        y_hat = code_autoregressive(self.state, self.context, self.coder, psi, tuple(y.shape), io, stages)
        with stages("y coding"):
            data = enc.bytes()
        return [data], y_hat, _bits(io, measure)

    def decode(self, streams: list[bytes], shape: tuple[int, int, int], stages: Stages = Stages(), psi: Tensor | None = None) -> Tensor:
        return code_autoregressive(self.state, self.context, self.coder, psi, shape, DecoderIO(Decoder(streams[0])), stages)


class HyperpriorLatentCodec:
    """z = h_a(y) coded with its factorized density, then y | psi with psi = h_s(z_hat) in
    fixed point: two streams, z's first."""

    streams = 2

    def __init__(self, z: FactorizedLatentCodec, h_a: Callable[[Tensor], Tensor], state: CodingState, y, z_channels: int) -> None:
        self.z, self.h_a, self.state, self.y, self.z_channels = z, h_a, state, y, z_channels

    def z_shape(self, h: int, w: int) -> tuple[int, int, int]:
        return (self.z_channels, -(-h // 4), -(-w // 4))

    def encode(self, y: Tensor, stages: Stages = Stages(), measure: bool = False, z: Tensor | None = None) -> tuple[list[bytes], Tensor, list[float]]:
        """``z``: the hyper-latent to code (an encoder's search, latent_search.py), else h_a(y)."""
        if z is None:
            with stages("h_a"):
                z = self.h_a(y[None])[0]
        with stages("z coding"):
            z_streams, z_hat, z_bits = self.z.encode(z, stages, measure)
        with stages("h_s"):
            psi = hyper_features(self.state, z_hat, tuple(y.shape[-2:]))
        y_streams, y_hat, y_bits = self.y.encode(y, stages, measure, psi=psi)
        return z_streams + y_streams, y_hat, z_bits + y_bits

    def decode(self, streams: list[bytes], shape: tuple[int, int, int], stages: Stages = Stages()) -> Tensor:
        _, h, w = shape
        with stages("z coding"):
            z_hat = self.z.decode(streams[:1], self.z_shape(h, w), stages)
        with stages("h_s"):
            psi = hyper_features(self.state, z_hat, (h, w))
        return self.y.decode(streams[1:], shape, stages, psi=psi)
