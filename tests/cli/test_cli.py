import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from licodec.cli import main
from licodec.codec.coding_state import build_coding_state
from licodec.models.io import save_model
from tests.codec.helpers import make_model, photo


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    model = make_model("mbt2018", N=16, M=16)
    save_model(model, path, {"note": "test"}, build_coding_state(model))
    return path


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, (h, w) in enumerate([(33, 47), (64, 64), (17, 80)]):
        Image.fromarray(photo(h, w, seed=i)).save(folder / f"img{i}.png")
    return folder


def run_cli(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "licodec", *map(str, args)], capture_output=True, text=True, env=env, timeout=300)


def test_roundtrip_single_file(tmp_path, images, model_file, capsys):
    src = images / "img0.png"
    out = tmp_path / "a.lic"
    assert main(["compress", str(src), "-o", str(out), "-q", "2", "--model", str(model_file)]) == 0
    assert "bpp" in capsys.readouterr().out
    png = tmp_path / "a.png"
    assert main(["decompress", str(out), "-o", str(png), "--model", str(model_file)]) == 0
    img = np.asarray(Image.open(png))
    assert img.shape == (33, 47, 3)
    assert main(["info", str(out)]) == 0
    assert "tiny" in capsys.readouterr().out


def test_folder_in_folder_out_and_no_overwrite(tmp_path, images, model_file, capsys):
    out = tmp_path / "lic"
    assert main(["compress", str(images), "-o", str(out), "--model", str(model_file), "-q", "1"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["img0.lic", "img1.lic", "img2.lic"]
    before = (out / "img0.lic").read_bytes()
    assert main(["compress", str(images), "-o", str(out), "--model", str(model_file), "-q", "3"]) == 1
    assert "exists" in capsys.readouterr().err
    assert (out / "img0.lic").read_bytes() == before
    assert main(["compress", str(images), "-o", str(out), "--model", str(model_file), "-q", "3", "--force"]) == 0
    assert (out / "img0.lic").read_bytes() != before
    dec = tmp_path / "png"
    assert main(["decompress", str(out), "-o", str(dec), "--model", str(model_file)]) == 0
    assert sorted(p.name for p in dec.iterdir()) == ["img0.png", "img1.png", "img2.png"]


@pytest.mark.parametrize(
    "make_args,expect",
    [
        (lambda d, m: ["compress", d / "missing.png", "--model", m], "no such file"),
        (lambda d, m: ["compress", d / "notimage.png", "--model", m], "not an image"),
        (lambda d, m: ["decompress", d / "notimage.png", "-o", d / "x.png", "--model", m], "magic"),
        (lambda d, m: ["decompress", d / "empty.lic", "--model", m], "empty"),
        (lambda d, m: ["decompress", d / "trunc.lic", "--model", m], "truncated"),
        (lambda d, m: ["info", d / "sub"], "no .lic files"),
        (lambda d, m: ["compress", d / "img.png", "--model", d / "notimage.png"], "not a licodec model"),
        (lambda d, m: ["compress", d / "img.png", "--model", m, "-q", "99"], "quality"),
    ],
)
def test_bad_input_one_line_error(tmp_path, model_file, make_args, expect):
    (tmp_path / "notimage.png").write_bytes(b"hello, not an image")
    (tmp_path / "empty.lic").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("x")
    Image.fromarray(photo(20, 20)).save(tmp_path / "img.png")
    assert main(["compress", str(tmp_path / "img.png"), "-o", str(tmp_path / "good.lic"), "--model", str(model_file), "--quiet"]) == 0
    (tmp_path / "trunc.lic").write_bytes((tmp_path / "good.lic").read_bytes()[:-7])
    listing = sorted(tmp_path.iterdir())
    r = run_cli(*make_args(tmp_path, model_file))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("licodec: error:"), r.stderr
    assert expect in lines[0]
    assert "Traceback" not in r.stderr
    assert sorted(tmp_path.iterdir()) == listing  # no partial output


def test_no_default_model_message(tmp_path):
    Image.fromarray(photo(20, 20)).save(tmp_path / "img.png")
    from licodec.codec import zoo

    if zoo.default_name() is None:
        r = run_cli("compress", tmp_path / "img.png")
        expected = "no default model is set" if zoo.installed() else "no trained model is installed"
        assert r.returncode == 1 and expected in r.stderr, r.stderr
    else:
        r = run_cli("compress", tmp_path / "img.png", "--model", "no-such-model")
        assert r.returncode == 1 and "not installed" in r.stderr


def test_help_of_every_subcommand():
    for sub in ["compress", "decompress", "info", "models", "import", "train"]:
        r = run_cli(sub, "--help")
        assert r.returncode == 0 and "usage:" in r.stdout, (sub, r.stderr)
    r = run_cli("--help")
    for sub in ["compress", "decompress", "info", "train", "eval", "plot", "bench-classical"]:
        assert sub in r.stdout


def test_models_lists_installed_files_with_their_card(model_file, tmp_path, capsys):
    (tmp_path / "broken.safetensors").write_bytes(b"not a model")
    env = {"LICODEC_MODEL_PATH": f"{model_file.parent}{os.pathsep}{tmp_path}"}
    r = run_cli("models", env_extra=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    i = next(k for k, line in enumerate(lines) if line.strip().startswith("tiny:"))
    assert lines[i + 1].strip() == "mbt2018 N=16 M=16, qualities 1..3 (λ 0.0067..0.0932)"
    j = next(k for k, line in enumerate(lines) if line.strip().startswith("broken:"))
    assert lines[j + 1].strip().startswith("unreadable")


def test_a_model_is_known_by_its_weights_not_its_file_name(model_file, tmp_path):
    """A copy of an installed model under another file name writes files that name the
    installed model; a file naming a model that is not installed decodes with an installed
    one of the same weights (issue: a model's identity is its file name)."""
    import shutil

    from licodec.codec.container import pack, unpack

    (tmp_path / "broken.safetensors").write_bytes(b"not a model")  # an unreadable file beside it is skipped
    env = {"LICODEC_MODEL_PATH": f"{model_file.parent}{os.pathsep}{tmp_path}"}
    copy = tmp_path / "elsewhere" / "my.safetensors"
    copy.parent.mkdir()
    shutil.copy(model_file, copy)
    Image.fromarray(photo(32, 48)).save(tmp_path / "img.png")
    r = run_cli("compress", tmp_path / "img.png", "--model", copy, "-o", tmp_path / "a.lic", env_extra=env)
    assert r.returncode == 0, r.stderr
    data = (tmp_path / "a.lic").read_bytes()
    assert unpack(data, lambda name: 2).model == model_file.stem  # the installed model's name, not "my"
    r = run_cli("decompress", tmp_path / "a.lic", "-o", tmp_path / "a.png", env_extra=env)
    assert r.returncode == 0, r.stderr
    h = unpack(data, lambda name: 2)
    h.model = "renamed"
    (tmp_path / "b.lic").write_bytes(pack(h))
    r = run_cli("decompress", tmp_path / "b.lic", "-o", tmp_path / "b.png", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "a.png").read_bytes()
    h.weights_id = b"\1" * 8
    (tmp_path / "c.lic").write_bytes(pack(h))
    r = run_cli("decompress", tmp_path / "c.lic", "-o", tmp_path / "c.png", env_extra=env)
    assert r.returncode == 1 and "needs model 'renamed' (weights 0101010101010101)" in r.stderr, r.stderr


def test_compress_max_pixels(tmp_path, capsys):
    from PIL import Image

    from licodec.cli import main

    Image.new("RGB", (40, 30)).save(tmp_path / "a.png")
    assert main(["compress", str(tmp_path / "a.png"), "--max-pixels", "1000"]) == 1
    assert "larger than the limit" in capsys.readouterr().err
    assert not (tmp_path / "a.lic").exists()
    assert main(["compress", str(tmp_path / "a.png"), "--max-pixels", "1200", "--quiet"]) == 0


def test_precision_flag_and_environment(tmp_path, model_file, monkeypatch, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(photo(32, 48)).save(src)
    lic = src.with_suffix(".lic")
    assert main(["compress", str(src), "--model", str(model_file), "--precision", "fp32", "--quiet"]) == 0
    assert main(["decompress", str(lic), "-o", str(tmp_path / "b.png"), "--model", str(model_file), "--precision", "bf16", "--quiet"]) == 0
    assert Image.open(tmp_path / "b.png").size == (48, 32)
    monkeypatch.setenv("LICODEC_PRECISION", "fast")
    capsys.readouterr()
    assert main(["decompress", str(lic), "-o", str(tmp_path / "c.png"), "--model", str(model_file), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("licodec: error: ")
    assert err[0].endswith("LICODEC_PRECISION: precision must be one of auto, fp32, bf16, got 'fast'")
    assert not (tmp_path / "c.png").exists()


COMPRESSAI = __import__("pathlib").Path(__file__).parents[1] / "models" / "fixtures" / "compressai"


def test_import_compressai_checkpoint_then_code_with_it(tmp_path, images, capsys, monkeypatch):
    """``licodec import`` of a CompressAI zoo file (its name gives the λ): a model file that
    compresses and decompresses; an existing output is kept without --force."""
    import json
    import shutil

    ckpt = tmp_path / "mbt2018-6-7052e5ea.pth.tar"  # a zoo file's name; the fixture's weights
    shutil.copy(COMPRESSAI / "mbt2018-N4-M6.pth.tar", ckpt)
    assert main(["import", str(ckpt)]) == 0
    out = tmp_path / "mbt2018-6-7052e5ea.safetensors"
    assert "mbt2018 (N=4, M=6), fixed rate, λ 0.0483 (mse)" in capsys.readouterr().out
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"] == {"by": "CompressAI", "metric": "mse", "lmbda": 0.0483, "quality": 6}
    lic, png = tmp_path / "a.lic", tmp_path / "a.png"
    assert main(["compress", str(images / "img1.png"), "-o", str(lic), "--model", str(out)]) == 0
    assert main(["decompress", str(lic), "-o", str(png), "--model", str(out)]) == 0
    assert np.asarray(Image.open(png)).shape == (64, 64, 3)
    before = out.read_bytes()
    assert main(["import", str(ckpt)]) == 1
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["import", str(COMPRESSAI / "mbt2018-mean-N4-M6.pth.tar"), "-o", str(tmp_path / "m.safetensors"), "--quality", "2", "--metric", "ms-ssim"]) == 0
    assert "mbt2018-mean (N=4, M=6), fixed rate, λ 4.58 (ms-ssim)" in capsys.readouterr().out
    monkeypatch.setenv("LICODEC_MODEL_PATH", str(tmp_path))
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "mbt2018 N=4 M=6, fixed rate (λ 0.0483, mse), trained with CompressAI (mbt2018-6-7052e5ea.pth.tar)" in listing


@pytest.mark.parametrize("make_args, expect", [
    (lambda d: [d / "none.pth.tar"], "no such file"),
    (lambda d: [d / "img0.png"], "not a PyTorch checkpoint of tensors"),
    (lambda d: [COMPRESSAI / "mbt2018-N4-M6.pth.tar", "-o", d / "x.bin"], "ends in .safetensors"),
    (lambda d: [COMPRESSAI / "mbt2018-N4-M6.pth.tar", "-o", d / "x.safetensors", "--quality", "2", "--lmbda", "0.1"], "not both"),
])
def test_import_bad_input_one_line_error(images, make_args, expect):
    r = run_cli("import", *make_args(images))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and expect in r.stderr, r.stderr
    assert not list(images.glob("*.safetensors")) and not list(images.glob("*.json"))


def test_import_architecture_choices_are_the_importers():
    from licodec.cli import build_parser
    from licodec.models.compressai import ARCHITECTURES

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    arch = next(a for a in sub.choices["import"]._actions if a.dest == "arch")
    assert sorted(arch.choices) == sorted(ARCHITECTURES.values())


def test_batches_keep_freed_memory_single_files_do_not(tmp_path, images, model_file, monkeypatch):
    # a folder of files: the process keeps freed memory for the next image
    # (native.keep_freed_memory); one file: the allocator is left as it is
    import licodec.cli as cli

    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(1) or True)
    assert main(["compress", str(images / "img0.png"), "-o", str(tmp_path / "one.lic"), "--model", str(model_file)]) == 0
    assert calls == []
    assert main(["compress", str(images), "-o", str(tmp_path / "lic"), "--model", str(model_file)]) == 0
    assert calls == [1]
