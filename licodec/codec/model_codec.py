"""A model together with its coding state: image tensor <-> latent streams.

::

    encode:  x -> g_a -> (x gain) -> y -> [h_a -> z -> z stream -> z_hat -> h_s -> psi]
                                       -> y stream (engine.code_* with psi) -> y_hat
    decode:  z stream -> z_hat -> h_s -> psi -> y stream -> y_hat -> (x 1/gain) -> g_s -> x_hat

y_hat and z_hat are fixed-point integers (see fixed.py) identical on both sides; the
decoded image is g_s(y_hat) in float32 (exact inputs; its rounding to 8 bits is the
only floating-point step after the range decoder).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..layers import GDN
from ..models import CompressionModel
from .engine import ContextTaps, DecoderIO, EncoderIO, Stages, code_autoregressive, code_factorized, code_gaussian, hyper_features
from .fixed import ONE
from .rangecoder import Decoder, Encoder, TableCoder
from .coding_state import CodingState, build_coding_state

__all__ = ["ModelCodec"]



class ModelCodec:
    """Encodes an image tensor to latent streams and back, with one model and its tables."""

    def __init__(self, model: CompressionModel, state: CodingState, name: str | None = None, card: dict | None = None,
                 weights_sha256: str | None = None) -> None:
        """``model`` becomes the codec's own (eval mode, channels-last transforms): give it a
        model nothing else changes, as :meth:`from_model` does with a copy. ``weights_sha256``:
        the hash stored in its model file, else computed here."""
        from ..models.io import weights_hash

        self.model = model.eval()
        # oneDNN runs these convolutions about 2x faster on channels-last tensors (same values
        # up to float rounding; decoding stays deterministic: the decoder alone runs g_s).
        for t in (model.g_a, model.g_s):
            t.to(memory_format=torch.channels_last)
        self.state = state
        self.name = name or model.name
        self.card: dict = dict(card or {})
        self.weights_sha256 = weights_sha256 or weights_hash(model)
        self.context = ContextTaps(state.context.layers[0]) if state.context is not None else None
        self._z_coder = TableCoder(state.z[0]) if state.z is not None else None
        self._yf_coder = TableCoder(state.y_factorized[0]) if state.y_factorized is not None else None
        self._g_coder = TableCoder(state.gaussian) if state.gaussian is not None else None
        if state.mixture is not None:
            from .mixture import MixtureCoder

            self._g_coder = MixtureCoder(state.mixture, state.mixture_components, model.prior.conditional.scale_bound)

    @classmethod
    def from_model(cls, model: CompressionModel) -> "ModelCodec":
        """A codec of a copy of ``model`` as it is now (a model fresh from training or a
        test), its coding state built now; the caller's model is left as it was."""
        import copy

        own = copy.deepcopy(model).cpu().eval()
        return cls(own, CodingState(own, build_coding_state(own)))

    @property
    def weights_id(self) -> bytes:
        """First 8 bytes of the SHA-256 of the weights: the model identity a .lic file records."""
        return bytes.fromhex(self.weights_sha256)[:8]

    @property
    def quality_range(self) -> tuple[float, float] | None:
        """(lowest, highest) quality of a variable-rate model, None if fixed-rate.

        Qualities 1 .. L are the trained λ; below 1 the gains extrapolate down to
        λ_min / 8 (see :class:`licodec.models.compression_model.RateGains`), e.g. -2 for a grid whose
        λ double from level to level.
        """
        gain = self.model.gain
        return (1.0 + gain.lowest, float(gain.levels)) if gain is not None else None

    @property
    def trained_quality_range(self) -> tuple[float, float] | None:
        """(1, L): the qualities whose λ the model was trained at; None if fixed-rate."""
        return (1.0, float(self.model.gain.levels)) if self.model.gain is not None else None

    @property
    def has_hyper(self) -> bool:
        return self.state.z is not None

    def _q(self, quality: float | None) -> Tensor | None:
        """Quality q -> gain level q - 1 (None for a fixed-rate model)."""
        if self.model.gain is None:
            return None
        return torch.tensor([float(quality) - 1.0])

    @torch.inference_mode()
    def encode(self, x: Tensor, quality: float | None = None, estimate: list | None = None, stages: Stages = Stages()) -> tuple[list[bytes], Tensor]:
        """x (1, 3, H, W) in [0, 1], H, W multiples of 16 -> ([streams], y_hat (M, H/16, W/16) fixed point).

        With ``estimate`` (a list), the ideal code length in bits of each stream's symbols
        under the coding tables is appended to it.
        """
        measure = estimate is not None
        model = self.model
        with stages("g_a"):
            y = model.g_a(x.contiguous(memory_format=torch.channels_last)).contiguous()
        q = self._q(quality)
        if q is not None:
            gain, _ = model.gain.gains(q)
            y = y * gain
        y = y[0]
        m, h, w = y.shape
        streams: list[bytes] = []
        if self._yf_coder is not None:
            enc = Encoder()
            io = EncoderIO(enc, y, measure)
            y_hat = code_factorized(self._yf_coder, self.state.y_factorized[1], (m, h, w), io)
            if measure:
                estimate.append(io.bits)
            return [enc.bytes()], y_hat
        psi = None
        if self.has_hyper:
            with stages("h_a"):
                z = model.prior.hyper.analysis(y[None])[0]
            with stages("z coding"):
                enc = Encoder()
                io = EncoderIO(enc, z, measure)
                z_hat = code_factorized(self._z_coder, self.state.z[1], tuple(z.shape), io)
                streams.append(enc.bytes())
            if measure:
                estimate.append(io.bits)
            with stages("h_s"):
                psi = hyper_features(self.state, z_hat, (h, w))
        enc = Encoder()
        if self.state.context is not None:
            io = EncoderIO(enc, y.permute(1, 2, 0), measure)
            y_hat = code_autoregressive(self.state, self.context, self._g_coder, psi, (m, h, w), io, stages)
        else:
            io = EncoderIO(enc, y, measure)
            with stages("y coding"):
                y_hat = code_gaussian(self.state, self._g_coder, psi.permute(2, 0, 1), io)
        with stages("y coding"):
            streams.append(enc.bytes())
        if measure:
            estimate.append(io.bits)
        return streams, y_hat

    def z_shape(self, h: int, w: int) -> tuple[int, int, int]:
        return (self.model.N, math.ceil(h / 4), math.ceil(w / 4))

    @property
    def stream_count(self) -> int:
        return 2 if self.has_hyper else 1

    @torch.inference_mode()
    def decode_latents(self, streams: list[bytes], h: int, w: int, stages: Stages = Stages()) -> Tensor:
        """Streams -> y_hat (M, h, w) fixed point."""
        if len(streams) != self.stream_count:
            raise ValueError(f"expected {self.stream_count} streams, got {len(streams)}")
        m = self.model.M
        if self._yf_coder is not None:
            return code_factorized(self._yf_coder, self.state.y_factorized[1], (m, h, w), DecoderIO(Decoder(streams[0])))
        psi = None
        if self.has_hyper:
            with stages("z coding"):
                z_hat = code_factorized(self._z_coder, self.state.z[1], self.z_shape(h, w), DecoderIO(Decoder(streams[0])))
            with stages("h_s"):
                psi = hyper_features(self.state, z_hat, (h, w))
        dec = DecoderIO(Decoder(streams[-1]))
        if self.state.context is not None:
            return code_autoregressive(self.state, self.context, self._g_coder, psi, (m, h, w), dec, stages)
        with stages("y coding"):
            return code_gaussian(self.state, self._g_coder, psi.permute(2, 0, 1), dec)

    @torch.inference_mode()
    def synthesize(self, y_hat: Tensor, quality: float | None = None, stages: Stages = Stages()) -> Tensor:
        """y_hat (M, h, w) fixed point -> x_hat (1, 3, 16h, 16w) float32, unclipped."""
        with stages("g_s"):
            y = (y_hat.to(torch.float64) * (1.0 / ONE)).float()[None]
            q = self._q(quality)
            if q is not None:
                _, inv_gain = self.model.gain.gains(q)
                y = y * inv_gain
            return _synthesis(self.model.g_s, y.contiguous(memory_format=torch.channels_last)).contiguous()


def _synthesis(g_s: torch.nn.Module, y: Tensor) -> Tensor:
    """g_s(y) in inference, with each (I)GDN applied in place to its input (a temporary
    made by the layer before it): the same values, one full-size tensor less per layer."""
    if not isinstance(g_s, torch.nn.Sequential):
        return g_s(y)
    x = g_s[0](y) if len(g_s) else y
    for layer in list(g_s)[1:]:
        x = layer.inplace_(x) if isinstance(layer, GDN) else layer(x)
    return x
