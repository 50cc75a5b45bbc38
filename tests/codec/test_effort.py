"""Encoder effort (--effort): the latent search codes ordinary files, never does worse than
effort 0 under its own objective, is deterministic, and works for every prior."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import licodec
from licodec.cli import main
from licodec.codec.api import _pad, resolve_model
from licodec.codec.effort import EFFORT_HELP, EFFORT_ITERATIONS, MAX_EFFORT, iterations
from licodec.codec.latent_search import _Objective, search_latents
from licodec.codec.precision import native_bf16
from tests.conftest import smooth_image

FIXTURES = Path(__file__).parent / "fixtures" / "7a752fd"


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    img = (smooth_image(96, 128, seed=3)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    noise = np.random.default_rng(1).normal(0, 5, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)[:90, :120]  # not a multiple of 16: padding


def test_levels():
    assert iterations(0) == 0 and list(EFFORT_ITERATIONS) == sorted(set(EFFORT_ITERATIONS))
    assert iterations(MAX_EFFORT) == EFFORT_ITERATIONS[-1] > 0
    for bad in (-1, MAX_EFFORT + 1, 1.5, True, "2"):
        with pytest.raises(ValueError):
            iterations(bad)
    with pytest.raises(ValueError):
        licodec.compress(np.zeros((16, 16, 3), np.uint8), quality=3, effort=MAX_EFFORT + 1)


def _hard_loss(codec, x, q, y, z, size) -> float:
    obj = _Objective(codec.model, x, q, float(codec.model.lmbda(q)[0]), size)
    return obj.hard(y, z, torch.round(y))[0]


def test_search_is_never_worse_than_g_a(image):
    codec = resolve_model(None)
    x, q, size = _pad(image), codec._q(3.0), image.shape[:2]
    with torch.no_grad():
        y0 = codec.model.g_a(x) * codec.model.gain.gains(q)[0]
        z0 = codec.model.prior.hyper.analysis(y0)
    seen = []
    y, z = search_latents(codec.model, x, y0.clone(), q, 6, size=size, progress=lambda i, n: seen.append((i, n)))
    assert seen == [(i, 6) for i in range(1, 7)]
    assert y.shape == y0.shape and z.shape == z0.shape
    assert _hard_loss(codec, x, q, y, z, size) <= _hard_loss(codec, x, q, y0, z0, size)


def test_effort_codes_an_ordinary_file_with_a_lower_rd_cost(image):
    """Real bytes and real decoded pixels: bpp + λ·255²·MSE at effort 6 (40 iterations) is below
    effort 0's. (At 20 iterations the 194,233-step default model found nothing better than g_a
    on this small noisy image, and the search returned g_a's latents: identical files.)"""
    codec = resolve_model(None)
    lam = float(codec.model.lmbda(torch.tensor([2.0]))[0])
    costs = []
    for effort in (0, 6):
        data = licodec.compress(image, quality=3, effort=effort)
        assert data == licodec.compress(image, quality=3, effort=effort)  # deterministic
        rec = licodec.decompress(data, as_array=True)
        assert rec.shape == image.shape
        mse = float(np.mean((rec.astype(np.float64) - image) ** 2)) / 255**2
        costs.append(8 * len(data) / image.shape[0] / image.shape[1] + lam * 255**2 * mse)
    assert costs[1] < costs[0], costs


@pytest.mark.parametrize("name", ["bmshj2018-hyperprior", "mbt2018", "mbt2018-gmm"])
def test_every_prior(name, image):
    codec = resolve_model(FIXTURES / f"{name}-tiny.safetensors")
    data = licodec.compress(image, quality=2.5, model=codec, effort=1)
    assert licodec.decompress(data, model=codec, as_array=True).shape == image.shape


@pytest.mark.parametrize("name", ["bmshj2018-factorized", "mbt2018-mean", "mbt2018-context"])
def test_priors_without_fixture_files(name, image):
    from licodec.codec.model_codec import ModelCodec
    from licodec.models import create

    torch.manual_seed(0)
    codec = ModelCodec.from_model(create(name, N=8, M=8, lambdas=[0.01, 0.02]))
    data = licodec.compress(image, quality=1.5, model=codec, effort=1)
    assert licodec.decompress(data, model=codec, as_array=True).shape == image.shape


