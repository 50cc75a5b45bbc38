"""CompressAI's checkpoints as licodec models (licodec/models/compressai.py).

The fixtures were written by CompressAI 1.2.8 itself (tools/compressai_fixtures.py): a tiny
checkpoint of each of its four GDN image models and what CompressAI computes from it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from licodec.errors import FormatError
from licodec.models.compressai import architecture_of, from_compressai, read_checkpoint, zoo_file_facts

FIXTURES = Path(__file__).parent / "fixtures" / "compressai"
NAMES = ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018"]


def _imported(name: str):
    return from_compressai(read_checkpoint(FIXTURES / f"{name}-N4-M6.pth.tar"))


@pytest.mark.parametrize("name", NAMES)
def test_import_computes_what_compressai_computes(name):
    """The imported model's transforms, z density, Gaussian parameters and likelihoods equal
    CompressAI's on the fixture image (eval mode: y rounded; CompressAI's y likelihoods are
    of round(y - mu) + mu)."""
    ref = load_file(str(FIXTURES / f"{name}-N4-M6.ref.safetensors"))
    model = _imported(name)
    assert model.name == name and (model.N, model.M) == (4, 6)
    x = ref["x"].float() / 255
    prior = model.prior
    with torch.no_grad():
        y = model.g_a(x)
        y_round = torch.round(y)
        torch.testing.assert_close(model.g_s(y_round), ref["x_hat"].float(), atol=2e-3, rtol=2e-3)  # stored as float16
        if name == "bmshj2018-factorized":
            m = prior.density.medians().reshape(1, -1, 1, 1)
            torch.testing.assert_close(prior.density.likelihood(m + torch.round(y - m)), ref["y_likelihoods"], atol=1e-6, rtol=1e-4)
            return
        hyper = prior.hyper
        z = hyper.analysis(y)
        m = hyper.z_density.medians().reshape(1, -1, 1, 1)
        z_hat = m + torch.round(z - m)
        torch.testing.assert_close(hyper.z_density.likelihood(z_hat), ref["z_likelihoods"], atol=1e-6, rtol=1e-4)
        psi = hyper.synthesis(z_hat, y.shape[-2:])
        params = prior.params(psi, y_round)
        scales, means = prior.conditional.split(params)
        torch.testing.assert_close(scales, torch.clamp(ref["scales"], min=prior.conditional.scale_bound), atol=1e-5, rtol=1e-4)
        if means is not None:
            torch.testing.assert_close(means, ref["means"], atol=1e-5, rtol=1e-4)
        y_hat = y_round if means is None else means + torch.round(y - means)
        torch.testing.assert_close(prior.conditional.likelihood(y_hat, params), ref["y_likelihoods"], atol=1e-6, rtol=1e-4)


def test_checkpoint_forms():
    """A zoo file (the state dict), old entropy-bottleneck names (_matrices.i) and a training
    checkpoint of a DataParallel model ({"state_dict": {"module.…"}}) all read."""
    old = torch.load(FIXTURES / "mbt2018-mean-N4-M6.pth.tar", weights_only=True)
    assert any(k.startswith("entropy_bottleneck._matrices.") for k in old)
    wrapped = torch.load(FIXTURES / "mbt2018-N4-M6.pth.tar", weights_only=True)
    assert "state_dict" in wrapped and all(k.startswith("module.") for k in wrapped["state_dict"])
    state = read_checkpoint(FIXTURES / "mbt2018-N4-M6.pth.tar")
    assert architecture_of(state) == ("mbt2018", 4, 6)
    # the third old form, _matrix{i} (what CompressAI's zoo loader renames them to)
    renamed = {k.replace("_matrices.", "_matrix").replace("_biases.", "_bias").replace("_factors.", "_factor"): v for k, v in old.items()}
    a, b = from_compressai(old), from_compressai(renamed)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_imported_model_codes_real_files(tmp_path):
    """The import writes a model file with coding tables; it codes and decodes like any."""
    import licodec
    from licodec.codec.api import resolve_model
    from licodec.train.export import write_model_file

    model = _imported("mbt2018")
    path = write_model_file(model, tmp_path / "imported.safetensors", {"architecture": model.config, "training": {"metric": "mse", "lmbda": 0.0483}})
    img = (np.random.default_rng(0).random((64, 80, 3)) * 255).astype(np.uint8)
    data = licodec.compress(img, model=str(path))
    back = licodec.decompress(data, model=str(path), as_array=True)
    assert back.shape == img.shape
    codec = resolve_model(str(path))
    assert codec.quality_range is None  # fixed rate, as CompressAI's models


def test_bad_checkpoints(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        read_checkpoint(tmp_path / "missing.pth.tar")
    bad = tmp_path / "bad.pth.tar"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FormatError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(bad)
    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(FormatError, match="GDN image models"):
        from_compressai(read_checkpoint(other))
    torch.save({"g_a.0.weight": torch.zeros(8, 3, 5, 5), "g_a.6.weight": torch.zeros(10**5, 1, 1, 1), "g_a.1.beta": torch.zeros(1)}, other)
    with pytest.raises(FormatError, match="M=100000: outside"):
        from_compressai(read_checkpoint(other))
    torch.save({"g_a.0.weight": torch.zeros(8, 3, 3, 3), "g_a.6.weight": torch.zeros(1, 8, 5, 5), "g_a.1.beta": torch.zeros(1)}, other)
    with pytest.raises(FormatError, match="5x5 RGB layer"):
        from_compressai(read_checkpoint(other))
    torch.save([1, 2, 3], other)
    with pytest.raises(FormatError, match="not a model state dict"):
        read_checkpoint(other)
    state = read_checkpoint(FIXTURES / "mbt2018-N4-M6.pth.tar")
    del state["h_s.2.bias"]
    with pytest.raises(FormatError, match="missing: prior.hyper.h_s.2.bias"):
        from_compressai(state)
    state = read_checkpoint(FIXTURES / "mbt2018-N4-M6.pth.tar")
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(FormatError, match="not in a licodec mbt2018: extra.weight"):
        from_compressai(state)


def test_zoo_file_names():
    assert zoo_file_facts("mbt2018-6-7052e5ea.pth.tar") == {"architecture": "mbt2018", "metric": "mse", "quality": 6, "lmbda": 0.0483}
    assert zoo_file_facts("/x/bmshj2018-factorized-prior-1-446d5c7f.pth.tar")["architecture"] == "bmshj2018-factorized"
    assert zoo_file_facts("mbt2018-mean-ms-ssim-8-0cc7b94f.pth.tar") == {"architecture": "mbt2018-mean", "metric": "ms-ssim", "quality": 8, "lmbda": 220.0}
    assert zoo_file_facts("checkpoint_best_loss.pth.tar") is None
