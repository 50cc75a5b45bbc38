"""Fixed-point building blocks: exact int8 products, int8 paths equal the float64 reference."""
import pytest
import torch
from torch import nn

from licodec.codec.fixed import ACT_LIMIT, SHIFT_MAX, WEIGHT_MAX, FixedLayer, FixedNet, IntMatrix, band_threads, channel_shifts, digit_rows
from licodec.layers import conv, deconv


def exact(a: torch.Tensor, w: torch.Tensor):
    return a.numpy().astype(object) @ w.numpy().astype(object)


def test_int_matrix_is_exact_at_the_limits():
    w = torch.full((5000, 3), WEIGHT_MAX, dtype=torch.int64)
    w[:, 1] = -WEIGHT_MAX
    w[::7, 2] = -WEIGHT_MAX
    a = torch.full((3, 5000), ACT_LIMIT, dtype=torch.int64)
    a[1] = -ACT_LIMIT
    a[2, ::3] = -ACT_LIMIT
    assert (IntMatrix(w).mm(a).to(torch.int64).numpy().astype(object) == exact(a, w)).all()


@pytest.mark.parametrize("limit,digits", [(127, 1), (128, 2), (127 * 257, 2), (127 * 257 + 1, 3), (ACT_LIMIT, 3)])
def test_int_matrix_picks_digits_from_the_values(limit, digits):
    g = torch.Generator().manual_seed(limit)
    w = torch.randint(-WEIGHT_MAX, WEIGHT_MAX + 1, (300, 17), generator=g)
    for n in (1, 2, 9):
        a = torch.randint(-limit, limit + 1, (n, 300), generator=g)
        a[0, 0] = -limit
        assert digit_rows(a)[1] == digits
        assert (IntMatrix(w).mm(a).to(torch.int64).numpy().astype(object) == exact(a, w)).all()
        assert (IntMatrix(w).mm(a.double()).to(torch.int64).numpy().astype(object) == exact(a, w)).all()
    with pytest.raises(ValueError):
        IntMatrix(w * 2)  # not int8
    with pytest.raises(ValueError):
        digit_rows(torch.tensor([[2**23]]))


def test_digit_rows_reconstruct_the_values():
    a = torch.tensor([[-ACT_LIMIT, -32640, -32639, -129, -128, -1, 0, 1, 127, 128, 32639, 32640, ACT_LIMIT]] * 2)
    rows, d = digit_rows(a)
    assert d == 3 and rows.shape == (6, 13)
    parts = rows.to(torch.int64).view(3, 2, 13)
    assert torch.equal(parts[0] + 256 * parts[1] + 65536 * parts[2], a)


def test_channel_shifts_use_all_eight_bits():
    w = torch.randn(6, 4, 3, 3) * torch.tensor([1e-3, 0.05, 0.4, 2.0, 127 / 64, 0.0]).reshape(6, 1, 1, 1)
    w[4] = (torch.rand(4, 3, 3) * 2 - 1) * (127 / 64)
    w[4, 0, 0, 0] = 127 / 64  # a power-of-two edge: max * 2**6 == 127 exactly
    s = channel_shifts(w)
    m = w.abs().amax(dim=(1, 2, 3)).double()
    assert (m * 2.0 ** s.double() <= WEIGHT_MAX).all()
    full = (s == SHIFT_MAX) | (m * 2.0 ** (s.double() + 1) > WEIGHT_MAX)
    assert full.all() and int(s[4]) == 6 and int(s[5]) == SHIFT_MAX
    wt = torch.randn(4, 6, 5, 5)  # ConvTranspose2d: output channels on dim 1
    assert torch.equal(channel_shifts(wt, 1), channel_shifts(wt.transpose(0, 1), 0))


def _randomize(seq, std=0.3):
    torch.manual_seed(1)
    with torch.no_grad():
        for m in seq.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.normal_(0, std)
                m.bias.normal_(0, 0.5)
    return seq


def test_linear_equals_float64_convolution():
    """A 1x1 net's matrix path (int8 digits) equals its float64 conv path exactly."""
    seq = _randomize(nn.Sequential(conv(40, 30, 1, 1), nn.LeakyReLU(), conv(30, 20, 1, 1), nn.ReLU(), conv(20, 10, 1, 1)))
    net = FixedNet(seq)
    a = torch.randint(-(2**20), 2**20, (1, 40, 3, 5))
    by_conv = net(a.to(torch.float64))
    by_rows = net.linear(a.permute(0, 2, 3, 1).reshape(-1, 40))
    assert torch.equal(by_rows, by_conv.permute(0, 2, 3, 1).reshape(-1, 10))
    assert by_conv.abs().max() > 2**15  # exercised more than two digits


