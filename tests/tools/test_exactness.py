"""tools/exactness.py: files prepared here check out here; a changed latent is caught."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from tests.scripts import load_script


def test_prepare_then_check_passes_and_catches_a_difference(tmp_path, capsys):
    tool = load_script("tools/exactness.py")
    rng = np.random.default_rng(0)
    img = (np.clip(np.cumsum(rng.normal(0, 8, (48, 80, 3)), axis=1) + 128, 0, 255)).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "x.png")
    out = tmp_path / "ex"
    assert tool.main(["prepare", str(tmp_path / "x.png"), "--out", str(out), "--quality", "4"]) == 0
    assert tool.main(["check", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| x-q4.lic |" in text and "| yes | yes | yes | 0.000 % | 0 | identical |" in text

    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"][0]["latents_sha256"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert tool.main(["check", str(out)]) == 1
    assert "1 differences in latents or bytes" in capsys.readouterr().out


def test_check_of_files_from_other_weights_is_one_line(tmp_path, capsys, monkeypatch):
    tool = load_script("tools/exactness.py")
    Image.fromarray(np.full((32, 48, 3), 90, np.uint8)).save(tmp_path / "x.png")
    out = tmp_path / "ex"
    assert tool.main(["prepare", str(tmp_path / "x.png"), "--out", str(out), "--quality", "4"]) == 0
    capsys.readouterr()
    import licodec.codec.api as api
    from licodec.errors import CodecError

    def other_weights(data, model=None):
        raise CodecError("file was encoded with other weights of model mbt2018-vr192")

    monkeypatch.setattr(api, "decode_latents", other_weights)
    assert tool.main(["check", str(out)]) == 2
    assert "x-q4.lic: file was encoded with other weights" in capsys.readouterr().out
