"""Encoder effort levels: how long the encoder searches each image's latents (latent_search.py).

Light (no torch): the command line reads the levels for its help.
"""
from __future__ import annotations

__all__ = ["EFFORT_ITERATIONS", "MAX_EFFORT", "EFFORT_HELP", "iterations"]

EFFORT_ITERATIONS = (0, 3, 6, 10, 15, 20)
"""Adam iterations of the latent search at each effort level 0 .. 5 (0: g_a's latents as they are)."""
MAX_EFFORT = len(EFFORT_ITERATIONS) - 1
EFFORT_HELP = "each search iteration costs about 1.3 times an effort-0 encode (iterations per level: " + ", ".join(map(str, EFFORT_ITERATIONS)) + ")"


def iterations(effort: int) -> int:
    """Adam iterations of an effort level (0 .. MAX_EFFORT)."""
    if isinstance(effort, bool) or not isinstance(effort, int) or not 0 <= effort <= MAX_EFFORT:
        raise ValueError(f"effort must be an integer 0..{MAX_EFFORT}, got {effort!r}")
    return EFFORT_ITERATIONS[effort]