def test_cli_effort(tmp_path, image, capsys):
    from PIL import Image

    src = tmp_path / "a.png"
    Image.fromarray(image).save(src)
    assert main(["compress", str(src), "-q", "2", "--effort", "1", "--quiet"]) == 0
    assert (tmp_path / "a.lic").read_bytes() == licodec.compress(image, quality=2, effort=1)
    with pytest.raises(SystemExit) as e:
        main(["compress", str(src), "--effort", str(MAX_EFFORT + 1), "-f"])
    assert e.value.code == 2
    assert "--effort" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compress", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    assert f"encoder effort 0..{MAX_EFFORT}" in helptext and " ".join(EFFORT_HELP.split()) in helptext
    assert "'option_strings'" not in helptext  # a stray % in a help text makes argparse print its whole dict


def test_fixed_rate_models_use_their_cards_lambda(image):
    from licodec.codec.model_codec import ModelCodec
    from licodec.errors import CodecError
    from licodec.models import create

    torch.manual_seed(0)
    codec = ModelCodec.from_model(create("mbt2018-mean", N=8, M=8))
    with pytest.raises(CodecError, match="λ"):
        licodec.compress(image, model=codec, effort=1)
    codec.card["training"] = {"lmbda": 0.01, "metric": "mse"}
    data = licodec.compress(image, model=codec, effort=1)
    assert licodec.decompress(data, model=codec, as_array=True).shape == image.shape


def test_effort_refuses_images_too_large_for_a_search(monkeypatch):
    """A search holds g_s's activations for the gradient: above EFFORT_MAX_PIXELS it is one
    clear error before any work (effort 0 still codes the image)."""
    from licodec.codec import effort as effort_module
    from licodec.errors import CodecError

    monkeypatch.setattr(effort_module, "EFFORT_MAX_PIXELS", 32 * 32)
    img = np.zeros((20, 40, 3), np.uint8)  # padded 32 x 48
    with pytest.raises(CodecError, match="effort 0 only"):
        licodec.compress(img, quality=3, effort=1)
    assert licodec.compress(img, quality=3, effort=0)


@(pytest.mark.slow if not native_bf16() else lambda f: f)  # emulated bf16 (no AVX512-BF16/AMX): 75 s here
def test_search_on_the_bf16_path(image):
    """Under --precision bf16 the search runs g_s as the decoder does (bf16 autocast), and still
    lowers the real files' bpp + λ·255²·MSE; the file decodes to exactly g_s(y_hat)."""
    from licodec.codec.api import decode_latents, to_uint8
    from licodec.codec.precision import use_precision

    codec = resolve_model(None)
    lam = float(codec.model.lmbda(torch.tensor([2.0]))[0])
    costs = []
    with use_precision("bf16"):
        for effort in (0, 6):
            data = licodec.compress(image, quality=3, effort=effort)
            rec = licodec.decompress(data, as_array=True)
            y_hat = decode_latents(data)[0]
            assert np.array_equal(rec, to_uint8(codec.synthesize(y_hat, 3.0))[: image.shape[0], : image.shape[1]])
            mse = float(np.mean((rec.astype(np.float64) - image) ** 2)) / 255**2
            costs.append(8 * len(data) / image.shape[0] / image.shape[1] + lam * 255**2 * mse)
    assert costs[1] < costs[0], costs


def test_search_device_copy_is_cached_by_weights_and_gives_cpu_latents(image):
    """The device path (a model copy, moved latents, CPU-drawn noise) run on "cpu:0": the same
    latents as on the CPU itself, returned on the CPU; the copy is kept per (weights, device)."""
    from licodec.codec import latent_search

    codec = resolve_model(None)
    x, q, size = _pad(image), codec._q(3.0), image.shape[:2]
    with torch.no_grad():
        y0 = codec.model.g_a(x) * codec.model.gain.gains(q)[0]
    here = search_latents(codec.model, x, y0.clone(), q, 2, size=size)
    moved = search_latents(codec.model, x, y0.clone(), q, 2, size=size, device="cpu:0", weights_key=codec.weights_id)
    copy = latent_search._DEVICE_MODELS[(codec.weights_id, "cpu:0")]
    assert copy is not codec.model
    assert latent_search._on_device(codec.model, "cpu:0", codec.weights_id) is copy
    for a, b in zip(here, moved):
        assert b.device.type == "cpu" and b.dtype == torch.float32 and torch.equal(a, b)


