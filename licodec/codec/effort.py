"""Encoder effort levels: how long the encoder searches each image's latents (latent_search.py).

Light (no torch): the command line reads the levels for its help.
"""
from __future__ import annotations

__all__ = ["EFFORT_ITERATIONS", "MAX_EFFORT", "EFFORT_HELP", "EFFORT_MAX_PIXELS", "SEARCH_DEVICES", "iterations", "check_size", "check_device"]

EFFORT_ITERATIONS = (0, 3, 6, 10, 15, 20, 40, 60, 80)
"""Adam iterations of the latent search at each effort level 0 .. 8 (0: g_a's latents as they are).
The gain grows by about half a percent of R + λ·D per doubling of the iterations beyond 40
(docs/effort.md); the top level is what fits in about a minute for a 768×512 image on two
cores with native bf16 (80 iterations, 55.4 s; 160 until session 19, ~2 minutes)."""
MAX_EFFORT = len(EFFORT_ITERATIONS) - 1
EFFORT_HELP = ("each search iteration costs about 1.6-2 times an effort-0 encode (iterations per level: " + ", ".join(map(str, EFFORT_ITERATIONS))
               + "; on a 768x512 image with 2 AVX512-BF16 cores: effort 6 ~6 percent smaller files at equal PSNR in ~30 s,"
               " effort 8 ~7 percent in ~55 s; AVX2 cores take about twice as long)")


EFFORT_MAX_PIXELS = 1 << 22
"""Largest image (padded pixels) a search takes: it holds g_s's activations for the gradient,
~1.7 kB a pixel (a 768×512 image: 0.59 GB at effort 0, 1.25 GB at effort 1), ~7 GB here."""


def check_size(effort: int, pixels: int) -> None:
    """Refuse a search of an image too large for it, before any work."""
    from ..errors import CodecError

    if effort and pixels > EFFORT_MAX_PIXELS:
        raise CodecError(f"--effort searches hold ~1.7 kB a pixel: images above {EFFORT_MAX_PIXELS:,} pixels are coded with effort 0 only")


SEARCH_DEVICES = ("cpu", "cuda")
"""Where a search may run: the coding after it always runs on the CPU (exact integer path)."""


def check_device(device: str) -> None:
    """Refuse a search device that is unknown or not here, before any work."""
    from ..errors import CodecError

    if device not in SEARCH_DEVICES:
        raise CodecError(f"search device must be one of {', '.join(SEARCH_DEVICES)}, got {device!r}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise CodecError("--device cuda: torch sees no CUDA device here")


def iterations(effort: int) -> int:
    """Adam iterations of an effort level (0 .. MAX_EFFORT)."""
    if isinstance(effort, bool) or not isinstance(effort, int) or not 0 <= effort <= MAX_EFFORT:
        raise ValueError(f"effort must be an integer 0..{MAX_EFFORT}, got {effort!r}")
    return EFFORT_ITERATIONS[effort]
