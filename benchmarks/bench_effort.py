"""Encoder effort: seconds per image against the bits it saves (BD-rate against effort 0).

    python benchmarks/bench_effort.py ../shared/datasets/kodak --efforts 0,3,5

On a documented subset (default: kodim01, 04, 08, 14, 19, 23 at qualities 1, 3, 5, 7, the
default model), every image is coded at every effort with real files (``licodec.compress``)
and decoded (``licodec.decompress``); the curve of each effort is the mean over the images at
each quality (``licodec.eval.rd.mean_point``), and its BD-rate (RGB PSNR, MS-SSIM dB) is taken
against effort 0's. Seconds: the median encode time of one image at that effort over the
subset (``--threads`` torch threads; quiet machine: pause training first). Prints a
Markdown table.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUBSET = "kodim01,kodim04,kodim08,kodim14,kodim19,kodim23"


def _bd(bd_rate, anchor: dict, test: dict, metric: str) -> str:
    if len(anchor["bpp"]) < 2:
        return "n/a (one quality)"
    return f"{bd_rate(anchor['bpp'], anchor[metric], test['bpp'], test[metric]):+.2f}%"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="image folder (e.g. ../shared/datasets/kodak)")
    ap.add_argument("--images", default=SUBSET, help=f"comma list of image names without suffix (default {SUBSET})")
    ap.add_argument("--qualities", default="1,3,5,7")
    ap.add_argument("--efforts", default="0,3,5", help="comma list; 0 is the anchor and is always run")
    ap.add_argument("--model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="where the searches run (cpu, cuda); the coding runs on the CPU")
    ap.add_argument("--ms-ssim-guard", type=float, default=None, metavar="W",
                    help="the search's MS-SSIM guard weight at every level (default: latent_search.MS_SSIM_GUARD "
                         "from latent_search.GUARD_FROM_STEPS iterations on; 0: off)")
    args = ap.parse_args(argv)

    import torch

    import licodec
    from licodec.codec.api import resolve_model
    from licodec.codec.effort import iterations
    from licodec.codec.image import load_rgb
    from licodec.codec.precision import describe
    from licodec.eval.bdrate import bd_rate
    from licodec.eval.rd import mean_point
    from licodec.metrics import rgb_metrics

    torch.set_num_threads(args.threads)
    from licodec.codec import latent_search

    if args.ms_ssim_guard is not None:
        latent_search.MS_SSIM_GUARD = args.ms_ssim_guard
        latent_search.GUARD_FROM_STEPS = 0
    codec = resolve_model(args.model)
    names = [n for n in args.images.split(",") if n]
    files = []
    for n in names:
        found = sorted(Path(args.folder).glob(n + ".*"))
        if not found:
            raise SystemExit(f"{args.folder}: no image {n}")
        files.append(found[0])
    qualities = [float(q) for q in args.qualities.split(",")]
    efforts = sorted({0, *(int(e) for e in args.efforts.split(","))})
    images = {f.name: load_rgb(f) for f in files}
    print(f"model {codec.name}, {len(files)} images ({', '.join(names)}), qualities {args.qualities}, {args.threads} threads, "
          f"transforms in {describe()}, MS-SSIM guard {latent_search.MS_SSIM_GUARD:g} from {latent_search.GUARD_FROM_STEPS} iterations, search on {args.device}\n", flush=True)

    curves, seconds, total_bytes = {}, {}, {}
    for e in efforts:
        points, times = {q: [] for q in qualities}, []
        for name, rgb in images.items():
            for q in qualities:
                t0 = time.perf_counter()
                data = licodec.compress(rgb, quality=q, model=codec, effort=e, device=args.device)
                times.append(time.perf_counter() - t0)
                rec = licodec.decompress(data, model=codec, as_array=True)
                h, w = rgb.shape[:2]
                points[q].append({"bpp": 8 * len(data) / (h * w), "encoding_time": times[-1], "decoding_time": 0.0, **rgb_metrics(rgb, rec),
                                  "bytes": len(data)})
                print(f"  effort {e} {name} q{q:g}: {len(data)} bytes, {points[q][-1]['psnr']:.3f} dB, {times[-1]:.1f} s", file=sys.stderr, flush=True)
        means = [mean_point(points[q]) for q in qualities]
        curves[e] = {"bpp": [m["bpp"] for m in means], "psnr": [m["psnr-rgb"] for m in means], "ms_ssim_db": [m["ms-ssim-rgb-db"] for m in means]}
        seconds[e] = statistics.median(times)
        total_bytes[e] = sum(p["bytes"] for q in qualities for p in points[q])

    a = curves[0]
    print("| effort | iterations | s per image (median) | BD-rate (PSNR) | BD-rate (MS-SSIM dB) | bytes (all files) |")
    print("|---|---|---|---|---|---|")
    for e in efforts:
        c = curves[e]
        bd = [_bd(bd_rate, a, c, m) if e else "+0.00%" for m in ("psnr", "ms_ssim_db")]
        print(f"| {e} | {iterations(e)} | {seconds[e]:.1f} | {bd[0]} | {bd[1]} | {total_bytes[e]:,} ({total_bytes[e] / total_bytes[0] - 1:+.1%}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