@pytest.mark.parametrize(
    "layer",
    [
        lambda: conv(7, 9, 3, 1),
        lambda: conv(7, 9, 5, 2),
        lambda: deconv(7, 9, 5, 2),
        lambda: nn.ConvTranspose2d(7, 9, 4, 2, 1),
        lambda: nn.ConvTranspose2d(7, 9, 3, 1, 1),
        lambda: nn.ConvTranspose2d(7, 9, 5, 3, 1, output_padding=2),
        lambda: nn.Conv2d(7, 9, 3, 1, 1),
    ],
)
@pytest.mark.parametrize("scale", [100, 2**14, ACT_LIMIT])
@pytest.mark.parametrize("band_bytes", [1, 700, FixedLayer.BAND_BYTES])
@pytest.mark.parametrize("threads", [1, 3])
def test_conv_equals_float64_convolution(layer, scale, band_bytes, threads, monkeypatch):
    """Every conv geometry, every digit count, and products in one band, in bands of a
    few rows and of single rows, the bands on one thread or three: the same values as the
    float64 reference."""
    monkeypatch.setattr(FixedLayer, "BAND_BYTES", band_bytes)
    seq = _randomize(nn.Sequential(layer(), nn.LeakyReLU()))
    net = FixedNet(seq)
    g = torch.Generator().manual_seed(scale)
    a = torch.randint(-scale, scale + 1, (1, 7, 6, 5), generator=g)
    ref = net(a.to(torch.float64))[0].permute(1, 2, 0)
    with torch.inference_mode(), band_threads(threads):
        got = net.conv(a[0].permute(1, 2, 0))
    assert got.shape == ref.shape and torch.equal(got, ref)


def test_input_shift_and_clamp_agree():
    layer = _randomize(nn.Sequential(conv(5, 4, 1, 1)))[0]
    fixed = FixedLayer(layer, channel_shifts(layer.weight), input_shift=8)
    a = torch.randint(-2 * ACT_LIMIT, 2 * ACT_LIMIT, (1, 5, 4, 4))
    ref = fixed(a.to(torch.float64))[0].permute(1, 2, 0).reshape(-1, 4)
    assert torch.equal(fixed.linear(a[0].permute(1, 2, 0).reshape(-1, 5)), ref)
    assert torch.equal(fixed.conv(a[0].permute(1, 2, 0)).reshape(-1, 4), ref)


@pytest.mark.parametrize("value", [0, 3, 5000, 2**20])
def test_conv_on_tiny_and_strided_inputs(value):
    """1-pixel-wide maps and permuted (non-contiguous) inputs: views whose size-1 dimensions
    carry odd strides must not reach the int8 product as they are."""
    seq = _randomize(nn.Sequential(deconv(6, 5, 5, 2), nn.LeakyReLU(), conv(5, 4, 3, 1)))
    net = FixedNet(seq)
    for h, w in [(2, 1), (1, 1), (1, 3)]:
        z = torch.full((6, h, w), value, dtype=torch.int64)
        z[0, 0, 0] = -value
        ref = net(z[None].double())[0].permute(1, 2, 0)
        assert torch.equal(net.conv(z.permute(1, 2, 0)), ref)
        assert torch.equal(net.conv(z.permute(1, 2, 0).contiguous()), ref)


def test_activation_pattern_for_the_fused_kernels():
    net = FixedNet(nn.Sequential(conv(4, 6, 1, 1), nn.LeakyReLU(), conv(6, 5, 1, 1), nn.ReLU(), conv(5, 3, 1, 1), nn.Identity()))
    assert net.acts == ["leaky", "relu", "none"] and net.fusable
    assert not FixedNet(nn.Sequential(nn.ReLU(), conv(4, 6, 1, 1))).fusable
    assert not FixedNet(nn.Sequential(conv(4, 6, 1, 1), nn.ReLU(), nn.LeakyReLU(), conv(6, 5, 1, 1))).fusable


@pytest.mark.parametrize("shape", [(1, 3, 7), (17, 640, 384), (5, 1152, 640), (9, 2400, 33), (6, 31, 1), (0, 16, 4)])
def test_int_mm_paths_give_the_same_integers(shape):
    """torch._int_mm, the exact float32 blocks and the compiled kernel (AVX2 and plain C)
    agree, at the extremes too (K above a block, K not a multiple of 16, odd column counts)."""
    from licodec.codec.fixed import _float_mm
    from licodec.codec.steps import c_mm, c_weights, kernels

    lib = kernels()
    m, k, n = shape
    g = torch.Generator().manual_seed(k)
    a = torch.randint(-128, 128, (m, k), dtype=torch.int8, generator=g)
    w = torch.randint(-127, 128, (k, n), dtype=torch.int8, generator=g)
    for _ in range(2):  # random, then the extremes
        ref = torch._int_mm(a, w) if m else torch.zeros(0, n, dtype=torch.int32)
        assert torch.equal(_float_mm(a, w), ref)
        if lib is not None:
            assert torch.equal(c_mm(lib, a, c_weights(w)), ref) and torch.equal(c_mm(lib, a, c_weights(w), simd=False), ref)
            assert torch.equal(c_mm(lib, a.t().contiguous().t(), c_weights(w)), ref)  # a column-major view
        a.fill_(-128)
        w.fill_(127)
    if m:
        assert int(ref[0, 0]) == -128 * 127 * k


def test_int_mm_path_is_chosen_once(monkeypatch):
    from licodec.codec import fixed

    monkeypatch.setattr(fixed, "_PATH", [])
    monkeypatch.setenv("LICODEC_INT_MM", "float")
    assert fixed.int_mm_path() == "float" and fixed.int_mm_path() == "float"
    monkeypatch.setattr(fixed, "_PATH", [])
    monkeypatch.delenv("LICODEC_INT_MM")
    assert fixed.int_mm_path() in ("int", "float", "c")
