"""A model together with its coding state: image tensor <-> latent streams.

::

    encode:  x -> g_a -> (x gain) -> y -> latent codec -> streams, y_hat
    decode:  streams -> latent codec -> y_hat -> (x 1/gain) -> g_s -> x_hat

The latent codec is the coding counterpart of the model's prior, composed part for part
(latent_codecs.py): e.g. the paper's model's is a HyperpriorLatentCodec of z's
FactorizedLatentCodec and y's ContextLatentCodec.

y_hat and z_hat are fixed-point integers (see fixed.py) identical on both sides; the
decoded image is g_s(y_hat) in float32 (exact inputs; its rounding to 8 bits is the
only floating-point step after the range decoder).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable

import torch
from torch import Tensor

from ..errors import CodecError
from ..models import CompressionModel
from .coding_state import CodingState, build_coding_state
from .engine import Stages
from .fixed import ONE, band_thread_count, band_threads
from .latent_codecs import ContextLatentCodec, FactorizedLatentCodec, GaussianLatentCodec, HyperpriorLatentCodec
from .precision import resolve as resolve_precision, polyphase_plan, run_transform
from .rangecoder import TableCoder

__all__ = ["ModelCodec"]

#: Above this many pixels (halo included) the transforms run on bands of latent rows, so that
#: their memory grows with the image's width and not its area: g_a's first layer alone holds
#: 192 bytes per pixel (4.6 GB for a 24-Mpixel photo); a band of this size needs ~0.5 GB.
BAND_PIXELS = 1 << 21
#: Latent rows of context above and below each band: g_a's and g_s's reach is 2 rows (four
#: 5x5 layers of stride 2: y row i sees pixel rows 16i-30 .. 16i+30, and pixel row p depends on
#: y rows p/16 +- 1.9), so a band's rows are computed from exactly the inputs of the whole image.
HALO = 2


def band_rows(width: int) -> int:
    """Latent rows per band for an image ``width`` pixels wide (padded to 16)."""
    return max(1, BAND_PIXELS // (16 * max(1, width)) - 2 * HALO)


def in_bands(transform: Callable[[Tensor], Tensor], x: Tensor, rows: int, scale_in: int, scale_out: int,
             done: Callable[[], None] | None = None) -> Tensor:
    """``transform`` (a stack of stride-2 5x5 layers, g_a or g_s) applied to x (1, C, R*scale_in, W)
    in bands of ``rows`` latent rows, each computed with HALO latent rows of its neighbours and
    cropped: (1, C', R*scale_out, W') as ``transform(x)`` (R latent rows; scale 16 on the pixel
    side, 1 on the latent side). ``done()`` after each band."""
    n = x.shape[2] // scale_in
    if rows >= n:
        out = transform(x)
        if done is not None:
            done()
        return out
    out = None
    for a in range(0, n, rows):
        b = min(n, a + rows)
        a0, b0 = max(0, a - HALO), min(n, b + HALO)
        part = transform(x[:, :, a0 * scale_in : b0 * scale_in])[:, :, (a - a0) * scale_out : (b - a0) * scale_out]
        if out is None:
            out = part.new_empty((part.shape[0], part.shape[1], n * scale_out, part.shape[3]))
        out[:, :, a * scale_out : b * scale_out] = part
        if done is not None:
            done()
    return out


def band_count(height: int, width: int) -> int:
    """How many bands the transforms of a ``height`` x ``width`` image (padded to 16) run in."""
    rows = band_rows(width)
    return -(-(height // 16) // rows)


class ModelCodec:
    """Encodes an image tensor to latent streams and back, with one model and its tables."""

    def __init__(self, model: CompressionModel, state: CodingState, name: str | None = None, card: dict | None = None,
                 weights_sha256: str | None = None) -> None:
        """``model`` becomes the codec's own (eval mode, channels-last transforms): give it a
        model nothing else changes, as :meth:`from_model` does with a copy. ``weights_sha256``:
        the hash stored in its model file, else computed here."""
        from ..models.io import weights_hash

        self.model = model.eval().requires_grad_(False)  # an encoder's search (latent_search.py) differentiates latents only
        # oneDNN runs these convolutions about 2x faster on channels-last tensors (same values
        # up to float rounding; decoding stays deterministic: the decoder alone runs g_s).
        for t in (model.g_a, model.g_s):
            t.to(memory_format=torch.channels_last)
        self.state = state
        self.name = name or model.name
        self.card: dict = dict(card or {})
        self.weights_sha256 = weights_sha256 or weights_hash(model)
        self.latent = self._latent_codec()
        self._plans: dict[str, list | None] = {}

    def _plan(self, name: str) -> list | None:
        """g_a's or g_s's polyphase plan (precision.polyphase_plan), built at first use: it
        derives from the codec's own weights, which never change."""
        if name not in self._plans:
            with torch.inference_mode(False):  # also for the latent search's gradients
                self._plans[name] = polyphase_plan(getattr(self.model, name))
        return self._plans[name]

    def _latent_codec(self):
        """The coding counterpart of the model's prior, part for part (latent_codecs.py)."""
        state, model = self.state, self.model
        if state.y_factorized is not None:
            return FactorizedLatentCodec(TableCoder(state.y_factorized[0]), state.y_factorized[1])
        if state.mixture is not None:
            from .mixture import MixtureCoder

            coder = MixtureCoder(state.mixture, state.mixture_components, model.prior.conditional.scale_bound)
        else:
            coder = TableCoder(state.gaussian)
        y = ContextLatentCodec(state, coder) if state.context is not None else GaussianLatentCodec(state, coder)
        if state.z is None:
            return y  # the context-only model
        z = FactorizedLatentCodec(TableCoder(state.z[0]), state.z[1])
        return HyperpriorLatentCodec(z, _transform_threads(model.prior.hyper.analysis), state, y, model.N)

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
        return isinstance(self.latent, HyperpriorLatentCodec)

    def _q(self, quality: float | None) -> Tensor | None:
        """Quality q -> gain level q - 1 (None for a fixed-rate model)."""
        if self.model.gain is None:
            return None
        return torch.tensor([float(quality) - 1.0])

    def encode(self, x: Tensor, quality: float | None = None, estimate: list | None = None, stages: Stages = Stages(), *, effort: int = 0,
               size: tuple[int, int] | None = None, progress: Callable[[int, int], None] | None = None, device: str = "cpu") -> tuple[list[bytes], Tensor]:
        """x (1, 3, H, W) in [0, 1], H, W multiples of 16 -> ([streams], y_hat (M, H/16, W/16) fixed point).

        With ``estimate`` (a list), the ideal code length in bits of each stream's symbols
        under the coding tables is appended to it. ``effort`` > 0 searches the latents for
        R + λ·D first (latent_search.py, on ``device``; ``size``: the image's own (h, w) in the padded x);
        the coding after it is the same. ``progress(i, n)``: i of n steps done (g_a's bands,
        the search's iterations, the coding), called after each.
        """
        from .effort import iterations

        measure = estimate is not None
        model = self.model
        q = self._q(quality)
        steps = ProgressSteps(progress, band_count(x.shape[2], x.shape[3]) + iterations(effort) + 1)
        with torch.inference_mode(), stages("g_a"):
            bf16 = resolve_precision() == "bf16"
            plan = None if bf16 else self._plan("g_a")
            y = in_bands(lambda t: run_transform(model.g_a, t, bf16, 0, plan), x.contiguous(memory_format=torch.channels_last), band_rows(x.shape[3]), 16, 1,
                         steps.one).contiguous()
            if q is not None:
                y = y * model.gain.gains(q)[0]
        z = None
        if effort:
            from .latent_search import search_latents

            with stages("effort"):
                y, z = search_latents(model, x, y.clone(), q, iterations(effort), size=size, progress=steps.one, lam=self._fixed_lambda(q),
                                      device=device, weights_key=self.weights_id, plan=None if bf16 else self._plan("g_s"))
        with torch.inference_mode(), _coding_threads():
            extra = {} if z is None else {"z": z[0]}
            streams, y_hat, bits = self.latent.encode(y[0], stages, measure, **extra)
        steps.one()
        if measure:
            estimate.extend(bits)
        return streams, y_hat

    def _fixed_lambda(self, q: Tensor | None) -> float | None:
        """The λ (MSE) a fixed-rate model was trained at, from its card; None for variable rate."""
        if q is not None:
            return None
        training = self.card.get("training") or {}
        if training.get("lmbda") is None or training.get("metric", "mse") != "mse":
            raise CodecError(f"model {self.name}: --effort needs the MSE λ a fixed-rate model was trained at, and its card has none")
        return float(training["lmbda"])

    @property
    def stream_count(self) -> int:
        return self.latent.streams

    @torch.inference_mode()
    def decode_latents(self, streams: list[bytes], h: int, w: int, stages: Stages = Stages()) -> Tensor:
        """Streams -> y_hat (M, h, w) fixed point."""
        if len(streams) != self.stream_count:
            raise ValueError(f"expected {self.stream_count} streams, got {len(streams)}")
        with _coding_threads():
            return self.latent.decode(streams, (self.model.M, h, w), stages)

    @torch.inference_mode()
    def synthesize(self, y_hat: Tensor, quality: float | None = None, stages: Stages = Stages(),
                   progress: Callable[[], None] | None = None) -> Tensor:
        """y_hat (M, h, w) fixed point -> x_hat (1, 3, 16h, 16w) float32, unclipped; g_s in bands
        of rows on large images (the same values); ``progress()`` after each band."""
        with stages("g_s"):
            y = (y_hat.to(torch.float64) * (1.0 / ONE)).float()[None]
            q = self._q(quality)
            if q is not None:
                _, inv_gain = self.model.gain.gains(q)
                y = y * inv_gain
            y = y.contiguous(memory_format=torch.channels_last)
            bf16 = resolve_precision(synthesis=True) == "bf16"
            plan = None if bf16 else self._plan("g_s")
            return in_bands(lambda t: run_transform(self.model.g_s, t, bf16, -1, plan), y, band_rows(16 * y.shape[3]), 1, 16, progress).contiguous()


