"""A run stopped and resumed ends bitwise equal to an uninterrupted run of the same length.

Exactness holds because the checkpoint carries everything that decides the next step: the
weights, both Adam states (step counts included), the step (learning-rate schedule), the
crop sampler's PCG64 state (data order, crops, flips, the levels of a variable-rate batch)
and the torch RNG state (the uniform noise standing in for quantization). Validation runs in
eval mode and draws no random numbers. Everything runs on one CPU thread (tiny_config) in one
process, so the kernels are deterministic: bitwise equality is asserted with torch.equal,
with bf16 autocast on (the default on this CPU) and off.
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from licodec.train.checkpoint import load_state
from licodec.train.loop import Trainer
from tests.train.conftest import tiny_config

REPO = Path(__file__).resolve().parents[2]


def assert_same_state(a: Trainer, b: Trainer) -> None:
    assert a.step == b.step
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"parameter {k} differs"
    for name in ("opt", "aux_opt"):
        oa, ob = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert oa["param_groups"] == ob["param_groups"], name
        assert oa["state"].keys() == ob["state"].keys()
        for i in oa["state"]:
            for k in oa["state"][i]:
                assert torch.equal(oa["state"][i][k], ob["state"][i][k]), f"{name} state {i}/{k} differs"
    assert a.sampler.state() == b.sampler.state()
    assert a.pixels == b.pixels
    assert (a.ema_model is None) == (b.ema_model is None)
    if a.ema_model is not None:
        ea, eb = a.ema_model.state_dict(), b.ema_model.state_dict()
        assert all(torch.equal(ea[k], eb[k]) for k in ea), "moving average differs"
        assert a.val_history_ema == b.val_history_ema


@pytest.mark.parametrize("amp", [False, True], ids=["fp32", "bf16-autocast"])
@pytest.mark.parametrize("lmbda", [None, 0.01], ids=["variable-rate", "fixed-lambda"])
def test_stopped_and_resumed_run_equals_uninterrupted(image_dir, tmp_path, amp, lmbda):
    k = 6
    cfg = lambda out: tiny_config(image_dir, tmp_path / out, steps=2 * k, amp=amp, lmbda=lmbda, val_every=4)  # noqa: E731

    whole = Trainer(cfg("whole"))
    whole.run()

    first = Trainer(cfg("split"))
    first.run(stop_after=k)
    assert first.step == k
    assert load_state(tmp_path / "split" / "checkpoint.safetensors")["step"] == k
    del first
    torch.manual_seed(12345)  # whatever the process did in between must not matter
    second = Trainer(cfg("split"), resume=True)
    assert second.step == k
    second.run()

    assert_same_state(whole, second)
    # The final checkpoints agree too, and the resumed one records both sessions.
    ca = load_state(tmp_path / "whole" / "checkpoint.safetensors")
    cb = load_state(tmp_path / "split" / "checkpoint.safetensors")
    assert all(torch.equal(ca["model"][n], cb["model"][n]) for n in ca["model"])
    assert [(h["start_step"], h["end_step"]) for h in cb["history"]] == [(0, k), (k, 2 * k)]
    assert all(h["lr"] == second.cfg.lr for h in cb["history"])  # each session records its learning rate
    assert [r["step"] for r in cb["val_history"]] == [r["step"] for r in ca["val_history"]]


def test_resume_refuses_another_architecture(image_dir, tmp_path):
    Trainer(tiny_config(image_dir, tmp_path / "run", steps=2)).run()
    with pytest.raises(ValueError, match="N=16 M=16 8-level variable-rate model, but the settings ask for a mbt2018 N=16 M=24"):
        Trainer(tiny_config(image_dir, tmp_path / "run", M=24), resume=True)


def test_resume_drops_log_rows_written_after_the_checkpoint(image_dir, tmp_path):
    t = Trainer(tiny_config(image_dir, tmp_path / "run", steps=4))
    t.run()
    with open(tmp_path / "run" / "train.csv", "a", newline="") as fh:  # as if killed after step 6
        csv.writer(fh).writerows([[5] + [0] * 8, [6] + [0] * 8])
    t = Trainer(tiny_config(image_dir, tmp_path / "run", steps=6), resume=True)
    with open(tmp_path / "run" / "train.csv") as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [1, 2, 3, 4]
    t.run()
    with open(tmp_path / "run" / "train.csv") as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [1, 2, 3, 4, 5, 6]


def _cli(out: Path, data: Path, steps: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "licodec.train", "--data", str(data), "--out", str(out), "--steps", str(steps),
            "-N", "16", "-M", "16", "--crop", "64", "--batch", "2", "--lr", "1e-3", "--warmup", "0", "--holdout", "2",
            "--val-every", "0", "--log-every", "1", "--device", "cpu", "--threads", "1", "--no-progress", *extra]


def test_ctrl_c_checkpoints_at_a_step_boundary_and_resume_is_exact(image_dir, tmp_path):
    """SIGINT to `python -m licodec.train`: it finishes the step, saves, exits 130; --resume
    then ends where an uninterrupted in-process run of the same length ends, bitwise."""
    steps = 60
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "cli"
    proc = subprocess.Popen(_cli(out, image_dir, steps), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "train.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) > 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    stopped = load_state(out / "checkpoint.safetensors")["step"]
    assert 3 <= stopped < steps, stopped
    assert f"stopped by SIGINT at step {stopped}; checkpoint saved" in err and "Traceback" not in err

    done = subprocess.run(_cli(out, image_dir, steps, "--resume"), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming {out} at step {stopped}" in done.stderr
    resumed = load_state(out / "checkpoint.safetensors")

    whole = Trainer(tiny_config(image_dir, tmp_path / "whole", steps=steps))
    whole.run()
    assert resumed["step"] == steps
    for name, v in whole.model.state_dict().items():
        assert torch.equal(resumed["model"][name], v), name


def test_fast_step_settings_resume_exactly(image_dir, tmp_path):
    """The GPU's settings on the CPU: NHWC parameters (whose Adam moments come back from the
    checkpoint contiguous: fused Adam refused them until they were given the parameters'
    layout), crops cut from the cache's copy in tensor memory, stats read back at log rows;
    with a moving average of the weights, which the checkpoint carries too."""
    k = 4
    cfg = lambda out: tiny_config(image_dir, tmp_path / out, steps=2 * k, channels_last=True, device_data=True, log_every=2, ema=0.9, val_every=3)  # noqa: E731

    def trainer(out, resume=False):
        t = Trainer(cfg(out), resume=resume)
        t.sync_steps = False
        return t

    whole = trainer("whole")
    whole.run()
    first = trainer("split")
    first.run(stop_after=k)
    del first
    second = trainer("split", resume=True)
    p = second.model.g_a[0].weight
    assert p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
    assert second.opt.state[p]["exp_avg"].stride() == p.stride()
    second.run()
    assert_same_state(whole, second)
