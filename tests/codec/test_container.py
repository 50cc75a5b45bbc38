"""Bad input: every corruption gives a clear error, never a crash, a hang or a huge allocation."""
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import licodec
from licodec.codec.api import CodecError
from licodec.codec.container import MAGIC, VERSION, FormatError, Header, pack, unpack
from tests.codec.helpers import make_model, photo


@pytest.fixture(scope="module")
def model():
    return make_model("mbt2018", N=16, M=16)


@pytest.fixture(scope="module")
def small_file(model):
    data = licodec.compress(photo(20, 24), quality=2.0, model=model)
    assert len(data) < 400
    return data


def _decode_error(data, model):
    with pytest.raises((FormatError, CodecError)) as info:
        licodec.decompress(data, model=model)
    msg = str(info.value)
    assert msg and "\n" not in msg
    return msg


def test_every_truncation_is_detected(small_file, model):
    for n in range(len(small_file)):
        _decode_error(small_file[:n], model)


def test_every_single_byte_flip_is_detected(small_file, model):
    for pos in range(len(small_file)):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(small_file)
            bad[pos] ^= flip
            _decode_error(bytes(bad), model)


def test_specific_bad_headers(small_file, model):
    assert "magic" in _decode_error(b"GIF89a" + small_file[6:], model)
    assert "empty" in _decode_error(b"", model)
    v = bytearray(small_file)
    v[4] = 9
    assert "version 9" in _decode_error(bytes(v), model)


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body))


def test_unknown_model_and_wrong_weights(small_file, model):
    h = unpack(small_file, lambda name: 2)
    other = Header("no-such-model", h.weights_id, h.width, h.height, streams=h.streams, quality=h.quality)
    with pytest.raises(CodecError, match="no-such-model"):
        licodec.decompress(pack(other))
    # a model's identity is its weights, not its name: the model given decodes the file
    assert licodec.decompress(pack(other), model=model, as_array=True).shape == (h.height, h.width, 3)
    wrong = Header(h.model, b"\0" * 8, h.width, h.height, streams=h.streams, quality=h.quality)
    assert "other weights" in _decode_error(pack(wrong), model)


def test_absurd_dimensions_refused_before_decoding(model):
    name = b"mbt2018"
    body = MAGIC + bytes([VERSION, 4, len(name)]) + name + b"\0" * 8 + struct.pack(">HHH", 2000, 65535, 65535) + b"\0" * 8
    with pytest.raises(FormatError, match="exceeds the limit"):
        licodec.decompress(_with_crc(body), model=model)


def test_directory_and_missing_file(tmp_path, model):
    from licodec.codec.image import InputError

    with pytest.raises(InputError, match="directory"):
        licodec.decompress_file(tmp_path, tmp_path / "o.png", model=model)
    with pytest.raises(InputError, match="no such file"):
        licodec.decompress_file(tmp_path / "missing.lic", tmp_path / "o.png", model=model)
    assert not (tmp_path / "o.png").exists()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.builds(lambda tail: MAGIC + bytes([VERSION]) + tail, st.binary(max_size=300)))
def test_decoder_survives_arbitrary_bytes(model, data):
    try:
        licodec.decompress(data, model=model)
    except (FormatError, CodecError):
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=200))
def test_decoder_survives_garbage_with_valid_checksum(model, small_file, payload):
    """Streams that pass the CRC but hold garbage still end in a clear error or an image."""
    h = unpack(small_file, lambda name: 2)
    crafted = Header(h.model, h.weights_id, h.width, h.height, quality=h.quality, streams=[payload + b"\0" * (-len(payload) % 4), b"\x01\x02\x03\x04" + payload + b"\0" * (-len(payload) % 4)])
    try:
        out = licodec.decompress(pack(crafted), model=model, as_array=True)
        assert out.shape == (h.height, h.width, 3)
    except (FormatError, CodecError):
        pass


@pytest.mark.parametrize("quality", [-2.5, 0.0, 1.25, 32.767])
def test_quality_field_is_signed(quality):
    h = Header("m", b"\1" * 8, 16, 16, streams=[b"\0\0\0\1", b"\0\0\0\1"], quality=quality)
    assert unpack(pack(h), lambda name: 2).quality == quality


def test_quality_outside_the_field_is_refused():
    with pytest.raises(ValueError, match="quality 40 outside"):
        pack(Header("m", b"\1" * 8, 16, 16, streams=[b"\0\0\0\1"], quality=40.0))


def test_a_huge_header_is_refused_fast_and_without_allocating(model):
    """65535 x 65535 in the header: refused in well under 10 ms, a few MB allocated at most;
    the limit can be lowered (and raised) by the caller."""
    import time
    import tracemalloc

    name = b"mbt2018"
    body = MAGIC + bytes([VERSION, 4, len(name)]) + name + b"\0" * 8 + struct.pack(">HHH", 2000, 65535, 65535) + b"\0" * 8
    data = _with_crc(body)
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(FormatError, match="exceeds the limit"):
        licodec.decompress(data, model=model)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 0.01 and peak < 4 << 20, (elapsed, peak)
    small = _with_crc(MAGIC + bytes([VERSION, 4, len(name)]) + name + b"\0" * 8 + struct.pack(">HHH", 2000, 64, 64) + b"\0" * 8)
    with pytest.raises(FormatError, match="limit of 1000 pixels"):
        licodec.decompress(small, model=model, max_pixels=1000)
