import numpy as np
import pytest
import torch

import licodec
from licodec.codec.api import _pad, resolve_model, to_uint8
from licodec.codec.container import unpack
from licodec.codec.precision import ENV, POLYPHASE_ENV
from tests.codec.helpers import CODED, make_model, photo


@pytest.fixture(scope="module", params=CODED)
def setup(request):
    model = make_model(request.param)
    return model, resolve_model(model), photo(70, 100)


def test_decoder_reproduces_encoder_latents_and_image(setup, monkeypatch):
    model, codec, img = setup
    streams, y_enc = codec.encode(_pad(img), 2.0)
    assert y_enc.abs().max() > 2 * 2**12, "latents should not be trivially zero"
    hp, wp = 80 // 16, 112 // 16
    y_dec = codec.decode_latents(streams, hp, wp)
    assert torch.equal(y_enc, y_dec)
    data = licodec.compress(img, quality=2.0, model=model)
    out1 = licodec.decompress(data, model=model, as_array=True)
    out2 = licodec.decompress(data, model=model, as_array=True)
    assert np.array_equal(out1, out2)
    expected = to_uint8(codec.synthesize(y_enc, 2.0))[:70, :100]
    assert np.array_equal(out1, expected)
    assert out1.shape == img.shape
    # on the float32 path (forced: a CPU with native bf16 picks bf16) the codec's g_s (IGDN
    # in place) gives exactly the model's own g_s with the direct layers, and within float32
    # rounding of it with their polyphase forms
    monkeypatch.setenv(ENV, "fp32")
    y = (y_enc.double() / 2**12).float()[None]
    with torch.no_grad():
        if model.gain is not None:
            y = y * model.gain.gains(codec._q(2.0))[1]
        plain = model.g_s(y.contiguous(memory_format=torch.channels_last)).contiguous()
    assert (codec.synthesize(y_enc, 2.0) - plain).abs().max().item() < 1e-5
    monkeypatch.setenv(POLYPHASE_ENV, "0")
    assert torch.equal(codec.synthesize(y_enc, 2.0), plain)


def test_files_do_not_depend_on_thread_count(setup):
    model, codec, img = setup
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        d2 = licodec.compress(img, quality=2.5, model=model)
        o2 = licodec.decompress(d2, model=model, as_array=True)
        torch.set_num_threads(1)
        d1 = licodec.compress(img, quality=2.5, model=model)
        o1 = licodec.decompress(d1, model=model, as_array=True)
        o21 = licodec.decompress(d2, model=model, as_array=True)
        torch.set_num_threads(2)
        o12 = licodec.decompress(d1, model=model, as_array=True)
    finally:
        torch.set_num_threads(threads)
    assert d1 == d2
    assert np.array_equal(o1, o2) and np.array_equal(o1, o21) and np.array_equal(o1, o12)


def test_quality_changes_rate_and_is_recorded():
    model = make_model("mbt2018-mean")
    img = photo(64, 64)
    sizes = [len(licodec.compress(img, quality=q, model=model)) for q in (1.0, 3.0)]
    assert sizes[0] != sizes[1]
    h = unpack(licodec.compress(img, quality=1.25, model=model), lambda name: 2)
    assert h.quality == 1.25


def test_extrapolated_quality_below_the_trained_range():
    """Qualities below 1 (the smallest trained λ) extrapolate the gains: smaller files,
    stored as a negative or zero quality, decoded exactly; below the lowest is refused."""
    from licodec.codec.api import CodecError

    model = make_model("mbt2018-mean")  # λ 3.7x apart: one level below, quality 0
    codec = resolve_model(model)
    assert codec.quality_range == (0.0, 3.0) and codec.trained_quality_range == (1.0, 3.0)
    img = photo(64, 64)
    low, trained = (licodec.compress(img, quality=q, model=model) for q in (0.0, 1.0))
    assert len(low) < len(trained)
    assert unpack(low, lambda name: 2).quality == 0.0
    streams, y_enc = codec.encode(_pad(img), 0.0)
    assert torch.equal(codec.decode_latents(streams, 4, 4), y_enc)
    assert licodec.decompress(low, model=model, as_array=True).shape == img.shape
    with pytest.raises(CodecError, match="outside 0..3"):
        licodec.compress(img, quality=-0.5, model=model)
