"""The compiled per-step kernels (steps.py / _steps.c) against the PyTorch path."""
import numpy as np
import pytest
import torch
from torch import nn

import licodec
from licodec.codec.api import _pad, resolve_model
from licodec.codec.fixed import ACT_LIMIT, FixedNet, digit_rows, int_mm
from licodec.codec.steps import _I, _p, kernels
from licodec.layers import conv
from tests.codec.helpers import make_model, photo

needs_kernels = pytest.mark.skipif(kernels() is None, reason="C kernels not built (no compiler at install)")


def _both_paths(monkeypatch, fn):
    """fn() with the PyTorch path, then with the C kernels."""
    monkeypatch.setenv("LICODEC_KERNELS", "0")
    a = fn()
    monkeypatch.setenv("LICODEC_KERNELS", "1")
    assert kernels() is not None
    return a, fn()


@needs_kernels
@pytest.mark.parametrize("name", ["mbt2018", "mbt2018-context"])
@pytest.mark.parametrize("size", [(70, 100), (16, 16), (40, 17)])
def test_files_and_latents_identical_with_and_without_kernels(name, size, monkeypatch):
    model = make_model(name)
    codec = resolve_model(model)
    img = photo(*size)
    x = _pad(img)
    h, w = x.shape[-2] // 16, x.shape[-1] // 16

    def run():
        streams, y = codec.encode(x, 2.0)
        return streams, y, codec.decode_latents(streams, h, w)

    (s0, y0, d0), (s1, y1, d1) = _both_paths(monkeypatch, run)
    assert s0 == s1 and torch.equal(y0, y1) and torch.equal(d0, d1) and torch.equal(y1, d1)


@needs_kernels
def test_corrupt_stream_fails_cleanly_on_both_paths(monkeypatch):
    model = make_model("mbt2018")
    img = photo(48, 48)
    data = bytearray(licodec.compress(img, quality=1.0, model=model))
    data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)  # zeros: nonsense symbols

    def run():
        try:
            return licodec.decompress(bytes(data), model=model, as_array=True)
        except ValueError as e:
            return str(e)

    a, b = _both_paths(monkeypatch, run)
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        assert np.array_equal(a, b)
    else:
        assert a == b


@needs_kernels
@pytest.mark.parametrize("act", [nn.Identity, nn.ReLU, nn.LeakyReLU])
@pytest.mark.parametrize("scale", [50, 2**14, ACT_LIMIT])
@pytest.mark.parametrize("next_shift", [-1, 0, 8])
def test_layer_kernel_equals_fixed_layer(act, scale, next_shift):
    """lc_layer: finish + activation + the next layer's input rounding and digits, with an
    extra share gathered by rows, for every digit count on both sides."""
    torch.manual_seed(scale + next_shift)
    seq = nn.Sequential(conv(40, 30, 1, 1), act())
    with torch.no_grad():
        seq[0].weight.mul_(3)
        seq[0].bias.normal_(0, 2)
    net = FixedNet(seq, input_shifts=[4])
    layer = net.layers[0]
    n, total = 7, 20
    a = torch.randint(-scale, scale + 1, (n, 40)).double()
    extra = torch.randint(-(2**30), 2**30, (total, 30)).double()
    rows = torch.randint(0, total, (n,))
    ref = net.linear(a, extra.index_select(0, rows).clone())  # the PyTorch path
    digits, d = digit_rows(layer.quantize_input(a))
    p = int_mm(digits, layer.matrix().weights)
    lib = kernels()
    tmp = torch.empty(n * 30, dtype=torch.int64)
    out = torch.empty(n, 30, dtype=torch.int64)
    dig = torch.empty(3 * n, 30, dtype=torch.int8)
    act_kind = {nn.Identity: 0, nn.ReLU: 1, nn.LeakyReLU: 2}[act]
    bias, extra_int = layer.bias_half.to(torch.int64).contiguous(), extra.to(torch.int64)  # integer-valued, as steps._integers
    dn = lib.lc_layer(_p(p), _I(d), _I(n), _I(30), _I(layer.input_shift), _p(bias), _p(layer.shifts.contiguous()),
                      _p(extra_int), _p(rows), _I(act_kind), _I(next_shift), _p(tmp), _p(dig), _p(out))
    if next_shift < 0:
        assert dn == 0 and torch.equal(out.double(), ref)
    else:
        nxt = ref if next_shift == 0 else torch.floor((ref + 2 ** (next_shift - 1)) / 2**next_shift)
        want, wd = digit_rows(nxt)
        assert dn == wd and torch.equal(dig[: dn * n], want)


