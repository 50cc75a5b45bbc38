"""The wavefront coder against a plain serial raster-scan reference (kept here only)."""
import numpy as np
import pytest
import torch

from licodec.codec.api import _pad, resolve_model
from licodec.codec.engine import ONE, hyper_features, split_params, wavefront_steps
from licodec.codec.fixed import FixedLayer
from tests.codec.helpers import make_model, photo


def serial_reference(codec, y_real: torch.Tensor, psi):
    """Raster scan, one position at a time, all in the float64 reference arithmetic: the
    context from the full masked conv on y_hat so far, g_ep as 1x1 convolutions."""
    state = codec.state
    m, h, w = y_real.shape
    y_hat = torch.zeros(1, m, h, w, dtype=torch.float64)
    ctx_layer: FixedLayer = state.context.layers[0]
    for i in range(h):
        for j in range(w):
            ctx = ctx_layer(y_hat)[0, :, i, j]
            feats = torch.cat([psi[i, j].double(), ctx]) if psi is not None else ctx
            params = state.ep(feats[None, :, None, None])[:, :, 0, 0].to(torch.int64)
            _, mu, _ = split_params(state, params, 1)
            sym = torch.round(y_real[:, i, j].double() - mu[0].double() / ONE)
            y_hat[0, :, i, j] = sym * ONE + mu[0]
    return y_hat[0]


@pytest.mark.parametrize("name", ["mbt2018", "mbt2018-context", "trained"])
def test_wavefront_equals_serial(name):
    if name == "trained":  # the shipped model: trained weights, its stored coding tables
        codec = resolve_model("mbt2018-vr192")
        model = codec.model
    else:
        model = make_model(name)
        codec = resolve_model(model)
    x = _pad(photo(64, 80))
    _, y_fast = codec.encode(x, 2.0)
    with torch.no_grad():
        gain, _ = model.gain.gains(torch.tensor([1.0]))
        y = (model.g_a(x) * gain)[0]
        psi = None
        if codec.has_hyper:
            from licodec.codec.engine import EncoderIO, code_factorized
            from licodec.codec.rangecoder import Encoder

            z = model.prior.hyper.analysis(y[None])[0]
            z_hat = code_factorized(codec.latent.z.coder, codec.state.z[1], tuple(z.shape), EncoderIO(Encoder(), z))
            psi = hyper_features(codec.state, z_hat, y.shape[-2:])
    y_ref = serial_reference(codec, y, psi)
    assert torch.equal(y_fast, y_ref)


@pytest.mark.parametrize("h,w,c", [(1, 1, 2), (4, 6, 2), (7, 3, 1), (5, 9, 3), (3, 2, 2), (2, 1, 3)])
def test_schedule_covers_every_position_after_its_taps(h, w, c):
    step_of = np.full((h, w), -1)
    for t, (rows, cols) in enumerate(wavefront_steps(h, w, c)):
        assert (step_of[rows, cols] == -1).all()
        step_of[rows, cols] = t
    assert (step_of >= 0).all()
    for i in range(h):
        for j in range(w):
            for di in range(-c, 1):
                for dj in range(-c, c + 1):
                    if (di, dj) >= (0, 0):
                        continue
                    a, b = i + di, j + dj
                    if 0 <= a < h and 0 <= b < w:
                        assert step_of[a, b] < step_of[i, j]
    n_steps = len(wavefront_steps(h, w, c))
    assert n_steps == (c + 1) * (h - 1) + w if w >= c + 1 else n_steps <= (c + 1) * (h - 1) + w
