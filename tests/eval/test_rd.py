import json

import numpy as np
import pytest

from licodec.codec.image import load_rgb
from licodec.eval import rd
from licodec.eval.results import load_curves

from . import fakecodec


def test_evaluate_with_an_injected_codec(image_dir, tmp_path):
    images = sorted(image_dir.iterdir())
    doc = rd.evaluate(images, [1, 4, 16], model="fake.safetensors", compress=fakecodec.compress,
                      decompress=fakecodec.decompress, progress=False, dataset="synthetic")
    res = doc["results"]
    assert res["quality"] == [1, 4, 16] and res["n_images"] == [2, 2, 2]
    assert set(doc["per_image"]) == {"img0.png", "img1.png"}
    # means of the per-image values
    for key, src in (("bpp", "bpp"), ("psnr-rgb", "psnr"), ("ms-ssim-rgb", "ms_ssim"), ("encoding_time", "encoding_time")):
        per = [[p[src] for p in doc["per_image"][n]] for n in ("img0.png", "img1.png")]
        np.testing.assert_allclose(res[key], np.mean(per, axis=0))
    # bpp is the whole coded file
    first = doc["per_image"]["img0.png"][0]
    data = fakecodec.compress(load_rgb(images[0]), quality=1)
    assert first["bytes"] == len(data) and first["bpp"] == pytest.approx(8 * len(data) / (192 * 256))
    assert res["bpp"] == sorted(res["bpp"]) and res["psnr-rgb"] == sorted(res["psnr-rgb"])
    assert res["ms-ssim-rgb-db"][1] == pytest.approx(-10 * np.log10(1 - res["ms-ssim-rgb"][1]))
    assert doc["name"] == "fake"

    path = rd.write_json(doc, tmp_path / "out" / "fake.json")
    again = json.loads(path.read_text())
    assert again["results"] == json.loads(json.dumps(res))
    c = load_curves(path)["fake"]
    assert c["psnr"] == res["psnr-rgb"] and c["ms_ssim"] == res["ms-ssim-rgb"] and c["kind"] == "learned"


def test_warmup_is_not_timed_and_counts_one_extra_call(image_dir):
    fakecodec.CALLS.update(compress=0, decompress=0)
    rd.evaluate(sorted(image_dir.iterdir())[:1], [2], compress=fakecodec.compress, decompress=fakecodec.decompress, progress=False)
    assert fakecodec.CALLS == {"compress": 2, "decompress": 2}


def test_bad_decoder_output_is_an_error(image_dir):
    with pytest.raises(RuntimeError, match="expected"):
        rd.evaluate(sorted(image_dir.iterdir()), [1], compress=fakecodec.compress,
                    decompress=lambda d: np.zeros((8, 8, 3), np.uint8), progress=False, warmup=False)
    with pytest.raises(ValueError):
        rd.evaluate([], [1], compress=fakecodec.compress, decompress=fakecodec.decompress)


def test_aggregate_with_missing_points():
    per = {"a": [{"quality": 1, "bpp": 1.0, "psnr": 30.0, "ms_ssim": 0.9, "encoding_time": 1.0, "decoding_time": 2.0}],
           "b": []}
    res = rd.aggregate(per, [1, 2])
    assert res["quality"] == [1] and res["n_images"] == [1] and res["ms-ssim-rgb-db"] == [pytest.approx(10.0)]


def test_with_licodecs_own_codec_api(image_dir):
    """End to end through licodec.codec.api with a tiny untrained variable-rate model."""
    pytest.importorskip("licodec.codec.api")
    from licodec.models import registry

    model = registry.create("mbt2018", N=16, M=16, lambdas=[0.01, 0.05]).eval()
    quals = rd.default_qualities(model)
    assert quals == [1, 2]
    doc = rd.evaluate(sorted(image_dir.iterdir())[:1], quals, model, name="tiny", progress=False)
    p = doc["per_image"]["img0.png"][0]
    assert p["bytes"] > 0 and p["bpp"] == pytest.approx(8 * p["bytes"] / (192 * 256))
    assert doc["results"]["quality"] == [1, 2]
    from licodec.models.io import weights_hash

    assert doc["weights_sha256"] == weights_hash(model)
    from licodec.codec.precision import describe, use_precision

    assert doc["precision"] == describe()  # the transforms' arithmetic is recorded
    with use_precision("bf16"):
        assert rd.evaluate(sorted(image_dir.iterdir())[:1], [1], model, progress=False)["precision"] == "bf16"


def test_the_default_model_is_named_in_the_results(image_dir, monkeypatch):
    """No model given: the default model codes, and the results name it (not an object's repr)."""
    from pathlib import Path

    fixtures = Path(__file__).resolve().parents[1] / "codec" / "fixtures" / "7a752fd"
    monkeypatch.setenv("LICODEC_MODEL_PATH", str(fixtures))
    monkeypatch.setenv("LICODEC_DEFAULT_MODEL", "mbt2018-tiny")
    doc = rd.evaluate(sorted(image_dir.iterdir())[:1], [1], None, progress=False)
    assert doc["model"] == doc["name"] == "mbt2018-tiny"
    assert doc["description"].startswith("licodec mbt2018-tiny: ") and len(doc["weights_sha256"]) == 64


def test_effort_codes_through_the_encoder_search(image_dir, monkeypatch):
    """effort > 0: every file is coded by ``licodec.compress(..., effort=E)``, and the
    document says so; out-of-range efforts and foreign compress functions are refused."""
    pytest.importorskip("licodec.codec.api")
    from licodec.codec import api
    from licodec.models import registry

    calls = []
    real = api.compress

    def spy(*args, **kwargs):
        calls.append(kwargs.get("effort", 0))
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "compress", spy)
    model = registry.create("mbt2018", N=16, M=16, lambdas=[0.01, 0.05]).eval()
    image = sorted(image_dir.iterdir())[0]
    doc = rd.evaluate([image], [1, 2], model, name="tiny", progress=False, warmup=False, effort=1)
    assert calls == [1, 1]
    assert doc["effort"] == 1 and doc["device"] == "cpu" and "at effort 1" in doc["description"]
    assert doc["per_image"][image.name][1]["bytes"] == len(real(load_rgb(image), quality=2, model=model, effort=1))
    calls.clear()
    assert "effort" not in rd.evaluate([image], [2], model, progress=False, warmup=False) and calls == [0]
    with pytest.raises(ValueError, match="effort"):
        rd.evaluate([image], [2], model, progress=False, effort=9)
    with pytest.raises(ValueError, match="licodec's own encoder"):
        rd.evaluate([image], [2], compress=fakecodec.compress, decompress=fakecodec.decompress, progress=False, effort=1)
