import json

import pytest

from licodec.eval import cli, rd

from . import fakecodec


def test_missing_dataset_is_exit_2(tmp_path, capsys):
    for main in (cli.eval_main, cli.bench_classical_main):
        assert main([str(tmp_path / "nope")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("licodec ") and ": error: dataset folder not found" in err[0]


def test_bad_arguments_are_exit_2(tmp_path, image_dir, capsys):
    assert cli.bench_classical_main([str(image_dir), "--codecs", "gif"]) == 2
    assert "unknown classical codec" in capsys.readouterr().err
    assert cli.bench_classical_main([str(image_dir), "--workers", "0"]) == 2
    assert cli.eval_main([str(image_dir), "--quality", "high"]) == 2
    assert cli.eval_main([str(image_dir), "--bogus"]) == 2
    assert cli.eval_main([str(image_dir), "--precision", "fp16"]) == 2
    assert cli.plot_main([str(tmp_path / "missing.json"), "--no-reference"]) == 2
    assert "result file not found" in capsys.readouterr().err
    assert cli.plot_main(["--no-reference"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.bench_classical_main([str(empty)]) == 2
    assert cli.bench_classical_main(["--help"]) == 0
    assert cli.main(["nope"]) == 2


def _reference(tmp_path):
    ref = {"_about": "test", "measured_jpeg420": {"bpp": [0.2, 0.5, 1.0, 2.0], "psnr": [24, 28, 31, 34], "ms_ssim": [0.85, 0.93, 0.96, 0.98]},
           "measured_bpg444": {"bpp": [0.1, 0.3, 0.8, 1.6], "psnr": [26, 29.5, 33, 37], "ms_ssim": [0.88, 0.94, 0.97, 0.985]},
           "paper_mbt2018": {"bpp": [0.1, 0.3, 0.8, 1.6], "psnr": [27, 30.5, 34, 38]}}
    p = tmp_path / "ref.json"
    p.write_text(json.dumps(ref))
    return p


def test_bench_classical_then_plot(tmp_path, image_dir, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "classical"
    ref = _reference(tmp_path)
    rc = cli.bench_classical_main([str(image_dir), "--codecs", "jpeg420,webp", "--workers", "1", "--out", str(out),
                                   "--reference", str(ref), "--no-progress"])
    assert rc == 0
    report = (out / "report.md").read_text()
    assert "measured_jpeg420" in report and "Every curve against" in report
    assert (out / "jpeg420.json").is_file() and (out / "webp.json").is_file()
    # cached: a second run recomputes nothing
    assert cli.bench_classical_main([str(image_dir), "--codecs", "jpeg420", "--workers", "1", "--out", str(out), "--no-reference", "--no-progress"]) == 0

    plots = tmp_path / "plots"
    rc = cli.plot_main([str(out / "classical.json"), "--reference", str(ref), "--ref-curves", "*", "--out", str(plots),
                        "--anchor", "measured_bpg444", "--sheet", str(sorted(image_dir.iterdir())[0]), "--sheet-bpp", "0.8",
                        "--sheet-codecs", "jpeg420,webp", "--crop", "0,0,64,64"])
    assert rc == 0, capsys.readouterr().err
    for f in ("rd-psnr.png", "rd-msssim.png", "bd-measured_bpg444.md", "sheet.png"):
        assert (plots / f).is_file(), f
    assert cli.plot_main([str(out / "classical.json"), "--no-reference", "--out", str(plots), "--crop", "1,2", "--sheet", "x.png"]) == 2


def test_eval_report_with_a_fake_codec(tmp_path, image_dir, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(rd, "default_codec_fns", lambda model=None: (fakecodec.compress, fakecodec.decompress))
    out = tmp_path / "res"
    rc = cli.eval_main([str(image_dir), "--model", "fake", "--quality", "1,2,4,8,16", "--out", str(out), "--report",
                        "--codecs", "jpeg420,webp", "--workers", "1", "--reference", str(_reference(tmp_path)),
                        "--sheet-image", "img1", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    doc = json.loads((out / "fake.json").read_text())
    assert doc["results"]["quality"] == [1, 2, 4, 8, 16]
    for f in ("rd-psnr.png", "rd-msssim.png", "sheet-img1.png", "bd-fake.md", "bd-fake.json", "classical/classical.json"):
        assert (out / f).is_file(), f
    bd = (out / "bd-fake.md").read_text()
    assert "JPEG 4:2:0" in bd and "WebP" in bd and "measured_bpg444" in bd
    assert "| quality | bpp |" in captured.out


def test_codec_failure_is_exit_1(image_dir, monkeypatch, capsys):
    import numpy as np

    monkeypatch.setattr(rd, "default_codec_fns", lambda model=None: (fakecodec.compress, lambda d: np.zeros((4, 4, 3), np.uint8)))
    assert cli.eval_main([str(image_dir), "--quality", "2", "--no-progress"]) == 1
    assert capsys.readouterr().err.startswith("licodec eval: error: decompress returned")


def test_eval_of_several_fixed_rate_models_is_one_curve(tmp_path, image_dir, capsys):
    """--model A,B: each model's one rate becomes a point, in order of bpp (CompressAI's
    files after licodec import); a variable-rate model or --quality there is refused."""
    from pathlib import Path

    from licodec.models.compressai import from_compressai, read_checkpoint
    from licodec.train.export import write_model_file

    fixtures = Path(__file__).parents[1] / "models" / "fixtures" / "compressai"
    files = []
    for name in ("mbt2018", "mbt2018-mean"):
        model = from_compressai(read_checkpoint(fixtures / f"{name}-N4-M6.pth.tar"))
        files.append(str(write_model_file(model, tmp_path / f"{name}.safetensors", {"architecture": model.config})))
    out = tmp_path / "results"
    assert cli.eval_main([str(image_dir), "--model", ",".join(files), "--name", "fam", "--out", str(out), "--no-progress"]) == 0
    doc = json.loads((out / "fam.json").read_text())
    res = doc["results"]
    assert res["quality"] == [1, 2] and res["n_images"] == [2, 2] and res["bpp"][0] <= res["bpp"][1]
    assert sorted(m["model"] for m in doc["models"]) == sorted(files) and all(len(m["weights_sha256"]) == 64 for m in doc["models"])
    for recs in doc["per_image"].values():
        assert [r["quality"] for r in recs] == [1, 2]
    capsys.readouterr()
    assert cli.eval_main([str(image_dir), "--model", ",".join(files), "--out", str(out)]) == 2
    assert "--name" in capsys.readouterr().err
    assert cli.eval_main([str(image_dir), "--model", ",".join(files), "--name", "x", "--quality", "1"]) == 2
    assert cli.eval_main([str(image_dir), "--model", files[0] + ",mbt2018-vr192", "--name", "x"]) == 2
    assert "variable-rate" in capsys.readouterr().err


def test_eval_at_an_effort(tmp_path, image_dir, monkeypatch, capsys):
    """--effort E: the curve is named NAME-effortE and its JSON records the effort; an effort
    out of range is one error line before any image is coded."""
    from pathlib import Path

    fixtures = Path(__file__).resolve().parents[1] / "codec" / "fixtures" / "7a752fd"
    monkeypatch.setenv("LICODEC_MODEL_PATH", str(fixtures))
    out = tmp_path / "results"
    argv = [str(image_dir), "--model", "mbt2018-tiny", "--quality", "1", "--limit", "1", "--out", str(out), "--no-progress"]
    assert cli.eval_main([*argv, "--effort", "1"]) == 0
    doc = json.loads((out / "mbt2018-tiny-effort1.json").read_text())
    assert doc["name"] == "mbt2018-tiny-effort1" and doc["effort"] == 1 and doc["results"]["quality"] == [1]
    assert "img0.png: q=1 " in capsys.readouterr().err  # --no-progress: a line per image instead of the bar
    assert cli.eval_main([*argv, "--effort", "9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "effort must be an integer 0..8" in err[0]
    assert cli.eval_main([*argv, "--effort", "x"]) == 2
