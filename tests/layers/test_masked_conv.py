import pytest
import torch

from licodec.layers import MaskedConv2d, causal_mask


@pytest.mark.parametrize("k", [3, 5, 7])
def test_causality(k):
    torch.manual_seed(k)
    conv = MaskedConv2d(2, 3, k)
    with torch.no_grad():
        conv.weight.normal_()
    h, w = 9, 10
    x = torch.randn(1, 2, h, w)
    base = conv(x)
    i, j = 4, 5
    c = k // 2
    for pi in range(h):
        for pj in range(w):
            xp = x.clone()
            xp[0, :, pi, pj] += 1.0
            changed = not torch.allclose(conv(xp)[0, :, i, j], base[0, :, i, j])
            earlier = (pi, pj) < (i, j)
            inside = abs(pi - i) <= c and abs(pj - j) <= c
            assert changed == (earlier and inside), (pi, pj)


def test_mask_shape_and_validation():
    m = causal_mask(5)
    assert m.sum() == 12 and m[2, 2] == 0 and m[2, 1] == 1 and m[3].sum() == 0
    assert causal_mask(5, "B")[2, 2] == 1
    with pytest.raises(ValueError):
        causal_mask(4)


@pytest.mark.parametrize("k", [3, 5])
def test_equals_the_full_masked_kernel(k):
    # forward skips the mask's zero rows; the result and gradients are the full kernel's
    torch.manual_seed(k)
    conv = MaskedConv2d(4, 6, k)
    x = torch.randn(2, 4, 7, 9, dtype=torch.float64, requires_grad=True)
    conv = conv.double()
    ref = torch.nn.functional.conv2d(x, conv.weight * conv.mask, conv.bias, padding=k // 2)
    out = conv(x)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(out)
    gx, gw = torch.autograd.grad((out * g).sum(), (x, conv.weight))
    rx, rw = torch.autograd.grad((ref * g).sum(), (x, conv.weight))
    torch.testing.assert_close(gx, rx, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gw, rw, rtol=1e-12, atol=1e-12)
