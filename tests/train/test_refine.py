import numpy as np
import pytest
import torch

from licodec.models.registry import create
from licodec.train import refine as R


def _model():
    torch.manual_seed(0)
    return create("mbt2018", N=16, M=16, lambdas=[0.01, 0.05]).eval()


def test_coded_likelihoods_are_the_coders_rounding():
    """y's likelihood is the Gaussian mass of mu + round(y - mu): integer offsets from the means."""
    model = _model()
    y = torch.randn(1, 16, 4, 4) * 3
    lik = model.prior.coded_likelihoods(y)
    assert set(lik) == {"y", "z"} and lik["y"].shape == y.shape
    prior = model.prior
    zd = prior.hyper.z_density
    z = prior.hyper.analysis(y)
    m = zd.medians().reshape(1, -1, 1, 1)
    psi = prior.hyper.synthesis(m + torch.round(z - m), y.shape[-2:])
    ctx = torch.round(y)
    mu = prior.conditional.split(prior.params(psi, ctx))[1]
    ctx = mu + torch.round(y - mu)
    params = prior.params(psi, ctx)
    mu = prior.conditional.split(params)[1]
    torch.testing.assert_close(lik["y"], prior.conditional.likelihood(mu + torch.round(y - mu), params))


@pytest.mark.parametrize("relative", [False, True])
def test_refine_lowers_the_coded_rate_and_leaves_the_transforms(relative):
    model = _model()
    rng = np.random.default_rng(0)
    images = [(rng.random((64, 96, 3)) * 255).astype(np.uint8) for _ in range(3)]
    latents = R.crop_latents(model, images, 64, 6)
    assert latents.shape == (6, 16, 4, 4) and latents.dtype == torch.float16
    latents = (torch.randn(6, 16, 4, 4) * 4 + torch.linspace(-3, 3, 16)[:, None, None]).half()  # y of some spread
    fixed = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(("g_a.", "g_s.", "gain.", "prior.hyper.z_density."))}
    held = [latents[i : i + 1].float() for i in range(6)]
    before = [R.coded_bpp(model, held, q) for q in (0, 1)]
    R.refine(model, latents, 60, lr=3e-3, batch=4, relative=relative)
    assert all(R.coded_bpp(model, held, q) < 0.97 * b for q, b in zip((0, 1), before))
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in fixed.items())


def test_refining_the_scales_leaves_every_mean():
    model = _model()
    latents = (torch.randn(6, 16, 4, 4) * 4 + torch.linspace(-3, 3, 16)[:, None, None]).half()
    prior = model.prior
    y = latents[:2].float()
    psi = prior.hyper.synthesis(torch.round(prior.hyper.analysis(y)), y.shape[-2:])
    ctx = torch.round(y)
    with torch.no_grad():
        scales0, means0 = prior.conditional.split(prior.params(psi, ctx))
    held = [latents[i : i + 1].float() for i in range(6)]
    before = R.coded_bpp(model, held, 0)
    R.refine(model, latents, 40, lr=3e-3, batch=4, parts=("sigma",), coder=True)
    with torch.no_grad():
        scales1, means1 = prior.conditional.split(prior.params(psi, ctx))
    assert torch.equal(means0, means1) and not torch.equal(scales0, scales1)
    assert R.coded_bpp(model, held, 0) < before
    assert not any(p._backward_hooks for p in model.parameters())  # the hooks are gone


def test_refine_warms_up_from_a_fraction_of_the_rate():
    """With warmup=W, Adam's first step (|update| = lr per weight) is lr / W; later steps the full lr."""
    torch.manual_seed(1)
    latents = (torch.randn(6, 16, 4, 4) * 4).half()

    def moves(warmup: int, steps: int) -> float:
        model = _model()
        w0 = {k: v.clone() for k, v in model.prior.entropy_parameters.state_dict().items()}
        R.refine(model, latents, steps, lr=1e-3, batch=4, warmup=warmup)
        return max(float((w0[k] - v).abs().max()) for k, v in model.prior.entropy_parameters.state_dict().items())

    assert moves(0, 1) == pytest.approx(1e-3, rel=0.01)
    assert moves(10, 1) == pytest.approx(1e-4, rel=0.01)
    assert moves(10, 3) == pytest.approx(6e-4, rel=0.05)  # 0.1 + 0.2 + 0.3 of lr, where a weight's gradient keeps its sign