class ProgressSteps:
    """Counts the steps of one encode or decode for ``progress(i, n)``: ``one()`` after each."""

    def __init__(self, progress: Callable[[int, int], None] | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def one(self, *_) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


def _transform_threads(transform: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``transform`` (h_a: float convolutions, like g_a) run on the threads torch had before
    :func:`_coding_threads` took the coding down to one (768x512: 19 -> 10 ms on two)."""

    def run(x: Tensor) -> Tensor:
        n, before = band_thread_count(), torch.get_num_threads()
        if n <= before:
            return transform(x)
        torch.set_num_threads(n)
        try:
            return transform(x)
        finally:
            torch.set_num_threads(before)

    return run


@contextmanager
def _coding_threads():
    """The entropy coding on one thread: its many small per-step operations gain nothing from
    more, and on a machine whose other cores are busy every extra thread costs a wait
    (kodim01 with one core busy: 2.5-2.7 s with 2 threads against 2.1 s with one, before).
    The transforms (g_a, g_s, h_a) keep torch's threads, and h_s's bands of rows run on as many
    (``fixed.band_threads``: large independent products). Same values either way."""
    n = torch.get_num_threads()
    if os.environ.get("LICODEC_CODING_THREADS") == "all" or n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        with band_threads(n):
            yield
    finally:
        torch.set_num_threads(n)
