"""Files written by commit 7a752fd (before the codec's refactoring) decode to the same pixels
and encode to the same bytes today.

The fixtures (tests/codec/fixtures/7a752fd/) were made at that commit: three tiny models
(mbt2018, mbt2018-gmm, bmshj2018-hyperprior; N = M = 16, untrained weights with g_a's
output scaled up so that the latents take many values, escapes included), each coding
the synthetic image below at qualities 1, 2.5 and 3; manifest.json holds the SHA-256 of
every file's bytes and of the pixels that commit decoded from it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import licodec

FIXTURES = Path(__file__).parent / "fixtures" / "7a752fd"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())


def source_image() -> np.ndarray:
    """The image the fixtures coded (the generator of the script that made them)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:56]
    img = np.stack([128 + 60 * np.sin(xx / 7 + c) * np.cos(yy / 5 - c) for c in range(3)], -1) + rng.normal(0, 12, (40, 56, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["int", "float", "c"])
def int_mm_path(request, monkeypatch):
    """Each of fixed.int_mm's three exact paths (torch._int_mm, float32 blocks, the compiled
    kernel), whichever this CPU prefers."""
    from licodec.codec import fixed
    from licodec.codec.steps import kernels

    if request.param == "c" and kernels() is None:
        pytest.skip("C kernels not built")
    monkeypatch.setattr(fixed, "_PATH", [request.param])
    return request.param


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_old_file_decodes_to_the_same_pixels(entry, int_mm_path):
    data = (FIXTURES / entry["file"]).read_bytes()
    assert _sha(data) == entry["bytes_sha256"]
    pixels = licodec.decompress(data, model=str(FIXTURES / entry["model"]), as_array=True)
    assert _sha(np.ascontiguousarray(pixels).tobytes()) == entry["pixels_sha256"]


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_encoding_gives_the_same_bytes(entry, int_mm_path):
    data = licodec.compress(source_image(), quality=entry["quality"], model=str(FIXTURES / entry["model"]))
    assert _sha(data) == entry["bytes_sha256"]
