"""Two CPU processes under torchrun (gloo): train, checkpoint, resume.

A torchrun launch costs ~10 s here (three Python processes importing torch on 2 busy
cores), so the fast test makes one launch that resumes a single-process checkpoint and
trains on; the slow one launches twice (torchrun run, then torchrun --resume).

Also runs with a checkpoint interval shorter than a step, so every step's checkpoint
decision must be agreed between the ranks (a rank saving alone would wait forever in the
RNG-state all_gather: the deadlock this guards against).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from licodec.train.checkpoint import load_state
from licodec.train.loop import Trainer
from tests.train.conftest import tiny_config

REPO = Path(__file__).resolve().parents[2]


def _torchrun(data: Path, out: Path, steps: int, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           "-m", "licodec.train", "--data", str(data), "--out", str(out), "--steps", str(steps),
           "-N", "16", "-M", "16", "--crop", "64", "--batch", "2", "--warmup", "0", "--lr", "1e-3",
           "--holdout", "2", "--val-every", "3", "--val-images", "2", "--log-every", "1",
           "--ckpt-minutes", "0.00001", "--device", "cpu", "--threads", "1", "--no-progress", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def test_torchrun_resumes_a_checkpoint_trains_and_checkpoints(image_dir, tmp_path):
    out = tmp_path / "run"
    Trainer(tiny_config(image_dir, out, steps=2, val_every=3)).run()  # one process, 2 steps
    run = _torchrun(image_dir, out, 4, "--resume")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "resuming" in run.stderr and "at step 2" in run.stderr
    st = load_state(out / "checkpoint.safetensors")
    assert st["step"] == 4 and st["world"] == 2
    assert len(st["torch_rng"]) == 2 and not st["torch_rng"][0].equal(st["torch_rng"][1])  # one noise stream per rank
    assert st["pixels"] == 2 * 2 * 64 * 64 + 2 * 2 * 2 * 64 * 64  # then global batches of 2 ranks x 2 crops
    assert [(h["start_step"], h["end_step"], h["world"]) for h in st["history"]] == [(0, 2, 1), (2, 4, 2)]
    assert [r["step"] for r in st["val_history"]] == [3] * 8


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_checkpoint_and_resume(image_dir, tmp_path):
    out = tmp_path / "run"
    first = _torchrun(image_dir, out, 3)
    assert first.returncode == 0, first.stderr[-3000:]
    st = load_state(out / "checkpoint.safetensors")
    assert st["step"] == 3 and st["world"] == 2
    assert len(st["torch_rng"]) == 2 and not st["torch_rng"][0].equal(st["torch_rng"][1])  # one noise stream per rank
    assert st["pixels"] == 3 * 2 * 2 * 64 * 64  # global batch: 2 ranks x 2 crops

    second = _torchrun(image_dir, out, 6, "--resume")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming" in second.stderr and "at step 3" in second.stderr
    st = load_state(out / "checkpoint.safetensors")
    assert st["step"] == 6 and st["world"] == 2
    assert [(h["start_step"], h["end_step"], h["world"]) for h in st["history"]] == [(0, 3, 2), (3, 6, 2)]
    assert sorted({r["step"] for r in st["val_history"]}) == [3, 6]
    rows = (out / "train.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 2, 3, 4, 5, 6]  # rank 0 alone logs