def test_search_devices_are_checked_before_any_work(image, tmp_path, capsys):
    from PIL import Image

    from licodec.errors import CodecError

    with pytest.raises(CodecError, match="one of cpu, cuda"):
        licodec.compress(image, quality=3, effort=1, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(CodecError, match="no CUDA device"):
            licodec.compress(image, quality=3, effort=1, device="cuda")
        src = tmp_path / "a.png"
        Image.fromarray(image).save(src)
        assert main(["compress", str(src), "--effort", "1", "--device", "cuda"]) == 1
        assert "no CUDA device" in capsys.readouterr().err and not (tmp_path / "a.lic").exists()


def test_ms_ssim_guard_adds_the_hinge_to_the_loss():
    """The guard: w · relu(s0 − s) / (1 − s0) · L0 on top of R + λ·D, nothing while the decode's
    MS-SSIM s stays at or above g_a's s0 (images with sides > 160 px)."""
    from licodec.metrics import ms_ssim

    codec = resolve_model(None)
    img = (smooth_image(176, 192, seed=5)[0] * 255).round() / 255
    x, q = img[None], codec._q(4.0)
    with torch.no_grad():
        y0 = codec.model.g_a(x) * codec.model.gain.gains(q)[0]
        z0 = codec.model.prior.hyper.analysis(y0)
    obj = _Objective(codec.model, x, q, float(codec.model.lmbda(q)[0]), (176, 192))
    plain, _ = obj.hard(y0, z0, torch.round(y0))
    s0 = obj.hard_ms_ssim(y0, z0, torch.round(y0))
    y_bad = y0 + torch.randn(y0.shape, generator=torch.Generator().manual_seed(0)) * 2
    bad, _ = obj.hard(y_bad, z0, torch.round(y_bad))
    s_bad = obj.hard_ms_ssim(y_bad, z0, torch.round(y_bad))
    assert s_bad < s0
    obj.guard = (3.0, s0, plain)
    assert obj.hard(y0, z0, torch.round(y0))[0] == pytest.approx(plain, rel=1e-6)
    guarded, _ = obj.hard(y_bad, z0, torch.round(y_bad))
    assert guarded == pytest.approx(bad + 3.0 * (s0 - s_bad) / (1 - s0) * plain, rel=1e-4)
    obj.guard = (3.0, s_bad - 0.01, plain)  # a floor below the decode's MS-SSIM: no term
    assert obj.hard(y_bad, z0, torch.round(y_bad))[0] == pytest.approx(bad, rel=1e-6)
    assert float(ms_ssim(x, x)[0]) == pytest.approx(1.0)


def test_the_guard_watches_only_searches_long_enough_to_win_ms_ssim_back(monkeypatch):
    """Below GUARD_FROM_STEPS iterations no guard is set (the short search's result would be
    rejected for a small MS-SSIM loss that its bits more than pay for); from there on it is;
    an explicit weight applies at any length."""
    from licodec.codec import latent_search

    codec = resolve_model(None)
    x, q = smooth_image(176, 192, seed=5)[0][None], codec._q(4.0)
    with torch.no_grad():
        y0 = codec.model.g_a(x) * codec.model.gain.gains(q)[0]
    seen = []
    real = latent_search._Objective._hard

    def spy(self, y, z, y_ctx, ms):
        seen.append(self.guard)
        return real(self, y, z, y_ctx, ms)

    monkeypatch.setattr(latent_search._Objective, "_hard", spy)
    monkeypatch.setattr(latent_search, "GUARD_FROM_STEPS", 2)
    for steps, weight, guarded in ((1, None, False), (2, None, True), (1, 1.0, True), (2, 0.0, False)):
        seen.clear()
        latent_search.search_latents(codec.model, x, y0.clone(), q, steps, size=(176, 192), ms_ssim_guard=weight)
        assert (seen[-1] is not None) == guarded, (steps, weight)


@pytest.mark.parametrize("rounding", ["linear", "atanh"])
def test_sga_blends_floor_and_ceiling_and_anneals_to_rounding(rounding):
    """SGA's sample lies between floor and ceiling; its mean follows the distance to them (a
    value at a quarter past an integer leans to the floor); cold, it is the rounding."""
    from licodec.codec.latent_search import _sga

    v = torch.tensor([-1.75, -0.2, 0.25, 0.6, 2.9]).repeat(4000, 1)
    gen = torch.Generator().manual_seed(0)
    warm = _sga(v, 0.8, gen, rounding)
    assert bool(((warm >= torch.floor(v)) & (warm <= torch.ceil(v))).all())
    mean = warm.mean(0) - torch.floor(v[0])
    assert bool((mean[[0, 2]] < 0.5).all()) and bool((mean[[1, 3, 4]] > 0.5).all())
    assert 0.1 < float(mean[2]) < 0.45  # a blend, not the rounding
    assert torch.allclose(_sga(v, 0.02, gen, rounding), torch.round(v), atol=1e-3)
    with pytest.raises(ValueError):
        _sga(v, 0.5, gen, "cubic")


def test_search_passes_its_rounding_and_betas(image, monkeypatch):
    """The rounding probabilities, Adam's betas and the context gradient reach the search (the
    levels' by default)."""
    from licodec.codec import latent_search

    codec = resolve_model(None)
    x, q, size = _pad(image), codec._q(3.0), image.shape[:2]
    with torch.no_grad():
        y0 = codec.model.g_a(x) * codec.model.gain.gains(q)[0]
    roundings, betas = [], []
    real = latent_search._sga
    monkeypatch.setattr(latent_search, "_sga", lambda v, tau, gen, rounding: roundings.append(rounding) or real(v, tau, gen, rounding))

    class Spy(torch.optim.Adam):
        def __init__(self, params, **kw):
            betas.append(kw["betas"])
            super().__init__(params, **kw)

    monkeypatch.setattr(torch.optim, "Adam", Spy)
    context = []
    real_init = _Objective.__init__
    monkeypatch.setattr(_Objective, "__init__", lambda self, *a, **kw: real_init(self, *a, **kw) or context.append(self.context_grad))
    search_latents(codec.model, x, y0.clone(), q, 2, size=size, rounding="atanh", betas=(0.5, 0.99), context_grad=False)
    assert set(roundings) == {"atanh"} and betas == [(0.5, 0.99)] and context == [False]
    roundings.clear(), betas.clear(), context.clear()
    search_latents(codec.model, x, y0.clone(), q, 2, size=size)
    assert set(roundings) == {latent_search.ROUNDING} and betas == [latent_search.BETAS] and context == [latent_search.CONTEXT_GRADIENT]
    with pytest.raises(ValueError):
        search_latents(codec.model, x, y0.clone(), q, 1, size=size, rounding="cubic")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_entropy_networks_run_in_bf16_only_in_the_soft_iterations(image, precision):
    """On the bf16 path the soft iterations run h_s, g_ep and all of g_s but its last layer in
    bf16; the hard evaluations, which choose what is coded, run the entropy networks in float32
    and g_s as the decoder does (its first layer in float32); the last layer is always float32
    (on the float32 path everything is)."""
    from licodec.codec.precision import use_precision

    codec = resolve_model(None)
    x, q, size = _pad(image), codec._q(3.0), image.shape[:2]
    with torch.no_grad():
        y0 = codec.model.g_a(x) * codec.model.gain.gains(q)[0]
    prior = codec.model.prior
    g_s = codec.model.g_s
    dtypes: dict[str, list] = {"h_s": [], "g_ep": [], "g_s first": [], "g_s last": []}
    hooks = [prior.hyper.h_s.register_forward_hook(lambda m, i, o: dtypes["h_s"].append(o.dtype)),
             prior.entropy_parameters.register_forward_hook(lambda m, i, o: dtypes["g_ep"].append(o.dtype)),
             g_s[0].register_forward_hook(lambda m, i, o: dtypes["g_s first"].append(o.dtype)),
             g_s[len(g_s) - 1].register_forward_hook(lambda m, i, o: dtypes["g_s last"].append(o.dtype))]
    try:
        with use_precision(precision):
            search_latents(codec.model, x, y0.clone(), q, 3, size=size)
    finally:
        for h in hooks:
            h.remove()
    assert dtypes.pop("g_s last") == [torch.float32] * 5  # 3 soft iterations, 2 hard evaluations
    for seen in dtypes.values():  # one call per soft iteration, float32 in the hard ones
        assert torch.float32 in seen and seen.count(torch.bfloat16) == (3 if precision == "bf16" else 0), seen


def test_rate_gradient_reaches_y_through_the_context(image):
    """With the context gradient on, the soft loss is the same number but each value's gradient
    also carries its neighbours' rates through the masked context model: the gradients differ,
    except at the last position, which is in no other position's context."""
    codec = resolve_model(None)
    x, q, size = _pad(image), codec._q(3.0), image.shape[:2]
    with torch.no_grad():
        y0 = codec.model.g_a(x) * codec.model.gain.gains(q)[0]
        z0 = codec.model.prior.hyper.analysis(y0)
    losses, grads = [], []
    for on in (False, True):
        obj = _Objective(codec.model, x, q, float(codec.model.lmbda(q)[0]), size, context_grad=on)
        y = y0.clone().requires_grad_(True)
        with torch.enable_grad():
            loss = obj(y, z0, torch.round(y0), 0.5, torch.Generator().manual_seed(0))[0]
            loss.backward()
        losses.append(float(loss.detach()))
        grads.append(y.grad)
    assert losses[0] == losses[1]
    diff = (grads[1] - grads[0]).abs()
    assert float(diff.amax()) > 1e-3 * float(grads[0].abs().amax())
    assert float(diff[..., -1, -1].amax()) == 0.0
