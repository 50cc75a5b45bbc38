"""``import licodec.pillow``: Image.open decodes .lic files, save encodes them, metadata passes through ``info``."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageCms

import licodec
import licodec.pillow  # noqa: F401  (registers the format)


def _photo(h: int = 40, w: int = 56) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(np.clip(np.cumsum(rng.normal(0, 6, (h, w, 3)), axis=1) + 128, 0, 255).astype(np.uint8))


def test_open_and_save_through_pillow(tmp_path):
    im = _photo()
    im.info["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "a.lic"
    im.save(path, quality=3)  # by the extension
    assert path.read_bytes()[:4] == b"\x89LIC"
    with Image.open(path) as opened:
        assert opened.format == "LIC" and opened.size == (56, 40) and opened.mode == "RGB"
        assert opened.info["icc_profile"] == im.info["icc_profile"] and opened.info["licodec"]["quality"] == 3
        opened.load()
        pixels = np.asarray(opened)
    np.testing.assert_array_equal(pixels, licodec.decompress(path.read_bytes(), as_array=True))
    # and back through save: a .lic of the decoded image, to a file object with format=
    with open(tmp_path / "b.lic", "wb") as fh:
        Image.fromarray(pixels).save(fh, format="LIC", quality=1, metadata="none")
    assert Image.open(tmp_path / "b.lic").info.get("icc_profile") is None


def test_a_foreign_file_is_not_taken_for_a_lic(tmp_path):
    _photo().save(tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").format == "PNG"
    assert Image.registered_extensions()[".lic"] == "LIC"
