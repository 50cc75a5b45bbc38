"""Inference forms of the transforms' layers: same results as the training forms."""
import pytest
import torch

from licodec.layers import GDN, IGDN, Deconv, deconv


@pytest.mark.parametrize("ci,co,k,s,p,op", [(8, 5, 5, 2, 2, 1), (8, 5, 4, 2, 1, 0), (8, 5, 3, 1, 1, 0), (8, 5, 5, 3, 1, 2), (6, 4, 3, 2, 1, 1)])
def test_subpixel_deconv_equals_transposed_convolution(ci, co, k, s, p, op):
    torch.manual_seed(k * 10 + s)
    m = Deconv(ci, co, k, stride=s, padding=p, output_padding=op)
    for h, w in [(1, 1), (2, 3), (7, 5)]:
        x = torch.randn(2, ci, h, w)
        ref = m(x).detach()  # autograd on: the transposed convolution
        with torch.no_grad():
            got = m(x)
        assert got.shape == ref.shape
        assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5)


def test_subpixel_weights_follow_updates():
    m = deconv(4, 3)
    x = torch.randn(1, 4, 5, 6)
    with torch.no_grad():
        first = m(x)
        m.weight.mul_(2)
        second = m(x)
    assert not torch.allclose(first, second)
    assert torch.allclose(second, m(x).detach(), atol=1e-5)


@pytest.mark.parametrize("layer", [GDN, IGDN])
def test_gdn_bands_equal_whole_tensor(layer):
    torch.manual_seed(0)
    g = layer(16)
    g.BAND_PIXELS = 7  # several bands, a short last one
    x = torch.randn(2, 16, 9, 5).contiguous(memory_format=torch.channels_last)
    ref = g(x).detach()
    with torch.no_grad():
        got = g(x)
    assert torch.equal(got, ref)
