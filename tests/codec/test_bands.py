"""Large images: g_a and g_s in bands of latent rows give the whole image's values."""
import numpy as np
import pytest
import torch

import licodec
from licodec.codec import model_codec
from licodec.codec.api import _pad, resolve_model, to_uint8
from licodec.codec.model_codec import band_count, band_rows, in_bands
from licodec.codec.precision import run_transform
from tests.codec.helpers import make_model, photo


@pytest.fixture(scope="module")
def setup():
    model = make_model("mbt2018")
    return model, resolve_model(model), photo(150, 70)


def _analysis_in_bands(codec, x, rows):
    with torch.inference_mode():
        return in_bands(codec.model.g_a, x.contiguous(memory_format=torch.channels_last), rows, 16, 1).contiguous()


def _synthesis_in_bands(codec, y, rows):
    with torch.inference_mode():
        return in_bands(lambda t: run_transform(codec.model.g_s, t), y.contiguous(memory_format=torch.channels_last), rows, 1, 16).contiguous()


@pytest.mark.parametrize("rows", [1, 2, 3, 5])
def test_bands_compute_the_whole_images_values(setup, rows):
    _, codec, img = setup
    x = _pad(img)  # 160 x 80: 10 latent rows
    whole_y = _analysis_in_bands(codec, x, 10)
    y = _analysis_in_bands(codec, x, rows)
    assert y.shape == whole_y.shape
    assert torch.allclose(y, whole_y, rtol=0, atol=1e-4 * whole_y.abs().max().item())
    whole_x = _synthesis_in_bands(codec, whole_y, 10)
    x_hat = _synthesis_in_bands(codec, whole_y, rows)
    assert x_hat.shape == whole_x.shape == x.shape
    assert torch.allclose(x_hat, whole_x, rtol=0, atol=1e-5)


def test_a_halo_below_the_transforms_reach_changes_the_values(setup, monkeypatch):
    """The check above can fail: one latent row of context is less than g_a's and g_s's reach."""
    _, codec, img = setup
    x = _pad(img)
    whole_y = _analysis_in_bands(codec, x, 10)
    whole_x = _synthesis_in_bands(codec, whole_y, 10)
    monkeypatch.setattr(model_codec, "HALO", 1)
    assert (_analysis_in_bands(codec, x, 2) - whole_y).abs().max() > 1e-2 * whole_y.abs().max()
    assert (_synthesis_in_bands(codec, whole_y, 2) - whole_x).abs().max() > 1e-3


def test_banded_files_decode_to_the_same_image(setup, monkeypatch):
    model, codec, img = setup
    data = licodec.compress(img, quality=2.0, model=model)
    whole = licodec.decompress(data, model=model, as_array=True)
    monkeypatch.setattr(model_codec, "BAND_PIXELS", 16 * 80 * 6)  # 2 latent rows per band at 80 pixels wide
    assert band_rows(80) == 2 and band_count(160, 80) == 5
    steps = []
    banded = licodec.compress(img, quality=2.0, model=model, progress=lambda i, n: steps.append((i, n)))
    assert steps == [(i, 6) for i in range(1, 7)]  # 5 bands of g_a, then the coding
    # the same latents, so the same file (float values may differ in the last bits; not here)
    assert banded == data
    steps.clear()
    out = licodec.decompress(data, model=model, as_array=True, progress=lambda i, n: steps.append((i, n)))
    assert steps == [(i, 6) for i in range(1, 7)]  # the entropy decoding, then 5 bands of g_s
    assert np.abs(out.astype(int) - whole.astype(int)).max() <= 1


def test_to_uint8_in_bands_rounds_like_the_whole_tensor():
    x = torch.rand(1, 3, 37, 29) * 1.4 - 0.2
    x[0, 0, 0, :4] = torch.tensor([0.5 / 255, 1.5 / 255, 2.5 / 255, 254.5 / 255])
    expected = torch.round(x[0].clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(to_uint8(x), expected)
