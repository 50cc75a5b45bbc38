"""benchmarks/heldout.py: real files of held-out photos, each model's BD-rate against the first."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from tests.scripts import load_script

BPP = [0.2, 0.4, 0.8, 1.6]


@pytest.fixture(scope="module")
def heldout():
    return load_script("benchmarks/heldout.py")


def _photos(folder, n: int = 8):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray((rng.random((80, 96, 3)) * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def test_measure_is_the_files_bits_and_the_decoded_psnr(heldout):
    import licodec
    from licodec.models.registry import create

    torch.manual_seed(0)
    model = create("mbt2018", N=16, M=16, lambdas=[0.01, 0.05]).eval()
    rng = np.random.default_rng(1)
    imgs = [(rng.random((32, 48, 3)) * 255).astype(np.uint8) for _ in range(2)]
    bpp, psnr = heldout.measure(model, imgs, [1.0, 2.0])
    for q, b, p in zip((1.0, 2.0), bpp, psnr):
        files = [licodec.compress(im, quality=q, model=model) for im in imgs]
        assert b == 8 * sum(map(len, files)) / (2 * 32 * 48)
        recs = [licodec.decompress(f, model=model, as_array=True).astype(float) for f in files]
        assert p == pytest.approx(np.mean([10 * np.log10(255**2 / np.mean((r - im) ** 2)) for r, im in zip(recs, imgs)]))


def test_each_model_after_the_first_gets_its_bd_rate_against_it(heldout, tmp_path, capsys, monkeypatch):
    """Three models whose curves are 6 dB a doubling, the third 0.3 dB above: BD-PSNR +0.3 dB, BD-rate -(1 - 2^-0.05)."""
    import licodec.codec.api as api

    monkeypatch.setattr(api, "resolve_model", lambda spec: SimpleNamespace(name=spec))
    shift = {"a": 0.0, "same": 0.0, "better": 0.3, "b": 0.3}
    monkeypatch.setattr(heldout, "measure", lambda codec, imgs, quals: (BPP[: len(quals)], [25.0 + 6 * i + shift[codec.name] for i in range(len(quals))]))
    argv = ["--data", str(_photos(tmp_path / "photos")), "--holdout", "4", "--images", "0:2", "--crop", "64x64"]
    assert heldout.main(argv + ["--qualities", "1,2,3,4", "a", "same", "better"]) == 0
    out = capsys.readouterr().out
    assert "note: the files name their models 'a', 'same', 'better'" in out  # headers of different sizes
    rows = [r for r in out.splitlines() if r.startswith("| ")]
    assert rows[0].endswith("| BD-rate vs the first | BD-PSNR |")
    first, same, better = (r.split(" | ") for r in rows[1:])
    assert first[-2:] == ["", " |"] and same[-2:] == ["+0.00%", "+0.000 dB |"]
    assert better[-2:] == [f"{100 * (2 ** -0.05 - 1):+.2f}%", "+0.300 dB |"]
    assert better[1:3] == ["0.2000", "25.30"]
    assert heldout.main(argv + ["--qualities", "1,4", "a", "b"]) == 0  # too few points for a BD-rate: no column
    out = capsys.readouterr().out
    assert "note:" not in out  # names of one length
    rows = [r for r in out.splitlines() if r.startswith("| ")]
    assert "BD" not in rows[0] and len(rows[2].split(" | ")) == 1 + 4
