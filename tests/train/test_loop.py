"""The training loop learns: a few dozen steps on tiny synthetic images lower the loss."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from licodec.train.checkpoint import load_state
from licodec.train.loop import Trainer
from tests.train.conftest import tiny_config


@pytest.mark.parametrize("lmbda", [0.01, None], ids=["fixed-lambda", "variable-rate"])
def test_loss_falls_over_a_few_dozen_steps(image_dir, tmp_path, lmbda):
    """40 steps (N=M=16, 64 px crops, batch 2): mean loss of the last 8 steps < 1/2 of the first 8's.

    The untrained model's reconstruction is far off (MSE ~0.1-0.3), so the first steps' loss
    is dominated by λ·255²·MSE; a loop that does not learn (wrong sign, optimizer not
    stepping, gradients detached) keeps it there and fails the factor of 2.
    """
    t = Trainer(tiny_config(image_dir, tmp_path / "run", lmbda=lmbda, lr=3e-3, steps=40))
    losses = [t.train_step()["loss"] for _ in range(40)]
    assert all(np.isfinite(losses))
    first, last = np.mean(losses[:8]), np.mean(losses[-8:])
    assert last < first / 2, (first, last)


def test_run_logs_validates_and_checkpoints(image_dir, tmp_path):
    t = Trainer(tiny_config(image_dir, tmp_path / "run", steps=6, log_every=2, val_every=3))
    t.run()
    assert t.step == 6 and t.interrupted is None
    with open(tmp_path / "run" / "train.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    assert {"loss", "bpp", "mse", "aux", "lr", "psnr", "wall_s", "pixels"} <= set(rows[0])
    assert int(rows[-1]["pixels"]) == 6 * 2 * 64 * 64
    with open(tmp_path / "run" / "val.csv") as fh:
        val = list(csv.DictReader(fh))
    levels = t.model.gain.levels
    assert len(val) == 2 * levels and {int(r["step"]) for r in val} == {3, 6}
    assert all(float(r["bpp"]) > 0 and np.isfinite(float(r["psnr"])) for r in val)
    st = load_state(tmp_path / "run" / "checkpoint.safetensors")
    assert st["step"] == 6 and st["world"] == 1 and len(st["val_history"]) == 2 * levels
    assert st["history"][0]["start_step"] == 0 and st["history"][0]["end_step"] == 6


def test_non_finite_loss_stops_before_the_weights_change(image_dir, tmp_path):
    t = Trainer(tiny_config(image_dir, tmp_path / "run", lmbda=0.01))
    before = {k: v.clone() for k, v in t.model.state_dict().items()}
    t.cfg.lmbda = float("nan")
    with pytest.raises(FloatingPointError, match="non-finite loss at step 1"):
        t.train_step()
    assert t.step == 0
    assert all(torch.equal(before[k], v) for k, v in t.model.state_dict().items())


def test_learning_rate_schedule(image_dir, tmp_path):
    t = Trainer(tiny_config(image_dir, tmp_path / "run", lr=1e-3, warmup=10, milestones=[20, 30]))
    assert t.lr_at(0) == pytest.approx(1e-4)
    assert t.lr_at(9) == pytest.approx(1e-3)
    assert t.lr_at(19) == pytest.approx(1e-3)
    assert t.lr_at(20) == pytest.approx(1e-4)
    assert t.lr_at(35) == pytest.approx(1e-5)


def test_deferred_read_back_logs_the_same_run(image_dir, tmp_path):
    """run() with the GPU's deferred read-back (stats stay tensors, read every log row)
    trains and logs exactly what the per-step read-back does."""
    logs = []
    for sync in (True, False):
        t = Trainer(tiny_config(image_dir, tmp_path / f"run-{sync}", steps=6, log_every=3))
        t.sync_steps = sync
        t.run()
        logs.append((tmp_path / f"run-{sync}" / "train.csv").read_text().splitlines())
        assert t.step == 6
    strip = lambda rows: [r.split(",")[:1] + r.split(",")[2:] for r in rows]  # noqa: E731 (wall time differs)
    assert len(logs[0]) == 3 and strip(logs[0]) == strip(logs[1])


def test_deferred_read_back_stops_on_a_non_finite_loss_before_saving(image_dir, tmp_path):
    t = Trainer(tiny_config(image_dir, tmp_path / "run", lmbda=0.01, steps=8, log_every=4))
    t.sync_steps = False
    t.cfg.lmbda = float("nan")
    with pytest.raises(FloatingPointError, match=r"non-finite loss at step 1 \(read back at step 4\)"):
        t.run()
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()


def test_moving_average_of_the_weights_is_kept_validated_and_exported(image_dir, tmp_path):
    from licodec.models.io import load_model
    from licodec.train.export import export_run

    t = Trainer(tiny_config(image_dir, tmp_path / "run", steps=4, ema=0.5, val_every=4, log_every=2))
    w0 = [p.detach().clone() for p in t.model.parameters()]
    t.train_step()
    w1 = [p.detach().clone() for p in t.model.parameters()]
    for e, a, b in zip(t.ema_model.parameters(), w0, w1):
        torch.testing.assert_close(e, 0.5 * (a + b), rtol=0, atol=1e-7)  # decay 0.5: the mean of the two
    assert not any(p.requires_grad for p in t.ema_model.parameters())
    t.run()
    assert (tmp_path / "run" / "val-ema.csv").exists() and len(t.val_history_ema) == len(t.val_history) > 0
    assert t.val_history_ema != t.val_history  # two models, two sets of rows
    path = export_run(t, tmp_path / "ema.safetensors")
    model, _, card = load_model(path)
    ema_state = t.ema_model.state_dict()
    assert all(torch.equal(v.float(), ema_state[k].float()) for k, v in model.state_dict().items() if "quantiles" not in k)
    assert card["training"]["ema"] == 0.5 and card["validation"] == t.val_history_ema and card["validation_raw"] == t.val_history


class _Ticks:
    """A clock that advances one second each time it is read (once at start, once a step)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def test_time_limit_anneals_for_its_last_seconds_then_checkpoints_and_stops(image_dir, tmp_path):
    cfg = tiny_config(image_dir, tmp_path / "run", steps=100, time_limit=10, anneal_seconds=4)
    t = Trainer(cfg, clock=_Ticks())
    t.run()
    # read k times after the start: elapsed k s after step k; the anneal begins once 6 s have passed
    assert t.step == 10 and t.interrupted is None
    assert t.cfg.milestones == [6]
    with open(tmp_path / "run" / "train.csv") as f:
        lrs = [float(r["lr"]) for r in csv.DictReader(f)]
    assert lrs == pytest.approx([1e-3] * 6 + [1e-4] * 4)
    saved = load_state(tmp_path / "run" / "checkpoint.safetensors")
    assert saved["step"] == 10 and saved["config"]["milestones"] == [6]

    # A restart (resumed from that checkpoint) with the same flags does not anneal again.
    again = Trainer(tiny_config(image_dir, tmp_path / "run", steps=100, time_limit=5, anneal_seconds=4, milestones=[6]), resume=True, clock=_Ticks())
    again.run()
    assert again.step == 15 and again.cfg.milestones == [6]
    assert again.lr_at(again.step) == pytest.approx(1e-4)


def test_anneal_seconds_needs_a_time_limit(image_dir, tmp_path):
    with pytest.raises(ValueError, match="time_limit"):
        Trainer(tiny_config(image_dir, tmp_path / "run", anneal_seconds=4))
    with pytest.raises(ValueError, match="negative"):
        Trainer(tiny_config(image_dir, tmp_path / "run", time_limit=-1))
