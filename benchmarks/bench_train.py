"""Training throughput of the joint model ("mbt2018") and the share of wall time spent waiting for data.

    python benchmarks/bench_train.py [--data ../shared/datasets/train] [--threads 2] [--batch 8]

For N=192 with M=192 and M=320, and 256x256 and 128x128 crops, it builds a real
:class:`licodec.train.loop.Trainer` (one process, CPU unless --device says otherwise), runs
``--warmup`` steps, then times ``--steps`` single training steps. Reported per configuration:

* iterations/s and images/s from the median step time (a step is one Adam update on
  ``--batch`` crops: forward, rate + λ·distortion, backward, clipping, both optimizers);
* data wait: time spent in ``Trainer._batch()`` (crop sampling from the memory-mapped
  image cache, flips, uint8 -> float, device copy) over the total time of the timed steps.

bf16 autocast follows the trainer's default (on where ``_bf16_ok``: CUDA, or a CPU with
native bf16); ``--no-amp`` measures fp32. The first run over a folder decodes every image
into the cache (``--cache-dir``, kept between runs). Without the folder it falls back to
synthetic images. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from licodec.train.loop import Trainer, TrainConfig, _bf16_ok  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "train"
CONFIGS = [(192, 192, 256), (192, 192, 128), (192, 320, 256), (192, 320, 128)]


def synthetic_images(folder: Path, count: int = 16, h: int = 384, w: int = 512) -> Path:
    """Smooth random images (gradients, blobs, an edge, a little noise) as PNG."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    for i in range(count):
        img = np.stack([0.5 + 0.4 * np.sin(rng.uniform(2, 9) * xx + c) * np.cos(rng.uniform(2, 9) * yy - c) for c in range(3)], -1)
        for _ in range(8):
            cy, cx, r = rng.uniform(size=3)
            img += (rng.uniform(size=3) - 0.5) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (0.01 + 0.03 * r))[..., None]
        img[:, : w // 3] *= 0.7
        img += 0.02 * rng.standard_normal(img.shape)
        Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(folder / f"synthetic_{i:02d}.png")
    return folder


def bench_one(base: TrainConfig, N: int, M: int, crop: int, warmup: int, steps: int) -> dict:
    cfg = TrainConfig(**{**base.__dict__, "N": N, "M": M, "crop": crop})
    trainer = Trainer(cfg)
    sampler_s: list[float] = []
    batch_s: list[float] = []
    orig_batch, orig_sample = trainer._batch, trainer.sampler.batch

    def sample(n):
        t0 = time.perf_counter()
        out = orig_sample(n)
        sampler_s.append(time.perf_counter() - t0)
        return out

    def batch():
        t0 = time.perf_counter()
        out = orig_batch()
        batch_s.append(time.perf_counter() - t0)
        return out

    trainer.sampler.batch, trainer._batch = sample, batch
    for _ in range(warmup):
        trainer.train_step()
    sampler_s.clear()
    batch_s.clear()
    step_s = []
    for _ in range(steps):
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        trainer.train_step()  # ends in .item() calls: the device is done when it returns
        step_s.append(time.perf_counter() - t0)
    med = statistics.median(step_s)
    return {
        "N": N, "M": M, "crop": crop, "batch": cfg.batch,
        "step_s": med, "its": 1 / med, "imgs": cfg.batch / med, "mpix": cfg.batch * crop * crop / med / 1e6,
        "wait": sum(batch_s) / sum(step_s), "sampler": sum(sampler_s) / sum(step_s),
        "amp": cfg.amp and _bf16_ok(trainer.device), "device": str(trainer.device),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder of training images (default ../shared/datasets/train; synthetic if missing)")
    ap.add_argument("--cache-dir", default="runs/bench-train/cache", help="decoded-image cache, kept between runs")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--batch", type=int, default=8, help="crops per step (default 8, the training default)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps; the median is reported (default 5)")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    ap.add_argument("--no-amp", dest="amp", action="store_false", help="fp32: no bf16 autocast")
    ap.add_argument("--only", help="comma list of N:M:crop to run, e.g. 192:192:128")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    data = Path(args.data)
    holdout = TrainConfig.holdout
    if data.is_dir():
        source = f"{data} (decoded once into {args.cache_dir})"
    else:
        data = synthetic_images(tmp / "images")
        source, holdout = "synthetic images (16 PNG, 512x384)", 0
    base = TrainConfig(
        data=str(data), out=str(tmp / "run"), model="mbt2018", batch=args.batch, device=args.device, amp=args.amp,
        threads=args.threads, cache_dir=args.cache_dir, holdout=holdout, val_every=0, ckpt_minutes=1e9, progress=False,
    )
    configs = CONFIGS
    if args.only:
        configs = [tuple(int(v) for v in item.split(":")) for item in args.only.split(",")]

    load0 = os.getloadavg()[0]
    rows = [bench_one(base, N, M, crop, args.warmup, args.steps) for N, M, crop in configs]
    load1 = os.getloadavg()[0]

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    dev = rows[0]["device"]
    if dev.startswith("cuda"):
        dev = torch.cuda.get_device_name(torch.device(dev))
    print(f"licodec training throughput: model mbt2018, {dev}, CPU {cpu} ({os.cpu_count()} logical cores), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"data: {source}; batch {args.batch} per step; median of {args.steps} steps after {args.warmup} warm-up steps; "
          f"1-min load average {load0:.1f} before, {load1:.1f} after")
    print()
    print("| N | M | crop | batch | bf16 autocast | step (s, median) | iterations/s | images/s | Mpixel/s | data wait (% of wall) | of which crop sampling |")
    print("|---|---|------|-------|---------------|------------------|--------------|----------|----------|-----------------------|------------------------|")
    for r in rows:
        print(f"| {r['N']} | {r['M']} | {r['crop']}x{r['crop']} | {r['batch']} | {'on' if r['amp'] else 'off'} | {r['step_s']:.3f} | "
              f"{r['its']:.3f} | {r['imgs']:.2f} | {r['mpix']:.3f} | {100 * r['wait']:.2f} % | {100 * r['sampler']:.2f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
