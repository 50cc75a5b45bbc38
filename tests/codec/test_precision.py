"""The transforms' precision (codec/precision.py): choice, and exactness across the paths."""
import numpy as np
import pytest
import torch

import licodec
from licodec.codec import precision
from licodec.codec.api import _pad, decode_latents, resolve_model
from licodec.codec.model_codec import ModelCodec
from licodec.codec.precision import resolve, use_precision
from licodec.errors import CodecError
from tests.codec.helpers import make_model, photo


def test_choice_argument_then_block_then_environment_then_cpu(monkeypatch):
    monkeypatch.delenv(precision.ENV, raising=False)
    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    assert resolve() == "bf16" and resolve("auto") == "bf16"
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    assert resolve() == "fp32"
    monkeypatch.setenv(precision.ENV, "bf16")
    assert resolve() == "bf16"
    with use_precision("fp32"):
        assert resolve() == "fp32" and resolve("bf16") == "bf16"
        with use_precision(None):  # leaves the choice as it is
            assert resolve() == "fp32"
        with use_precision("auto"):
            assert resolve() == "fp32"
    assert resolve() == "bf16"
    monkeypatch.setenv(precision.ENV, "fp16")
    with pytest.raises(CodecError, match="LICODEC_PRECISION: precision must be one of auto, fp32, bf16"):
        resolve()
    with pytest.raises(CodecError, match="precision must be"), use_precision("int8"):
        pass


def test_auto_runs_g_s_in_bf16_only_with_amx(monkeypatch):
    # AVX512-BF16 alone: g_a (analysis) in bf16, g_s in float32; with AMX both in bf16;
    # a forced path is both
    monkeypatch.delenv(precision.ENV, raising=False)
    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    monkeypatch.setattr(precision, "native_amx", lambda: False)
    assert resolve() == "bf16" and resolve(synthesis=True) == "fp32"
    assert precision.describe() == "bf16 (g_a), fp32 (g_s)"
    assert resolve("bf16", synthesis=True) == "bf16" and precision.describe("bf16") == "bf16"
    monkeypatch.setattr(precision, "native_amx", lambda: True)
    assert resolve(synthesis=True) == "bf16" and precision.describe() == "bf16"
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    assert resolve(synthesis=True) == "fp32" and precision.describe() == "fp32"


def test_auto_decodes_with_float32_g_s_on_avx512_bf16(monkeypatch):
    # the decoder's g_s follows resolve(synthesis=True): on a CPU with AVX512-BF16 but no
    # AMX, "auto" gives the float32 path's pixels
    monkeypatch.delenv(precision.ENV, raising=False)
    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    monkeypatch.setattr(precision, "native_amx", lambda: False)
    model = make_model("mbt2018")
    img = photo(48, 64, seed=5)
    with use_precision("fp32"):
        data = licodec.compress(img, quality=2.0, model=model)
        ref = licodec.decompress(data, model=model, as_array=True)
    with use_precision("bf16"):
        low = licodec.decompress(data, model=model, as_array=True)
    assert not np.array_equal(low, ref)  # the two paths' pixels can be told apart
    assert np.array_equal(licodec.decompress(data, model=model, as_array=True), ref)
    monkeypatch.setattr(precision, "native_amx", lambda: True)
    assert np.array_equal(licodec.decompress(data, model=model, as_array=True), low)


def test_use_precision_is_exported_lightly():
    assert licodec.use_precision is use_precision


@pytest.fixture(scope="module")
def coded():
    model = make_model("mbt2018")
    codec = resolve_model(model)
    img = photo(64, 80, seed=3)
    files = {}
    for p in ("fp32", "bf16"):
        with use_precision(p):
            files[p] = licodec.compress(img, quality=2.0, model=model)
    return model, codec, img, files


def test_latents_are_the_same_on_either_path(coded):
    """A file written on one path decodes on the other to the same latents: decoding y_hat
    is integer arithmetic, whatever the transforms' precision."""
    model, codec, img, files = coded
    for written, data in files.items():
        with use_precision(written):
            _, y_enc = codec.encode(_pad(img), 2.0)  # the latents the encoder coded on its path
        for p in ("fp32", "bf16"):
            with use_precision(p):
                assert torch.equal(decode_latents(data, model)[0], y_enc)


def test_bf16_changes_pixels_only_slightly_and_writes_them_in_float32(coded):
    model, codec, img, files = coded
    y_hat = decode_latents(files["fp32"], model)[0]
    with use_precision("fp32"):
        x32 = codec.synthesize(y_hat, 2.0)
    with use_precision("bf16"):
        x16 = codec.synthesize(y_hat, 2.0)
    assert x16.dtype == torch.float32
    diff = (x16 - x32).abs().max().item()
    assert 0 < diff < 2 / 255, diff  # bf16 did run, and stayed close
    out = {}
    for p in ("fp32", "bf16"):
        with use_precision(p):
            out[p] = licodec.decompress(files["fp32"], model=model, as_array=True).astype(int)
    assert np.abs(out["bf16"] - out["fp32"]).max() <= 2


