import json

import numpy as np
import pytest

from licodec.eval.results import curve_kind, load_curves, normalize, select

from .conftest import synth_rgb


def test_layouts(tmp_path):
    compressai = {"name": "mbt2018", "description": "x", "results": {"bpp": [0.1, 0.2], "psnr": [28, 30], "ms-ssim": [0.9, 0.95]}}
    (tmp_path / "a.json").write_text(json.dumps(compressai))
    multi = {"_about": "text", "paper_x": {"bpp": [0.1, 0.2], "psnr": [29, 31], "source": "s"},
             "measured_webp": {"bpp": [0.1, 0.3], "psnr": [25, 28], "ms_ssim": [0.8, 0.9]}}
    (tmp_path / "b.json").write_text(json.dumps(multi))
    a = load_curves(tmp_path / "a.json")["mbt2018"]
    assert a["psnr"] == [28, 30] and a["ms_ssim_db"] == [pytest.approx(10.0), pytest.approx(13.0103, abs=1e-4)]
    b = load_curves(tmp_path / "b.json")
    assert set(b) == {"paper_x", "measured_webp"} and b["paper_x"]["ms_ssim"] == [] and b["paper_x"]["source"] == "s"
    assert b["measured_webp"]["kind"] == "reference" and b["paper_x"]["kind"] == "published"
    assert set(select(b, ["measured_*"])) == {"measured_webp"}
    assert curve_kind("jpeg420") == "classical"
    with pytest.raises(ValueError):
        normalize("x", {"bpp": [1, 2], "psnr": [1]})
    (tmp_path / "c.json").write_text("[1]")
    with pytest.raises(ValueError):
        load_curves(tmp_path / "c.json")
    with pytest.raises(FileNotFoundError):
        load_curves(tmp_path / "none.json")


def test_plot_rd(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    from licodec.eval.plot import plot_rd

    curves = {"ours": normalize("ours", {"bpp": [0.2, 0.5, 1.0], "psnr": [29, 32, 35], "ms-ssim": [0.93, 0.97, 0.985]}),
              "measured_jpeg420": normalize("measured_jpeg420", {"bpp": [0.3, 0.9, 3.0], "psnr": [27, 31, 40]})}
    p = plot_rd(curves, tmp_path / "psnr.png", "psnr")
    m = plot_rd(curves, tmp_path / "ms.png", "ms_ssim_db")
    for f in (p, m):
        with Image.open(f) as im:
            assert im.size[0] > 500
    with pytest.raises(ValueError):
        plot_rd({"x": normalize("x", {"bpp": [1], "psnr": [1]})}, tmp_path / "n.png", "ms_ssim_db")


def test_visual_sheet_and_entries(tmp_path, image_dir):
    from PIL import Image

    from licodec.eval.plot import detail_crop, sheet_entries, visual_sheet

    from . import fakecodec

    rgb = synth_rgb()
    x, y, w, h = detail_crop(rgb, size=64, step=16)
    assert 0 <= x <= 256 - 64 and 0 <= y <= 192 - 64 and w == h == 64
    img = sorted(image_dir.iterdir())[0]
    orig, entries = sheet_entries(img, 1.0, ["jpeg420", "webp"], compress=fakecodec.compress,
                                  decompress=fakecodec.decompress, qualities=[1, 2, 4, 8], model_label="fake")
    assert [e[0].split(" ")[0] for e in entries] == ["fake", "JPEG", "WebP"]
    # classical codecs land near licodec's actual bpp
    b0 = entries[0][2]
    assert all(abs(np.log(e[2] / b0)) < 0.7 for e in entries[1:])
    out = visual_sheet(orig, entries, tmp_path / "sheet.png", crop=(0, 0, 64, 64), zoom=2, title="t")
    with Image.open(out) as im:
        assert im.size[0] >= 4 * 128
