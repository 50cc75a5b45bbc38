import io
from pathlib import Path

import numpy as np
import pytest

from licodec import datasets

from .conftest import synth_rgb


def _png_bytes(rgb):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_local_folder(tmp_path):
    from PIL import Image

    for n in datasets.KODAK_NAMES:
        Image.fromarray(synth_rgb(64, 96, seed=1)).save(tmp_path / n)
    paths = datasets.kodak_paths(tmp_path, download=False)
    assert [p.name for p in paths] == list(datasets.KODAK_NAMES)
    imgs = datasets.kodak(tmp_path, download=False)
    assert len(imgs) == 24 and imgs[0][1].shape == (64, 96, 3) and imgs[0][1].dtype == np.uint8
    with pytest.raises(ValueError, match="checksum"):
        datasets.kodak_paths(tmp_path, download=False, verify=True)


def test_missing_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="24 Kodak images missing"):
        datasets.kodak_paths(tmp_path, download=False)


def test_download_fills_missing_and_checks_pixels(tmp_path, monkeypatch):
    served = {n: synth_rgb(32, 48, seed=i) for i, n in enumerate(datasets.KODAK_NAMES)}
    monkeypatch.setattr(datasets, "KODAK_PIXEL_SHA256", {n: datasets.pixel_sha256(a) for n, a in served.items()})
    fetched = []

    def fake_fetch(name, timeout):
        fetched.append(name)
        return f"https://example.invalid/{name}", _png_bytes(served[name])

    monkeypatch.setattr(datasets, "_fetch", fake_fetch)
    root = tmp_path / "kodak"
    root.mkdir()
    (root / "kodim01.png").write_bytes(_png_bytes(served["kodim01.png"]))
    paths = datasets.kodak_paths(root, verify=True)
    assert len(paths) == 24 and len(fetched) == 23 and "kodim01.png" not in fetched
    assert not list(root.glob("*.part"))


def test_download_rejects_wrong_pixels_and_reports_network_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_fetch", lambda name, timeout: ("u", _png_bytes(synth_rgb(8, 8))))
    with pytest.raises(FileNotFoundError, match="could not be downloaded.*checksum"):
        datasets.kodak_paths(tmp_path / "k")
    assert not list((tmp_path / "k").iterdir())

    def offline(name, timeout):
        raise OSError("network unreachable")

    monkeypatch.setattr(datasets, "_fetch", offline)
    with pytest.raises(FileNotFoundError, match="network unreachable"):
        datasets.kodak_paths(tmp_path / "k2")


def test_image_folder(tmp_path, image_dir):
    assert [p.name for p in datasets.image_folder(image_dir)] == ["img0.png", "img1.png"]
    with pytest.raises(FileNotFoundError):
        datasets.image_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        datasets.image_folder(tmp_path / "empty")


def test_real_kodak_if_present():
    root = Path(__file__).resolve().parents[3] / "shared/datasets/kodak"
    if not (root / "kodim24.png").is_file():
        pytest.skip("shared Kodak folder not beside the checkout")
    assert len(datasets.kodak_paths(root, download=False, verify=True)) == 24
