"""Training throughput of the joint model ("mbt2018") and the share of wall time spent waiting for data.

    python benchmarks/bench_train.py [--data ../shared/datasets/train] [--threads 2] [--batch 8]

For N=192 with M=192 and M=320, and 256x256 and 128x128 crops, it builds a real
:class:`licodec.train.loop.Trainer` (one process, CPU unless --device says otherwise), runs
``--warmup`` steps, then times ``--steps`` single training steps. Reported per configuration:

* iterations/s and images/s from the median step time (a step is one Adam update on
  ``--batch`` crops: forward, rate + λ·distortion, backward, clipping, both optimizers);
* data wait: time spent in ``Trainer._batch()`` (crop sampling from the memory-mapped
  image cache, flips, uint8 -> float, device copy) over the total time of the timed steps.

bf16 autocast follows the trainer's default (on where ``licodec.ops.bf16_ok``: CUDA, or a CPU with
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

from licodec.train.config import TrainConfig  # noqa: E402
from licodec.train.loop import Trainer  # noqa: E402

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


def bench_one(base: TrainConfig, N: int, M: int, crop: int, warmup: int, steps: int, blocks: int = 1, compile_mode: str = "none") -> dict:
    cfg = TrainConfig(**{**base.__dict__, "N": N, "M": M, "crop": crop, "compile": compile_mode})
    trainer = Trainer(cfg)
    cuda = trainer.device.type == "cuda"
    sync = lambda: torch.cuda.synchronize() if cuda else None  # noqa: E731
    sampler_s: list[float] = []
    batch_s: list[float] = []
    # the crop sampler's host work: the whole crop (host crops) or the random draws (--device-data)
    sampler_fn = "draw" if cfg.device_data else "batch"
    orig_batch, orig_sample = trainer._batch, getattr(trainer.sampler, sampler_fn)

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

    setattr(trainer.sampler, sampler_fn, sample)
    trainer._batch = batch
    t0 = time.perf_counter()
    trainer.train_step()  # the first step compiles (--compile)
    sync()
    first = time.perf_counter() - t0
    for _ in range(warmup - 1):
        trainer.train_step(sync=not cuda)
    sync()
    sampler_s.clear()
    batch_s.clear()
    block_s = []
    for _ in range(blocks):
        # As in Trainer.run: on a GPU the host queues steps without waiting for their results,
        # so a block of steps is timed from one synchronisation to the next.
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step(sync=not cuda)
        sync()
        block_s.append((time.perf_counter() - t0) / steps)
    med = statistics.median(block_s)
    total = sum(block_s) * steps
    return {
        "N": N, "M": M, "crop": crop, "batch": cfg.batch, "compile": compile_mode, "first_s": first,
        "step_s": med, "its": 1 / med, "imgs": cfg.batch / med, "mpix": cfg.batch * crop * crop / med / 1e6,
        "wait": sum(batch_s) / total, "sampler": sum(sampler_s) / total,
        "amp": trainer.amp, "device": str(trainer.device), "trainer": trainer,
    }


def profile(trainer: Trainer, steps: int = 5, top: int = 25) -> str:
    """torch.profiler table of ``steps`` training steps: where a step's time goes."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if trainer.device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        for _ in range(steps):
            trainer.train_step()
    key = "self_cuda_time_total" if trainer.device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=top)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder of training images (default ../shared/datasets/train; synthetic if missing)")
    ap.add_argument("--cache-dir", default="runs/bench-train/cache", help="decoded-image cache, kept between runs")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--batch", type=int, default=8, help="crops per step (default 8, the training default)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per block (default 5)")
    ap.add_argument("--blocks", type=int, default=1, help="timed blocks; the median block's time per step is reported (default 1)")
    ap.add_argument("--compile", default="none", help="comma list of torch.compile modes to measure (none, default, reduce-overhead, ...)")
    ap.add_argument("--channels-last", action="store_true", help="NHWC convolutions")
    ap.add_argument("--device-data", action="store_true", help="images in device memory, crops cut there")
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table of the first configuration's steps")
    ap.add_argument("--json", help="also write the rows to this file")
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
        channels_last=args.channels_last, device_data=args.device_data,
    )
    configs = CONFIGS
    if args.only:
        configs = [tuple(int(v) for v in item.split(":")) for item in args.only.split(",")]

    load0 = os.getloadavg()[0]
    rows, prof = [], None
    for N, M, crop in configs:
        for mode in args.compile.split(","):
            r = bench_one(base, N, M, crop, args.warmup, args.steps, args.blocks, mode)
            trainer = r.pop("trainer")
            if args.profile and prof is None:
                prof = profile(trainer)
            del trainer
            rows.append(r)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
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
    timed = f"median of {args.blocks} blocks of {args.steps} steps" if args.blocks > 1 else f"median of {args.steps} steps"
    print(f"data: {source}; batch {args.batch} per step; {timed} after {args.warmup} warm-up steps; "
          f"1-min load average {load0:.1f} before, {load1:.1f} after; channels-last {'on' if args.channels_last else 'off'}, "
          f"crops cut {'on the device' if args.device_data else 'on the host'}")
    print()
    print("| N | M | crop | batch | bf16 autocast | compile | first step (s) | step (s, median) | iterations/s | images/s | Mpixel/s | data wait (% of wall) | of which crop sampling |")
    print("|---|---|------|-------|---------------|---------|----------------|------------------|--------------|----------|----------|-----------------------|------------------------|")
    for r in rows:
        print(f"| {r['N']} | {r['M']} | {r['crop']}x{r['crop']} | {r['batch']} | {'on' if r['amp'] else 'off'} | {r['compile']} | {r['first_s']:.1f} | {r['step_s']:.4f} | "
              f"{r['its']:.2f} | {r['imgs']:.1f} | {r['mpix']:.3f} | {100 * r['wait']:.2f} % | {100 * r['sampler']:.2f} % |")
    if prof is not None:
        print()
        print(f"torch.profiler, 5 steps of the first configuration ({rows[0]['N']}:{rows[0]['M']}:{rows[0]['crop']}, compile {rows[0]['compile']}):")
        print(prof)
    if args.json:
        import json

        Path(args.json).write_text(json.dumps([{k: v for k, v in r.items()} for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
