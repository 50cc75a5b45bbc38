"""The arithmetic of the transforms g_a and g_s: float32, or bfloat16 where the CPU has it.

Only the transforms change: every value that feeds the entropy coder (h_s, the context
model, the entropy parameters) stays exact integer arithmetic, so a file decodes to the
same latents y_hat on either path, and a file written on one path decodes on the other.
What bf16 changes is g_a's y before rounding (the encoder's choice of latents: files
differ between the paths, each path's are the same with any thread count) and g_s's
output pixels (docs/speed.md has the measured cost).

On the bf16 path most layers of a sequential transform run under bf16 autocast (oneDNN's
native bf16 convolutions, float32 accumulation): all of g_a but its first convolution (it
reads the pixels) and GDN, and g_s's wide layers at high resolution; g_s's last layer (it writes
the pixels) and its small early layers, whose rounding errors every later layer enlarges,
stay float32 (``bf16_layers``; the measurements in docs/speed.md).

On the float32 path the wide 5×5 stride-2 layers run in polyphase form (Winograd F(4×4,
3×3) convolutions, licodec.layers.polyphase: ``polyphase_plan``), equal to the direct layers
up to float32 rounding; ``LICODEC_POLYPHASE=0`` runs PyTorch's direct layers.

Chosen per call: ``use_precision(p)`` (a context manager, per thread), else the
``LICODEC_PRECISION`` environment variable, else "auto": g_a (and the encoder's search) in
bf16 on CPUs with native bf16 (AVX512-BF16 or AMX), g_s in bf16 only with AMX (on AVX512-BF16
alone it is no faster than float32's Winograd layers), float32 elsewhere (emulated bf16 is
10-25x slower than float32). Light: torch is imported only to probe the CPU.
"""
from __future__ import annotations

import functools
import os
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from ..errors import CodecError

if TYPE_CHECKING:
    import torch

__all__ = ["PRECISIONS", "ENV", "POLYPHASE_ENV", "resolve", "describe", "use_precision", "native_bf16", "native_amx", "polyphase_plan", "bf16_layers",
           "run_transform"]

PRECISIONS = ("auto", "fp32", "bf16")
ENV = "LICODEC_PRECISION"
#: "0" runs every float32 layer as PyTorch's direct convolution (the reference; see polyphase_plan).
POLYPHASE_ENV = "LICODEC_POLYPHASE"

_chosen = threading.local()


def _check(p: str, where: str) -> str:
    if p not in PRECISIONS:
        raise CodecError(f"{where}: precision must be one of {', '.join(PRECISIONS)}, got {p!r}")
    return p


@functools.lru_cache(maxsize=None)
def native_bf16() -> bool:
    """Whether this CPU computes bf16 convolutions natively (oneDNN's test: AVX512-BF16 or AMX)."""
    from ..ops import bf16_ok
    import torch

    return bf16_ok(torch.device("cpu"))


@functools.lru_cache(maxsize=None)
def native_amx() -> bool:
    """Whether this CPU has AMX tiles (Xeon Sapphire Rapids and later), where oneDNN's bf16
    convolutions run several times faster than on AVX512-BF16."""
    import torch

    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe()) if probe is not None else False


def resolve(precision: str | None = None, synthesis: bool = False) -> str:
    """"fp32" or "bf16": ``precision`` if given, else the innermost ``use_precision``, else
    $LICODEC_PRECISION, else "auto". "auto" runs the analysis side (g_a, the encoder's search)
    in bf16 where the CPU has it natively, and g_s (``synthesis``) in bf16 only with AMX:
    with AVX512-BF16 alone (AMD Zen 4), g_s's bf16 layers run at that unit's peak and still
    no faster than float32 in Winograd form (decode bf16 / fp32 1.00 on two threads, 1.06 on
    one; docs/speed.md), so decoding keeps float32's pixels there."""
    if precision is not None:
        p = _check(precision, "precision")
    elif getattr(_chosen, "value", None) is not None:
        p = _chosen.value
    else:
        p = _check(os.environ.get(ENV, "") or "auto", ENV)
    if p == "auto":
        return "bf16" if native_bf16() and (not synthesis or native_amx()) else "fp32"
    return p


def describe(precision: str | None = None) -> str:
    """The transforms' arithmetic as a report records it: "fp32", "bf16", or "bf16 (g_a),
    fp32 (g_s)" where "auto" chooses differently for the two."""
    a, s = resolve(precision), resolve(precision, synthesis=True)
    return a if a == s else f"{a} (g_a), {s} (g_s)"


@contextmanager
def use_precision(precision: str | None) -> Iterator[None]:
    """Within the block (this thread), the transforms run at ``precision`` ("auto", "fp32",
    "bf16"; None: leave the choice as it is)."""
    if precision is not None:
        _check(precision, "precision")
    before = getattr(_chosen, "value", None)
    _chosen.value = precision if precision is not None else before
    try:
        yield
    finally:
        _chosen.value = before


