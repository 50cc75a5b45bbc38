"""Rate control on a folder of images: how close --size lands to its target, and --psnr.

    python benchmarks/bench_rate_control.py ../shared/datasets/kodak --sizes 20000,40000,80000 --psnr 32,36

For each image and target: the file's bytes over the target (--size: never above 1, within
[0.98, 1] when the model's range allows), or the PSNR reached (--psnr), the quality found and
the number of encodes. Prints a Markdown table and the summary per target.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--sizes", default="20000,40000,80000", help="comma list of target bytes")
    ap.add_argument("--psnr", default="32,36", help="comma list of target PSNRs (dB)")
    ap.add_argument("--limit", type=int, help="only the first N images")
    ap.add_argument("--model")
    args = ap.parse_args(argv)

    from licodec.codec.api import compress_to_target, resolve_model
    from licodec.codec.image import IMAGE_SUFFIXES, load_rgb
    from licodec.codec.rate_control import Target

    files = sorted(p for p in Path(args.folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[: args.limit]
    codec = resolve_model(args.model)
    targets = [Target(size=int(s)) for s in args.sizes.split(",") if s] + [Target(psnr=float(p)) for p in args.psnr.split(",") if p]
    rows = {t: [] for t in targets}
    print(f"model {codec.name}, {len(files)} images from {args.folder}\n")
    print("| image | target | bytes / target | PSNR (dB) | quality | encodes | met | s |")
    print("|---|---|---|---|---|---|---|---|")
    for f in files:
        rgb = load_rgb(f)
        for t in targets:
            t0 = time.perf_counter()
            r = compress_to_target(rgb, t, codec)
            dt = time.perf_counter() - t0
            ratio = r.bytes / t.size if t.size is not None else float("nan")
            rows[t].append((ratio, r.psnr, r.met, dt))
            label = f"{t.size} B" if t.size is not None else f"{t.psnr:g} dB"
            print(f"| {f.name} | {label} | {ratio:.4f} | {r.psnr:.2f} | {r.quality:g} | {r.probes} | {'yes' if r.met else 'no'} | {dt:.1f} |")
    print("\n| target | images met | bytes / target (min, median, max of those met) | PSNR reached (min) | median s |")
    print("|---|---|---|---|---|")
    for t, rs in rows.items():
        met = [r for r in rs if r[2]]
        label = f"{t.size} B" if t.size is not None else f"{t.psnr:g} dB"
        ratios = f"{min(r[0] for r in met):.4f}, {statistics.median(r[0] for r in met):.4f}, {max(r[0] for r in met):.4f}" if met and t.size else "n/a"
        psnr = f"{min(r[1] for r in met):.2f}" if met else "n/a"
        print(f"| {label} | {len(met)} / {len(rs)} | {ratios} | {psnr} | {statistics.median(r[3] for r in rs):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
