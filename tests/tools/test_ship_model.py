"""tools/ship_model.py: float16 copies and installing a model with its evaluated results."""
import json

import numpy as np
import pytest
import torch

from tests.scripts import load_script

@pytest.fixture(scope="module")
def ship():
    return load_script("tools/ship_model.py")


@pytest.fixture
def exported(tmp_path):
    from licodec.codec.coding_state import build_coding_state
    from licodec.models import registry
    from licodec.models.io import save_model

    model = registry.create("mbt2018", N=16, M=16, lambdas=[0.01, 0.05]).eval()
    card = {"training": {"steps": 7, "pixels_seen": 700, "sessions": [{"start_step": 0, "end_step": 7}]}}
    path = tmp_path / "export" / "tiny.safetensors"
    path.parent.mkdir()
    save_model(model, path, card, build_coding_state(model))
    return path


def _evaluate(model_path, out_dir):
    from PIL import Image

    from licodec.eval import rd

    img = out_dir / "img.png"
    out_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(img)
    doc = rd.evaluate([img], [1, 2], str(model_path), name=model_path.stem, progress=False, dataset="synthetic")
    rd.write_json(doc, out_dir / f"{model_path.stem}.json")
    return doc


def test_install_keeps_tensors_and_curated_fields(ship, exported, tmp_path):
    from safetensors.torch import load_file

    from licodec.models.io import read_card

    into = tmp_path / "weights"
    into.mkdir()
    (into / "tiny.json").write_text(json.dumps({
        "configuration_choice": {"choice": "kept"},
        "training": {"sessions": [{"start_step": 0, "end_step": 7, "lr": 3e-4}], "lr_schedule": "old text", "crop": 128, "batch_per_process": 8},
        "kodak_history": [{"steps": 3, "bpp": [1.0]}, {"steps": 7, "bpp": [9.0]}],
    }))
    doc = _evaluate(exported, tmp_path / "res")
    assert ship.main(["install", str(exported), "--results", str(tmp_path / "res"), "--into", str(into), "--status", "s", "--set", "note=n", "--set", "x={\"a\": 1}"]) == 0
    shipped = into / "tiny.safetensors"
    a, b = load_file(str(exported)), load_file(str(shipped))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    card = read_card(shipped)
    assert card == json.loads((into / "tiny.json").read_text())
    assert card["kodak"]["results"]["bpp"] == doc["results"]["bpp"] and card["kodak"]["weights_sha256"] == doc["weights_sha256"]
    assert card["configuration_choice"] == {"choice": "kept", "status": "s"} and card["note"] == "n" and card["x"] == {"a": 1}
    assert card["training"]["sessions"][0]["lr"] == 3e-4 and card["training"]["lr_schedule"] == "old text"
    # a session recorded without its crop and batch ran with the old card's
    assert (card["training"]["sessions"][0]["crop"], card["training"]["sessions"][0]["batch"]) == (128, 8)
    # The row for the same step count is replaced, earlier rows stay.
    assert [h["steps"] for h in card["kodak_history"]] == [3, 7]
    assert card["kodak_history"][-1]["bpp"] == [round(v, 3) for v in doc["results"]["bpp"]]


def test_history_keeps_the_unrefined_row_beside_a_refined_one(ship):
    results = {"results": {"bpp": [0.5, 1.0], "psnr-rgb": [30.0, 34.0]}}
    old = {"kodak_history": [{"steps": 3, "bpp": [1.0]}, {"steps": 7, "bpp": [9.0]}]}
    card = {"training": {"steps": 7, "pixels_seen": 70}, "entropy_refinement": {"steps": 600}}
    new = ship.merge_card(card, old, results, None, "src")
    assert [(h["steps"], h.get("entropy_refinement", False)) for h in new["kodak_history"]] == [(3, False), (7, False), (7, True)]
    again = ship.merge_card(card, new, results, None, "src")  # the refined row itself is replaced
    assert [(h["steps"], h.get("entropy_refinement", False)) for h in again["kodak_history"]] == [(3, False), (7, False), (7, True)]


def test_install_refuses_results_of_other_weights(ship, exported, tmp_path, capsys):
    half = ship.main(["half", str(exported), str(tmp_path / "h" / "tiny.safetensors")])
    assert half == 0
    _evaluate(tmp_path / "h" / "tiny.safetensors", tmp_path / "res")
    into = tmp_path / "weights"
    into.mkdir()
    assert ship.main(["install", str(exported), "--results", str(tmp_path / "res"), "--into", str(into)]) == 1
    assert "evaluate the file you ship" in capsys.readouterr().err
    assert not list(into.iterdir())
