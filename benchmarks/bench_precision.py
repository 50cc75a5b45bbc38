"""What a fast path of the transforms costs in quality (issue 22): real files, each image
coded on the reference path (float32, PyTorch's direct layers) and on the fast one.

    python benchmarks/bench_precision.py ../shared/datasets/kodak --qualities 1,4,8 [--fast bf16|fp32]

``--fast bf16`` (default): the bf16 path; ``--fast fp32``: float32 with the 5×5 layers in
polyphase form (Winograd; layers/polyphase.py); ``--fast auto``: the default path of this
CPU (which may run g_a in bf16 and g_s in float32). For each image and quality: the file
written on the reference path (its bytes, its PSNR decoded on the reference path and on
the fast one: g_s's cost alone), and the file written on the fast path (g_a too) decoded
on it (the whole fast path). Prints, per quality, the mean bpp and RGB PSNR of each, the
mean PSNR change, and the BD-rate of the fast path against the reference. Both paths
decode every file to the same latents (checked here on each file). On a CPU without
native bf16 the bf16 path is emulated (10-25x slower), with the same arithmetic: the
quality numbers hold, the times do not.
"""
from __future__ import annotations

import argparse
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse)) if mse else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--images", help="comma-separated stems (default: all PNGs of the folder)")
    ap.add_argument("--qualities", default="1,4,8")
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fast", choices=("bf16", "fp32", "auto"), default="bf16")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import licodec
    from licodec.codec.api import decode_latents, resolve_model
    from licodec.codec.image import load_rgb
    from licodec.codec.precision import POLYPHASE_ENV, describe, use_precision
    from licodec.eval.bdrate import bd_rate

    ref, fast = "reference", args.fast

    @contextmanager
    def on(path: str):
        """The reference path (float32, direct layers) or the fast one."""
        before = os.environ.get(POLYPHASE_ENV)
        os.environ[POLYPHASE_ENV] = "0" if path == ref else "1"
        try:
            with use_precision("fp32" if path == ref else path):
                yield
        finally:
            os.environ.pop(POLYPHASE_ENV) if before is None else os.environ.__setitem__(POLYPHASE_ENV, before)

    codec = resolve_model(args.model)
    stems = args.images.split(",") if args.images else sorted(p.stem for p in args.folder.glob("*.png"))
    qualities = [float(q) for q in args.qualities.split(",")]
    rows: dict[float, list] = {q: [] for q in qualities}
    t0 = time.time()
    for stem in stems:
        img = load_rgb(args.folder / f"{stem}.png")
        px = img.shape[0] * img.shape[1]
        for q in qualities:
            row = []
            files = {}
            for p in (ref, fast):
                with on(p):
                    files[p] = licodec.compress(img, q, codec)
            for enc, dec in ((ref, ref), (ref, fast), (fast, fast)):
                with on(dec):
                    out = licodec.decompress(files[enc], codec, as_array=True)
                row.append((8 * len(files[enc]) / px, psnr(out, img)))
            with on(ref):
                a = decode_latents(files[fast], codec)[0]
            with on(fast):
                b = decode_latents(files[fast], codec)[0]
            assert torch.equal(a, b), "the paths decoded different latents"
            rows[q].append(row)
        print(f"{stem} done ({time.time() - t0:.0f} s)", flush=True)

    print(f"\nmodel {codec.name}, {len(stems)} images ({', '.join(stems)}), RGB PSNR of real files, {args.threads} thread(s)\n")
    what = {"bf16": ("g_s in bf16", "all bf16"), "fp32": ("g_s polyphase", "all polyphase"), "auto": ("g_s on auto", "all on auto")}[fast]
    note = {"fp32": " (Winograd / polyphase layers)", "auto": f" (this CPU: {describe('auto')})", "bf16": ""}[fast]
    print(f"fast path: {fast}{note}; reference: float32, direct layers\n")
    print(f"| quality | bpp (reference file) | PSNR reference | PSNR, {what[0]} | change | bpp (fast file) | PSNR, {what[1]} | change |")
    print("|---|---|---|---|---|---|---|---|")
    curves = {k: ([], []) for k in range(3)}
    for q in qualities:
        m = np.mean(np.array(rows[q]), axis=0)  # (3 paths, (bpp, psnr))
        for k in range(3):
            curves[k][0].append(m[k, 0])
            curves[k][1].append(m[k, 1])
        print(f"| {q:g} | {m[0, 0]:.4f} | {m[0, 1]:.4f} | {m[1, 1]:.4f} | {m[1, 1] - m[0, 1]:+.5f} dB | {m[2, 0]:.4f} | {m[2, 1]:.4f} | {m[2, 1] - m[0, 1]:+.5f} dB |")
    if len(qualities) >= 2:
        for k, label in ((1, what[0]), (2, what[1])):
            print(f"\nBD-rate, {label} against the reference: {bd_rate(curves[0][0], curves[0][1], curves[k][0], curves[k][1]):+.3f}%", end="")
        print()


if __name__ == "__main__":
    main()