@needs_kernels
def test_gaussian_kernel_bounds_sigma_and_finds_table_index():
    lib = kernels()
    thresholds = torch.tensor([10, 20, 40, 80], dtype=torch.int64)
    params = torch.tensor([[3, 10, 39, 1000, 5, -6, 7, 8]], dtype=torch.int64)  # sigma | mu
    index = np.empty(4, dtype=np.int64)
    mu = torch.empty(1, 4, dtype=torch.int64)
    lib.lc_gaussian(_p(params), _I(1), _I(4), _I(1), _I(12), _p(thresholds), _I(4), _p(index), _p(mu))
    # sigma 3 -> 12 (bound) -> 1 threshold <= 12; 10 -> 12 -> 1; 39 -> 2; 1000 -> 4
    assert index.tolist() == [1, 1, 2, 4] and mu.tolist() == [[5, -6, 7, 8]]
    expected = torch.searchsorted(thresholds, params[0, :4].clamp(min=12), right=True)
    assert index.tolist() == expected.tolist()


@needs_kernels
@pytest.mark.parametrize("tables", [63, 128, 129, 300])  # counted (<= 128) and binary search
def test_gaussian_kernel_index_equals_searchsorted(tables):
    lib = kernels()
    g = torch.Generator().manual_seed(tables)
    thresholds = torch.cumsum(torch.randint(1, 50, (tables,), generator=g), 0)
    n, m = 5, 24
    params = torch.randint(-100, int(thresholds[-1]) + 100, (n, 2 * m), generator=g)
    index = np.empty(n * m, dtype=np.int64)
    mu = torch.empty(n, m, dtype=torch.int64)
    lib.lc_gaussian(_p(params), _I(n), _I(m), _I(1), _I(7), _p(thresholds), _I(tables), _p(index), _p(mu))
    expected = torch.searchsorted(thresholds, params[:, :m].clamp(min=7).contiguous(), right=True)
    assert index.tolist() == expected.flatten().tolist() and torch.equal(mu, params[:, m:])


def test_kernels_can_be_disabled(monkeypatch):
    monkeypatch.setenv("LICODEC_KERNELS", "0")
    assert kernels() is None


def test_the_c_kernels_constants_are_checked_at_load(monkeypatch, tmp_path):
    """A build of an older _steps.c (other constants, or none exported) is refused at load;
    this check found the C side's BALANCED[3] off by 256 (8355967 for 8355711)."""
    import ctypes

    from licodec.codec import steps

    lib = steps.kernels()
    if lib is None:
        pytest.skip("C kernels not built")
    steps._check_constants(lib, tmp_path / "ok.so")  # the build in use agrees

    class Stale:  # a library without lc_constants
        pass

    with pytest.raises(RuntimeError, match="predates"):
        steps._check_constants(Stale(), tmp_path / "old.so")
    monkeypatch.setattr(steps, "KERNEL_ABI", steps.KERNEL_ABI + 1)  # a build with other function signatures
    with pytest.raises(RuntimeError, match="differ from fixed.py"):
        steps._check_constants(ctypes.CDLL(lib._name), tmp_path / "x.so")
    monkeypatch.undo()
    monkeypatch.setattr(steps, "LEAKY_INT", 654)
    with pytest.raises(RuntimeError, match="differ from fixed.py"):
        steps._check_constants(ctypes.CDLL(lib._name), tmp_path / "x.so")


def test_kernels_take_integer_valued_tensors_only():
    from licodec.codec import steps

    assert torch.equal(steps._integers(torch.tensor([-3.0, 0.0, 2.0**40], dtype=torch.float64)),
                       torch.tensor([-3, 0, 2**40]))
    with pytest.raises(ValueError, match="integers"):
        steps._integers(torch.tensor([0.5], dtype=torch.float64))
