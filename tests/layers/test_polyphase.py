"""The 5×5 stride-2 layers in polyphase form (layers/polyphase.py) against PyTorch's layers."""
import pytest
import torch
from torch import nn

from licodec.layers import polyphase
from licodec.layers.polyphase import PolyphaseDeconv, WinogradConv, WinogradDeconv, polyphase_layer


def _close(got: torch.Tensor, ref: torch.Tensor, rel: float) -> None:
    assert got.shape == ref.shape
    err = (got - ref).abs().max().item() / ref.abs().max().item()
    assert err < rel, err


def _x(c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.randn(1, c, h, w).contiguous(memory_format=torch.channels_last)


@pytest.fixture(params=["kernels", "torch"])
def path(request, monkeypatch):
    """Each test runs with the compiled transforms (where built) and with the PyTorch ones."""
    if request.param == "torch":
        monkeypatch.setenv("LICODEC_KERNELS", "0")
    elif polyphase.kernels() is None:
        pytest.skip("licodec/layers/_winograd.c not built")
    return request.param


@pytest.mark.parametrize("cin,cout,h,w", [(32, 48, 16, 24), (64, 32, 13, 7), (40, 32, 5, 9), (32, 32, 1, 1), (48, 40, 33, 20)])
def test_winograd_deconv_equals_the_transposed_convolution(path, cin, cout, h, w):
    torch.manual_seed(1)
    layer = nn.ConvTranspose2d(cin, cout, 5, 2, 2, 1)
    x = _x(cin, h, w)
    with torch.inference_mode():
        got = WinogradDeconv(layer)(x)
        _close(got, layer(x), 1e-4)
    assert got.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("cin,cout,h,w", [(32, 48, 32, 48), (48, 32, 26, 14), (32, 40, 10, 18), (32, 32, 2, 2), (40, 32, 66, 36)])
def test_winograd_conv_equals_the_strided_convolution(path, cin, cout, h, w):
    torch.manual_seed(2)
    layer = nn.Conv2d(cin, cout, 5, 2, 2)
    x = _x(cin, h, w)
    with torch.inference_mode():
        got = WinogradConv(layer)(x)
        _close(got, layer(x), 1e-4)
    assert got.is_contiguous(memory_format=torch.channels_last)


def test_winograd_conv_needs_even_sizes():
    with pytest.raises(ValueError, match="even"):
        WinogradConv(nn.Conv2d(32, 32, 5, 2, 2))(_x(32, 9, 8))


def test_the_narrow_transposed_convolution_as_one_3x3_convolution():
    torch.manual_seed(3)
    layer = nn.ConvTranspose2d(48, 3, 5, 2, 2, 1)
    x = _x(48, 17, 12)
    with torch.inference_mode():
        _close(PolyphaseDeconv(layer)(x), layer(x), 1e-5)


def test_the_compiled_and_pytorch_transforms_agree(monkeypatch):
    if polyphase.kernels() is None:
        pytest.skip("licodec/layers/_winograd.c not built")
    torch.manual_seed(4)
    layer = nn.ConvTranspose2d(64, 64, 5, 2, 2, 1)
    x = _x(64, 40, 36)
    with torch.inference_mode():
        c = WinogradDeconv(layer)(x)
        monkeypatch.setenv("LICODEC_KERNELS", "0")
        t = WinogradDeconv(layer)(x)
    _close(c, t, 1e-5)


def test_the_same_output_with_one_or_two_threads(path, monkeypatch):
    """The output does not depend on torch's thread count (the products split their rows)."""
    monkeypatch.setattr(polyphase, "TILES_PER_BAND", 64)  # several bands
    torch.manual_seed(5)
    layers = [WinogradDeconv(nn.ConvTranspose2d(32, 32, 5, 2, 2, 1)), WinogradConv(nn.Conv2d(32, 32, 5, 2, 2))]
    x = _x(32, 48, 64)
    threads = torch.get_num_threads()
    try:
        with torch.inference_mode():
            outs = []
            for n in (1, 2):
                torch.set_num_threads(n)
                outs.append([f(x) for f in layers])
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*outs):
        assert torch.equal(a, b)


def test_which_layers_get_a_polyphase_form():
    assert isinstance(polyphase_layer(nn.ConvTranspose2d(192, 192, 5, 2, 2, 1)), WinogradDeconv)
    assert isinstance(polyphase_layer(nn.Conv2d(192, 192, 5, 2, 2)), WinogradConv)
    assert isinstance(polyphase_layer(nn.ConvTranspose2d(192, 3, 5, 2, 2, 1)), PolyphaseDeconv)
    assert polyphase_layer(nn.Conv2d(3, 192, 5, 2, 2)) is None  # g_a's first layer: measured slower
    assert polyphase_layer(nn.Conv2d(192, 192, 3, 1, 1)) is None
    assert polyphase_layer(nn.ConvTranspose2d(192, 192, 5, 2, 2, 0)) is None
    assert polyphase_layer(nn.Conv2d(192, 192, 5, 2, 2, padding_mode="reflect")) is None
    assert polyphase_layer(nn.ReLU()) is None


def test_small_inputs_keep_the_direct_layer():
    f = WinogradDeconv(nn.ConvTranspose2d(32, 32, 5, 2, 2, 1))
    assert not f.suits(_x(32, 4, 8)) and f.suits(_x(32, 16, 16))
    g = WinogradConv(nn.Conv2d(32, 32, 5, 2, 2))
    assert not g.suits(_x(32, 8, 16)) and g.suits(_x(32, 32, 32))


@pytest.mark.parametrize("cin,cout", [(32, 40), (48, 3)])
def test_the_input_gradient_is_the_transposed_convolutions(path, cin, cout):
    """The latent search differentiates g_s's frozen layers with respect to their input: the
    polyphase forms' backward pass (the adjoint) gives the plain layer's gradient."""
    torch.manual_seed(6)
    layer = nn.ConvTranspose2d(cin, cout, 5, 2, 2, 1).requires_grad_(False)
    f = polyphase_layer(layer)
    x = _x(cin, 12, 20).requires_grad_(True)
    g = torch.randn(1, cout, 24, 40)
    (layer(x) * g).sum().backward()
    ref = x.grad.clone()
    x.grad = None
    out = polyphase.differentiable(f, x)
    (out * g).sum().backward()
    _close(x.grad, ref, 1e-4)
