"""Pipes and outputs as users of cwebp/avifenc expect (issue: real photos, real pipelines):
``-`` is standard input/output, several inputs need an output folder, ``info`` is fast."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import licodec
from licodec.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _png(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    img = np.clip(np.cumsum(rng.normal(0, 6, (48, 64, 3)), axis=1) + 128, 0, 255).astype(np.uint8)
    Image.fromarray(img).save(path)
    return path


def _licodec(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "licodec", *args], input=stdin, capture_output=True, cwd=ROOT, timeout=300)


def test_compress_and_decompress_through_pipes(tmp_path):
    png = _png(tmp_path / "a.png")
    enc = _licodec("compress", "-", stdin=png.read_bytes())
    assert enc.returncode == 0, enc.stderr
    assert enc.stdout == licodec.compress(Image.open(png), quality=None)  # the .lic bytes, nothing else on stdout
    dec = _licodec("decompress", "-", "-o", "-", stdin=enc.stdout)
    assert dec.returncode == 0, dec.stderr
    (tmp_path / "a.lic").write_bytes(enc.stdout)
    assert main(["decompress", str(tmp_path / "a.lic"), "-o", str(tmp_path / "b.png")]) == 0
    assert dec.stdout == (tmp_path / "b.png").read_bytes()
    assert not (ROOT / "-").exists() and not (tmp_path / "-").exists()  # never a file named "-"


def test_several_inputs_and_a_file_name_for_output_is_an_error(tmp_path, capsys):
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "b.png", seed=1)
    assert main(["compress", str(a), str(b), "-o", str(tmp_path / "both.lic")]) == 1
    assert "need an output folder" in capsys.readouterr().err
    assert not (tmp_path / "both.lic").exists()


def test_info_reads_the_header_without_torch(tmp_path):
    path = tmp_path / "a.lic"
    path.write_bytes(licodec.compress(Image.open(_png(tmp_path / "a.png"))))
    code = ("import sys; from licodec.cli import main; rc = main(['info', sys.argv[1]]); "
            "print('torch' in sys.modules, rc)")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.stdout.strip().endswith("False 0"), r.stdout + r.stderr
    assert "64x48 RGB" in r.stdout
    piped = _licodec("info", "-", stdin=path.read_bytes())
    assert piped.returncode == 0 and b"64x48 RGB" in piped.stdout



def test_batch_keeps_sub_folders_goes_on_and_resumes(tmp_path, capsys):
    src = tmp_path / "shots"
    (src / "day1").mkdir(parents=True)
    (src / "day2").mkdir()
    _png(src / "day1" / "a.png")
    _png(src / "day2" / "a.png", seed=1)  # the same name in another sub-folder
    (src / "day2" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "lic"
    assert main(["compress", str(src), "-o", str(out), "--quiet"]) == 1  # stops at the broken file
    capsys.readouterr()
    assert main(["compress", str(src), "-o", str(out), "--keep-going", "--quiet", "-f"]) == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "1 of 3 files failed" in err
    assert (out / "day1" / "a.lic").is_file() and (out / "day2" / "a.lic").is_file() and not (out / "day2" / "broken.lic").exists()
    (out / "day1" / "a.lic").write_bytes(b"kept")  # an existing output is left alone
    (src / "day2" / "broken.png").unlink()
    assert main(["compress", str(src), "-o", str(out), "--skip-existing", "--quiet"]) == 0
    assert (out / "day1" / "a.lic").read_bytes() == b"kept"


def test_threads_default_and_coding_on_one_thread(tmp_path):
    """The CLI's default threads are the free cores; the entropy coding runs on one thread and
    gives the threads back; files are the same whatever the threads."""
    import os

    import torch

    from licodec.cli import _free_cores
    from licodec.codec.model_codec import _coding_threads

    assert 1 <= _free_cores() <= (os.cpu_count() or 1)
    n = torch.get_num_threads()
    with _coding_threads():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == n
    src = _png(tmp_path / "a.png")
    assert main(["compress", str(src), "-o", str(tmp_path / "1.lic"), "--threads", "1", "--quiet"]) == 0
    assert main(["compress", str(src), "-o", str(tmp_path / "2.lic"), "--threads", "2", "--quiet"]) == 0
    torch.set_num_threads(n)
    assert (tmp_path / "1.lic").read_bytes() == (tmp_path / "2.lic").read_bytes()


def test_a_jpeg_output_says_it_is_lossy_and_takes_a_quality(tmp_path, capsys):
    src = _png(tmp_path / "a.png")
    assert main(["compress", str(src), "-o", str(tmp_path / "a.lic"), "--quiet"]) == 0
    sizes = {}
    for q in (30, 95):
        assert main(["decompress", str(tmp_path / "a.lic"), "-o", str(tmp_path / f"a{q}.jpg"), "--out-quality", str(q)]) == 0
        assert "re-encodes the decoded image lossily" in capsys.readouterr().err
        sizes[q] = (tmp_path / f"a{q}.jpg").stat().st_size
    assert sizes[30] < sizes[95]
    assert main(["decompress", str(tmp_path / "a.lic"), "-o", str(tmp_path / "out.png")]) == 0
    assert "lossily" not in capsys.readouterr().err


def test_parallel_jobs_write_what_one_process_writes(tmp_path, capsys):
    """-j N: N worker processes of one thread; the same files (sub-folders kept), --keep-going's
    report, and decoding in parallel too."""
    src = tmp_path / "shots"
    (src / "sub").mkdir(parents=True)
    for k in range(3):
        _png(src / ("sub" if k else "") / f"{k}.png", seed=k)
    (src / "broken.png").write_bytes(b"not a png")
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert main(["compress", str(src), "-o", str(serial), "--keep-going", "--quiet"]) == 1
    assert main(["compress", str(src), "-o", str(parallel), "--keep-going", "--quiet", "-j", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("1 of 4 files failed") == 2 and "broken.png" in err
    files = sorted(p.relative_to(serial) for p in serial.rglob("*.lic"))
    assert len(files) == 3 and files == sorted(p.relative_to(parallel) for p in parallel.rglob("*.lic"))
    assert all((serial / f).read_bytes() == (parallel / f).read_bytes() for f in files)
    assert main(["decompress", str(parallel), "-o", str(tmp_path / "png"), "-j", "3", "--quiet"]) == 0
    assert main(["decompress", str(serial / files[0]), "-o", str(tmp_path / "one.png"), "--quiet"]) == 0
    assert (tmp_path / "png" / files[0].with_suffix(".png")).read_bytes() == (tmp_path / "one.png").read_bytes()
    assert main(["compress", str(src), "-o", str(tmp_path / "x"), "-j", "0"]) == 1
    assert "-j N needs N >= 1" in capsys.readouterr().err


def test_threads_are_decided_before_torch_starts(tmp_path):
    """torch's thread pool starts with the run's threads (OMP_NUM_THREADS, unless the caller
    set it): a loaded machine pays for no idle thread."""
    import os

    src = _png(tmp_path / "a.png")
    code = ("import os, sys; from licodec.cli import main; rc = main(['compress', sys.argv[1], '-o', sys.argv[2], '--threads', '1', '--quiet']); "
            "import torch; print(rc, os.environ.get('OMP_NUM_THREADS'), torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    r = subprocess.run([sys.executable, "-c", code, str(src), str(tmp_path / "a.lic")], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    assert r.stdout.split() == ["0", "1", "1"], r.stdout + r.stderr
    assert main(["compress", str(src), "-o", str(tmp_path / "b.lic"), "--threads", "0"]) == 1
