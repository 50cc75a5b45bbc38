"""tools/gpu_train.sh: the lease's export, split and reassembly, on this machine's CPU.

The fast test trains a tiny run, exports it the way the lease does (float16, from the run
folder) and sends it in several parts; the parts, concatenated, are the export byte for
byte and load as a model. The slow test runs the whole lease path (staging,
start in the background with the anneal at the end of its time limit, collect: export, send)
as ``gpu_train.sh dry``, with two variants of the run side by side.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from licodec.train.loop import Trainer
from tests.train.conftest import tiny_config, write_images

ROOT = Path(__file__).resolve().parents[2]


def test_export_is_sent_in_parts_that_reassemble_exactly(tmp_path):
    data = tmp_path / "data"
    trainer = Trainer(tiny_config(write_images(tmp_path / "images"), data / "run-mbt2018", steps=2))
    trainer.run()
    export = data / "mbt2018.safetensors"
    subprocess.run([sys.executable, "-m", "licodec.train", "--out", str(data / "run-mbt2018"), "--resume", "--steps", "1",
                    "--export", str(export), "--export-fp16"], check=True, cwd=ROOT, capture_output=True)
    out = tmp_path / "out"
    out.mkdir()
    size = export.stat().st_size
    env = {**os.environ, "GPU_DATA": str(data), "OUT": str(out), "PART_BYTES": str(size // 3 + 1)}
    r = subprocess.run(["bash", "tools/gpu_train.sh", "send", "mbt2018", "absent"], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    parts = sorted(out.glob("mbt2018.safetensors.part-*"))
    assert len(parts) == 3
    whole = b"".join(p.read_bytes() for p in parts)
    digest = hashlib.sha256(whole).hexdigest()
    assert whole == export.read_bytes() and digest in r.stdout  # the printed checksum is the file's
    assert "no export absent" in r.stdout
    (tmp_path / "back.safetensors").write_bytes(whole)
    from licodec.models.io import load_model

    model, _, card = load_model(tmp_path / "back.safetensors")
    assert card["training"]["steps"] == 2 and model.config["N"] == 16


@pytest.mark.slow
def test_dry_run_of_the_whole_lease():
    r = subprocess.run(["bash", "tools/gpu_train.sh", "dry"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "dry run: reassembled export identical" in r.stdout
    assert "dry run: annealed in the same run" in r.stdout  # the last seconds at a tenth of the rate
    assert "dry run: decoder rounding noise ste" in r.stdout  # two variants side by side, each with its flags
    assert "time limit (25 s) reached" in r.stdout  # the run stopped itself, checkpointed, and was exported
    assert "dry run: refined 2 2" in r.stdout  # REFINE: each export refined, sent first and reassembled
