"""Fixed-point building blocks: exact integer products, int and float nonlinearities agree."""
import torch
from torch import nn

from licodec.codec.fixed import ACT_LIMIT, FixedLayer, FixedNet, IntMatrix, choose_shift
from licodec.layers import conv


def test_int_matrix_is_exact_at_the_limits():
    w = torch.full((5000, 3), 2**15 - 129, dtype=torch.int64)
    w[:, 1] = -(2**15 - 129)
    a = torch.full((2, 5000), ACT_LIMIT, dtype=torch.int64)
    a[1] = -ACT_LIMIT
    exact = a.numpy().astype(object) @ w.numpy().astype(object)
    assert (IntMatrix(w).mm(a, 3).numpy().astype(object) == exact).all()


def test_linear_equals_float64_convolution():
    """A 1x1 layer's matrix path (int8 digits) equals its float64 conv path exactly."""
    torch.manual_seed(1)
    seq = nn.Sequential(conv(40, 30, 1, 1), nn.LeakyReLU(), conv(30, 20, 1, 1))
    with torch.no_grad():
        for m in seq:
            if isinstance(m, nn.Conv2d):
                m.weight.normal_(0, 0.3)
    net = FixedNet(seq)
    a = torch.randint(-2**20, 2**20, (1, 40, 3, 5))
    by_conv = net(a.to(torch.float64))
    by_rows = net.linear(a.permute(0, 2, 3, 1).reshape(-1, 40))
    assert torch.equal(by_rows, by_conv.permute(0, 2, 3, 1).reshape(-1, 20).to(torch.int64))
    assert choose_shift(seq[0].weight) == FixedLayer(seq[0], choose_shift(seq[0].weight)).shift
