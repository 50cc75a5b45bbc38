import json

import numpy as np
import pytest

from licodec.codec.image import load_rgb
from licodec.eval import classical as C
from licodec.eval import classical_codecs as CC
from licodec.eval.results import load_curves

from .conftest import synth_rgb


def _needs(name):
    why = CC.get_codec(name).available()
    if why:
        pytest.skip(f"{name}: {why}")


@pytest.mark.parametrize("name,knobs", [
    ("jpeg420", (10, 50, 90)),
    ("jpeg444", (10, 50, 90)),
    ("webp", (10, 50, 90)),
    ("jpeg2000", (0.25, 1.0, 3.0)),
])
def test_pillow_codecs_round_trip_and_rate_order(name, knobs):
    _needs(name)
    rgb = synth_rgb()
    pts = [CC.measure_image(name, rgb, k) for k in knobs]
    for p in pts:
        assert p["bytes"] > 0 and p["bpp"] == pytest.approx(8 * p["bytes"] / rgb[..., 0].size)
        assert 15 < p["psnr"] < 60 and 0.5 < p["ms_ssim"] <= 1
    bpps = [p["bpp"] for p in pts]
    psnrs = [p["psnr"] for p in pts]
    assert bpps == sorted(bpps) and psnrs == sorted(psnrs)


def test_jpeg2000_hits_its_rate_target():
    _needs("jpeg2000")
    p = CC.measure_image("jpeg2000", synth_rgb(), 0.5)
    assert 0.4 < p["bpp"] <= 0.5


@pytest.mark.parametrize("name,module,knobs", [
    ("hevc444", "pillow_heif", (10, 50)),
    ("jpegxl", "imagecodecs", (7.0, 1.5)),
    ("avif444", "PIL", (20, 70)),
])
def test_optional_codecs(name, module, knobs):
    pytest.importorskip(module)
    _needs(name)
    rgb = synth_rgb()
    lo, hi = (CC.measure_image(name, rgb, k) for k in knobs)
    assert 0 < lo["bpp"] < hi["bpp"] and lo["psnr"] < hi["psnr"]


def test_unknown_codec():
    with pytest.raises(ValueError, match="unknown classical codec"):
        CC.get_codec("gif")


def test_sweep_cache_aggregate_and_write(image_dir, tmp_path):
    images = sorted(image_dir.iterdir())
    cache = tmp_path / "cache"
    knobs = {"jpeg420": (20, 60), "webp": (30, 80)}
    out = C.sweep(images, ["jpeg420", "webp"], cache_dir=cache, workers=1, knobs=knobs, progress=False, log=None)
    assert set(out) == {"jpeg420", "webp"}
    assert [r["computed"] for r in out["jpeg420"]] == [2, 2]
    # a re-run computes nothing; a new knob computes only itself
    again = C.sweep(images, ["jpeg420"], cache_dir=cache, workers=1, knobs=knobs, progress=False, log=None)
    assert [r["computed"] for r in again["jpeg420"]] == [0, 0]
    assert again["jpeg420"][0]["points"] == out["jpeg420"][0]["points"]
    more = C.sweep(images, ["jpeg420"], cache_dir=cache, workers=1, knobs={"jpeg420": (20, 40, 60)}, progress=False, log=None)
    assert [r["computed"] for r in more["jpeg420"]] == [1, 1]

    curve = C.aggregate(more["jpeg420"])
    assert curve["knob"] == [20, 40, 60]
    per = [[p["bpp"] for p in r["points"]] for r in more["jpeg420"]]
    np.testing.assert_allclose(curve["bpp"], np.mean(per, axis=0))
    assert set(curve) >= {"bpp", "psnr-rgb", "ms-ssim-rgb", "ms-ssim-rgb-db", "encoding_time", "decoding_time"}
    assert curve["ms-ssim-rgb-db"][0] == pytest.approx(-10 * np.log10(1 - curve["ms-ssim-rgb"][0]))

    paths = C.write_results({"jpeg420": more["jpeg420"], "webp": out["webp"]}, tmp_path / "res", dataset="synthetic")
    doc = json.loads(paths["jpeg420"].read_text())
    assert doc["name"] == "jpeg420" and doc["results"]["bpp"] == curve["bpp"] and set(doc["per_image"]) == {"img0.png", "img1.png"}
    curves = load_curves(tmp_path / "res" / "classical.json")
    assert set(curves) == {"jpeg420", "webp"} and curves["webp"]["label"] == "WebP"
    assert curves["jpeg420"]["psnr"] == curve["psnr-rgb"]
    assert load_curves(paths["webp"])["webp"]["bpp"] == curves["webp"]["bpp"]


def test_sweep_in_a_process_pool(image_dir, tmp_path):
    images = sorted(image_dir.iterdir())
    out = C.sweep(images, ["jpeg444"], cache_dir=tmp_path / "c", workers=2, knobs={"jpeg444": (30,)}, progress=False, log=None)
    assert [r["image"] for r in out["jpeg444"]] == ["img0.png", "img1.png"]
    ref = CC.measure_image("jpeg444", load_rgb(images[1]), 30)
    assert out["jpeg444"][1]["points"][0]["bytes"] == ref["bytes"]


def test_unavailable_codec_is_skipped(image_dir, monkeypatch):
    notes = []
    monkeypatch.setattr(CC, "_bpg_check", lambda: "bpgenc not on PATH")
    codec = CC.CODECS["bpg444"]
    monkeypatch.setitem(CC.CODECS, "bpg444", CC.ClassicalCodec(**{**codec.__dict__, "check": lambda: "not installed"}))
    out = C.sweep(sorted(image_dir.iterdir()), ["bpg444"], cache_dir=None, workers=1, progress=False, log=notes.append)
    assert out == {} and "skipping bpg444" in notes[0]


def test_closest_knob():
    pts = [{"knob": 10, "bpp": 0.1}, {"knob": 20, "bpp": 0.2}, {"knob": 40, "bpp": 0.4}]
    assert C.closest_knob("x", pts, 0.25) == 20
    assert C.closest_knob("x", pts, 0.33) == 40
