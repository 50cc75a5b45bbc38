"""Per-stage encode/decode times of the joint model (issue: fast autoregressive coding).

    python benchmarks/bench_codec.py                       # random weights, synthetic photo
    python benchmarks/bench_codec.py --image ../shared/datasets/kodak/kodim23.png --model licodec/weights/x.safetensors

For each configuration (N, M), image size, thread count and precision (--precision
fp32,bf16: the transforms' arithmetic, licodec.codec.precision; "auto": the default, which
may run g_a in bf16 and g_s in float32; "fp32-direct": float32 with
every layer in PyTorch's direct form, LICODEC_POLYPHASE=0): the median over --runs runs
of every stage (g_a, h_a, z coding, h_s, context steps, y coding, g_s) for encoding and
decoding, the totals, and decode / g_s (median of the per-run ratios). Runs interleave
all sizes, thread counts and precisions, so that drift of a shared machine hits them alike; with two
sizes, the large / small decode ratio is the median of per-round ratios. Random weights are scaled so that y spreads over
tens of quantization steps (roughly a trained model's bit rate); the rate is printed.
Run it on a quiet machine: other processes on the two cores distort every number.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

ENC_STAGES = ["g_a", "h_a", "z coding", "h_s", "context steps", "y coding"]
DEC_STAGES = ["z coding", "h_s", "context steps", "y coding", "g_s"]


def synthetic_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    img = np.stack([0.5 + 0.35 * np.sin(9 * xx + 2 * c) * np.cos(7 * yy - c) for c in range(3)], axis=2)
    for _ in range(40):
        cy, cx, r = g.random(3)
        img += (g.random(3) - 0.5) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (0.001 + 0.01 * r))[:, :, None]
    img += 0.03 * g.standard_normal(img.shape)
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def random_model(N: int, M: int):
    from licodec.models import create

    torch.manual_seed(0)
    model = create("mbt2018", N=N, M=M)
    with torch.no_grad():
        model.g_a[-1].weight.mul_(12)
        model.prior.hyper.h_a[-1].weight.mul_(3)
        model.prior.hyper.z_density.quantiles.copy_(torch.tensor([-20.0, 0.0, 20.0]).repeat(N, 1, 1))
    return model.eval()


def run_once(codec, x, quality) -> tuple[dict, dict, int]:
    """One encode and one decode of the padded image x: per-stage times and the byte count."""
    from licodec.codec.engine import Stages

    h, w = x.shape[-2] // 16, x.shape[-1] // 16
    enc: dict = {}
    t0 = time.perf_counter()
    streams, _ = codec.encode(x, quality, stages=Stages(enc))
    enc["total"] = time.perf_counter() - t0
    dec: dict = {}
    t0 = time.perf_counter()
    y_hat = codec.decode_latents(streams, h, w, stages=Stages(dec))
    codec.synthesize(y_hat, quality, stages=Stages(dec))
    dec["total"] = time.perf_counter() - t0
    return enc, dec, sum(len(s) for s in streams)


def summarize(runs_: list, pixels: int) -> dict:
    """Medians of the timed runs; decode / g_s is the median of the per-run ratios (each
    ratio from one run, so that a slow moment of the machine cancels out)."""
    med = lambda side, k: statistics.median(r[side].get(k, 0.0) for r in runs_)  # noqa: E731
    return {
        "enc": {k: med(0, k) for k in ENC_STAGES + ["total"]},
        "dec": {k: med(1, k) for k in DEC_STAGES + ["total"]},
        "ratio": statistics.median(r[1]["total"] / max(r[1]["g_s"], 1e-9) for r in runs_),
        "bpp": 8 * runs_[0][2] / pixels,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="192x192,192x320", help="N x M pairs (random weights)")
    ap.add_argument("--model", help="a trained model file instead of random weights")
    ap.add_argument("--quality", type=float, help="quality for a variable-rate --model")
    ap.add_argument("--sizes", default="768x512,1536x1024", help="W x H")
    ap.add_argument("--image", help="an image to crop/tile the sizes from (default: synthetic)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--precision", default="fp32", help="the transforms' precisions to time, e.g. fp32,bf16 (licodec.codec.precision) or fp32-direct")
    ap.add_argument("--keep-freed-memory", action="store_true", help="as the CLI's batches: glibc keeps freed memory for the next image (licodec.native.keep_freed_memory)")
    args = ap.parse_args()
    if args.keep_freed_memory:
        from licodec.native import keep_freed_memory

        keep_freed_memory()
    from licodec.codec.precision import POLYPHASE_ENV, describe, resolve, use_precision

    def path(p: str) -> str:  # "auto" may name the same path as another, or mix them (g_a's and g_s's)
        if p == "fp32-direct":
            return p
        return "auto" if p == "auto" and describe(p) not in ("fp32", "bf16") else resolve(p)

    precisions = list(dict.fromkeys(path(p) for p in args.precision.split(",")))

    from licodec.codec.api import resolve_model

    codecs = []
    if args.model:
        codecs.append((args.model, resolve_model(args.model)))
    else:
        for cfg in args.configs.split(","):
            n, m = (int(v) for v in cfg.split("x"))
            codecs.append((f"mbt2018 N={n} M={m} (random)", resolve_model(random_model(n, m))))
    base = None
    if args.image:
        from licodec.codec.image import read_image

        base, _ = read_image(args.image)
    print("| model | image | precision | threads | bpp | " + " | ".join(f"enc {s}" for s in ENC_STAGES) + " | **encode** | "
          + " | ".join(f"dec {s}" for s in DEC_STAGES) + " | **decode** | decode / g_s |")
    print("|" + "---|" * (7 + len(ENC_STAGES) + len(DEC_STAGES)))
    results = {}
    sizes = args.sizes.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    from licodec.codec.api import _pad

    for label, codec in codecs:
        quality = args.quality if codec.quality_range else None
        if codec.quality_range and quality is None:
            quality = sum(codec.quality_range) / 2
        images = {}
        for size in sizes:
            w, h = (int(v) for v in size.split("x"))
            img = synthetic_photo(h, w) if base is None else np.tile(base, (-(-h // base.shape[0]), -(-w // base.shape[1]), 1))[:h, :w]
            images[size] = (_pad(img), h * w)
        # Runs interleave every size and thread count, so that drift of a shared machine
        # hits all of them alike; the first round warms up and is dropped.
        timed: dict = {}
        for r in range(args.runs + 1):
            for size in sizes:
                for th in threads:
                    for p in precisions:
                        torch.set_num_threads(th)
                        os.environ[POLYPHASE_ENV] = "0" if p == "fp32-direct" else "1"
                        with use_precision(p.split("-")[0]):
                            out = run_once(codec, images[size][0], quality)
                        if r:
                            timed.setdefault((size, th, p), []).append(out)
        for size in sizes:
            for th, p in ((th, p) for th in threads for p in precisions):
                res = results[(label, size, th, p)] = summarize(timed[(size, th, p)], images[size][1])
                e, d = res["enc"], res["dec"]
                print(f"| {label} | {size} | {p} | {th} | {res['bpp']:.3f} | " + " | ".join(f"{e[s]:.3f}" for s in ENC_STAGES)
                      + f" | **{e['total']:.3f}** | " + " | ".join(f"{d[s]:.3f}" for s in DEC_STAGES)
                      + f" | **{d['total']:.3f}** | {res['ratio']:.2f} |", flush=True)
        if len(sizes) == 2:
            for th in threads:
                for p in precisions:
                    a, b = timed[(sizes[0], th, p)], timed[(sizes[1], th, p)]
                    ratios = [rb[1]["total"] / ra[1]["total"] for ra, rb in zip(a, b)]
                    of_medians = results[(label, sizes[1], th, p)]["dec"]["total"] / results[(label, sizes[0], th, p)]["dec"]["total"]
                    print(f"{label}, {p}, {th} thread(s): decode {sizes[1]} / {sizes[0]} = {statistics.median(ratios):.2f} "
                          f"(median of per-round ratios; ratio of medians {of_medians:.2f})")
        if len(precisions) == 2:  # the second precision's time over the first's, per round
            for size in sizes:
                for th in threads:
                    a, b = timed[(size, th, precisions[0])], timed[(size, th, precisions[1])]
                    enc = statistics.median(rb[0]["total"] / ra[0]["total"] for ra, rb in zip(a, b))
                    dec = statistics.median(rb[1]["total"] / ra[1]["total"] for ra, rb in zip(a, b))
                    print(f"{label}, {size}, {th} thread(s): {precisions[1]} / {precisions[0]}: encode {enc:.2f}, decode {dec:.2f} "
                          "(medians of per-round ratios)")


if __name__ == "__main__":
    main()
