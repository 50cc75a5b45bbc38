import pytest
import torch

from licodec.layers import GDN, IGDN
from licodec.ops import lower_bound


def test_gdn_matches_formula():
    gdn = GDN(4)
    with torch.no_grad():
        gdn.gamma.copy_(gdn.gamma_reparam.init(torch.rand(4, 4) * 0.5))
        gdn.beta.copy_(gdn.beta_reparam.init(torch.rand(4) + 0.5))
    x = torch.randn(2, 4, 5, 6)
    beta = gdn.beta_reparam(gdn.beta)
    gamma = gdn.gamma_reparam(gdn.gamma)
    norm = beta[None, :, None, None] + torch.einsum("ij,bjhw->bihw", gamma, x * x)
    torch.testing.assert_close(gdn(x), x / torch.sqrt(norm), rtol=1e-5, atol=1e-6)
    igdn = IGDN(4)
    igdn.load_state_dict(gdn.state_dict())
    torch.testing.assert_close(igdn(x), x * torch.sqrt(norm), rtol=1e-5, atol=1e-6)


def test_gdn_parameters_stay_nonnegative():
    gdn = GDN(3)
    with torch.no_grad():
        gdn.beta.fill_(-5.0)
        gdn.gamma.fill_(-5.0)
    assert (gdn.beta_reparam(gdn.beta) >= 1e-6 - 1e-12).all()
    assert (gdn.gamma_reparam(gdn.gamma) >= 0).all()
    y = gdn(torch.randn(1, 3, 4, 4))
    assert torch.isfinite(y).all()


def test_lower_bound_gradient_pulls_up_from_below():
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    y = lower_bound(x, 0.0)
    assert y.tolist() == [0.0, 2.0]
    (-y.sum()).backward()  # gradient that increases x passes everywhere
    assert x.grad.tolist() == [-1.0, -1.0]
    x.grad = None
    lower_bound(x, 0.0).sum().backward()  # pushing x down below the bound is blocked
    assert x.grad.tolist() == [0.0, 1.0]


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_bands_equal_whole_tensor(inverse, channels_last):
    """Without autograd GDN works in bands (of the pixel matrix for channels-last tensors,
    of rows otherwise), in place: the same values."""
    torch.manual_seed(0)
    g = GDN(16, inverse=inverse)
    g.BAND_PIXELS = 7  # several bands, a short last one
    x = torch.randn(2, 16, 9, 5)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ref = g(x).detach()
    with torch.no_grad():
        got = g(x)
    assert torch.equal(got, ref)
    y = x.clone()
    with torch.no_grad():
        assert g.inplace_(y) is y
    assert torch.equal(y, ref)


def test_gdn_inplace_refuses_autograd():
    g = GDN(4)
    with pytest.raises(RuntimeError, match="inference"):
        g.inplace_(torch.randn(1, 4, 3, 3))


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_frozen_gdn_gradient_equals_autograd_of_the_formula(inverse, channels_last):
    """A frozen layer (the encoder's search) differentiates x in bands: the values and
    x's gradient of the plain formula, in float64; the result is channels-last."""
    torch.manual_seed(0)
    g = GDN(16, inverse=inverse).double()
    with torch.no_grad():
        g.gamma.add_(torch.rand_like(g.gamma) * 0.3)
        g.beta.add_(torch.rand_like(g.beta) * 0.2)
    x = torch.randn(2, 16, 9, 7, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    ref = g(x)  # parameters require grad: autograd of the formula
    go = torch.randn_like(ref)
    (ref_dx,) = torch.autograd.grad(ref, x, go)
    g.requires_grad_(False)
    g.BAND_PIXELS = 15  # bands of two rows, a short last one
    out = g(x)
    assert out.grad_fn is not None and "FrozenGDN" in type(out.grad_fn).__name__
    (dx,) = torch.autograd.grad(out, x, go)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dx, ref_dx, rtol=1e-12, atol=1e-12)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.autograd.gradcheck(g, (x[:1, :, :3].detach().clone().requires_grad_(True),))


def test_frozen_gdn_under_bf16_autocast_is_close():
    torch.manual_seed(1)
    g = IGDN(32).requires_grad_(False)
    x = torch.randn(1, 32, 8, 8).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    ref = g(x)
    (ref_dx,) = torch.autograd.grad(ref.square().sum(), x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = g(x)
    (dx,) = torch.autograd.grad(out.float().square().sum(), x)
    torch.testing.assert_close(out.float(), ref, rtol=0.03, atol=0.03)
    torch.testing.assert_close(dx, ref_dx, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("inverse", [True, False])
def test_out_dtype_equals_converting_afterwards(inverse):
    # a bf16 layer that feeds a float32 one (g_s's last IGDN) writes float32 directly: the same
    # values as .float() after it, and in the frozen path the same gradient for x
    torch.manual_seed(2)
    g = GDN(32, inverse=inverse).requires_grad_(False)
    with torch.no_grad():
        g.gamma.copy_(g.gamma_reparam.init(torch.rand(32, 32) * 0.2))
    x = torch.randn(1, 32, 37, 29).contiguous(memory_format=torch.channels_last)
    g.BAND_PIXELS = 100  # several bands and a short last one
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        xb = x.bfloat16()
        ref = g.inplace_(xb.clone()).float()
        out = g(xb, out_dtype=torch.float32)
    assert out.dtype == torch.float32 and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, ref)
    w = torch.randn(x.shape)
    grads = []
    for direct in (False, True):
        xg = x.bfloat16().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            o = g(xg, out_dtype=torch.float32) if direct else g(xg).float()
        assert o.dtype == torch.float32
        (dx,) = torch.autograd.grad((o * w).sum(), xg)
        grads.append((o.detach(), dx))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])
    assert not torch.equal(grads[0][0], g(x))  # bf16 differs from float32: the test can tell them apart


def test_large_output_in_huge_pages_equals_in_place():
    # above 4 MB a fresh output comes from native.empty_huge (huge pages where Linux has them):
    # the same values, type and layout as the in-place result
    from licodec.native import empty_huge

    buf = empty_huge(1, 8, 512, 512, channels_last=True, dtype=torch.bfloat16)
    assert buf.dtype == torch.bfloat16 and buf.shape == (1, 8, 512, 512) and buf.is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(3)
    g = IGDN(32).requires_grad_(False)
    x = torch.randn(1, 32, 190, 190).contiguous(memory_format=torch.channels_last)  # 4.6 MB of float32
    with torch.inference_mode():
        ref = g.inplace_(x.clone())
        out = g(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ref16 = g.inplace_(x.bfloat16()).float()
            out16 = g(x.bfloat16(), out_dtype=torch.float32)
    assert out.is_contiguous(memory_format=torch.channels_last) and torch.equal(out, ref)
    assert out16.dtype == torch.float32 and torch.equal(out16, ref16)
