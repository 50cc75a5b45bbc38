import pytest
import torch

from licodec.models import bits, create, names

SMALL = dict(N=16, M=24)


def test_registry_lists_the_paper_models():
    assert {"bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018-context", "mbt2018", "mbt2018-gmm"} <= set(names())
    with pytest.raises(ValueError, match="unknown model"):
        create("nope")


@pytest.mark.parametrize("name", names())
@pytest.mark.parametrize("shape", [(1, 3, 64, 96), (2, 3, 128, 128)])
@pytest.mark.parametrize("train", [True, False])
def test_forward_shapes_and_rates(name, shape, train):
    model = create(name, **SMALL)
    model.train(train)
    x = torch.rand(shape)
    with torch.set_grad_enabled(train):
        out = model(x)
    assert out["x_hat"].shape == x.shape
    lik = out["likelihoods"]
    assert "y" in lik
    b, _, h, w = shape
    assert lik["y"].shape == (b, SMALL["M"], h // 16, w // 16)
    if "z" in lik:
        assert lik["z"].shape == (b, SMALL["N"], -(-h // 64), -(-w // 64))
    for v in lik.values():
        assert torch.isfinite(v).all() and (v > 0).all() and (v <= 1).all()
    r = bits(lik)
    assert torch.isfinite(r) and r > 0


def test_paper_architecture_sizes():
    model = create("mbt2018", N=192, M=320)
    ep = model.prior.entropy_parameters
    assert [m.in_channels for m in ep if isinstance(m, torch.nn.Conv2d)] == [1280, 1066, 853]
    assert ep[-1].out_channels == 640
    assert model.prior.context.kernel_size == (5, 5) and model.prior.context.out_channels == 640
    hs = model.prior.hyper.h_s
    assert [hs[0].out_channels, hs[2].out_channels, hs[4].out_channels] == [320, 480, 640]
    n = sum(p.numel() for p in create("mbt2018", N=192, M=192).parameters())
    assert 13.5e6 < n < 14.5e6  # CompressAI's mbt2018 (N=M=192) has about 14.1M


def test_variable_rate_gains_interpolate():
    model = create("mbt2018", **SMALL, lambdas=[0.0018, 0.0067, 0.025, 0.0932])
    g0, _ = model.gain.gains(torch.tensor([0.0]))
    g1, _ = model.gain.gains(torch.tensor([1.0]))
    gh, _ = model.gain.gains(torch.tensor([0.5]))
    torch.testing.assert_close(gh, torch.sqrt(g0 * g1))
    lam = model.lmbda(torch.tensor([0.0, 3.0]))
    torch.testing.assert_close(lam, torch.tensor([0.0018, 0.0932]))
    out = model(torch.rand(1, 3, 64, 64), q=1.5)
    assert out["x_hat"].shape == (1, 3, 64, 64)


def test_variable_rate_gains_extrapolate_below_the_trained_range():
    model = create("mbt2018", **SMALL, lambdas=[0.0018, 0.0067, 0.025, 0.0932])
    gain = model.gain
    assert gain.lowest == -1.0  # 0.0018 / 8 lies between one and two steps of 3.7x below
    g0, i0 = gain.gains(torch.tensor([0.0]))
    g1, i1 = gain.gains(torch.tensor([1.0]))
    gm, im = gain.gains(torch.tensor([-1.0]))
    torch.testing.assert_close(gm, g0 * g0 / g1)
    torch.testing.assert_close(im, i0 * i0 / i1)
    torch.testing.assert_close(gain.gains(torch.tensor([-5.0]))[0], gm)  # clamped at the lowest level
    torch.testing.assert_close(model.lmbda(torch.tensor([-1.0])), torch.tensor([0.0018 ** 2 / 0.0067]))
    # CompressAI's grid (about 1.9x per level) and a doubling grid extrapolate three levels (λ/8).
    assert create("mbt2018", **SMALL, lambdas=[0.0018, 0.0035, 0.0067, 0.013]).gain.lowest == -3.0
    assert create("mbt2018", **SMALL, lambdas=[0.01, 0.02, 0.04]).gain.lowest == -3.0
    assert create("mbt2018", **SMALL, lambdas=[0.001, 0.01]).gain.lowest == 0.0


@pytest.mark.parametrize("name", names())
def test_every_architecture_saves_and_loads_with_its_config(name, tmp_path):
    """The config rebuilds the same architecture: mbt2018-gmm's number of components was
    missing from it, so a model with K != 3 saved and then failed to load."""
    from licodec.models.io import load_model, save_model

    kwargs = {"components": 2} if name == "mbt2018-gmm" else {}
    model = create(name, N=8, M=8, lambdas=[0.01, 0.1], **kwargs).eval()
    save_model(model, tmp_path / "m.safetensors", {})
    loaded, _, _ = load_model(tmp_path / "m.safetensors")
    assert loaded.config == model.config
    if name == "mbt2018-gmm":
        assert loaded.config["components"] == 2
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_rate_distortion_loss_per_image():
    """bpp from the likelihoods, MSE, and bpp + λ·255²·MSE (or + λ·(1 − MS-SSIM)) per image."""
    from licodec.models.loss import RateDistortionLoss

    x = torch.rand(2, 3, 16, 16)
    x_hat = x.clone()
    x_hat[1] += 0.1
    out = {"x_hat": x_hat, "likelihoods": {"y": torch.full((2, 4, 1, 1), 0.5), "z": torch.full((2, 2, 1, 1), 0.25)}}
    lam = torch.tensor([0.01, 0.1])
    t = RateDistortionLoss("mse")(out, x, lam)
    expected_bpp = (4 * 1 + 2 * 2) / 256  # -log2(0.5) four times, -log2(0.25) twice, over 16x16 pixels
    torch.testing.assert_close(t.bpp, torch.full((2,), expected_bpp))
    torch.testing.assert_close(t.mse, torch.tensor([0.0, 0.01]))
    torch.testing.assert_close(t.loss, t.bpp + lam * 255**2 * t.mse)
    with pytest.raises(ValueError, match="metric"):
        RateDistortionLoss("l1")
