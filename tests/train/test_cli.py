"""`python -m licodec.train`: config files, flag overrides, errors as one line and exit code 2."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from licodec.train.__main__ import build_parser, config_from_args, main
from licodec.train.checkpoint import load_state

REPO = Path(__file__).resolve().parents[2]
TINY = ["--steps", "2", "-N", "16", "-M", "16", "--crop", "64", "--batch", "2", "--holdout", "2", "--val-every", "0",
        "--device", "cpu", "--threads", "1", "--no-progress"]


def _config(argv: list[str]):
    return config_from_args(build_parser().parse_args(argv))


@pytest.mark.parametrize("kind", ["json", "toml"])
def test_config_file_with_flags_overriding_it(tmp_path, kind):
    settings = {"data": "imgs", "model": "mbt2018-mean", "N": 64, "M": 96, "lambdas": [0.001, 0.01, 0.1],
                "milestones": [100, 200], "crop": 128, "amp": False, "lr": 5e-4}
    if kind == "json":
        path = tmp_path / "run.json"
        path.write_text(json.dumps(settings))
    else:
        path = tmp_path / "run.toml"
        path.write_text('data = "imgs"\nmodel = "mbt2018-mean"\nN = 64\nM = 96\nlambdas = [0.001, 0.01, 0.1]\n'
                        'milestones = [100, 200]\ncrop = 128\namp = false\nlr = 5e-4\n')
    cfg = _config(["--config", str(path)])
    for k, v in settings.items():
        assert getattr(cfg, k) == v, k
    cfg = _config(["--config", str(path), "-M", "128", "--lambdas", "0.002,0.02", "--milestones", "5e3 6e3", "--lr", "1e-4"])
    assert (cfg.N, cfg.M, cfg.lambdas, cfg.milestones, cfg.lr) == (64, 128, [0.002, 0.02], [5000, 6000], 1e-4)
    assert cfg.model == "mbt2018-mean" and cfg.amp is False and cfg.crop == 128  # untouched by the flags
    assert _config(["--data", "x"]).amp is True and _config(["--data", "x", "--no-amp"]).amp is False


def test_missing_data_folder_is_one_line_and_exit_code_2(tmp_path):
    """Run as a user would: a separate process, so no traceback can hide in pytest's capture."""
    r = subprocess.run([sys.executable, "-m", "licodec.train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run"), *TINY],
                       cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == f"python -m licodec.train: error: not a folder: {tmp_path / 'nope'}"
    assert r.stdout == ""


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "--data is required"),
        (["--data", "{data}", "--crop", "72"], "crop must be a multiple of 16"),
        (["--data", "{data}", "--model", "nope"], "unknown model 'nope'"),
        (["--data", "{data}", "--crop", "1024"], "no training image has both sides >= 1024 px"),
        (["--data", "{empty}"], "no images (jpg, jpeg, png"),
        (["--data", "{data}", "--holdout", "6"], "has 6 images and --holdout sets 6 aside"),
        (["--data", "{data}", "--metric", "ms-ssim", "--crop", "176"], "MS-SSIM needs its own, much larger λ"),
        (["--data", "{data}", "--lmbda", "0"], "lmbda must be positive"),
        (["--config", "{tmp}/missing.toml", "--data", "{data}"], "No such file"),
        (["--config", "{tmp}/bad.json", "--data", "{data}"], "unknown training settings: epochs"),
        (["--config", "{tmp}/broken.toml", "--data", "{data}"], "broken.toml: Invalid value"),
    ],
    ids=["no-data", "bad-crop", "bad-model", "images-too-small", "empty-folder", "all-held-out", "ms-ssim-default-grid", "zero-lambda", "missing-config", "unknown-key", "broken-toml"],
)
def test_bad_input_is_one_line_and_exit_code_2(image_dir, tmp_path, capsys, argv, message):
    (tmp_path / "bad.json").write_text('{"epochs": 3}')
    (tmp_path / "broken.toml").write_text("N = = 3\n")
    (tmp_path / "empty").mkdir()
    fill = {"data": str(image_dir), "empty": str(tmp_path / "empty"), "tmp": str(tmp_path)}
    argv = [a.format(**fill) for a in argv]
    assert main([*TINY, "--out", str(tmp_path / "run"), *argv]) == 2  # the later flag wins
    err = capsys.readouterr().err
    assert err.startswith("licodec train: error: ") and message in err and err.count("\n") == 1, err