def test_level_rates_are_each_levels_coded_rate():
    model = _model()
    latents = (torch.randn(5, 16, 4, 4) * 4).half()
    rates = R.level_rates(model, latents, count=3)
    few = [latents[i : i + 1].float() for i in range(3)]
    assert rates.shape == (2,) and rates[1] > rates[0]  # the higher λ's gain spreads y wider
    assert rates.tolist() == pytest.approx([R.coded_bpp(model, few, q, passes=2) for q in (0, 1)])


def test_refine_needs_large_enough_images():
    with pytest.raises(ValueError, match=">= 64"):
        R.crop_latents(_model(), [np.zeros((32, 32, 3), np.uint8)], 64, 2)


def test_coder_arithmetic_is_the_coders_and_leaves_the_weights():
    """Within it, h_s/g_cm/g_ep compute with int8 weights (power-of-two scale per output
    channel) and gradients still reach the float weights; after it the weights are as before."""
    from licodec.codec.fixed import channel_shifts

    model = _model()
    ep = model.prior.entropy_parameters
    conv = [m for m in ep.modules() if isinstance(m, torch.nn.Conv2d)][0]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with R.coder_arithmetic(model):
        w = conv.weight
        s = channel_shifts(w, 0).double()
        ints = w.double() * torch.pow(2.0, s)[:, None, None, None]
        assert torch.equal(ints, torch.round(ints)) and ints.abs().max() <= 127
        y = torch.randn(1, 16, 4, 4) * 3
        sum(-torch.log2(v).sum() for v in model.prior.coded_likelihoods(y).values()).backward()
        assert conv.parametrizations.weight.original.grad is not None
        coded = R.coded_bpp(model, [y], 0)
    assert type(conv).__name__ == "Conv2d" and not hasattr(conv, "parametrizations")
    after = model.state_dict()
    assert set(after) == set(before) and all(torch.equal(before[k], after[k]) for k in before)
    assert coded != R.coded_bpp(model, [y], 0)  # the float arithmetic gives another estimate


def test_refine_cli_refuses_missing_inputs(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        R.main(["--init", str(tmp_path / "none.safetensors"), "--data", str(tmp_path), "--out", str(tmp_path / "o.safetensors")])
    assert e.value.code == 2 and "no such model file" in capsys.readouterr().err
    assert not (tmp_path / "o.safetensors").exists()


def test_refine_cli_writes_a_model_that_codes(tmp_path):
    from PIL import Image

    from licodec.codec.api import compress, decompress
    from licodec.models.io import load_model, save_model

    model = _model()
    src = tmp_path / "m.safetensors"
    save_model(model, src, {"name": "tiny"})
    data = tmp_path / "photos"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(data / f"p{i}.png")
    out = tmp_path / "r.safetensors"
    assert R.main(["--init", str(src), "--data", str(data), "--out", str(out), "--holdout", "1", "--crops", "3", "--crop", "64",
                   "--steps", "2", "--batch", "2", "--relative", "--warmup", "2", "--cache-dir", str(tmp_path / "cache")]) == 0
    cache = list((tmp_path / "cache").iterdir())
    assert len(cache) == 1 and cache[0].suffix == ".safetensors"  # the crops' latents, for the next run
    stamp = cache[0].stat().st_mtime_ns
    assert R.main(["--init", str(src), "--data", str(data), "--out", str(tmp_path / "r1.safetensors"), "--holdout", "1", "--crops", "3", "--crop", "64",
                   "--steps", "1", "--batch", "2", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert list((tmp_path / "cache").iterdir()) == cache and cache[0].stat().st_mtime_ns == stamp  # read, not made again
    _, _, card = load_model(out)
    assert card["storage"] == "float16" and card["entropy_refinement"]["steps"] == 2 and card["entropy_refinement"]["relative"]
    assert card["entropy_refinement"]["warmup"] == 2
    img = (rng.random((32, 48, 3)) * 255).astype(np.uint8)
    assert decompress(compress(img, 1, model=out), model=out, as_array=True).shape == img.shape
