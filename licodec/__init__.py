"""licodec: a learned image codec (Minnen, Ballé & Toderici, NeurIPS 2018) as real software.

Importing ``licodec`` is light: torch and the models load on first use.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
