import warnings

import numpy as np
import pytest
from PIL import Image

import licodec
from licodec.codec.image import InputError, LicodecNotice, to_rgb
from tests.codec.helpers import make_model, photo


@pytest.fixture(scope="module")
def model():
    return make_model("mbt2018-mean", N=16, M=16)


def test_greyscale_roundtrip_stays_grey(model):
    grey = Image.fromarray(photo(30, 40)[:, :, 1], "L")
    out = licodec.decompress(licodec.compress(grey, quality=2, model=model), model=model)
    assert out.mode == "L" and out.size == (40, 30)


def test_odd_sizes(model):
    for h, w in [(1, 1), (17, 33), (15, 16), (65, 3)]:
        img = photo(max(h, 8), max(w, 8))[:h, :w]
        out = licodec.decompress(licodec.compress(img, quality=2, model=model), model=model, as_array=True)
        assert out.shape == (h, w, 3)


def test_alpha_handling():
    rgba = np.dstack([photo(10, 10), np.full((10, 10), 255, np.uint8)])
    arr, colour = to_rgb(rgba)
    assert arr.shape == (10, 10, 3) and colour == "RGB"
    rgba[0, 0, 3] = 0
    with pytest.raises(InputError, match="transparency"):
        to_rgb(rgba)
    with pytest.warns(LicodecNotice, match="transparency dropped"):
        to_rgb(rgba, drop_alpha=True)


def test_palette_bilevel_16bit_cmyk_float():
    p = Image.fromarray(photo(12, 12)).convert("P")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arr, colour = to_rgb(p)  # lossless: no notice
    assert np.array_equal(arr, np.asarray(p.convert("RGB")))
    assert to_rgb(Image.new("1", (5, 5)))[1] == "L"
    with pytest.warns(LicodecNotice, match="8 bits"):
        arr, colour = to_rgb(np.full((4, 4, 3), 65535, np.uint16))
    assert arr.max() == 255
    with pytest.warns(LicodecNotice, match="8 bits"):
        arr, colour = to_rgb(Image.fromarray(np.full((4, 4), 1000, np.uint16)))
    assert colour == "L"
    with pytest.warns(LicodecNotice, match="CMYK"):
        to_rgb(Image.new("CMYK", (4, 4)))
    with pytest.raises(InputError, match="floating-point"):
        to_rgb(Image.new("F", (4, 4)))
    with pytest.raises(InputError, match="shape"):
        to_rgb(np.zeros((4, 4, 2), np.uint8))


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header announces w x h (8-bit RGB) and whose pixel data is a stub."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(10000, 7000), (65535, 65535), (70000, 2)])
def test_encode_input_over_the_pixel_limit_is_refused_from_its_header(size):
    import time
    import tracemalloc

    from licodec.codec.image import read_image

    data = _png_header_only(*size)
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="larger than the limit|exceeds limit"):
        read_image(data)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 0.05 and peak < 4 << 20, (elapsed, peak)


def test_encode_pixel_limit_is_settable(tmp_path):
    from PIL import Image

    from licodec.codec.image import read_image

    Image.new("RGB", (64, 48)).save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png", max_pixels=64 * 48)[0].shape == (48, 64, 3)
    with pytest.raises(InputError, match="larger than the limit"):
        read_image(tmp_path / "a.png", max_pixels=64 * 48 - 1)