def test_resume_with_other_settings_is_refused_with_exit_code_2(image_dir, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["--data", str(image_dir), "--out", out, *TINY]) == 0
    assert main(["--data", str(image_dir), "--out", out, *TINY, "--steps", "4", "--resume", "-M", "24"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "resume with the run's settings or use a new --out" in err
    assert load_state(Path(out) / "checkpoint.safetensors")["step"] == 2


def test_train_then_export(image_dir, tmp_path):
    from licodec.models.io import load_model, read_card

    out, model_path = tmp_path / "run", tmp_path / "model" / "tiny.safetensors"
    assert main(["--data", str(image_dir), "--out", str(out), *TINY, "--steps", "3", "--lmbda", "0.01", "--export", str(model_path)]) == 0
    model, _, card = load_model(model_path)
    assert model.config == {"name": "mbt2018", "N": 16, "M": 16} and model.gain is None
    assert card["training"]["steps"] == 3 and card["training"]["lmbda"] == 0.01
    assert read_card(model_path) == card == json.loads(model_path.with_suffix(".json").read_text())
    # Export a finished run again without training: --resume with the saved --steps.
    again = tmp_path / "model" / "again.safetensors"
    assert main(["--out", str(out), "--resume", "--device", "cpu", "--no-progress", "--export", str(again)]) == 0
    card2 = read_card(again)
    assert card2["training"]["steps"] == 3 and len(card2["training"]["sessions"]) == 1
    assert {k: card2["training"]["sessions"][0][k] for k in ("start_step", "end_step", "crop", "batch")} == {
        "start_step": 0, "end_step": 3, "crop": 64, "batch": 2}
    assert load_state(out / "checkpoint.safetensors")["step"] == 3
    # float16 storage: about half the file, loads to the rounded model it was built from.
    half = tmp_path / "model" / "half.safetensors"
    assert main(["--out", str(out), "--resume", "--device", "cpu", "--no-progress", "--export", str(half), "--export-fp16"]) == 0
    model16, _, card16 = load_model(half)
    n_float = sum(v.numel() for v in model16.state_dict().values() if v.dtype == torch.float32)
    assert card16["storage"] == "float16" and again.stat().st_size - half.stat().st_size >= 1.9 * n_float
    from safetensors import safe_open

    with safe_open(str(half), framework="pt") as f:
        assert f.get_tensor("model.g_s.0.weight").dtype == torch.float16
    ref = load_model(again)[0]
    for (k, a), b in zip(model16.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b.half().float() if b.dtype == torch.float32 else b), k
    from licodec.models.io import stored_weights_hash, weights_hash

    assert weights_hash(model16) == stored_weights_hash(half)
    import licodec

    img = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    assert licodec.decompress(licodec.compress(img, model=str(half)), model=str(half), as_array=True).shape == img.shape
    # Halving an exported float32 file gives the same weights and coding tables.
    from licodec.train.export import halve_model_file
    from safetensors.torch import load_file

    halved = halve_model_file(again, tmp_path / "model" / "halved.safetensors")
    a, b = load_file(str(half)), load_file(str(halved))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert read_card(halved)["storage"] == "float16"


def test_resume_takes_the_runs_saved_settings_unless_overridden(image_dir, tmp_path):
    out = str(tmp_path / "run")
    first = ["--data", str(image_dir), "--out", out, *TINY, "--lambdas", "0.001,0.01,0.1", "--lr", "2e-4", "--warmup", "7"]
    assert main(first) == 0
    saved = load_state(Path(out) / "checkpoint.safetensors")["config"]
    # Only the run folder, the new length and this machine's settings are given.
    assert main(["--out", out, "--resume", "--steps", "4", "--device", "cpu", "--threads", "1", "--no-progress"]) == 0
    st = load_state(Path(out) / "checkpoint.safetensors")
    assert st["step"] == 4
    assert st["config"] == {**saved, "steps": 4}
    cfg = _config(["--out", out, "--resume", "--lr", "1e-5"])
    assert (cfg.lr, cfg.warmup, cfg.lambdas, cfg.N, cfg.device, cfg.threads) == (1e-5, 7, [0.001, 0.01, 0.1], 16, "auto", 0)
    assert _config(["--out", out]).lr == 1e-4  # without --resume the checkpoint is not read


@pytest.mark.parametrize("arch", ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018-context", "mbt2018-gmm"])
def test_every_architecture_trains_resumes_and_exports(arch, image_dir, tmp_path):
    """The baselines go through the same loop; the context-only model has no factorized
    density (no z), hence no auxiliary optimizer."""
    import licodec
    from licodec.models.io import load_model

    out, path = str(tmp_path / "run"), tmp_path / f"{arch}.safetensors"
    assert main(["--data", str(image_dir), "--out", out, *TINY, "--model", arch]) == 0
    assert main(["--out", out, "--resume", "--steps", "3", "--device", "cpu", "--no-progress", "--export", str(path)]) == 0
    model, _, card = load_model(path)
    assert model.config["name"] == arch and card["training"]["steps"] == 3
    from licodec.models.registry import citation

    assert card["paper"] == citation(arch) and "2018" in card["paper"]
    img = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    assert licodec.decompress(licodec.compress(img, model=str(path)), model=str(path), as_array=True).shape == img.shape
