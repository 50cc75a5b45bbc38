import pytest

from licodec.codec import api
from licodec.codec.api import _pad, resolve_model
from licodec.codec.container import header_bytes, unpack
from tests.codec.helpers import make_model, photo


@pytest.mark.parametrize("name,h,w", [("mbt2018", 512, 768), ("mbt2018-gmm", 256, 384), ("bmshj2018-hyperprior", 512, 768)])
def test_file_size_matches_estimated_rate(name, h, w):
    model = make_model(name, N=32, M=48)
    codec = resolve_model(model)
    img = photo(h, w, seed=3)
    estimate: list[float] = []
    codec.encode(_pad(img), 2.0, estimate=estimate)
    data = api.compress(img, quality=2.0, model=model)
    h = unpack(data, lambda name: codec.stream_count)
    payload = len(data) - header_bytes(data, h)
    est_bytes = sum(estimate) / 8
    assert payload > 2000, "the test image should cost a few kilobytes"
    assert abs(payload - est_bytes) / est_bytes < 0.01, (payload, est_bytes)
    assert header_bytes(data, h) <= 28 + len(name)  # magic..dims 21 + name + stream length + CRC 4