def polyphase_plan(seq: "torch.nn.Module") -> list | None:
    """The polyphase form (licodec.layers.polyphase) of each 5×5 stride-2 layer of a
    sequential transform that has a faster one, None for the others (run_transform uses it
    unless $LICODEC_POLYPHASE is 0).

    On the float32 path the 192-channel layers run as Winograd F(4×4, 3×3) convolutions (2.8×
    fewer multiplications) and g_s's last layer as a direct 3×3 convolution; outputs equal
    the direct layers' up to float32 rounding (docs/speed.md has what it changes and saves).
    Hold the plan as long as the weights: building it costs ~15 ms a layer."""
    import torch

    from ..layers.polyphase import polyphase_layer

    if not isinstance(seq, torch.nn.Sequential):
        return None
    plan = [polyphase_layer(layer) for layer in seq]
    return plan if any(p is not None for p in plan) else None


def bf16_layers(seq: "torch.nn.Sequential", pixel_layer: int) -> frozenset[int]:
    """The layers of g_a (``pixel_layer`` 0) or g_s (-1) that run in bf16 on the bf16 path.

    g_a: all but its first convolution (which reads the pixels) and the GDN after it. g_s: its
    wide transposed convolutions but the first, and the IGDN before the last layer; the last
    layer (which writes the pixels), the first transposed convolution and the IGDNs at low
    resolution stay float32. Chosen on training photos on a CPU with native bf16
    (docs/speed.md): g_s all in bf16 but its last layer cost 0.042 dB at quality 8 (0.015 dB
    at quality 4), most of it from the small early layers, whose errors every later layer
    enlarges; this choice 0.0095 (0.0030) dB, for ~9 ms more of a 768×512 decode. g_a's
    choices moved BD-rate by < 0.2% (noise); its first GDN in bf16 cost up to 0.01 dB on Kodak.
    """
    from ..layers import GDN

    n = len(seq)
    if pixel_layer % n == 0:
        return frozenset(range(2, n) if n > 2 and isinstance(seq[1], GDN) else range(1, n))
    convs = [i for i, layer in enumerate(seq) if not isinstance(layer, GDN)]
    low = set(convs[1:-1])
    if n >= 2 and isinstance(seq[n - 2], GDN):
        low.add(n - 2)
    return frozenset(low)


def run_transform(seq: "torch.nn.Module", x: "torch.Tensor", bf16: bool = False, pixel_layer: int = -1,
                  plan: list | None = None, in_bf16: frozenset[int] | None = None) -> "torch.Tensor":
    """seq(x) (g_a or g_s), float32 out. ``bf16``: the layers ``bf16_layers(seq, pixel_layer)``
    of a sequential transform (``pixel_layer``: the one that reads or writes pixels, 0 for g_a,
    -1 for g_s) run under bf16 autocast, the others in float32; other transforms run in float32.
    In inference each (I)GDN after the first layer works in place on its input (a temporary
    made by the layer before it): the same values, one full-size tensor less per layer; with
    gradients (the encoder's latent search) the layers run as they are. A bf16 (I)GDN before a
    float32 layer writes its result as float32 directly (the same values as converting it
    after: one pass less). ``plan`` (``polyphase_plan(seq)``): the float32 layers it has a
    faster form for run in that form (a batch of one, on the CPU); with gradients only where
    the layer is frozen and the form has an adjoint (g_s's: the search differentiates y).
    ``in_bf16``: the layers to run in bf16 on the bf16 path instead of ``bf16_layers``' choice
    (the search's soft iterations run all of g_s's but the last)."""
    import torch

    from ..layers import GDN
    from ..layers.polyphase import differentiable

    if not isinstance(seq, torch.nn.Sequential) or not len(seq):
        return seq(x)
    layers = list(seq)
    low_layers = (bf16_layers(seq, pixel_layer) if in_bf16 is None else in_bf16) if bf16 else frozenset()
    in_place = not torch.is_grad_enabled()
    fast = plan if x.shape[0] == 1 and x.device.type == "cpu" and os.environ.get(POLYPHASE_ENV, "1") != "0" else None
    for i, layer in enumerate(layers):
        low = i in low_layers
        gdn = isinstance(layer, GDN)
        if not low:
            x = _to_float(x)
        elif gdn:
            x = x.to(torch.bfloat16)  # autocast leaves a GDN's arithmetic to its input's type
        f = fast[i] if fast is not None and not low else None
        if f is not None and f.suits(x) and (in_place or not any(p.requires_grad for p in layer.parameters())):
            if in_place or not x.requires_grad:
                x = f(x)
                continue
            if hasattr(f, "adjoint"):
                x = differentiable(f, x)
                continue
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=low):
            if low and gdn and i + 1 < len(layers) and i + 1 not in low_layers:  # feeds a float32 layer
                x = layer(x, out_dtype=torch.float32)
            else:
                x = layer.inplace_(x) if in_place and i and gdn else layer(x)
    return _to_float(x)


def _to_float(x: "torch.Tensor") -> "torch.Tensor":
    """x as float32 (x itself if it is): a large channels-last result in huge pages
    (``native.empty_huge``: a fresh 19 MB tensor costs ~5 ms of page faults in 4 KB pages)."""
    import torch

    from ..native import empty_huge

    if x.dtype == torch.float32:
        return x
    if x.dim() == 4 and not torch.is_grad_enabled() and x.is_contiguous(memory_format=torch.channels_last):
        return empty_huge(*x.shape, channels_last=True).copy_(x)
    return x.float()