def test_bf16_runs_the_chosen_layers_only(coded, monkeypatch):
    """On the bf16 path g_a runs all but its first convolution and GDN in bf16, g_s its wide transposed
    convolutions but the first and the IGDN before the last layer; the rest in float32
    (precision.bf16_layers)."""
    from licodec.layers import GDN

    model, codec, img, files = coded
    assert precision.bf16_layers(model.g_a, 0) == frozenset(range(2, 7))
    assert precision.bf16_layers(model.g_s, -1) == frozenset({2, 4, 5})
    seen = {}
    inplace = GDN.inplace_

    def record_inplace(self, x):
        dtype = x.dtype
        out = inplace(self, x)
        seen[self.where] = (dtype, out.dtype)
        return out

    def record(module, args, out):
        seen[module.where] = (args[0].dtype, out.dtype)

    model = codec.model  # the codec's own (frozen) copy runs
    for name in ("g_a", "g_s"):
        for i, layer in enumerate(getattr(model, name)):
            layer.where = (name, i)
    monkeypatch.setattr(GDN, "inplace_", record_inplace)
    handles = [layer.register_forward_hook(record) for name in ("g_a", "g_s") for layer in getattr(model, name)]
    try:
        with use_precision("bf16"):
            licodec.decompress(licodec.compress(img, quality=2.0, model=codec), model=codec)
    finally:
        for h in handles:
            h.remove()
        for name in ("g_a", "g_s"):
            for layer in getattr(model, name):
                del layer.where
    bf, f32 = torch.bfloat16, torch.float32
    assert len(seen) == 14
    ran_low = {k for k, (din, dout) in seen.items() if bf in (din, dout)}  # a convolution casts inside
    assert ran_low == {("g_a", i) for i in range(2, 7)} | {("g_s", 2), ("g_s", 4), ("g_s", 5)}
    assert seen[("g_a", 3)] == (bf, bf) and seen[("g_a", 1)] == (f32, f32)
    assert seen[("g_s", 5)] == (bf, f32)  # the IGDN before the float32 last layer writes float32


def test_each_path_writes_the_same_file_with_any_thread_count(coded):
    model, _, img, files = coded
    threads = torch.get_num_threads()
    try:
        for p in ("fp32", "bf16"):
            with use_precision(p):
                torch.set_num_threads(1)
                one = licodec.compress(img, quality=2.0, model=model)
                torch.set_num_threads(2)
                two = licodec.compress(img, quality=2.0, model=model)
            assert one == two == files[p]
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def wide(monkeypatch):
    """A model wide enough for Winograd (32 channels), every input size taking it."""
    from licodec.layers import polyphase as layers_polyphase

    monkeypatch.setattr(layers_polyphase, "MIN_TILES", 1)
    model = make_model("mbt2018", N=32, M=32, seed=4)
    return model, resolve_model(model), photo(96, 128, seed=5)


def test_the_polyphase_layers_run_and_change_only_float_rounding(wide, monkeypatch):
    """g_a and g_s in polyphase form (Winograd, the direct 3×3 form): files decode to the same
    latents on either form, pixels within float32 rounding of the direct layers'."""
    model, codec, img = wide
    assert codec._plan("g_s") is not None and codec._plan("g_a") is not None
    with use_precision("fp32"):
        fast = licodec.compress(img, quality=2.0, model=model)
        y_hat = decode_latents(fast, model)[0]
        x_fast = codec.synthesize(y_hat, 2.0)
        monkeypatch.setenv(precision.POLYPHASE_ENV, "0")
        direct = ModelCodec.from_model(model)
        x_direct = direct.synthesize(y_hat, 2.0)
        plain = licodec.compress(img, quality=2.0, model=direct)
        _, y_plain = direct.encode(_pad(img), 2.0)
    assert 0 < (x_fast - x_direct).abs().max().item() < 1e-4  # the forms ran, and differ by rounding only
    assert torch.equal(decode_latents(plain, model)[0], y_plain)  # a file of either form decodes on the other
    assert len(fast) == pytest.approx(len(plain), rel=0.02)


def test_the_polyphase_layers_write_the_same_file_with_any_thread_count(wide):
    model, codec, img = wide
    threads = torch.get_num_threads()
    try:
        with use_precision("fp32"):
            torch.set_num_threads(1)
            one = licodec.compress(img, quality=2.0, model=model)
            torch.set_num_threads(2)
            two = licodec.compress(img, quality=2.0, model=model)
    finally:
        torch.set_num_threads(threads)
    assert one == two
